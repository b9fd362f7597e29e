//! Resolving a container path inside the rootfs without ever leaving it. Each component is opened
//! with O_NOFOLLOW relative to the fd of the one before, and symlinks are read and followed by hand
//! as if the rootfs were "/". A path that climbs out (`..` above the root, from the config or from
//! a symlink's target) is refused rather than clamped, so an attack shows up as an error. The
//! result is an O_PATH fd: callers act on it through /proc/self/fd, so nothing can swap a
//! component for a symlink between the check and the use.

use anyhow::{bail, Result};
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, OFlag};
use nix::sys::stat::{fstat, mkdirat, Mode, SFlag};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path};

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

/// Why a walk stopped; `missing` when a component does not exist (and was not to be made).
struct Failure {
    text: String,
    missing: bool,
}

impl From<String> for Failure {
    fn from(text: String) -> Failure {
        Failure { text, missing: false }
    }
}

/// Open `path` beneath `root` (an fd of the rootfs directory). With `follow_final` false a
/// symlink as last component is an error (a proc or sysfs mount point must not be one).
pub fn open_in_root(root: &OwnedFd, path: &Path, create: Create, follow_final: bool) -> Result<OwnedFd> {
    Ok(open_in_root_mode(root, path, create, follow_final)?.0)
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
    walk(root, path, create, last).map_err(|e| resolve_error(path, e.text))
}

