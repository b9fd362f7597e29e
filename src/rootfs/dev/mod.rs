//! The container's /dev. Where each part is set up:
//!
//! - /dev itself, /dev/pts, /dev/shm and /dev/mqueue are ordinary entries of config.json's
//!   `mounts` (the default spec has all four: a tmpfs, a devpts with `newinstance`, a tmpfs and an
//!   mqueue), planned and mounted like any other by `rootfs/mounts`.
//! - `nodes.rs`: the device nodes (runc's defaults when /dev is not bound from the host, plus
//!   linux.devices), made by mknod or, in a user namespace, bound from the host.
//! - `symlinks.rs`: /dev/fd, /dev/std{in,out,err}, /dev/ptmx, /dev/core.
//! - `pts.rs`: the pty the init opens in the container's devpts for `process.terminal`.
//! - `console.rs`: that pty's slave bound over /dev/console.
//!
//! Which of these a container gets is decided when the plan is built (`plan/mod.rs`: the nodes
//! and symlinks only when /dev is not a bind mount); the init carries them out (`init.rs`).

pub mod console;
pub mod nodes;
pub mod pts;
pub mod symlinks;

use crate::rootfs::resolve::{open_in_root, Create};
use anyhow::{bail, Result};
use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// The directory the last device node or /dev symlink was made in, kept for the next one made
/// in the same directory (runc's defaults are all in /dev): one resolve for them all instead of
/// one each. The init drops it at any other step, since a mount could cover that directory;
/// a node or link made in it changes an entry of it, never the directory itself.
#[derive(Default)]
pub struct ParentDir(Option<(PathBuf, OwnedFd)>);

impl ParentDir {
    /// The directory holding `path`'s last component (made if missing), and that name.
    pub fn open(&mut self, root: &OwnedFd, path: &Path) -> Result<(&OwnedFd, OsString)> {
        let (Some(name), Some(parent)) = (path.file_name(), path.parent()) else {
            bail!("{} has no parent directory", path.display());
        };
        let kept = match self.0.take() {
            Some(kept) if kept.0 == parent => kept,
            _ => (parent.to_path_buf(), open_in_root(root, parent, Create::Dir, true)?),
        };
        Ok((&self.0.insert(kept).1, name.to_os_string()))
    }

    /// `rootfs::symlink`, in the kept directory when it is the link's.
    pub fn symlink(&mut self, root: &OwnedFd, link: &Path, target: &Path) -> Result<()> {
        let (dir, name) = self.open(root, link)?;
        crate::rootfs::symlink_in(dir, &name, target)
    }
}
