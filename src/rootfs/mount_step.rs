//! A planned mount (`MountStep`), and the bind remount that both `mounts` and `cgroupfs`
//! apply: a leaf module, so that the two import it and not each other.

use super::resolve::fd_path;
use crate::idmap::IdMap;
use anyhow::Result;
use nix::mount::MsFlags;
use serde::Serialize;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

/// A config.json mount (or one the runtime adds), planned: what the init mounts.
#[derive(Debug, Clone, Serialize)]
pub struct MountStep {
    /// The filesystem type, or "bind" for a bind mount.
    pub fstype: String,
    /// A host path (absolute) for a bind mount, the filesystem's source name otherwise.
    pub source: String,
    pub destination: PathBuf,
    pub options: Vec<String>,
    /// Flags set when mounting; for a bind, the ones its read-only remount sets.
    #[serde(skip)]
    pub flags: u64,
    #[serde(skip)]
    pub propagation: Vec<u64>,
    /// Options passed to the filesystem (mode=, size=, newinstance, ...).
    #[serde(skip)]
    pub data: String,
    pub recursive: bool,
    /// Copy what the image has at the destination into the new tmpfs (runc's `tmpcopyup`).
    pub tmpcopyup: bool,
    /// The mount point is a file (the bind source is not a directory).
    pub file_mountpoint: bool,
    /// An idmapped bind: the runtime prepares its detached mount (see `Action::IdmapMount`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idmap: Option<Idmap>,
    /// Set on the mount and its submounts once it is in place.
    #[serde(skip)]
    pub attrs: Attrs,
    /// A `cgroup` mount for a container with a cgroup namespace: its hierarchies are mounted
    /// afresh there, not bound from the host.
    #[serde(skip)]
    pub cgroupns: bool,
}

/// The idmapping of a bind mount (the mount's uidMappings and gidMappings; `idmap`, `ridmap`).
#[derive(Debug, Clone, Serialize)]
pub struct Idmap {
    /// Applied to the submounts of an rbind too (`ridmap`).
    pub recursive: bool,
    /// Empty: the container's user namespace gives the mappings.
    pub uid: Vec<IdMap>,
    pub gid: Vec<IdMap>,
}

/// Mount attributes for mount_setattr (MOUNT_ATTR_*) on a mount and all its submounts: the
/// recursive options ("rro", "rnosuid", ...), which mount(2) flags cannot express.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attrs {
    pub set: u64,
    pub clear: u64,
}

pub(super) fn sys_mount(
    source: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: u64,
    data: Option<&str>,
) -> Result<()> {
    nix::mount::mount(source, target, fstype, MsFlags::from_bits_retain(flags), data)
        .map_err(|e| anyhow::anyhow!("{}", e.desc().to_lowercase()))
}

/// Remount a bind mount with `flags`, keeping the restrictions it already has: in a user
/// namespace the kernel refuses to drop nosuid, nodev or noexec from a locked mount, and adding
/// them back is never less safe.
pub fn remount_bind(mounted: &OwnedFd, flags: u64) -> Result<()> {
    let st = nix::sys::statvfs::fstatvfs(mounted).map_err(|e| anyhow::anyhow!("statvfs: {e}"))?;
    use nix::sys::statvfs::FsFlags;
    let keep = [
        (FsFlags::ST_NOSUID, libc::MS_NOSUID),
        (FsFlags::ST_NODEV, libc::MS_NODEV),
        (FsFlags::ST_NOEXEC, libc::MS_NOEXEC),
        (FsFlags::ST_NOATIME, libc::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, libc::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, libc::MS_RELATIME),
    ]
    .iter()
    .filter(|(st_flag, _)| st.flags().contains(*st_flag))
    .fold(0, |acc, (_, ms)| acc | ms);
    let flags = (flags | keep | libc::MS_BIND | libc::MS_REMOUNT) & !(libc::MS_REC);
    sys_mount(None, &fd_path(mounted), None, flags, None)
}
