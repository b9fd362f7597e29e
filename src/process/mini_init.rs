//! `run --init` / `create --init`: a minimal init of scrun's own as the container's PID 1, as
//! docker's --init (tini) gives. A program written for a shell's child gets no default signal
//! action as PID 1 (Ctrl-C and `scrun kill` do nothing) and never reaps the orphans it
//! inherits; here the init forks at the exec step, the child goes on to exec the program
//! (PID 2, with every setting of the plan already applied), and the parent stays behind to
//! forward signals, reap every child, and exit with the program's status.
//!
//! The parent is the init itself, a fork of the runtime: it runs from the binary that
//! sealed_exe made sure no one can write through, stays non-dumpable (the program, at the same
//! uid, can neither ptrace it nor open its /proc entries), and closes every fd it has so that
//! nothing of the runtime stays open in the container.

use anyhow::{Context, Result};
use nix::sys::signal::{kill, sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

/// What `ps` in the container shows for PID 1.
const NAME: &std::ffi::CStr = c"scrun-init";

/// Fork the program's process. Returns in the child, which goes on to exec the program; the
/// parent never returns. Call it last before the exec: the parent keeps the identity,
/// capabilities and seccomp filter the plan gave, as tini run as the entrypoint does.
pub fn fork_program() -> Result<()> {
    let mut watched = SigSet::empty();
    for s in crate::commands::run::FORWARDED
        .iter()
        .chain(&[Signal::SIGWINCH, Signal::SIGCHLD])
    {
        watched.add(*s);
    }
    // Blocked before the fork, so that none sent in between is lost: PID 1 drops a signal it
    // has no handler for, but keeps a blocked one pending.
    let mut before = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&watched), Some(&mut before))
        .context("--init: block signals")?;
    // Without a new pid namespace the init is not PID 1: orphans come to it all the same.
    nix::sys::prctl::set_child_subreaper(true).context("--init: become a subreaper")?;
    // SAFETY: the init is single-threaded.
    match unsafe { fork() }.context("--init: fork the program's process")? {
        ForkResult::Child => {
            nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&before), None)
                .context("--init: unblock signals")?;
            take_terminal()?;
            Ok(())
        }
        ForkResult::Parent { child } => supervise(child, &watched),
    }
}

/// On a terminal, the program gets its own process group in the foreground, so that the
/// terminal's Ctrl-C reaches it once (not once directly and once through the init).
fn take_terminal() -> Result<()> {
    if !nix::unistd::isatty(std::io::stdin()).unwrap_or(false) {
        return Ok(());
    }
    nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0)).context("--init: setpgid")?;
    // A background group that sets the foreground group gets SIGTTOU unless it ignores it.
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_IGN and SIG_DFL install no handler code.
    let old = unsafe { sigaction(Signal::SIGTTOU, &ignore) }.context("--init: ignore SIGTTOU")?;
    let set = nix::unistd::tcsetpgrp(std::io::stdin(), nix::unistd::getpgrp()).context("--init: tcsetpgrp");
    // SAFETY: as above.
    unsafe { sigaction(Signal::SIGTTOU, &old) }.context("--init: restore SIGTTOU")?;
    set
}

fn supervise(program: Pid, watched: &SigSet) -> ! {
    // SAFETY: close_range on every fd: from here on the init uses none.
    unsafe { libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) };
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for s in Signal::iterator().filter(|s| !matches!(s, Signal::SIGKILL | Signal::SIGSTOP)) {
        // SAFETY: SIG_DFL installs no handler code.
        let _ = unsafe { sigaction(s, &default) };
    }
    let _ = nix::sys::prctl::set_name(NAME);
    loop {
        match watched.wait() {
            Ok(Signal::SIGCHLD) => {
                if let Some(code) = reap(program) {
                    // SAFETY: leave without the runtime's exit handlers, which this copy shares.
                    unsafe { libc::_exit(code) }
                }
            }
            // The program may be gone already; its SIGCHLD is then on its way.
            Ok(signal) => drop(kill(program, signal)),
            Err(_) => {}
        }
    }
}

/// Reap every child that has exited; the program's exit code (128+N for signal N) once it
/// is among them.
fn reap(program: Pid) -> Option<i32> {
    let mut code = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, status)) if pid == program => code = Some(status),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == program => code = Some(128 + signal as i32),
            Ok(WaitStatus::StillAlive) | Err(_) => return code,
            Ok(_) => {}
        }
    }
}
