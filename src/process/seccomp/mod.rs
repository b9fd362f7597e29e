//! `linux.seccomp`: compile the profile into a BPF program in the runtime, load it in the
//! container's init as the last step before exec.
//!
//! # Why libseccomp (and not seccompiler or a compiler of our own)
//!
//! Docker's and podman's default profile is what every `docker run` sends: default
//! `SCMP_ACT_ERRNO` (podman: with `defaultErrnoRet`), architectures `SCMP_ARCH_X86_64`,
//! `SCMP_ARCH_X86` and `SCMP_ARCH_X32`, ~370 syscall names (many of them exist only on i386,
//! such as `_llseek`, `socketcall` or `chown32`, and on i386 the socket calls are multiplexed
//! through `socketcall`), `SCMP_CMP_MASKED_EQ` on `clone` flags, `SCMP_CMP_EQ` on `personality`
//! and `errnoRet` 38 for `clone3`. `seccompiler` (firecracker) compiles for one architecture per
//! filter and only x86_64/aarch64/riscv64: a 32-bit or x32 syscall would hit its arch-mismatch
//! action instead of the rules, so 32-bit programs would break (or be left unfiltered), and its
//! syscall table is its own. libseccomp is what runc and crun use: it knows the per-arch syscall
//! tables, the x32 bit, the i386 multiplexers, every action and comparison, and splits 64-bit
//! argument comparisons for 32-bit ABIs. So scrun matches runc rule for rule.
//!
//! It comes from Debian's `libseccomp-dev` (`hack/setup.sh`) and is linked statically like
//! glibc (`.cargo/config.toml` sets `LIBSECCOMP_LINK_TYPE=static`): the binary has no shared
//! library to find at container start.
//!
//! # Compile in the runtime, load raw BPF in the init
//!
//! [`compile`] builds a libseccomp context in the runtime (before the clone, so errors name the
//! config field and nothing has been created yet), exports it as BPF, and keeps only the
//! instructions. [`install`] is one `seccomp(2)` call on that memory: no library call, no
//! allocation after the fork.
//!
//! # What runc does on top of libseccomp, and scrun too
//!
//! - Names unknown to the library are skipped (debug log): a profile names syscalls of other
//!   kernels and architectures. Only malformed input is an error.
//! - A rule whose action equals the default action is dropped (libseccomp refuses it).
//! - Conditions on the same argument twice become separate rules (OR), otherwise one rule (AND).
//! - With `flags` absent, `SECCOMP_FILTER_FLAG_SPEC_ALLOW` is set when the kernel has it.
//! - The `-ENOSYS` stub (runc's `patchbpf`): with a non-permissive default action, a syscall
//!   newer than every syscall the profile names gets ENOSYS instead of the default errno, so
//!   glibc falls back (e.g. `fchmodat2` → `fchmodat`) rather than failing with EPERM.
//!
//! And one thing runc does not: Debian 12's libseccomp (2.5.4-1+deb12u1) knows syscalls up to
//! Linux 6.7 (`futex_requeue`, 456), so `statmount`, `listmount`, `mseal`, the `*xattrat` calls
//! and `uretprobe`, all allowed by docker's current profile, would be skipped (and get ENOSYS).
//! The x86 family numbers every syscall since 5.1 identically on x86_64, x32 (plus the x32 bit)
//! and i386, so [`NEWER_SYSCALLS`] lists them, and the unconditional rules for names the
//! library cannot resolve go into the stub ahead of the library's program. This also closes the
//! hole a deny-list profile (default ALLOW, ERRNO for `mseal`) would otherwise have.
//!
//! # Ordering (for the init)
//!
//! Load after capabilities and no_new_privs, as the very last step before exec: the filter then
//! does not apply to the init's own setup calls, and the kernel accepts it either because
//! no_new_privs is set or because the init still has CAP_SYS_ADMIN in its effective set. If
//! neither holds (no_new_privs false and CAP_SYS_ADMIN not kept), loading fails with EACCES and
//! [`install`] says so. Nothing after it may need a syscall the profile denies except `execve`
//! (every profile that expects a program to run allows it).

use anyhow::{bail, Context, Result};
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};
use std::io::{Read, Seek};
use std::os::fd::{FromRawFd, OwnedFd};

mod cache;
pub use cache::compile_cached;

