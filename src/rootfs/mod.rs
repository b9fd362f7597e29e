//! The container's root filesystem: the rootfs made a mount point, config mounts inside it,
//! pivot_root into it, then masked and read-only paths and a read-only root.

pub mod cgroupfs;
mod copy;
pub mod masks;
pub mod mounts;
pub mod resolve;

use anyhow::{Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::SFlag;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

const NONE: Option<&str> = None;

fn errno(e: nix::errno::Errno) -> anyhow::Error {
    anyhow::anyhow!("{}", e.desc().to_lowercase())
}

/// Keep the container's mounts from propagating back to the host (rslave by default, as runc).
pub fn set_root_propagation(name: &str) -> Result<()> {
    let flags = mounts::root_propagation(name)?;
    mount(NONE, "/", NONE, flags, NONE).map_err(errno)
}

/// Make the rootfs a mount point of its own (pivot_root needs one) and return an fd of it, the
/// anchor every later path is resolved from.
pub fn bind_rootfs(path: &Path) -> Result<OwnedFd> {
    mount(Some(path), path, NONE, MsFlags::MS_BIND | MsFlags::MS_REC, NONE).map_err(errno)?;
    open_path(path)
}

pub fn open_path(path: &Path) -> Result<OwnedFd> {
    Ok(std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(path)
        .with_context(|| format!("open {}", path.display()))?
        .into())
}

/// Enter the rootfs. pivot_root(".", ".") stacks the old root on the new one, so it can be
/// detached without a directory for it in the image (runc's way).
pub fn pivot(root: &OwnedFd, no_pivot: bool) -> Result<()> {
    nix::unistd::fchdir(root).map_err(errno)?;
    if no_pivot {
        mount(Some("."), "/", NONE, MsFlags::MS_MOVE, NONE)
            .map_err(errno)
            .context("move the rootfs to /")?;
        nix::unistd::chroot(".").map_err(errno).context("chroot")?;
    } else {
        nix::unistd::pivot_root(".", ".").map_err(errno).context("pivot_root")?;
        // Unmounting must not propagate to the host's mounts.
        mount(NONE, ".", NONE, MsFlags::MS_SLAVE | MsFlags::MS_REC, NONE)
            .map_err(errno)
            .context("make the old root a slave")?;
        umount2(".", MntFlags::MNT_DETACH)
            .map_err(errno)
            .context("detach the old root")?;
    }
    nix::unistd::chdir("/").map_err(errno)
}

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
    mounts::attach(&mounts::clone_fd(slave, false)?, &target)
}
