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
//! And one thing runc does not: the stub also carries the rules for syscalls that Debian 12's
//! libseccomp does not know yet (see `stub.rs`).
//!
//! # Ordering (for the init)
//!
//! Load after capabilities and no_new_privs, as the very last step before exec: the filter then
//! does not apply to the init's own setup calls, and the kernel accepts it either because
//! no_new_privs is set or because the init still has CAP_SYS_ADMIN in its effective set. If
//! neither holds (no_new_privs false and CAP_SYS_ADMIN not kept), loading fails with EACCES and
//! [`install`] says so. Nothing after it may need a syscall the profile denies except `execve`
//! (every profile that expects a program to run allows it).
//!
//! # Files
//!
//! `parse.rs` reads the profile from config.json, `compile.rs` turns it into BPF through
//! libseccomp, `stub.rs` builds scrun's instructions in front of that, `cache.rs` keeps compiled
//! filters across containers; this file holds the [`Filter`], [`install`] and explain's summary.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag};
use std::os::fd::{FromRawFd, OwnedFd};

mod cache;
mod compile;
mod parse;
mod stub;
pub use cache::compile_cached;
pub use compile::compile;
pub use parse::parse;

// seccomp(2) constants (linux/seccomp.h).
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

fn flag_name(flag: LinuxSeccompFilterFlag) -> String {
    flag.to_string()
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
