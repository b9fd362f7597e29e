//! linux.resources.devices on cgroup2: there is no devices controller file to write, so the
//! rules become an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the container's
//! cgroup. The kernel runs it on every open and mknod of a device node and denies the access
//! when it returns 0.
//!
//! Written by hand rather than with a crate: aya and libbpf-rs are made for loading compiled
//! ELF objects (libbpf-rs also links libbpf, libelf and zlib into our static binary), while a
//! device filter is a dozen instructions per rule and four bpf(2) commands.
//!
//! The rules keep the cgroup v1 devices controller's meaning, which engines write them for:
//! they apply in order from a deny-all start (runc's emulator starts there too), a rule of
//! type "a" resets everything to allow-all or deny-all, and a later rule overrides an earlier
//! one. So the program checks the rules last to first and the first match decides. An allow
//! rule matches an access it covers fully; a deny rule matches one it touches at all, as v1
//! strips those bits from its allow list.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// One eBPF instruction, as struct bpf_insn lays it out.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    /// dst register in the low nibble, src in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

// Opcodes (linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54;
const ALU32_RSH_K: u8 = 0x74;
const ALU32_MOV_X: u8 = 0xbc;
const ALU64_MOV_K: u8 = 0xb7;
const JNE_K: u8 = 0x55;
const JNE_X: u8 = 0x5d;
const JEQ_K: u8 = 0x15;
const EXIT: u8 = 0x95;

// Registers: r1 holds the context (struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
// u32 minor; }) on entry; the loads below spread it over r2..r5, and r1 is then a scratch one.
const R0: u8 = 0;
const R1: u8 = 1;
const TYPE: u8 = 2;
const ACCESS: u8 = 3;
const MAJOR: u8 = 4;
const MINOR: u8 = 5;

// access_type is (access << 16) | type.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;
const ACC_ALL: i32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// A rule as the program tests it; None is a wildcard.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    allow: bool,
    typ: Option<i32>,
    major: Option<i32>,
    minor: Option<i32>,
    access: i32,
}

/// The rules that still matter after the last "a" rule, and the answer when none matches.
fn normalize(rules: &[LinuxDeviceCgroup]) -> Result<(Vec<Rule>, bool)> {
    let mut default_allow = false;
    let mut kept = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let typ = match r.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => {
                default_allow = r.allow();
                kept.clear();
                continue;
            }
            LinuxDeviceType::B => DEV_BLOCK,
            LinuxDeviceType::C | LinuxDeviceType::U => DEV_CHAR,
            LinuxDeviceType::P => bail!("linux.resources.devices[{i}]: type \"p\" (fifo) is not a device cgroup type"),
        };
        let number = |n: Option<i64>, what: &str| -> Result<Option<i32>> {
            match n {
                None => Ok(None),
                Some(n) if n < 0 => Ok(None),
                Some(n) => i32::try_from(n)
                    .map(Some)
                    .with_context(|| format!("linux.resources.devices[{i}].{what} {n} is out of range")),
            }
        };
        let text = r.access().as_deref().filter(|a| !a.is_empty()).unwrap_or("rwm");
        let mut access = 0;
        for c in text.chars() {
            access |= match c {
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                'm' => ACC_MKNOD,
                _ => bail!("linux.resources.devices[{i}]: access {text:?} is not made of r, w and m"),
            };
        }
        kept.push(Rule {
            allow: r.allow(),
            typ: Some(typ),
            major: number(r.major(), "major")?,
            minor: number(r.minor(), "minor")?,
            access,
        });
    }
    Ok((kept, default_allow))
}

