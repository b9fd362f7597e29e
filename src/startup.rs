//! What scrun does before its first step in place of Rust's runtime start-up, which main.rs skips
//! (`#![no_main]`): std's reads /proc/self/maps for the main thread's stack guard and sets up a
//! signal stack for a stack-overflow message, 17 syscalls and about 90 µs of every process
//! (measured on a static hello world, 2000 spawns each). What of it scrun needs is here.
//!
//! SIGPIPE: std ignores it in every program, and an ignored signal stays ignored across execve,
//! so the container's process got it ignored too (runc's gets it as runc's caller left it).
//! The runtime still ignores it, to get EPIPE from a hook that closes its stdin or a closed
//! stdout rather than die with its container half made, and every execve of scrun's gives the
//! caller's disposition back first.

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether scrun's caller had SIGPIPE ignored (inherited by forks: the init, `exec`'s joiner).
static CALLER_IGNORED_SIGPIPE: AtomicBool = AtomicBool::new(false);

/// Before anything else in main.
pub fn prepare() {
    open_standard_fds();
    // SAFETY: sigaction with SIG_IGN installs no handler code; `old` is written by the kernel.
    unsafe {
        let mut ignore: libc::sigaction = std::mem::zeroed();
        ignore.sa_sigaction = libc::SIG_IGN;
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGPIPE, &ignore, &mut old) == 0 {
            CALLER_IGNORED_SIGPIPE.store(old.sa_sigaction == libc::SIG_IGN, Ordering::Relaxed);
        }
    }
}

/// Whether restore_sigpipe ran in this process (or the one it was forked from).
static RESTORED: AtomicBool = AtomicBool::new(false);

/// Before an execve: SIGPIPE as scrun's caller had it. Once: the init calls it before its
/// seccomp filter too, after which a profile may deny rt_sigaction (`process::seccomp`).
pub fn restore_sigpipe() {
    if !RESTORED.swap(true, Ordering::Relaxed) && !CALLER_IGNORED_SIGPIPE.load(Ordering::Relaxed) {
        // SAFETY: SIG_DFL installs no handler code.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
}

/// A closed stdin, stdout or stderr is opened on /dev/null, as std does: otherwise the first
/// file scrun opens would take its number, and a message meant for stderr would be written
/// into it (config.json, a state file).
fn open_standard_fds() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll on an array of three pollfds that lives across the call.
    if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } < 0 {
        return;
    }
    for pfd in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        let flags = if pfd.fd == 0 { libc::O_RDONLY } else { libc::O_RDWR };
        // SAFETY: open of a constant C path; the lowest free number is the closed one.
        if unsafe { libc::open(c"/dev/null".as_ptr(), flags) } != pfd.fd {
            // As std does when it cannot: nothing safe is left to do.
            std::process::abort();
        }
    }
}
