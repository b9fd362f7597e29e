//! The container's root filesystem: the rootfs made a mount point, config mounts inside it,
//! pivot_root into it, then masked and read-only paths and a read-only root.
//!
//! Here: the rootfs bind, propagation, pivot_root and the in-root symlink maker. `resolve.rs`
//! walks a path beneath the root, `mounts/` plans and applies config.json's `mounts`,
//! `mount_api.rs` wraps open_tree, move_mount and mount_setattr, `dev/` sets up /dev (nodes,
//! symlinks, pts, console), `masks.rs` the masked and read-only paths, `cgroupfs.rs` the
//! `cgroup` mount, `copy.rs` tmpcopyup.

pub mod cgroupfs;
pub mod copy;
pub mod dev;
pub mod masks;
pub mod mount_api;
pub mod mount_step;
pub mod mounts;
pub mod resolve;

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::unistd::symlinkat;
use resolve::open_parent_in_root;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

const NONE: Option<&str> = None;

fn errno(e: nix::errno::Errno) -> anyhow::Error {
    anyhow::anyhow!("{}", e.desc().to_lowercase())
}

/// rootfsPropagation on "/" (rslave by default, as runc, which keeps the container's mounts from
/// propagating back to the host).
pub fn set_root_propagation(name: &str) -> Result<()> {
    let flags = mounts::root_propagation(name)?;
    mount(NONE, "/", NONE, flags, NONE).map_err(errno)
}

/// Propagation `name` for the mount that holds `rootfs` (an absolute, canonical path). The
/// kernel answers EINVAL for a path that is not a mount point: the walk goes up until one is,
/// as runc's does.
pub fn set_parent_propagation(rootfs: &Path, name: &str) -> Result<()> {
    let flags = mounts::root_propagation(name)?;
    let mut path = rootfs;
    loop {
        let e = match mount(NONE, path, NONE, flags, NONE) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        match path.parent() {
            Some(parent) if e == nix::errno::Errno::EINVAL => path = parent,
            _ => return Err(errno(e)).with_context(|| format!("make the mount at {} {name}", path.display())),
        }
    }
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
        // A mount moved onto a shared mount is copied to its peers: with a shared
        // rootfsPropagation, "/" would pass the rootfs on to the host's own "/".
        mount(NONE, "/", NONE, MsFlags::MS_SLAVE, NONE)
            .map_err(errno)
            .context("make / a slave")?;
        mount(Some("."), "/", NONE, MsFlags::MS_MOVE, NONE)
            .map_err(errno)
            .context("move the rootfs to /")?;
        nix::unistd::chroot(".").map_err(errno).context("chroot")?;
    } else {
        // After pivot_root(".", ".") the cwd is still the new root, under the old one: only
        // umount2 looks through to the mount on top, so the old root is reached through an fd.
        let old_root = open_path(Path::new("/"))?;
        nix::unistd::pivot_root(".", ".").map_err(errno).context("pivot_root")?;
        nix::unistd::fchdir(&old_root).map_err(errno)?;
        drop(old_root);
        // Unmounting must not propagate to the host's mounts (with a shared rootfsPropagation,
        // the old root's mounts are peers of the host's).
        mount(NONE, ".", NONE, MsFlags::MS_SLAVE | MsFlags::MS_REC, NONE)
            .map_err(errno)
            .context("make the old root a slave")?;
        umount2(".", MntFlags::MNT_DETACH)
            .map_err(errno)
            .context("detach the old root")?;
    }
    nix::unistd::chdir("/").map_err(errno)
}

/// Create a symlink unless something already stands at that path (runc keeps what is there).
pub fn symlink(root: &OwnedFd, link: &Path, target: &Path) -> Result<()> {
    let (dir, name) = open_parent_in_root(root, link)?;
    symlink_in(&dir, &name, target)
}

/// `symlink` in a directory already open.
pub fn symlink_in(dir: &OwnedFd, name: &std::ffi::OsStr, target: &Path) -> Result<()> {
    match symlinkat(target, dir, name) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(e) => Err(e).context("symlink"),
    }
}
