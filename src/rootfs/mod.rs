//! The container's root filesystem: the rootfs made a mount point, config mounts inside it,
//! pivot_root into it, then masked and read-only paths and a read-only root.

pub mod cgroupfs;
mod copy;
pub mod mounts;
pub mod resolve;

use anyhow::{Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use resolve::fd_path;
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

/// A masked path reads as empty: /dev/null over a file, an empty read-only tmpfs over a directory.
/// Missing paths are fine: the kernel or image may not have them.
pub fn mask(path: &Path) -> Result<()> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if meta.is_dir() {
        mount(Some("tmpfs"), path, Some("tmpfs"), MsFlags::MS_RDONLY, Some("size=0")).map_err(errno)
    } else {
        check_dev_null()?;
        mount(Some("/dev/null"), path, NONE, MsFlags::MS_BIND, NONE).map_err(errno)
    }
}

/// /dev/null is what masked files get bound to: make sure the container did not replace it with
/// something readable (runc's verifyDevNull).
fn check_dev_null() -> Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let m = std::fs::symlink_metadata("/dev/null").context("stat /dev/null")?;
    if !m.file_type().is_char_device() || m.rdev() != libc::makedev(1, 3) {
        anyhow::bail!("/dev/null is not the null device");
    }
    Ok(())
}

pub fn readonly_path(path: &Path) -> Result<()> {
    match mount(Some(path), path, NONE, MsFlags::MS_BIND | MsFlags::MS_REC, NONE) {
        Err(nix::errno::Errno::ENOENT) => return Ok(()),
        r => r.map_err(errno)?,
    }
    mounts::remount_bind(&open_path_any(path)?, libc::MS_RDONLY)
}

pub fn readonly_root() -> Result<()> {
    mounts::remount_bind(&open_path_any(Path::new("/"))?, libc::MS_RDONLY)
}

fn open_path_any(path: &Path) -> Result<OwnedFd> {
    Ok(std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(path)
        .with_context(|| format!("open {}", path.display()))?
        .into())
}

/// Bind a file the runtime holds open (the pty's slave) over a path in the container.
pub fn bind_fd(fd: &impl std::os::fd::AsRawFd, dest: &Path) -> Result<()> {
    if !dest.exists() {
        std::fs::File::create(dest).with_context(|| format!("create {}", dest.display()))?;
    }
    mount(Some(fd_path(fd).as_str()), dest, NONE, MsFlags::MS_BIND, NONE).map_err(errno)
}
