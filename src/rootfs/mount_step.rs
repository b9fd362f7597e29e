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
    if let Some(attr) = as_setattr(flags) {
        return crate::rootfs::mount_api::setattr(mounted, &attr, false)
            .map_err(|e| anyhow::anyhow!("mount_setattr: {}", e.desc().to_lowercase()));
    }
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

/// The bind remount with `flags` and the mount's own restrictions kept, as one mount_setattr
/// on the mount (no statvfs): ro and nosymfollow set or cleared as `flags` say, nosuid, nodev
/// and noexec added, noatime or strictatime replacing the mount's atime. None when `flags` has
/// relatime or nodiratime, whose remount outcome depends on the mount's own atime flags.
fn as_setattr(flags: u64) -> Option<libc::mount_attr> {
    if flags & (libc::MS_RELATIME | libc::MS_NODIRATIME) != 0 {
        return None;
    }
    let mut attr = libc::mount_attr {
        attr_set: 0,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    for (ms, a, clear_if_unset) in [
        (libc::MS_RDONLY, libc::MOUNT_ATTR_RDONLY, true),
        (libc::MS_NOSYMFOLLOW, libc::MOUNT_ATTR_NOSYMFOLLOW, true),
        (libc::MS_NOSUID, libc::MOUNT_ATTR_NOSUID, false),
        (libc::MS_NODEV, libc::MOUNT_ATTR_NODEV, false),
        (libc::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC, false),
    ] {
        if flags & ms != 0 {
            attr.attr_set |= a;
        } else if clear_if_unset {
            attr.attr_clr |= a;
        }
    }
    // MS_STRICTATIME wins over MS_NOATIME in mount(2).
    for (ms, a) in [
        (libc::MS_NOATIME, libc::MOUNT_ATTR_NOATIME),
        (libc::MS_STRICTATIME, libc::MOUNT_ATTR_STRICTATIME),
    ] {
        if flags & ms != 0 {
            attr.attr_set = attr.attr_set & !libc::MOUNT_ATTR__ATIME | a;
            attr.attr_clr |= libc::MOUNT_ATTR__ATIME;
        }
    }
    Some(attr)
}