// seccomp(2) and BPF constants (linux/seccomp.h, linux/filter.h, linux/audit.h).
const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
const FLAG_TSYNC: libc::c_ulong = 1 << 0;
const FLAG_LOG: libc::c_ulong = 1 << 1;
const FLAG_SPEC_ALLOW: libc::c_ulong = 1 << 2;
const FLAG_NEW_LISTENER: libc::c_ulong = 1 << 3;
const FLAG_WAIT_KILLABLE_RECV: libc::c_ulong = 1 << 5;

const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_KILL_THREAD: u32 = 0x0000_0000;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_TRACE: u32 = 0x7ff0_0000;
const RET_LOG: u32 = 0x7ffc_0000;
const RET_USER_NOTIF: u32 = 0x7fc0_0000;
const RET_ALLOW: u32 = 0x7fff_0000;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JMP_JA: u16 = 0x05; // BPF_JMP | BPF_JA
const BPF_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const BPF_JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K
const BPF_MAXINSNS: usize = 4096;
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
enum Abi {
    X8664,
    X32,
    I386,
}

impl Abi {
    const ALL: [Abi; 3] = [Abi::X8664, Abi::X32, Abi::I386];

    fn scmp(self) -> ScmpArch {
        match self {
            Abi::X8664 => ScmpArch::X8664,
            Abi::X32 => ScmpArch::X32,
            Abi::I386 => ScmpArch::X86,
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The number of a [`NEWER_SYSCALLS`] entry for this ABI.
    fn newer_nr(self, name: &str) -> Option<u32> {
        let &(_, nr, x86) = NEWER_SYSCALLS.iter().find(|(n, _, _)| *n == name)?;
        match self {
            Abi::X8664 => Some(nr),
            Abi::X32 if x86 => Some(nr | X32_SYSCALL_BIT),
            Abi::I386 if x86 => Some(nr),
            _ => None,
        }
    }
}

/// A compiled seccomp program, ready for [`install`]: plain memory, so the init (a fork of the
/// runtime) has it without any library state.
#[derive(Clone)]
pub struct Filter {
    program: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
    stub_len: usize,
}

impl Filter {
    /// Number of BPF instructions (the kernel's limit is 4096).
    pub fn instructions(&self) -> usize {
        self.program.len()
    }

    /// Instructions scrun put in front of libseccomp's program (ENOSYS stub, newer syscalls).
    pub fn stub_instructions(&self) -> usize {
        self.stub_len
    }

    /// The `seccomp(2)` flags [`install`] passes.
    pub fn flags(&self) -> u64 {
        self.flags
    }
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("instructions", &self.program.len())
            .field("stub_instructions", &self.stub_len)
            .field("flags", &format_args!("{:#x}", self.flags))
            .finish()
    }
}

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

fn flag_name(flag: LinuxSeccompFilterFlag) -> String {
    flag.to_string()
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

/// A rule for a syscall libseccomp does not know, carried out by scrun's stub instead.
struct StubRule {
    name: String,
    ret: u32,
}

/// Deserialize `linux.seccomp` from config.json's raw JSON with errors that name the field, e.g.
/// `linux.seccomp.syscalls[3].action: unknown variant `SCMP_ACT_FOO`, expected one of …`
/// (serde alone names only the line and column).
pub fn parse(value: &serde_json::Value) -> Result<LinuxSeccomp> {
    use oci_spec::runtime::LinuxSeccompArg;
    use serde_json::Value;
    fn check<T: serde::de::DeserializeOwned>(v: Option<&Value>, field: &str) -> Result<()> {
        match v {
            Some(v) if !v.is_null() => serde_json::from_value::<T>(v.clone())
                .map(|_| ())
                .map_err(|e| anyhow::anyhow!("{field}: {e}")),
            _ => Ok(()),
        }
    }
    let items = |key: &str| value.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    check::<LinuxSeccompAction>(value.get("defaultAction"), "linux.seccomp.defaultAction")?;
    check::<u32>(value.get("defaultErrnoRet"), "linux.seccomp.defaultErrnoRet")?;
    for (i, a) in items("architectures").iter().enumerate() {
        check::<Arch>(Some(a), &format!("linux.seccomp.architectures[{i}]"))?;
    }
    for (i, f) in items("flags").iter().enumerate() {
        check::<LinuxSeccompFilterFlag>(Some(f), &format!("linux.seccomp.flags[{i}]"))?;
    }
    for (i, call) in items("syscalls").iter().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        check::<Vec<String>>(call.get("names"), &format!("{field}.names"))?;
        check::<LinuxSeccompAction>(call.get("action"), &format!("{field}.action"))?;
        check::<u32>(call.get("errnoRet"), &format!("{field}.errnoRet"))?;
        let args = call.get("args").and_then(Value::as_array).cloned().unwrap_or_default();
        for (j, arg) in args.iter().enumerate() {
            check::<LinuxSeccompOperator>(arg.get("op"), &format!("{field}.args[{j}].op"))?;
            check::<LinuxSeccompArg>(Some(arg), &format!("{field}.args[{j}]"))?;
        }
        check::<oci_spec::runtime::LinuxSyscall>(Some(call), &field)?;
    }
    serde_json::from_value(value.clone()).map_err(|e| anyhow::anyhow!("linux.seccomp: {e}"))
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

/// The instructions scrun puts in front of libseccomp's program, for the x86 ABIs in the filter:
/// rules for syscalls the library does not know, then runc's ENOSYS for syscalls newer than any
/// the profile names. Anything else falls through to the library's program, which also handles
/// architectures the profile does not list. Conditional jumps only ever skip one instruction;
/// longer distances use `ja`, so no offset can overflow.
fn stub(
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

/// Load the filter into the calling process (the container's init, right before exec).
/// Only a `seccomp(2)` call: safe after fork, no allocation unless it fails. A filter with
/// SCMP_ACT_NOTIFY rules gives back its listener, for the agent.
pub fn install(filter: &Filter) -> Result<Option<OwnedFd>> {
    let prog = libc::sock_fprog {
        len: filter.program.len() as u16,
        filter: filter.program.as_ptr() as *mut libc::sock_filter,
    };
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            filter.flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if filter.flags & FLAG_NEW_LISTENER != 0 && rc >= 0 {
        // SAFETY: with NEW_LISTENER the kernel returns a new fd, ours.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(rc as i32) }));
    }
    if rc == 0 {
        return Ok(None);
    }
    if rc > 0 {
        // With TSYNC the kernel answers the id of a thread it could not synchronize.
        bail!("linux.seccomp: loading the filter: thread {rc} could not be synchronized (SECCOMP_FILTER_FLAG_TSYNC)");
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => Err(err).context(
            "linux.seccomp: seccomp filter needs no_new_privs or CAP_SYS_ADMIN \
             (set process.noNewPrivileges, or keep CAP_SYS_ADMIN in process.capabilities.effective)",
        ),
        Some(libc::EINVAL) => Err(err).context(format!(
            "linux.seccomp: the kernel refused the filter ({} instructions, flags {:#x})",
            filter.program.len(),
            filter.flags
        )),
        _ => Err(err).context("linux.seccomp: loading the filter"),
    }
}

/// One line for `scrun explain`: default action, rule count, architectures, flags.
pub fn summary(seccomp: &LinuxSeccomp) -> String {
    let syscalls = seccomp.syscalls().as_deref().unwrap_or_default();
    let names: usize = syscalls.iter().map(|c| c.names().len()).sum();
    let conditional = syscalls
        .iter()
        .filter(|c| c.args().as_ref().is_some_and(|a| !a.is_empty()))
        .count();
    let default = match (seccomp.default_action(), seccomp.default_errno_ret()) {
        (LinuxSeccompAction::ScmpActErrno, ret) => format!("SCMP_ACT_ERRNO({})", ret.unwrap_or(libc::EPERM as u32)),
        (LinuxSeccompAction::ScmpActTrace, ret) => format!("SCMP_ACT_TRACE({})", ret.unwrap_or(libc::EPERM as u32)),
        (act, _) => act.to_string(),
    };
    let arches = match seccomp.architectures().as_deref().unwrap_or_default() {
        [] => "native".to_string(),
        list => list
            .iter()
            .map(|a| a.to_string().trim_start_matches("SCMP_ARCH_").to_lowercase())
            .collect::<Vec<_>>()
            .join(","),
    };
    let flags = match seccomp.flags() {
        None => "default (SPEC_ALLOW)".to_string(),
        Some(f) if f.is_empty() => "none".to_string(),
        Some(f) => f
            .iter()
            .map(|f| flag_name(*f).trim_start_matches("SECCOMP_FILTER_FLAG_").to_string())
            .collect::<Vec<_>>()
            .join(","),
    };
    format!(
        "default {default}, {} rules ({conditional} with argument conditions) naming {names} syscalls, arches {arches}, flags {flags}",
        syscalls.len()
    )
}