/// Open what stands at `path` beneath `root`, a final symlink included (an O_PATH fd of the
/// link itself): the caller decides on its type. None when a component is missing.
pub fn open_existing_in_root(root: &OwnedFd, path: &Path) -> Result<Option<OwnedFd>> {
    match walk(root, path, Create::No, Last::Keep) {
        Ok((fd, _)) => Ok(Some(fd)),
        Err(e) if e.missing => Ok(None),
        Err(e) => Err(resolve_error(path, e.text)),
    }
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

/// The fd of `path`, and its mode if it was there before (None if the walk made it).
fn walk(root: &OwnedFd, path: &Path, create: Create, final_link: Last) -> Result<(OwnedFd, Option<u32>), Failure> {
    let open_flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    // The directories entered so far below the root, each with its mode if it was there
    // before; ".." pops one.
    let mut stack: Vec<(OwnedFd, Option<u32>)> = Vec::new();
    let mut todo: VecDeque<OsString> = components(path).collect();
    let mut links = 0;
    while let Some(name) = todo.pop_front() {
        if name == ".." {
            if stack.pop().is_none() {
                return Err(format!("{} leads out of the rootfs", path.display()).into());
            }
            continue;
        }
        let last = todo.is_empty();
        let dir = stack.last().map(|(f, _)| f.as_fd()).unwrap_or(root.as_fd());
        let mut existed = true;
        let fd = match openat(dir, name.as_os_str(), open_flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) if create != Create::No => {
                let made = if last && create == Create::File {
                    openat(
                        dir,
                        name.as_os_str(),
                        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | open_flags.difference(OFlag::O_PATH),
                        Mode::from_bits_truncate(0o644),
                    )
                    .map(drop)
                } else {
                    mkdirat(dir, name.as_os_str(), Mode::from_bits_truncate(0o755))
                };
                match made {
                    Ok(()) => existed = false,
                    Err(Errno::EEXIST) => {}
                    Err(e) => return Err(format!("create {}: {}", name.to_string_lossy(), e.desc()).into()),
                }
                openat(dir, name.as_os_str(), open_flags, Mode::empty()).map_err(|e| e.desc().to_string())?
            }
            Err(e) => {
                return Err(Failure {
                    text: format!("{}: {}", name.to_string_lossy(), e.desc().to_lowercase()),
                    missing: e == Errno::ENOENT,
                })
            }
        };
        let mode = fstat(&fd).map_err(|e| e.desc().to_string())?.st_mode;
        let kind = SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits());
        if kind == SFlag::S_IFLNK && !(last && final_link == Last::Keep) {
            if last && final_link == Last::Refuse {
                return Err(String::from("is a symlink").into());
            }
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(String::from("too many levels of symbolic links").into());
            }
            let target = readlinkat(&fd, "").map_err(|e| e.desc().to_string())?;
            let target = Path::new(&target);
            if target.is_absolute() {
                stack.clear();
            }
            for c in components(target).collect::<Vec<_>>().into_iter().rev() {
                todo.push_front(c);
            }
            continue;
        }
        if !last && kind != SFlag::S_IFDIR {
            return Err(format!("{} is not a directory", name.to_string_lossy()).into());
        }
        stack.push((fd, existed.then_some(mode)));
    }
    match stack.pop() {
        Some(found) => Ok(found),
        // `path` is the root itself.
        None => {
            let mode = fstat(root).map_err(|e| e.desc().to_string())?.st_mode;
            Ok((root.try_clone().map_err(|e| e.to_string())?, Some(mode)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root() -> (std::path::PathBuf, OwnedFd) {
        let dir = std::env::temp_dir().join(format!(
            "scrun-resolve-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        let fd = std::fs::File::open(&dir).unwrap().into();
        (dir, fd)
    }

    fn real(fd: &OwnedFd) -> std::path::PathBuf {
        std::fs::read_link(fd_path(fd)).unwrap()
    }

    #[test]
    fn absolute_symlinks_stay_inside() {
        let (dir, fd) = root();
        symlink("/etc", dir.join("link")).unwrap();
        let got = open_in_root(&fd, Path::new("/link"), Create::No, true).unwrap();
        assert_eq!(real(&got), dir.join("etc"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn escapes_are_refused() {
        let (dir, fd) = root();
        symlink("../../../../tmp", dir.join("up")).unwrap();
        for p in ["/up", "/up/x", "/../etc", "/etc/../../x"] {
            let err = open_in_root(&fd, Path::new(p), Create::Dir, true)
                .unwrap_err()
                .to_string();
            assert!(err.contains("leads out of the rootfs"), "{p}: {err}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn final_symlink_refused_when_asked() {
        let (dir, fd) = root();
        symlink("/etc", dir.join("proc")).unwrap();
        let err = open_in_root(&fd, Path::new("/proc"), Create::Dir, false)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "resolve /proc in rootfs: is a symlink");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn existing_keeps_a_final_symlink_and_misses_are_none() {
        let (dir, fd) = root();
        symlink("/etc", dir.join("link")).unwrap();
        let got = open_existing_in_root(&fd, Path::new("/link")).unwrap().unwrap();
        assert_eq!(
            fstat(&got).unwrap().st_mode & SFlag::S_IFMT.bits(),
            SFlag::S_IFLNK.bits()
        );
        let got = open_existing_in_root(&fd, Path::new("/link/..")).unwrap().unwrap();
        assert_eq!(real(&got), dir);
        for missing in ["/nothing", "/nothing/below", "/link/nothing"] {
            assert!(
                open_existing_in_root(&fd, Path::new(missing)).unwrap().is_none(),
                "{missing}"
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn creates_dirs_and_files() {
        let (dir, fd) = root();
        open_in_root(&fd, Path::new("/a/b/c"), Create::Dir, true).unwrap();
        assert!(dir.join("a/b/c").is_dir());
        open_in_root(&fd, Path::new("/etc/hosts"), Create::File, true).unwrap();
        assert!(dir.join("etc/hosts").is_file());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn mode_is_of_what_was_there_before() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, fd) = root();
        std::fs::set_permissions(dir.join("etc"), std::fs::Permissions::from_mode(0o750)).unwrap();
        symlink("/etc", dir.join("link")).unwrap();
        let mode = |p: &str| open_in_root_mode(&fd, Path::new(p), Create::Dir, true).unwrap().1;
        assert_eq!(mode("/link"), Some(libc::S_IFDIR | 0o750));
        assert_eq!(mode("/new"), None, "made by the call");
        let is_dir = |m: Option<u32>| m.is_some_and(|m| m & libc::S_IFMT == libc::S_IFDIR);
        assert!(is_dir(mode("/new")), "there now");
        assert!(is_dir(mode("/")));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn symlink_loops_end() {
        let (dir, fd) = root();
        symlink("/loop", dir.join("loop")).unwrap();
        let err = open_in_root(&fd, Path::new("/loop/x"), Create::No, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("too many levels"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
