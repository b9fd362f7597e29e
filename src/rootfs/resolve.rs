//! Resolving a container path inside the rootfs without ever leaving it. Each component is opened
//! with O_NOFOLLOW relative to the fd of the one before, and symlinks are read and followed by hand
//! as if the rootfs were "/". A path that climbs out (`..` above the root, from the config or from
//! a symlink's target) is refused rather than clamped, so an attack shows up as an error. The
//! result is an O_PATH fd: callers act on it through /proc/self/fd, so nothing can swap a
//! component for a symlink between the check and the use.
//!
//! The same walk ([`walk_tree`]) serves two readers with other rules: `inspect` opens
//! directories the container controls following no symlink at all ([`open_dir_beneath`]), and
//! `diagnose` resolves by path, `..` stopping at the root as after chroot ([`resolve_beneath`]).

use anyhow::{bail, Result};
use nix::errno::Errno;
use nix::fcntl::{openat, openat2, readlinkat, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, mkdirat, Mode, SFlag};
use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// The path must exist.
    No,
    /// Missing components are made as directories.
    Dir,
    /// Missing parents are made as directories and the last component as an empty file.
    File,
}

const MAX_SYMLINKS: usize = 40;

/// What to do with a symlink as the last component.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    Follow,
    Refuse,
    /// Return the link itself.
    Keep,
}

/// Why a walk stopped, and the errno behind it if there is one (ENOENT: a component does not
/// exist and was not to be made).
struct Failure {
    text: String,
    errno: Option<Errno>,
}

impl Failure {
    fn new(text: String, errno: Errno) -> Failure {
        Failure {
            text,
            errno: Some(errno),
        }
    }

    fn missing(&self) -> bool {
        self.errno == Some(Errno::ENOENT)
    }
}

impl From<String> for Failure {
    fn from(text: String) -> Failure {
        Failure { text, errno: None }
    }
}

/// Open `path` beneath `root` (an fd of the rootfs directory). With `follow_final` false a
/// symlink as last component is an error (a proc or sysfs mount point must not be one).
pub fn open_in_root(root: &OwnedFd, path: &Path, create: Create, follow_final: bool) -> Result<OwnedFd> {
    Ok(open_in_root_made(root, path, create, follow_final)?.0)
}

/// `open_in_root`, and whether this call made what the fd holds.
pub fn open_in_root_made(root: &OwnedFd, path: &Path, create: Create, follow_final: bool) -> Result<(OwnedFd, bool)> {
    let last = if follow_final { Last::Follow } else { Last::Refuse };
    let (fd, was) = walk(root, path, create, last, false).map_err(|e| resolve_error(path, e.text))?;
    Ok((fd, was == Was::Made))
}

/// `open_in_root`, and the st_mode of what the fd holds if it was there before (None if this
/// call made it): the mode of the very object the fd holds, from the stat the walk makes anyway.
pub fn open_in_root_mode(
    root: &OwnedFd,
    path: &Path,
    create: Create,
    follow_final: bool,
) -> Result<(OwnedFd, Option<u32>)> {
    let last = if follow_final { Last::Follow } else { Last::Refuse };
    let (fd, was) = walk(root, path, create, last, true).map_err(|e| resolve_error(path, e.text))?;
    Ok((fd, was.mode()))
}

/// Open what stands at `path` beneath `root`, a final symlink included (an O_PATH fd of the
/// link itself), and the st_mode of what the fd holds: the caller decides on its type. None
/// when a component is missing.
pub fn open_existing_in_root(root: &OwnedFd, path: &Path) -> Result<Option<(OwnedFd, u32)>> {
    match walk(root, path, Create::No, Last::Keep, true) {
        // Nothing is made with Create::No, so the mode is always there.
        Ok((fd, was)) => Ok(Some((fd, was.mode().unwrap_or_default()))),
        Err(e) if e.missing() => Ok(None),
        Err(e) => Err(resolve_error(path, e.text)),
    }
}

