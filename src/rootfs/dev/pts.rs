//! /dev/pts: the container's own devpts, mounted as an ordinary entry of config.json's
//! `mounts` (the default spec's `newinstance,ptmxmode=0666`, see `rootfs/mounts`), and the pty
//! the init opens there for `process.terminal`.

use crate::rootfs::resolve::{open_in_root, Create};
use anyhow::{bail, Context, Result};
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fstat, Mode, SFlag};
use nix::sys::statfs::{fstatfs, DEVPTS_SUPER_MAGIC};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// Open a new pty pair from the devpts at /dev/pts beneath `root`, through its own ptmx (as runc
/// does), not /dev/ptmx, which the image may point anywhere. The directory must be a devpts,
/// where only the kernel makes entries, and what opens there must be its ptmx (5:2), checked on
/// the fd. TIOCGPTPEER gets the slave from the master itself, so a /dev/pts entry swapped by
/// the container cannot be substituted (runc's checkPtmxHandle).
pub fn open_pty(root: &OwnedFd) -> Result<(OwnedFd, OwnedFd)> {
    let pts = open_in_root(root, Path::new("/dev/pts"), Create::No, true)?;
    if !on_devpts(&pts)? {
        bail!("/dev/pts is not a devpts mount");
    }
    let master = openat(
        &pts,
        "ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| anyhow::anyhow!("open /dev/pts/ptmx: {}", e.desc().to_lowercase()))?;
    let st = fstat(&master).context("fstat /dev/pts/ptmx")?;
    let is_char = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFCHR;
    if !on_devpts(&master)? || !is_char || st.st_rdev != libc::makedev(5, 2) {
        bail!("/dev/pts/ptmx is not the ptmx device of a devpts");
    }
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int; TIOCGPTPEER returns a new fd or -1.
    unsafe {
        if libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) < 0 {
            return Err(std::io::Error::last_os_error()).context("unlock pty");
        }
        let slave = libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        if slave < 0 {
            return Err(std::io::Error::last_os_error()).context("open pty slave");
        }
        Ok((master, OwnedFd::from_raw_fd(slave)))
    }
}

fn on_devpts(fd: &OwnedFd) -> Result<bool> {
    let fs = fstatfs(fd).context("fstatfs")?;
    Ok(fs.filesystem_type() == DEVPTS_SUPER_MAGIC)
}
