//! /dev/console: the pty's slave bound over it (the init opens the pty in `pts.rs`, the
//! runtime passes the master on, see `crate::tty`).

use crate::rootfs::{masks, mount_api, resolve};
use anyhow::Result;
use nix::sys::stat::SFlag;
use std::os::fd::OwnedFd;
use std::path::Path;

/// Bind the pty's slave over /dev/console, from fd to fd. The mount point is opened, or made,
/// beneath the root without following a symlink: a /dev/console the container points elsewhere
/// (into a directory bound from the host, say) is an error, never a file created or covered
/// there (CVE-2025-52565).
pub fn bind_console(root: &OwnedFd, slave: &OwnedFd) -> Result<()> {
    let path = Path::new("/dev/console");
    let target = resolve::open_in_root(root, path, resolve::Create::File, false)?;
    let (kind, what) = masks::file_type(&target)?;
    if kind != SFlag::S_IFREG && kind != SFlag::S_IFCHR {
        anyhow::bail!("/dev/console is {what}, not a file or a character device");
    }
    mount_api::attach(&mount_api::clone_fd(slave, false)?, &target)
}
