//! The compiler: `linux.seccomp` through libseccomp into BPF, with scrun's stub in front.

use super::stub::{stub, Abi, StubRule};
use super::*;
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{Arch, LinuxSeccompOperator};
use std::io::{Read, Seek};

const BPF_MAXINSNS: usize = 4096; // the kernel's limit (linux/bpf_common.h)

/// The `SECCOMP_RET_*` value of an action, checking `errnoRet` as runtime-spec asks: only
/// ERRNO and TRACE take one (default EPERM, as in runc), and it must fit the 16-bit data field.
fn action(act: LinuxSeccompAction, errno_ret: Option<u32>, field: &str, errno_field: &str) -> Result<u32> {
    use LinuxSeccompAction::*;
    let data = |errno_ret: Option<u32>| -> Result<u32> {
        let v = errno_ret.unwrap_or(libc::EPERM as u32);
        if v > 0xffff {
            bail!("{errno_field}: {v} does not fit seccomp's 16-bit return data");
        }
        Ok(v)
    };
    if errno_ret.is_some() && !matches!(act, ScmpActErrno | ScmpActTrace) {
        bail!("{errno_field}: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno, not {act}");
    }
    Ok(match act {
        ScmpActKill | ScmpActKillThread => RET_KILL_THREAD,
        ScmpActKillProcess => RET_KILL_PROCESS,
        ScmpActTrap => RET_TRAP,
        ScmpActErrno => RET_ERRNO | data(errno_ret)?,
        ScmpActTrace => RET_TRACE | data(errno_ret)?,
        ScmpActLog => RET_LOG,
        ScmpActAllow => RET_ALLOW,
        // As in runc: every syscall of the init, down to its exec, would wait for the agent.
        ScmpActNotify if field.ends_with("defaultAction") => {
            bail!("{field}: SCMP_ACT_NOTIFY cannot be the default action")
        }
        ScmpActNotify => RET_USER_NOTIF,
    })
}

fn scmp_action(ret: u32) -> ScmpAction {
    match ret & 0xffff_0000 {
        RET_KILL_PROCESS => ScmpAction::KillProcess,
        RET_TRAP => ScmpAction::Trap,
        RET_ERRNO => ScmpAction::Errno((ret & 0xffff) as i32),
        RET_TRACE => ScmpAction::Trace((ret & 0xffff) as u16),
        RET_LOG => ScmpAction::Log,
        RET_ALLOW => ScmpAction::Allow,
        RET_USER_NOTIF => ScmpAction::Notify,
        _ => ScmpAction::KillThread,
    }
}

fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// Whether the running kernel accepts a `seccomp(2)` filter flag: with a NULL program it answers
/// EFAULT after checking the flags, EINVAL for a flag it does not know (libseccomp's probe).
fn kernel_has_flag(flag: libc::c_ulong) -> bool {
    let rc = unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_SET_MODE_FILTER, flag, std::ptr::null::<u8>()) };
    rc < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

fn filter_flags(seccomp: &LinuxSeccomp) -> Result<libc::c_ulong> {
    let Some(flags) = seccomp.flags() else {
        // runc: no `flags` at all (not even []) means SPEC_ALLOW when the kernel has it, so a
        // seccomp-confined container does not pay for the speculative store bypass mitigation.
        return Ok(if kernel_has_flag(FLAG_SPEC_ALLOW) {
            FLAG_SPEC_ALLOW
        } else {
            0
        });
    };
    let mut bits = 0;
    for (i, &flag) in flags.iter().enumerate() {
        let bit = match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => FLAG_WAIT_KILLABLE_RECV,
        };
        if !kernel_has_flag(bit) {
            bail!(
                "linux.seccomp.flags[{i}]: {} is not supported by this kernel",
                flag_name(flag)
            );
        }
        bits |= bit;
    }
    Ok(bits)
}

fn compare_op(op: LinuxSeccompOperator, value: u64) -> ScmpCompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        // runtime-spec: `value` is the mask, `valueTwo` the value compared after masking.
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value),
    }
}

fn library_version() -> String {
    match libseccomp::ScmpVersion::current() {
        Ok(v) => format!("{}.{}.{}", v.major, v.minor, v.micro),
        Err(_) => "?".into(),
    }
}