/// What the kernel's walk finds at `path` beneath `root` with no symlink anywhere on it, the
/// last component included, and no fstat: Some(Some(fd)), Some(None) when a component is
/// missing (on a path with no symlink, missing for any walk), None when the walk by hand must
/// decide (a symlink on the way or last, `..` out of the root).
pub fn open_plain_in_root(root: &OwnedFd, path: &Path) -> Option<Option<OwnedFd>> {
    let relative: PathBuf = path.components().filter(|c| !matches!(c, Component::RootDir)).collect();
    if relative.as_os_str().is_empty() {
        return None;
    }
    match openat2(root, &relative, beneath(OFlag::O_PATH | OFlag::O_CLOEXEC)) {
        Ok(fd) => Some(Some(fd)),
        Err(Errno::ENOENT) => Some(None),
        Err(_) => None,
    }
}

/// An openat2 walk that stays beneath its directory and follows no symlink at all.
fn beneath(flags: OFlag) -> OpenHow {
    OpenHow::new()
        .flags(flags)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS)
}

fn resolve_error(path: &Path, why: String) -> anyhow::Error {
    anyhow::anyhow!("resolve {} in rootfs: {why}", path.display())
}

/// Open the directory that holds `path`'s last component, and return that name, for the calls
/// that create the last component themselves (mknod, symlink).
pub fn open_parent_in_root(root: &OwnedFd, path: &Path) -> Result<(OwnedFd, OsString)> {
    let name = path.file_name().map(|n| n.to_os_string());
    let (Some(name), Some(parent)) = (name, path.parent()) else {
        bail!("{} has no parent directory", path.display());
    };
    Ok((open_in_root(root, parent, Create::Dir, true)?, name))
}

/// The path of an fd for syscalls that take paths (mount): the kernel resolves the magic link to
/// the very object the fd holds.
pub fn fd_path(fd: &impl std::os::fd::AsRawFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

fn components(path: &Path) -> impl Iterator<Item = OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some("..".into()),
        _ => None,
    })
}

/// Open the directory at `path` beneath `root` with `flags`, following no symlink at all, not
/// even one that stays inside: for reading a tree the container controls (`inspect`), where a
/// link must show as a link. The error is the errno the walk stopped on (ENOTDIR for a symlink
/// or a non-directory on the way).
pub fn open_dir_beneath(root: &OwnedFd, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    let rules = Rules {
        follow: false,
        last: Last::Refuse,
        clamp: false,
    };
    let tree = Fds {
        root,
        create: Create::No,
    };
    let found = walk_tree(&tree, path, rules).map_err(|f| f.errno.unwrap_or(Errno::EINVAL))?;
    let dir = found.as_ref().map_or(root.as_fd(), |(fd, _)| fd.as_fd());
    openat(dir, ".", flags | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
}

/// The host path under the directory `root` of the container path `path`, resolved as the
/// kernel resolves it after chroot into `root`: symlinks followed inside it, `..` stopping at
/// it. By path rather than through fds, for `diagnose`, which only reads, and runs in the
/// container's init after pivot_root (root "/") or on the bundle before create. None when a
/// component is missing, a non-directory is traversed or links loop.
pub fn resolve_beneath(root: &Path, path: &Path) -> Option<PathBuf> {
    let rules = Rules {
        follow: true,
        last: Last::Follow,
        clamp: true,
    };
    match walk_tree(&Paths(root), path, rules) {
        Ok(Some((found, _))) => Some(found),
        Ok(None) => Some(root.to_path_buf()),
        Err(_) => None,
    }
}

/// What stood where a walk ended, before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Was {
    /// What the fd holds, with its mode if the walk read it (always with `want_mode`).
    There(Option<u32>),
    /// Nothing: the walk made it.
    Made,
}