/// The program for these rules.
pub fn program(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Insn>> {
    let (rules, default_allow) = normalize(rules)?;
    let mut prog = vec![
        insn(LDX_MEM_W, TYPE, R1, 0, 0),
        insn(ALU32_AND_K, TYPE, 0, 0, 0xffff),
        insn(LDX_MEM_W, ACCESS, R1, 0, 0),
        insn(ALU32_RSH_K, ACCESS, 0, 0, 16),
        insn(LDX_MEM_W, MAJOR, R1, 4, 0),
        insn(LDX_MEM_W, MINOR, R1, 8, 0),
    ];
    for rule in rules.iter().rev() {
        // Each test jumps past the rest of its block (to the next rule) when it fails; the
        // offsets are filled in once the block's length is known.
        let mut block: Vec<Insn> = Vec::new();
        if let Some(t) = rule.typ {
            block.push(insn(JNE_K, TYPE, 0, 0, t));
        }
        if rule.allow && rule.access != ACC_ALL {
            // Every bit asked for is in the rule: (access & rule) == access.
            block.push(insn(ALU32_MOV_X, R1, ACCESS, 0, 0));
            block.push(insn(ALU32_AND_K, R1, 0, 0, rule.access));
            block.push(insn(JNE_X, R1, ACCESS, 0, 0));
        } else if !rule.allow {
            // Any bit asked for is in the rule: (access & rule) != 0.
            block.push(insn(ALU32_MOV_X, R1, ACCESS, 0, 0));
            block.push(insn(ALU32_AND_K, R1, 0, 0, rule.access));
            block.push(insn(JEQ_K, R1, 0, 0, 0));
        }
        if let Some(m) = rule.major {
            block.push(insn(JNE_K, MAJOR, 0, 0, m));
        }
        if let Some(m) = rule.minor {
            block.push(insn(JNE_K, MINOR, 0, 0, m));
        }
        block.push(insn(ALU64_MOV_K, R0, 0, 0, rule.allow.into()));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (at, i) in block.iter_mut().enumerate() {
            if matches!(i.code, JNE_K | JNE_X | JEQ_K) {
                i.off = (len - at - 1) as i16;
            }
        }
        prog.extend(block);
    }
    prog.push(insn(ALU64_MOV_K, R0, 0, 0, default_allow.into()));
    prog.push(insn(EXIT, 0, 0, 0, 0));
    Ok(prog)
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The BPF_PROG_LOAD part of union bpf_attr.
#[repr(C)]
#[derive(Default)]
struct LoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The BPF_PROG_ATTACH / BPF_PROG_DETACH part.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// The BPF_PROG_QUERY part.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: attr is a live, fully initialised prefix of union bpf_attr for this command, and
    // the size tells the kernel how much of it there is.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn load(prog: &[Insn]) -> Result<OwnedFd> {
    let license = c"GPL";
    let mut attr = LoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..LoadAttr::default()
    };
    attr.prog_name[..6].copy_from_slice(b"scrun\0");
    match bpf(BPF_PROG_LOAD, &mut attr) {
        // SAFETY: BPF_PROG_LOAD returns a new fd that nothing else owns.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) => {
            // Load again with the verifier's log, whose last line says what it refused.
            let mut log = vec![0u8; 1 << 16];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, &mut attr);
            let text = String::from_utf8_lossy(&log[..log.iter().position(|b| *b == 0).unwrap_or(0)]).into_owned();
            let last = text.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
            Err(e).with_context(|| format!("load the device filter ({} instructions): {last}", prog.len()))
        }
    }
}

/// The programs of ours (and anyone's) attached to the cgroup itself, not its ancestors.
fn attached(cgroup: &OwnedFd) -> Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..QueryAttr::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr).context("query the cgroup's device programs")?;
    ids.truncate(attr.prog_cnt as usize);
    Ok(ids)
}

/// Attaches the program to the cgroup2 directory, then takes off the ones that were there
/// before (a repeated apply), so there is no moment without a filter.
pub fn attach(dir: &Path, program: &[Insn]) -> Result<()> {
    let prog = load(program)?;
    let cgroup: OwnedFd = std::fs::File::open(dir)
        .with_context(|| format!("open cgroup {}", dir.display()))?
        .into();
    let old = attached(&cgroup)?;
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..AttachAttr::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr).with_context(|| format!("attach the device filter to {}", dir.display()))?;
    for id in old {
        let mut get = [id, 0, 0];
        let fd = bpf(BPF_PROG_GET_FD_BY_ID, &mut get).context("open the previous device filter")?;
        // SAFETY: BPF_PROG_GET_FD_BY_ID returns a new fd that nothing else owns.
        let old = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        attr.attach_bpf_fd = old.as_raw_fd() as u32;
        attr.attach_flags = 0;
        bpf(BPF_PROG_DETACH, &mut attr).context("detach the previous device filter")?;
    }
    Ok(())
}

