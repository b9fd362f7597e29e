//! Terminals. The init opens a pty in the container's own devpts (so the slave is
//! /dev/pts/N inside it, see `rootfs/dev/pts.rs`), makes it its controlling terminal and
//! stdio, and hands the master
//! to the runtime, which passes it to `--console-socket` or, for `scrun run` in the
//! foreground, copies the user's terminal to and from it.

use anyhow::{bail, Context, Result};
use nix::sys::socket::{
    connect, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// Make the slave the init's controlling terminal and its stdin, stdout and stderr.
pub fn become_console(slave: &OwnedFd) -> Result<()> {
    nix::unistd::setsid().context("setsid")?;
    // SAFETY: TIOCSCTTY takes an int argument (0: do not steal).
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(std::io::Error::last_os_error()).context("make the pty the controlling terminal");
    }
    for target in 0..3 {
        // SAFETY: dup2 onto the standard fds, which this process owns.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(std::io::Error::last_os_error()).context("dup the pty to stdio");
        }
    }
    Ok(())
}

/// Hand the master to whoever listens on `--console-socket`. The peer may accept only after
/// we exit (containerd's shim does), so this only connects and sends: the message waits in
/// the listen backlog.
pub fn send_to_socket(path: &Path, master: BorrowedFd) -> Result<()> {
    let sock = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).context("socket")?;
    let addr = UnixAddr::new(path).context("console socket path")?;
    connect(sock.as_raw_fd(), &addr).with_context(|| format!("connect to console socket {}", path.display()))?;
    let fds = [master.as_raw_fd()];
    let iov = [IoSlice::new(b"/dev/ptmx")];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .with_context(|| format!("send the pty to console socket {}", path.display()))?;
    Ok(())
}

/// The user's terminal in raw mode for as long as this lives, so keys reach the container
/// unprocessed; restored on drop.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    pub fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// Give the pty the size of the user's terminal (on start and on SIGWINCH).
pub fn copy_window_size(master: &OwnedFd) {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ read and write one winsize struct.
    unsafe {
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}

/// Set the pty's size from process.consoleSize.
pub fn set_size(master: &OwnedFd, rows: u16, cols: u16) -> Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize struct.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
        bail!("set console size: {}", std::io::Error::last_os_error());
    }
    Ok(())
}