impl Was {
    fn mode(self) -> Option<u32> {
        match self {
            Was::There(mode) => mode,
            Was::Made => None,
        }
    }
}

/// The fd of `path`, and what was there before (its mode may be left unread without
/// `want_mode`).
fn walk(
    root: &OwnedFd,
    path: &Path,
    create: Create,
    final_link: Last,
    want_mode: bool,
) -> Result<(OwnedFd, Was), Failure> {
    if let Some(found) = walk_in_kernel(root, path, create, final_link, want_mode)? {
        return Ok(found);
    }
    let rules = Rules {
        follow: true,
        last: final_link,
        clamp: false,
    };
    match walk_tree(&Fds { root, create }, path, rules)? {
        // The walk by hand reads the mode of everything it did not make.
        Some((fd, Some(mode))) => Ok((fd, Was::There(Some(mode)))),
        Some((fd, None)) => Ok((fd, Was::Made)),
        // `path` is the root itself.
        None => {
            let mode = match want_mode {
                true => Some(fstat(root).map_err(|e| e.desc().to_string())?.st_mode),
                false => None,
            };
            Ok((root.try_clone().map_err(|e| e.to_string())?, Was::There(mode)))
        }
    }
}

/// The walk of a path with no symlink on it (nearly every path a start resolves: /proc/sys,
/// /etc/hosts, /dev/pts) done by the kernel in one openat2, refusing any symlink and any step
/// out of `root`: what the walk by hand does on such a path, in one syscall instead of three a
/// component. A missing last component to make is made in its parent, itself opened by one
/// openat2. None when the walk by hand must decide, and word the error: a symlink on the way
/// (ELOOP), a missing directory to make, `..` out of the root (EXDEV), a rename race (EAGAIN).
fn walk_in_kernel(
    root: &OwnedFd,
    path: &Path,
    create: Create,
    final_link: Last,
    want_mode: bool,
) -> Result<Option<(OwnedFd, Was)>, Failure> {
    let relative: PathBuf = path.components().filter(|c| !matches!(c, Component::RootDir)).collect();
    // Without O_NOFOLLOW a final symlink is ELOOP rather than an fd of the link: what opens is
    // no symlink, and a caller that does not want the mode is spared the fstat.
    let lean = !want_mode && final_link != Last::Keep;
    // One name with its mode costs the walk by hand no more (an openat and an fstat).
    let single = relative.components().nth(1).is_none();
    if relative.as_os_str().is_empty() || (single && !lean) {
        return Ok(None);
    }
    let nofollow = if lean { OFlag::empty() } else { OFlag::O_NOFOLLOW };
    match openat2(root, &relative, beneath(OFlag::O_PATH | nofollow | OFlag::O_CLOEXEC)) {
        Ok(fd) if lean => Ok(Some((fd, Was::There(None)))),
        Ok(fd) => found(fd, final_link, true),
        // With no symlink followed, a missing component is missing for the walk by hand too.
        Err(Errno::ENOENT) if create == Create::No && final_link == Last::Keep => Err(Failure::new(
            format!("{}: no such file or directory", path.display()),
            Errno::ENOENT,
        )),
        Err(Errno::ENOENT) if create != Create::No => {
            let (Some(parent), Some(name)) = (relative.parent(), relative.file_name()) else {
                return Ok(None);
            };
            // The parent, with no symlink on the way nor as itself (ELOOP), and a directory.
            let how = beneath(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC);
            let opened;
            let dir = if parent.as_os_str().is_empty() {
                root.as_fd()
            } else {
                let Ok(dir) = openat2(root, parent, how) else {
                    return Ok(None);
                };
                opened = dir;
                opened.as_fd()
            };
            match (Fds { root, create }).make(dir, name, true)? {
                // A directory this call made was opened as one (O_DIRECTORY): nothing to check.
                (fd, false) if create == Create::Dir => Ok(Some((fd, Was::Made))),
                (fd, existed) => found(fd, final_link, existed),
            }
        }
        Err(_) => Ok(None),
    }
}

