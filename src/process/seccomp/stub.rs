//! The instructions scrun puts in front of libseccomp's program: runc's `-ENOSYS` stub
//! (`patchbpf`), and the rules for syscalls the library does not know.
//!
//! Beyond runc: Debian 12's libseccomp (2.5.4-1+deb12u1) knows syscalls up to
//! Linux 6.7 (`futex_requeue`, 456), so `statmount`, `listmount`, `mseal`, the `*xattrat` calls
//! and `uretprobe`, all allowed by docker's current profile, would be skipped (and get ENOSYS).
//! The x86 family numbers every syscall since 5.1 identically on x86_64, x32 (plus the x32 bit)
//! and i386, so [`NEWER_SYSCALLS`] lists them, and the unconditional rules for names the
//! library cannot resolve go into the stub ahead of the library's program. This also closes the
//! hole a deny-list profile (default ALLOW, ERRNO for `mseal`) would otherwise have.

use super::RET_ERRNO;
use libseccomp::{ScmpArch, ScmpSyscall};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction};

// BPF and audit constants (linux/filter.h, linux/audit.h).
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JMP_JA: u16 = 0x05; // BPF_JMP | BPF_JA
const BPF_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const BPF_JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K
const OFFSET_NR: u32 = 0; // offsetof(struct seccomp_data, nr)
const OFFSET_ARCH: u32 = 4; // offsetof(struct seccomp_data, arch)

/// x86 syscalls added since Linux 6.5, with their numbers: since Linux 5.1 the same on x86_64
/// and i386 (x32: plus the x32 bit). Consulted only for names the library cannot resolve, so a
/// newer libseccomp simply takes over. `x86` tells whether the syscall also exists for i386 and
/// x32 (the "64"-only ones do not).
const NEWER_SYSCALLS: &[(&str, u32, bool)] = &[
    ("uretprobe", 335, false),
    ("cachestat", 451, true),
    ("fchmodat2", 452, true),
    ("map_shadow_stack", 453, true),
    ("futex_wake", 454, true),
    ("futex_wait", 455, true),
    ("futex_requeue", 456, true),
    ("statmount", 457, true),
    ("listmount", 458, true),
    ("lsm_get_self_attr", 459, true),
    ("lsm_set_self_attr", 460, true),
    ("lsm_list_modules", 461, true),
    ("mseal", 462, true),
    ("setxattrat", 463, true),
    ("getxattrat", 464, true),
    ("listxattrat", 465, true),
    ("removexattrat", 466, true),
    ("open_tree_attr", 467, true),
    ("file_getattr", 468, true),
    ("file_setattr", 469, true),
    ("listns", 470, true),
];

/// The three x86 ABIs a filter on an x86_64 host can see.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Abi {
    X8664,
    X32,
    I386,
}

impl Abi {
    pub(super) const ALL: [Abi; 3] = [Abi::X8664, Abi::X32, Abi::I386];

