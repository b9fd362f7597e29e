//! `run`: create and start; in the foreground, relay signals (and the terminal) to the
//! container until its process exits, return its exit code, and delete it.

use crate::cli::{GlobalOpts, RunArgs};
use crate::launch::{self, Launched};
use crate::state::Store;
use crate::tty;
use anyhow::{Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Signals a foreground `run` passes on to the container (SIGCHLD and SIGWINCH it handles).
pub(crate) const FORWARDED: [Signal; 8] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGPIPE,
    Signal::SIGALRM,
];

/// The exit code of `scrun run`: the container process's own, or 128+N for signal N.
pub fn run(global: &GlobalOpts, args: &RunArgs) -> Result<i32> {
    if args.opts.pause_at.is_some() {
        anyhow::bail!("--pause-at is for create: run would start the container at once");
    }
    let (id, bundle) = id_and_bundle(&args.id, args.opts.bundle.as_deref())?;
    let store = Store::open(&global.root)?;
    if args.detach {
        launch::create(&store, &id, &bundle, &(&args.opts).into(), false, global.systemd_cgroup)?;
        return super::start::start(global, &id).map(|()| 0);
    }
    let sigfd = block_signals()?;
    // Started by the foreground create itself: what `start` would add is the poststart hooks.
    let launched = launch::create(&store, &id, &bundle, &(&args.opts).into(), true, global.systemd_cgroup)?;
    let code = match &launched.exec_failed {
        Some(why) => Err(anyhow::anyhow!("{why}")),
        None => store
            .load(&id)
            .map(|c| super::start::run_hooks(&c, "poststart", &c.saved.poststart, "running"))
            .and_then(|()| relay(&launched, &sigfd)),
    };
    if !args.keep {
        if let Ok(container) = store.load(&id) {
            super::delete::remove(container, true)?;
        }
    }
    code
}

/// Block the signals a foreground run or exec relays, before the clone so none is lost (the
/// init unblocks them for itself), and read them from a signalfd.
pub fn block_signals() -> Result<SignalFd> {
    let mut signals = SigSet::empty();
    for s in FORWARDED.iter().chain(&[Signal::SIGCHLD, Signal::SIGWINCH]) {
        signals.add(*s);
    }
    signals.thread_block().context("block signals")?;
    SignalFd::with_flags(&signals, SfdFlags::SFD_CLOEXEC).context("signalfd")
}

/// `scrun run DIR` when DIR holds a config.json: the bundle is DIR and the id its name.
/// Otherwise the argument is the id and the bundle --bundle or the current directory (runc).
fn id_and_bundle(arg: &str, bundle: Option<&Path>) -> Result<(String, PathBuf)> {
    let dir = Path::new(arg);
    // A directory without config.json, where the current one has none either, was meant as a
    // bundle: say so, rather than that its path is not a valid container id.
    if bundle.is_none() && dir.is_dir() && !dir.join("config.json").is_file() && !Path::new("config.json").is_file() {
        anyhow::bail!(
            "{arg}: there is no config.json in this directory (scrun run DIR takes a bundle: a directory holding config.json and the rootfs; or use scrun run --bundle DIR ID)"
        );
    }
    if bundle.is_none() && dir.join("config.json").is_file() {
        let name = std::path::absolute(dir)?
            .canonicalize()?
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let id: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "_+-.".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        return Ok((id, dir.to_path_buf()));
    }
    Ok((
        arg.to_string(),
        bundle.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".")),
    ))
}

