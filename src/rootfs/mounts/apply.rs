//! Mounting a planned entry of config.json's `mounts` beneath the rootfs.

use super::{remount_bind, Attrs, MountStep};
use crate::rootfs::mount_api::{attach, clone_tree, setattr};
use crate::rootfs::mount_step::sys_mount;
use crate::rootfs::resolve::{fd_path, open_in_root, open_in_root_made, open_in_root_mode, Create};
use anyhow::{bail, Context, Result};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;

/// Clone a bind mount's source into a detached mount (open_tree), for a container in a user
/// namespace (its own or one joined by path): the runtime does this on the host before the clone, as host root, because
/// the init could not reach a source in a private directory (the state directory is 0700),
/// and a detached mount, unlike a path in the host's mount namespace, can be attached in the
/// container's. An idmapped bind always goes this way: only a detached mount takes an
/// idmapping. Other binds without a user namespace are bound by path by the init: a detached
/// mount gets its id when it is cloned, and mountinfo (sorted by id on current kernels) would
/// list it before the mounts made earlier in config.json's order.
pub fn open_source(m: &MountStep) -> Result<Option<OwnedFd>> {
    if m.fstype != "bind" {
        return Ok(None);
    }
    let path = std::ffi::CString::new(m.source.as_str()).context("bind source holds a NUL byte")?;
    let recursive = if m.recursive {
        libc::AT_RECURSIVE as libc::c_uint
    } else {
        0
    };
    match clone_tree(libc::AT_FDCWD, &path, recursive) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) => bail!("open bind source {}: {}", m.source, e.to_string().to_lowercase()),
    }
}

/// Sets the recursive options' attributes on a mount in place and everything below it.
fn set_attrs(mounted: &OwnedFd, attrs: Attrs) -> Result<()> {
    let attr = libc::mount_attr {
        attr_set: attrs.set,
        attr_clr: attrs.clear,
        propagation: 0,
        userns_fd: 0,
    };
    setattr(mounted, &attr, true).map_err(|e| anyhow::anyhow!("mount_setattr: {}", e.desc().to_lowercase()))
}

/// Mount one entry of config.json's `mounts` beneath `root` (before pivot_root); a bind mount
/// from `source`, the fd `open_source` made.
pub fn mount(root: &OwnedFd, m: &MountStep, source: Option<&OwnedFd>) -> Result<()> {
    let create = if m.file_mountpoint { Create::File } else { Create::Dir };
    // A proc or sysfs mount point that is a symlink could redirect the mount onto the host's
    // view of something else (CVE-2019-19921): refuse it instead of following.
    let follow = !matches!(m.fstype.as_str(), "proc" | "sysfs");
    // The mode of what was there is for a tmpfs's data alone: other mounts spare its fstat.
    let (target, found_mode, made) = if m.fstype == "tmpfs" {
        let (target, mode) = open_in_root_mode(root, &m.destination, create, follow)?;
        (target, mode, mode.is_none())
    } else {
        let (target, made) = open_in_root_made(root, &m.destination, create, follow)?;
        (target, None, made)
    };
    // A mount point the walk made stands where mkdir works, which is never in /proc: only one
    // that was there is checked.
    if !made {
        crate::procfs::check_mount_target(&target, &m.destination)?;
    }
    let image_dir = if m.tmpcopyup { Some(reopen_dir(&target)?) } else { None };
    let data: std::borrow::Cow<str> = match (m.fstype.as_str(), found_mode) {
        ("tmpfs", Some(mode)) => tmpfs_data(&m.data, mode).into(),
        _ => m.data.as_str().into(),
    };
    let data = (!data.is_empty()).then_some(&*data);
    // A read-only tmpfs is mounted writable and then made read-only at its mount point, as runc
    // does: tmpcopyup writes into it first, and its superblock stays writable as under runc.
    let read_only_later = m.fstype == "tmpfs" && m.flags & libc::MS_RDONLY != 0;
    match m.fstype.as_str() {
        "bind" => {
            match source {
                Some(source) => attach(source, &target)?,
                None => {
                    let rec = if m.recursive { libc::MS_REC } else { 0 };
                    sys_mount(Some(&m.source), &fd_path(&target), None, libc::MS_BIND | rec, None)?
                }
            }
            if m.flags & !(libc::MS_REC) != 0 {
                let mounted = open_in_root(root, &m.destination, Create::No, true)?;
                remount_bind(&mounted, m.flags).context("remount with its options")?;
            }
        }
        "cgroup" => crate::rootfs::cgroupfs::mount(&target, m)?,
        fstype => {
            let flags = if read_only_later {
                m.flags & !libc::MS_RDONLY
            } else {
                m.flags
            };
            sys_mount(Some(&m.source), &fd_path(&target), Some(fstype), flags, data)?
        }
    }
    if !m.propagation.is_empty() || image_dir.is_some() || m.attrs != Attrs::default() || read_only_later {
        let mounted = open_in_root(root, &m.destination, Create::No, true)?;
        if m.attrs != Attrs::default() {
            set_attrs(&mounted, m.attrs).context("set the recursive options")?;
        }
        for flag in &m.propagation {
            sys_mount(None, &fd_path(&mounted), None, *flag, None).context("set propagation")?;
        }
        if let Some(from) = image_dir {
            crate::rootfs::copy::copy_tree(&from, &reopen_dir(&mounted)?).context("tmpcopyup")?;
        }
        if read_only_later {
            remount_bind(&mounted, m.flags).context("make the tmpfs read-only")?;
        }
    }
    Ok(())
}

/// The data of a tmpfs mounted over something the image has: its mode first, as runc does, so
/// that a 0750 directory does not turn into a world-writable 1777 tmpfs (tmpfs's default, which
/// a mount point the runtime made keeps, as in runc). A mode= of the config's comes later and
/// wins (the kernel takes the last one), as in newer runc; runc 1.1 chmods the tmpfs to the
/// directory's mode after mounting, overriding it. Being mount data, the mode holds for a
/// read-only tmpfs too and is decided on what the fd held, not on a path. The owner is not
/// kept: runc's tmpfs is owned by whoever mounted it.
fn tmpfs_data(data: &str, found_mode: u32) -> String {
    let mode = format!("mode={:04o}", found_mode & 0o7777);
    if data.is_empty() {
        mode
    } else {
        format!("{mode},{data}")
    }
}

fn reopen_dir(fd: &OwnedFd) -> Result<OwnedFd> {
    Ok(std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(fd_path(fd))
        .context("open directory")?
        .into())
}