/// What the kernel's walk opened, with its mode if it `existed` before: None for a final
/// symlink to be followed or refused, which the walk by hand does.
fn found(fd: OwnedFd, final_link: Last, existed: bool) -> Result<Option<(OwnedFd, Was)>, Failure> {
    let mode = fstat(&fd).map_err(|e| e.desc().to_string())?.st_mode;
    // A final symlink is the link itself here (O_NOFOLLOW): followed or refused by hand.
    if mode & SFlag::S_IFMT.bits() == SFlag::S_IFLNK.bits() && final_link != Last::Keep {
        return Ok(None);
    }
    Ok(Some((fd, if existed { Was::There(Some(mode)) } else { Was::Made })))
}

/// What a walk goes through, one name at a time: the rootfs through fds ([`Fds`]), or host
/// paths under a root directory ([`Paths`]).
trait Tree {
    /// A directory entered, or what the walk found.
    type Node;
    /// What stands at `name` in `dir` (None: the root), a symlink not followed: the node, its
    /// st_mode, and whether it was there before (the walk may make it).
    fn lookup(&self, dir: Option<&Self::Node>, name: &OsStr, last: bool) -> Result<(Self::Node, u32, bool), Failure>;
    fn read_link(&self, link: &Self::Node) -> Result<PathBuf, Failure>;
}

/// A node a walk found, and its st_mode if it was there before the walk.
type Found<N> = (N, Option<u32>);

/// What a walk does with symlinks and with `..` at the root.
#[derive(Clone, Copy)]
struct Rules {
    /// A symlink before the last component: followed, or an error.
    follow: bool,
    last: Last,
    /// `..` at the root stays there (as after chroot), or is an error (so that an attack shows).
    clamp: bool,
}

/// The one walk of the crate: each component looked up in the directory found before it,
/// symlinks read and followed by hand as if the root were "/". The node found and its mode if
/// it was there before; None for the root itself.
fn walk_tree<T: Tree>(tree: &T, path: &Path, rules: Rules) -> Result<Option<Found<T::Node>>, Failure> {
    // The directories entered so far below the root, each with its mode if it was there
    // before; ".." pops one.
    let mut stack: Vec<Found<T::Node>> = Vec::new();
    let mut todo: VecDeque<OsString> = components(path).collect();
    let mut links = 0;
    while let Some(name) = todo.pop_front() {
        if name == ".." {
            if stack.pop().is_none() && !rules.clamp {
                return Err(Failure::new(
                    format!("{} leads out of the rootfs", path.display()),
                    Errno::EXDEV,
                ));
            }
            continue;
        }
        let last = todo.is_empty();
        let (node, mode, existed) = tree.lookup(stack.last().map(|(n, _)| n), &name, last)?;
        let kind = SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits());
        if kind == SFlag::S_IFLNK && !(last && rules.last == Last::Keep) {
            if last && rules.last == Last::Refuse {
                return Err(Failure::new(String::from("is a symlink"), Errno::ENOTDIR));
            }
            if !rules.follow {
                return Err(Failure::new(
                    format!("{} is a symlink", name.to_string_lossy()),
                    Errno::ENOTDIR,
                ));
            }
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(Failure::new(
                    String::from("too many levels of symbolic links"),
                    Errno::ELOOP,
                ));
            }
            let target = tree.read_link(&node)?;
            if target.is_absolute() {
                stack.clear();
            }
            for c in components(&target).collect::<Vec<_>>().into_iter().rev() {
                todo.push_front(c);
            }
            continue;
        }
        if !last && kind != SFlag::S_IFDIR {
            return Err(Failure::new(
                format!("{} is not a directory", name.to_string_lossy()),
                Errno::ENOTDIR,
            ));
        }
        stack.push((node, existed.then_some(mode)));
    }
    Ok(stack.pop())
}

