//! Where the container's files are. From pivot_root on, the init's "/" is the rootfs; before
//! it (`create --pause-at namespaces` or `mounts`), the init's "/" is still the host's, and the
//! container is being built in the rootfs directory, at its host path in the init's mount
//! namespace.

use super::proc::Proc;
use crate::rootfs::resolve::open_dir_beneath;
use anyhow::{bail, Result};
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, Mode};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

pub(super) struct Root {
    /// The container's "/", opened in the init's mount namespace.
    pub(super) fd: OwnedFd,
    /// Before pivot_root: the rootfs's path in the init's mount table (mount points below it are
    /// the container's, the others the host's).
    pub(super) before_pivot: Option<PathBuf>,
    /// The image directory on disk, which the container's root was checked to be.
    pub(super) image: OwnedFd,
}

/// The rootfs as the init sees it: its own "/" once it has pivoted (or chrooted) into it, else
/// the rootfs path below that "/", walked without following a symlink. Either way it must be
/// the very directory of the image on disk.
pub(super) fn container_root(proc: &Proc, rootfs: &Path) -> Result<Root> {
    let root = proc.open_dir("root")?;
    let image = nix::fcntl::open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "open the image directory {}: {}",
            rootfs.display(),
            e.desc().to_lowercase()
        )
    })?;
    let image_id = inode(&image)?;
    if inode(&root)? == image_id {
        return Ok(Root {
            fd: root,
            before_pivot: None,
            image,
        });
    }
    let below: PathBuf = rootfs
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    let fd = open_dir_beneath(&root, &below, OFlag::O_RDONLY).map_err(|e| {
        anyhow::anyhow!(
            "the init has not pivoted into the rootfs, and {} is not there: {}",
            rootfs.display(),
            e.desc().to_lowercase()
        )
    })?;
    if inode(&fd)? != image_id {
        bail!(
            "the init's root is not the rootfs, nor is {} in its mount namespace",
            rootfs.display()
        );
    }
    Ok(Root {
        fd,
        before_pivot: Some(rootfs.to_path_buf()),
        image,
    })
}

fn inode(fd: &impl AsFd) -> Result<(u64, u64)> {
    let st = fstat(fd.as_fd()).map_err(|e| anyhow::anyhow!("fstat: {}", e.desc().to_lowercase()))?;
    Ok((st.st_dev, st.st_ino))
}