/// A device rule, for the tests of the modules that translate them.
#[cfg(test)]
pub(super) fn rule(
    allow: bool,
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(allow)
        .set_typ(Some(typ))
        .set_major(major)
        .set_minor(minor)
        .set_access(Some(access.into()));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program on one access as the kernel would, to check the meaning of the rules
    /// without a cgroup.
    fn run(prog: &[Insn], typ: i32, major: i32, minor: i32, access: i32) -> bool {
        let mut regs = [0i64; 11];
        let ctx = [((access << 16) | typ) as u32, major as u32, minor as u32];
        let mut pc = 0;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            let imm = i.imm as i64;
            let jump = |cond: bool| if cond { i.off as usize } else { 0 };
            pc += 1 + match i.code {
                LDX_MEM_W => {
                    regs[dst] = ctx[i.off as usize / 4] as i64;
                    0
                }
                ALU32_AND_K => {
                    regs[dst] = (regs[dst] as u32 & i.imm as u32) as i64;
                    0
                }
                ALU32_RSH_K => {
                    regs[dst] = ((regs[dst] as u32) >> i.imm) as i64;
                    0
                }
                ALU32_MOV_X => {
                    regs[dst] = regs[src] as u32 as i64;
                    0
                }
                ALU64_MOV_K => {
                    regs[dst] = imm;
                    0
                }
                JNE_K => jump(regs[dst] != imm),
                JNE_X => jump(regs[dst] != regs[src]),
                JEQ_K => jump(regs[dst] == imm),
                EXIT => return regs[0] != 0,
                c => panic!("opcode {c:#x}"),
            };
        }
    }

    #[test]
    fn later_rules_override_earlier_ones() {
        let rules = [
            rule(false, LinuxDeviceType::A, None, None, "rwm"),
            rule(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"),
            rule(true, LinuxDeviceType::C, Some(136), None, "rw"),
            rule(false, LinuxDeviceType::C, Some(1), Some(3), "w"),
        ];
        let p = program(&rules).unwrap();
        assert!(run(&p, DEV_CHAR, 1, 3, ACC_READ));
        assert!(
            !run(&p, DEV_CHAR, 1, 3, ACC_READ | ACC_WRITE),
            "the later deny takes w away"
        );
        assert!(!run(&p, DEV_CHAR, 1, 5, ACC_READ), "not listed");
        assert!(!run(&p, DEV_BLOCK, 1, 3, ACC_READ), "wrong type");
        assert!(run(&p, DEV_CHAR, 136, 7, ACC_READ | ACC_WRITE), "minor wildcard");
        assert!(!run(&p, DEV_CHAR, 136, 7, ACC_MKNOD), "m not granted");
    }

    #[test]
    fn an_a_rule_resets_the_list() {
        let rules = [
            rule(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"),
            rule(true, LinuxDeviceType::A, Some(1), None, "r"),
            rule(false, LinuxDeviceType::B, Some(8), None, "m"),
        ];
        let p = program(&rules).unwrap();
        assert!(
            run(&p, DEV_CHAR, 10, 200, ACC_ALL),
            "allow-all, whatever the a rule's numbers and access"
        );
        assert!(run(&p, DEV_BLOCK, 8, 0, ACC_READ));
        assert!(!run(&p, DEV_BLOCK, 8, 0, ACC_MKNOD | ACC_READ));
        assert!(
            !run(&program(&[]).unwrap(), DEV_CHAR, 1, 3, ACC_READ),
            "no rules: deny-all"
        );
    }

    #[test]
    fn bad_rules_name_the_entry() {
        let err = program(&[rule(true, LinuxDeviceType::C, Some(1), None, "rx")]).unwrap_err();
        assert!(err.to_string().contains("devices[0]: access \"rx\""), "{err}");
        let err = program(&[rule(true, LinuxDeviceType::C, Some(1 << 40), None, "r")]).unwrap_err();
        assert!(err.to_string().contains("devices[0].major"), "{err}");
    }
}