    pub(super) fn scmp(self) -> ScmpArch {
        match self {
            Abi::X8664 => ScmpArch::X8664,
            Abi::X32 => ScmpArch::X32,
            Abi::I386 => ScmpArch::X86,
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }

    /// The number of a [`NEWER_SYSCALLS`] entry for this ABI.
    pub(super) fn newer_nr(self, name: &str) -> Option<u32> {
        let &(_, nr, x86) = NEWER_SYSCALLS.iter().find(|(n, _, _)| *n == name)?;
        match self {
            Abi::X8664 => Some(nr),
            Abi::X32 if x86 => Some(nr | X32_SYSCALL_BIT),
            Abi::I386 if x86 => Some(nr),
            _ => None,
        }
    }
}

/// A rule for a syscall libseccomp does not know, carried out by scrun's stub instead.
pub(super) struct StubRule {
    pub(super) name: String,
    pub(super) ret: u32,
}

/// The instructions scrun puts in front of libseccomp's program, for the x86 ABIs in the filter:
/// rules for syscalls the library does not know, then runc's ENOSYS for syscalls newer than any
/// the profile names. Anything else falls through to the library's program, which also handles
/// architectures the profile does not list. Conditional jumps only ever skip one instruction;
/// longer distances use `ja`, so no offset can overflow.
pub(super) fn stub(
    seccomp: &LinuxSeccomp,
    syscalls: &[oci_spec::runtime::LinuxSyscall],
    default_ret: u32,
    abis: &[bool; 3],
    stub_rules: &[StubRule],
) -> Vec<libc::sock_filter> {
    if !cfg!(target_arch = "x86_64") {
        return Vec::new();
    }
    // runc adds the ENOSYS stub only when the default action denies; a permissive default
    // already lets a new syscall reach the kernel.
    let permissive = matches!(
        seccomp.default_action(),
        LinuxSeccompAction::ScmpActAllow | LinuxSeccompAction::ScmpActLog | LinuxSeccompAction::ScmpActTrace
    );
    let enosys = !permissive && default_ret != RET_ERRNO | libc::ENOSYS as u32;

    // Per ABI: the rules, and the largest syscall number the profile names.
    let mut body: [Vec<(u32, u32)>; 3] = Default::default();
    let mut largest: [Option<u32>; 3] = [None; 3];
    for abi in Abi::ALL {
        if !abis[abi.index()] {
            continue;
        }
        for rule in stub_rules {
            if let Some(nr) = abi.newer_nr(&rule.name) {
                body[abi.index()].push((nr, rule.ret));
            }
        }
        if enosys {
            for name in syscalls.iter().flat_map(|c| c.names()) {
                let nr = match ScmpSyscall::from_name_by_arch(name, abi.scmp()) {
                    Ok(nr) if i32::from(nr) > 0 => Some(i32::from(nr) as u32),
                    _ => abi.newer_nr(name),
                };
                if let Some(nr) = nr {
                    largest[abi.index()] = Some(largest[abi.index()].map_or(nr, |l| l.max(nr)));
                }
            }
        }
    }
    let needed = |abi: Abi| !body[abi.index()].is_empty() || largest[abi.index()].is_some();
    if !Abi::ALL.into_iter().any(needed) {
        return Vec::new();
    }

    enum Ins {
        Raw(libc::sock_filter),
        Ja(usize), // to label
        Label(usize),
    }
    const END: usize = 0;
    const L64: usize = 1;
    const LX32: usize = 2;
    const L32: usize = 3;
    let stmt = |code, k| Ins::Raw(libc::sock_filter { code, jt: 0, jf: 0, k });
    // if A <op> k: fall through to the next instruction, else skip it.
    let jump = |code, k| Ins::Raw(libc::sock_filter { code, jt: 0, jf: 1, k });
    let section = |out: &mut Vec<Ins>, abi: Abi| {
        for &(nr, ret) in &body[abi.index()] {
            out.push(jump(BPF_JEQ_K, nr));
            out.push(stmt(BPF_RET_K, ret));
        }
        if let Some(max) = largest[abi.index()] {
            out.push(jump(BPF_JGT_K, max));
            out.push(stmt(BPF_RET_K, RET_ERRNO | libc::ENOSYS as u32));
        }
        out.push(Ins::Ja(END));
    };

    let mut p = vec![stmt(BPF_LD_W_ABS, OFFSET_ARCH)];
    let x86_64 = needed(Abi::X8664) || needed(Abi::X32);
    if x86_64 {
        p.push(jump(BPF_JEQ_K, AUDIT_ARCH_X86_64));
        p.push(Ins::Ja(L64));
    }
    if needed(Abi::I386) {
        p.push(jump(BPF_JEQ_K, AUDIT_ARCH_I386));
        p.push(Ins::Ja(L32));
    }
    p.push(Ins::Ja(END));
    if x86_64 {
        p.push(Ins::Label(L64));
        p.push(stmt(BPF_LD_W_ABS, OFFSET_NR));
        p.push(jump(BPF_JSET_K, X32_SYSCALL_BIT));
        p.push(Ins::Ja(LX32));
        section(&mut p, Abi::X8664);
        p.push(Ins::Label(LX32));
        section(&mut p, Abi::X32);
    }
    if needed(Abi::I386) {
        p.push(Ins::Label(L32));
        p.push(stmt(BPF_LD_W_ABS, OFFSET_NR));
        section(&mut p, Abi::I386);
    }
    p.push(Ins::Label(END));

    // Resolve labels: a label is the index of the next real instruction.
    let mut at = [0usize; 4];
    let mut n = 0;
    for ins in &p {
        match ins {
            Ins::Label(l) => at[*l] = n,
            _ => n += 1,
        }
    }
    let mut out = Vec::with_capacity(n);
    for ins in p {
        match ins {
            Ins::Raw(f) => out.push(f),
            Ins::Ja(l) => {
                let k = (at[l] - (out.len() + 1)) as u32;
                out.push(libc::sock_filter {
                    code: BPF_JMP_JA,
                    jt: 0,
                    jf: 0,
                    k,
                });
            }
            Ins::Label(_) => {}
        }
    }
    out
}