/// Compile `linux.seccomp` into a BPF program. Errors name the config field.
pub fn compile(seccomp: &LinuxSeccomp) -> Result<Filter> {
    let started = std::time::Instant::now();
    let default_ret = action(
        seccomp.default_action(),
        seccomp.default_errno_ret(),
        "linux.seccomp.defaultAction",
        "linux.seccomp.defaultErrnoRet",
    )?;
    let syscalls = seccomp.syscalls().as_deref().unwrap_or_default();
    // A filter that notifies gets its listener fd from the kernel when it is loaded.
    let notifies = seccomp.default_action() == LinuxSeccompAction::ScmpActNotify
        || syscalls.iter().any(|c| c.action() == LinuxSeccompAction::ScmpActNotify);
    let flags = filter_flags(seccomp)? | if notifies { FLAG_NEW_LISTENER } else { 0 };

    let mut ctx = ScmpFilterContext::new(scmp_action(default_ret))
        .context("linux.seccomp: libseccomp could not create a filter")?;
    // libseccomp's context always holds the native architecture; `architectures` adds to it.
    let mut abis = [cfg!(target_arch = "x86_64"), false, false];
    let arches = seccomp.architectures().as_deref().unwrap_or_default();
    for (i, &arch) in arches.iter().enumerate() {
        let scmp = scmp_arch(arch);
        ctx.add_arch(scmp).map_err(|e| {
            anyhow::anyhow!(
                "linux.seccomp.architectures[{i}]: {arch} is not supported by libseccomp {}: {e}",
                library_version()
            )
        })?;
        for abi in Abi::ALL {
            if abi.scmp() == scmp {
                abis[abi.index()] = true;
            }
        }
    }
    // No binary-tree layout (runc asks libseccomp for one past 32 names): since Linux 5.11 the
    // kernel caches the verdict of every syscall whose result does not depend on its arguments,
    // so the tree only speeds up the few argument-checked calls (personality: 650 ns instead of
    // 690 ns per call, docker's profile), while it costs 5 ms more to compile (19 ms instead of
    // 14 ms) at every container start.

    let mut stub_rules: Vec<StubRule> = Vec::new();
    let mut skipped: Vec<&str> = Vec::new();
    let mut rules = 0usize;
    for (i, call) in syscalls.iter().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        let ret = action(
            call.action(),
            call.errno_ret(),
            &format!("{field}.action"),
            &format!("{field}.errnoRet"),
        )?;
        let args = call.args().as_deref().unwrap_or_default();
        let mut conditions = Vec::with_capacity(args.len());
        let mut per_arg = [0usize; 6];
        for (j, arg) in args.iter().enumerate() {
            if arg.index() > 5 {
                bail!(
                    "{field}.args[{j}].index: {} is out of range: a syscall has arguments 0 to 5",
                    arg.index()
                );
            }
            per_arg[arg.index()] += 1;
            let datum = match arg.op() {
                LinuxSeccompOperator::ScmpCmpMaskedEq => arg.value_two().unwrap_or(0),
                _ => arg.value(),
            };
            conditions.push(ScmpArgCompare::new(
                arg.index() as u32,
                compare_op(arg.op(), arg.value()),
                datum,
            ));
        }
        if call.names().is_empty() {
            bail!("{field}.names: empty: a rule names at least one syscall");
        }
        for (k, name) in call.names().iter().enumerate() {
            if name.is_empty() {
                bail!("{field}.names[{k}]: empty syscall name");
            }
            if ret == default_ret {
                continue; // same as the default: libseccomp refuses such a rule, runc drops it
            }
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                if Abi::X8664.newer_nr(name).is_some() && cfg!(target_arch = "x86_64") {
                    if !args.is_empty() {
                        crate::logging::warn(&format!(
                            "{field}.names[{k}]: {name} is unknown to libseccomp {} and has argument conditions; rule not applied",
                            library_version()
                        ));
                        continue;
                    }
                    // As libseccomp does for the syscalls it knows: the first rule wins.
                    match stub_rules.iter().find(|r| r.name == *name) {
                        Some(r) if r.ret != ret => {
                            tracing::debug!(
                                "{field}.names[{k}]: {name} already has an action from an earlier rule; ignored"
                            )
                        }
                        Some(_) => {}
                        None => stub_rules.push(StubRule {
                            name: name.clone(),
                            ret,
                        }),
                    }
                    rules += 1;
                    continue;
                }
                tracing::debug!(
                    "{field}.names[{k}]: syscall {name:?} unknown to libseccomp {}; skipped",
                    library_version()
                );
                skipped.push(name);
                continue;
            };
            let added = if conditions.is_empty() {
                ctx.add_rule(scmp_action(ret), nr).map(|_| ())
            } else if per_arg.iter().any(|&n| n > 1) {
                // runc: two conditions on one argument cannot be ANDed by libseccomp; each
                // becomes a rule of its own (so they are ORed).
                conditions
                    .iter()
                    .try_for_each(|c| ctx.add_rule_conditional(scmp_action(ret), nr, &[*c]).map(|_| ()))
            } else {
                ctx.add_rule_conditional(scmp_action(ret), nr, &conditions).map(|_| ())
            };
            added.map_err(|e| anyhow::anyhow!("{field}.names[{k}]: libseccomp refused the rule for {name}: {e}"))?;
            rules += 1;
        }
    }

    let library = export(&ctx).context("linux.seccomp: exporting the BPF program")?;
    drop(ctx);
    let stub = stub(seccomp, syscalls, default_ret, &abis, &stub_rules);
    let stub_len = stub.len();
    let mut program = stub;
    program.extend_from_slice(&library);
    if program.len() > BPF_MAXINSNS {
        bail!(
            "linux.seccomp: the profile compiles to {} BPF instructions, more than the kernel's {BPF_MAXINSNS}",
            program.len()
        );
    }
    tracing::debug!(
        "seccomp: {rules} rules, {} names unknown to libseccomp {} skipped, {} BPF instructions ({stub_len} in scrun's stub), flags {flags:#x}, compiled in {} µs",
        skipped.len(),
        library_version(),
        program.len(),
        started.elapsed().as_micros()
    );
    Ok(Filter {
        program,
        flags,
        stub_len,
    })
}

/// libseccomp's program as instructions (exported through a memfd: libseccomp 2.5 writes BPF
/// only to a file descriptor).
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>> {
    let fd = unsafe { libc::memfd_create(c"scrun-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("memfd_create");
    }
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    ctx.export_bpf(&file).map_err(|e| anyhow::anyhow!("{e}"))?;
    file.rewind()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    if bytes.is_empty() || bytes.len() % 8 != 0 {
        bail!(
            "libseccomp exported {} bytes, not whole 8-byte instructions",
            bytes.len()
        );
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|b| libc::sock_filter {
            code: u16::from_ne_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        })
        .collect())
}
