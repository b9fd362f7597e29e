//! The fd-based mount syscalls (the "new mount API"): open_tree to clone a mount detached,
//! mount_setattr to change its attributes, move_mount to attach it on an fd. Used for config
//! mounts, masks, read-only paths, the console and the sealed runtime binary.

use anyhow::{bail, Result};
use std::os::fd::OwnedFd;

/// open_tree(2) with OPEN_TREE_CLONE: a detached copy of the mount at `path` under `dirfd`.
pub(crate) fn clone_tree(dirfd: libc::c_int, path: &std::ffi::CStr, flags: libc::c_uint) -> std::io::Result<OwnedFd> {
    let flags = libc::OPEN_TREE_CLONE as libc::c_uint | libc::OPEN_TREE_CLOEXEC as libc::c_uint | flags;
    // SAFETY: open_tree reads the path and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, dirfd, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd to us.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) })
}

/// A detached bind of the very object `fd` holds (and, with `recursive`, the mounts below it),
/// for `attach`: no path is looked up again between the check on the fd and the mount.
pub fn clone_fd(fd: &impl std::os::fd::AsRawFd, recursive: bool) -> Result<OwnedFd> {
    let recursive = if recursive {
        libc::AT_RECURSIVE as libc::c_uint
    } else {
        0
    };
    clone_tree(fd.as_raw_fd(), c"", libc::AT_EMPTY_PATH as libc::c_uint | recursive)
        .map_err(|e| anyhow::anyhow!("open_tree: {}", e.to_string().to_lowercase()))
}

/// Make a mount read-only, only it (not the mounts below) and only that flag: nosuid, nodev
/// and noexec, which the kernel keeps locked in a user namespace, stay as they are.
pub fn set_readonly(mount: &OwnedFd) -> Result<()> {
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    setattr(mount, &attr, false)
        .map_err(|e| anyhow::anyhow!("mount_setattr MOUNT_ATTR_RDONLY: {}", e.desc().to_lowercase()))
}

/// Give a detached mount (from `open_source`) the idmapping of the user namespace `userns`:
/// an id that namespace maps from X to Y shows as Y for a file stored as X, and the reverse for
/// what is written through the mount. `recursive` covers the submounts of an rbind too.
pub fn set_idmap(tree: &OwnedFd, userns: &OwnedFd, recursive: bool) -> Result<()> {
    use std::os::fd::AsRawFd;
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    setattr(tree, &attr, recursive).map_err(|e| {
        let why = if e == nix::errno::Errno::EINVAL {
            " (the filesystem may not support idmapped mounts)"
        } else {
            ""
        };
        anyhow::anyhow!("mount_setattr MOUNT_ATTR_IDMAP: {}{why}", e.desc().to_lowercase())
    })
}

pub(crate) fn setattr(mount: &OwnedFd, attr: &libc::mount_attr, recursive: bool) -> nix::Result<()> {
    setattr_at(mount, c"", attr, recursive)
}

/// `setattr` on the mount at `name` in the directory `dir`, a final symlink not followed (with
/// an empty name, on `dir`'s own).
pub(crate) fn setattr_at(
    dir: &OwnedFd,
    name: &std::ffi::CStr,
    attr: &libc::mount_attr,
    recursive: bool,
) -> nix::Result<()> {
    use std::os::fd::AsRawFd;
    let at = if name.is_empty() {
        libc::AT_EMPTY_PATH
    } else {
        libc::AT_SYMLINK_NOFOLLOW
    };
    let flags = at as libc::c_uint
        | if recursive {
            libc::AT_RECURSIVE as libc::c_uint
        } else {
            0
        };
    // SAFETY: mount_setattr reads `attr` (its size is passed) and a NUL-terminated path.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dir.as_raw_fd(),
            name.as_ptr(),
            flags,
            attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    nix::errno::Errno::result(r).map(drop)
}

/// Attach a detached mount (from open_tree or fsmount) on the object `target` holds.
pub fn attach(source: &OwnedFd, target: &OwnedFd) -> Result<()> {
    use std::os::fd::AsRawFd;
    let empty = c"";
    let flags = libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH;
    // SAFETY: move_mount with two fds and empty paths.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            source.as_raw_fd(),
            empty.as_ptr(),
            target.as_raw_fd(),
            empty.as_ptr(),
            flags,
        )
    };
    if r < 0 {
        bail!("{}", std::io::Error::last_os_error().to_string().to_lowercase());
    }
    Ok(())
}
