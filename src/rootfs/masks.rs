//! linux.maskedPaths and linux.readonlyPaths, after pivot_root. Each path is resolved beneath
//! the container's "/" through fds, and each mount goes from one fd onto another (open_tree or
//! fsmount, then move_mount): between the check on what a path is and the mount there is no
//! path left for the container to swap, and no /proc/self/fd path to trust either.

use super::mount_api::{attach, clone_fd, set_readonly};
use super::resolve::{open_existing_in_root, open_plain_in_root};
use anyhow::{bail, Result};
use nix::sys::stat::{fstat, FileStat, SFlag};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// What the masks of one container share, made on first use: the checked /dev/null that file
/// masks are bound from, and the empty read-only tmpfs that directory masks are binds of.
#[derive(Default)]
pub struct Masks {
    dev_null: Option<OwnedFd>,
    empty_dir: Option<OwnedFd>,
}

impl Masks {
    /// A masked path reads as empty: /dev/null over a file, an empty read-only tmpfs over a
    /// directory. A missing path is skipped (the kernel or image may not have it), as in runc.
    pub fn mask(&mut self, root: &OwnedFd, path: &Path) -> Result<()> {
        let Some((target, kind)) = open_target(root, path)? else {
            return Ok(());
        };
        let mask = match (kind, &self.dev_null, &self.empty_dir) {
            (SFlag::S_IFDIR, _, Some(empty)) => clone_fd(empty, false)?,
            (SFlag::S_IFDIR, _, None) => {
                let empty = empty_tmpfs()?;
                attach(&empty, &target)?;
                // Now attached in this namespace, so later masks can be clones of it.
                self.empty_dir = Some(empty);
                return Ok(());
            }
            (_, Some(null), _) => clone_fd(null, false)?,
            (_, None, _) => clone_fd(self.dev_null.insert(open_dev_null(root)?), false)?,
        };
        attach(&mask, &target)
    }
}

/// Bind a path onto itself, the mounts below it included, and make the top read-only before it
/// is attached. A missing path is skipped, as in runc.
pub fn readonly_path(root: &OwnedFd, path: &Path) -> Result<()> {
    // Its type does not matter here: on a path with no symlink at all, no fstat.
    let target = match open_plain_in_root(root, path) {
        Some(found) => found,
        None => open_target(root, path)?.map(|(fd, _)| fd),
    };
    let Some(target) = target else {
        return Ok(());
    };
    let bind = clone_fd(&target, true)?;
    set_readonly(&bind)?;
    attach(&bind, &target)
}

/// The object at a masked or read-only path, and its type; None when the path does not exist.
/// A symlink as the last component is refused, not followed: the config names the file to hide,
/// and a link would make the mount hide (or, as the source of a bind, show) something else.
/// runc follows it within the container; the CVE-2025-31133 fix only protects /dev/null there.
/// The type is the one the walk read from the fd itself, not a second fstat.
fn open_target(root: &OwnedFd, path: &Path) -> Result<Option<(OwnedFd, SFlag)>> {
    let Some((fd, mode)) = open_existing_in_root(root, path)? else {
        return Ok(None);
    };
    let kind = SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits());
    if kind == SFlag::S_IFLNK {
        bail!("{} is a symlink, which is not followed", path.display());
    }
    Ok(Some((fd, kind)))
}

/// The container's /dev/null, checked on the fd every file mask is then cloned from. Anything
/// but the null device there would turn each masked file into a view of it: a symlink to the
/// masked file itself leaves that file readable, and in runc's read-write variant a symlink to
/// /proc/sys/kernel/core_pattern was a container escape (CVE-2025-31133). A symlink is refused,
/// not followed, even to a null device: nothing in an image needs /dev/null to be one.
fn open_dev_null(root: &OwnedFd) -> Result<OwnedFd> {
    let path = Path::new("/dev/null");
    // With no symlink on the way, one openat2 and the one fstat below; else the walk by hand
    // (its fstat gives only the mode, the device number needs this one).
    let found = match open_plain_in_root(root, path) {
        Some(found) => found,
        None => open_existing_in_root(root, path)?.map(|(fd, _)| fd),
    };
    let Some(fd) = found else {
        bail!("/dev/null does not exist, so there is nothing to mask with");
    };
    let st = stat_of(&fd)?;
    let (kind, what) = describe(&st);
    if kind != SFlag::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
        bail!("/dev/null is {what}, not the null device");
    }
    Ok(fd)
}

/// An empty tmpfs, detached (fsopen, fsmount), read-only down to its superblock and named
/// "tmpfs": what runc's `mount -t tmpfs -o ro tmpfs` gives, so the container sees the same.
fn empty_tmpfs() -> Result<OwnedFd> {
    let fs = new_fd("fsopen tmpfs", || {
        // SAFETY: fsopen reads a NUL-terminated name and returns a new fd or -1.
        unsafe { libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), libc::FSOPEN_CLOEXEC) }
    })?;
    fsconfig(&fs, libc::FSCONFIG_SET_STRING, c"source".as_ptr(), c"tmpfs".as_ptr())?;
    fsconfig(&fs, libc::FSCONFIG_SET_FLAG, c"ro".as_ptr(), std::ptr::null())?;
    fsconfig(&fs, libc::FSCONFIG_CMD_CREATE, std::ptr::null(), std::ptr::null())?;
    new_fd("fsmount tmpfs", || {
        // SAFETY: fsmount takes the configured fs context fd and flags, returns a new fd or -1.
        unsafe {
            libc::syscall(
                libc::SYS_fsmount,
                fs.as_raw_fd(),
                libc::FSMOUNT_CLOEXEC,
                libc::MOUNT_ATTR_RDONLY,
            )
        }
    })
}

fn fsconfig(fs: &OwnedFd, cmd: libc::c_uint, key: *const libc::c_char, value: *const libc::c_char) -> Result<()> {
    // SAFETY: key and value are NUL-terminated strings or null, as `cmd` wants.
    if unsafe { libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), cmd, key, value, 0) } < 0 {
        bail!(
            "fsconfig tmpfs: {}",
            std::io::Error::last_os_error().to_string().to_lowercase()
        );
    }
    Ok(())
}

fn new_fd(what: &str, call: impl FnOnce() -> libc::c_long) -> Result<OwnedFd> {
    let fd = call();
    if fd < 0 {
        bail!("{what}: {}", std::io::Error::last_os_error().to_string().to_lowercase());
    }
    // SAFETY: the kernel just returned this fd to us.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) })
}

/// What an fd holds, as a type and in words for errors ("a symlink", "the character device 1:5").
pub(super) fn file_type(fd: &OwnedFd) -> Result<(SFlag, String)> {
    Ok(describe(&stat_of(fd)?))
}

fn stat_of(fd: &OwnedFd) -> Result<FileStat> {
    fstat(fd).map_err(|e| anyhow::anyhow!("fstat: {}", e.desc().to_lowercase()))
}

/// `file_type` of a stat already made.
fn describe(st: &FileStat) -> (SFlag, String) {
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    let device = |name: &str| {
        format!(
            "the {name} device {}:{}",
            libc::major(st.st_rdev),
            libc::minor(st.st_rdev)
        )
    };
    let what = match kind {
        SFlag::S_IFLNK => "a symlink".into(),
        SFlag::S_IFREG => "a regular file".into(),
        SFlag::S_IFDIR => "a directory".into(),
        SFlag::S_IFCHR => device("character"),
        SFlag::S_IFBLK => device("block"),
        SFlag::S_IFIFO => "a fifo".into(),
        _ => "a socket".into(),
    };
    (kind, what)
}