/// Until the process exits: pass on signals and copy the terminal; then its exit code.
pub fn relay(launched: &Launched, sigfd: &SignalFd) -> Result<i32> {
    let _raw = launched.pty.as_ref().and_then(|m| {
        tty::copy_window_size(m);
        tty::RawMode::enter()
    });
    let mut stdin_open = launched.pty.is_some();
    let mut master_open = launched.pty.is_some();
    let mut stop: Option<Stop> = None;
    loop {
        let mut fds = vec![PollFd::new(sigfd.as_fd(), PollFlags::POLLIN)];
        let master = launched.pty.as_ref().filter(|_| master_open);
        if let Some(m) = master {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
        }
        let stdin = std::io::stdin();
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        let timeout = stop
            .as_ref()
            .filter(|s| !s.told)
            .map(|s| PollTimeout::try_from(HINT_AFTER.saturating_sub(s.at.elapsed())).unwrap_or(PollTimeout::ZERO))
            .unwrap_or(PollTimeout::NONE);
        let woke = match poll(&mut fds, timeout) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => r.context("poll")?,
        };
        if woke == 0 {
            if let Some(s) = stop.as_mut().filter(|s| !s.told && s.at.elapsed() >= HINT_AFTER) {
                s.told = true;
                let why = if is_pid1(launched.pid) {
                    "as PID 1 of its pid namespace it gets no default action for a signal it does not \
                     handle (handle it in the program, or run it with --init)"
                } else {
                    "it handles or ignores it"
                };
                eprintln!(
                    "scrun: the container's process has not exited on {}: {why}. {} again within {} s kills it.",
                    s.signal,
                    s.signal,
                    KILL_WITHIN.as_secs()
                );
            }
            continue;
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
        drop(fds);
        if let Some(m) = master {
            if ready[1] && !copy(m.as_fd(), std::io::stdout().as_fd()) {
                master_open = false;
            }
            if stdin_open && ready[2] && !copy(stdin.as_fd(), m.as_fd()) {
                stdin_open = false;
            }
        }
        if ready[0] {
            if let Some(code) = on_signal(launched, sigfd, &mut stop)? {
                if let Some(m) = launched.pty.as_ref().filter(|_| master_open) {
                    drain(m);
                }
                return Ok(code);
            }
        }
    }
}

/// A SIGINT or SIGTERM passed on to the container: the program, as PID 1 of its pid namespace,
/// does not die of one it does not handle, and a learner pressing Ctrl-C on `scrun run` would
/// be stuck. So scrun says why after a moment, and a second one soon after kills it.
struct Stop {
    at: std::time::Instant,
    signal: Signal,
    told: bool,
}

/// Whether `pid` is PID 1 of its own pid namespace (the last NSpid of its status is 1).
fn is_pid1(pid: nix::unistd::Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .map(|v| v.split_whitespace().last() == Some("1"))
        })
        .unwrap_or(false)
}

const HINT_AFTER: std::time::Duration = std::time::Duration::from_secs(1);
const KILL_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Handle one pending signal; the exit code once the container process has exited.
fn on_signal(launched: &Launched, sigfd: &SignalFd, stop: &mut Option<Stop>) -> Result<Option<i32>> {
    let Some(info) = sigfd.read_signal().context("read signalfd")? else {
        return Ok(None);
    };
    match Signal::try_from(info.ssi_signo as i32) {
        Ok(Signal::SIGCHLD) => loop {
            match waitpid(launched.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => return Ok(Some(code)),
                Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(Some(128 + sig as i32)),
                Ok(WaitStatus::StillAlive) => return Ok(None),
                Ok(_) => continue,
                Err(e) => return Err(e).context("wait for the container"),
            }
        },
        Ok(Signal::SIGWINCH) => {
            if let Some(m) = &launched.pty {
                tty::copy_window_size(m);
            }
            Ok(None)
        }
        Ok(sig @ (Signal::SIGINT | Signal::SIGTERM)) => {
            match stop {
                Some(s) if s.at.elapsed() < KILL_WITHIN => {
                    eprintln!("scrun: {sig} again: killing the container's process (SIGKILL)");
                    let _ = nix::sys::signal::kill(launched.pid, Signal::SIGKILL);
                }
                _ => {
                    *stop = Some(Stop {
                        at: std::time::Instant::now(),
                        signal: sig,
                        told: false,
                    });
                    let _ = nix::sys::signal::kill(launched.pid, sig);
                }
            }
            Ok(None)
        }
        Ok(sig) => {
            let _ = nix::sys::signal::kill(launched.pid, sig);
            Ok(None)
        }
        Err(_) => Ok(None),
    }
}

/// Copy what is available from one fd to another; false at end of input (EIO on a pty master
/// whose slave is closed).
fn copy(from: BorrowedFd, to: BorrowedFd) -> bool {
    let mut buf = [0u8; 8192];
    match nix::unistd::read(from, &mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => write_all(to, &buf[..n]),
    }
}

fn write_all(to: BorrowedFd, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        match nix::unistd::write(to, data) {
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
    true
}

/// What the container wrote just before exiting may still sit in the pty.
fn drain(master: &OwnedFd) {
    let _ = nix::fcntl::fcntl(master, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK));
    while copy(master.as_fd(), std::io::stdout().as_fd()) {}
}