/// The rootfs through fds: each component opened with O_PATH|O_NOFOLLOW beneath the one before,
/// missing ones made as `create` says.
struct Fds<'a> {
    root: &'a OwnedFd,
    create: Create,
}

const LOOKUP_FLAGS: OFlag = OFlag::O_PATH.union(OFlag::O_NOFOLLOW).union(OFlag::O_CLOEXEC);

impl Fds<'_> {
    /// Make `name` in `dir` as `create` says (the last component as a file for Create::File),
    /// or find it made meanwhile, and open it: the fd, and whether it was there before. A
    /// directory made is opened with O_DIRECTORY: should anything else stand there by then, the
    /// open fails.
    fn make(&self, dir: BorrowedFd, name: &OsStr, last: bool) -> Result<(OwnedFd, bool), Failure> {
        let file = last && self.create == Create::File;
        let made = if file {
            openat(
                dir,
                name,
                OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | LOOKUP_FLAGS.difference(OFlag::O_PATH),
                Mode::from_bits_truncate(0o644),
            )
            .map(drop)
        } else {
            mkdirat(dir, name, Mode::from_bits_truncate(0o755))
        };
        let existed = match made {
            Ok(()) => false,
            Err(Errno::EEXIST) => true,
            Err(e) => return Err(format!("create {}: {}", name.to_string_lossy(), e.desc()).into()),
        };
        let flags = if existed || file {
            LOOKUP_FLAGS
        } else {
            LOOKUP_FLAGS | OFlag::O_DIRECTORY
        };
        let fd = openat(dir, name, flags, Mode::empty()).map_err(|e| e.desc().to_string())?;
        Ok((fd, existed))
    }
}

impl Tree for Fds<'_> {
    type Node = OwnedFd;

    fn lookup(&self, dir: Option<&OwnedFd>, name: &OsStr, last: bool) -> Result<(OwnedFd, u32, bool), Failure> {
        let dir = dir.unwrap_or(self.root).as_fd();
        let (fd, existed) = match openat(dir, name, LOOKUP_FLAGS, Mode::empty()) {
            Ok(fd) => (fd, true),
            Err(Errno::ENOENT) if self.create != Create::No => self.make(dir, name, last)?,
            Err(e) => {
                return Err(Failure::new(
                    format!("{}: {}", name.to_string_lossy(), e.desc().to_lowercase()),
                    e,
                ))
            }
        };
        // A directory `make` made was opened as one; its mode is not handed on (None).
        let made_dir = !(existed || (last && self.create == Create::File));
        if made_dir {
            return Ok((fd, SFlag::S_IFDIR.bits(), existed));
        }
        let mode = fstat(&fd).map_err(|e| e.desc().to_string())?.st_mode;
        Ok((fd, mode, existed))
    }

    fn read_link(&self, link: &OwnedFd) -> Result<PathBuf, Failure> {
        Ok(readlinkat(link, "").map_err(|e| e.desc().to_string())?.into())
    }
}

/// Host paths under a root directory: each component lstat'ed as a path.
struct Paths<'a>(&'a Path);

impl Tree for Paths<'_> {
    type Node = PathBuf;

    fn lookup(&self, dir: Option<&PathBuf>, name: &OsStr, _last: bool) -> Result<(PathBuf, u32, bool), Failure> {
        let here = dir.map_or(self.0, |d| d.as_path()).join(name);
        let meta = std::fs::symlink_metadata(&here).map_err(io_failure)?;
        Ok((here, meta.mode(), true))
    }

    fn read_link(&self, link: &PathBuf) -> Result<PathBuf, Failure> {
        std::fs::read_link(link).map_err(io_failure)
    }
}

fn io_failure(e: std::io::Error) -> Failure {
    Failure {
        errno: e.raw_os_error().map(Errno::from_raw),
        text: e.to_string(),
    }
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
