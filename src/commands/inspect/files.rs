//! The container's files against the image directory on disk.

use super::mounts::{adder, why, Mount};
use super::namespaces::Namespaces;
use super::root::Root;
use crate::plan::{AddedKind, Recorded};
use crate::rootfs::resolve::open_dir_beneath;
use anyhow::{bail, Result};
use nix::fcntl::{readlinkat, OFlag};
use serde::Serialize;
use std::collections::HashMap;
use std::ffi::{CStr, OsStr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The walk of the container's files stops this deep (components below `/`) …
const MAX_DEPTH: usize = 4;
/// … and after this many entries.
const MAX_ENTRIES: usize = 500;
/// Filesystems whose content the kernel makes up: shown as one entry, never walked.
const PSEUDO_FS: &[&str] = &[
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "devpts",
    "mqueue",
    "securityfs",
    "debugfs",
    "tracefs",
    "bpf",
    "configfs",
    "fusectl",
    "pstore",
    "binfmt_misc",
    "hugetlbfs",
    "nsfs",
    "efivarfs",
];

/// What the plan makes in the image directory itself, outside the mounts it adds.
const MADE: &[AddedKind] = &[AddedKind::Symlink, AddedKind::MountPoint, AddedKind::Device];

#[derive(Serialize)]
pub(super) struct Files {
    /// Entries of the image directory born before this time are the image's; later ones were
    /// made when the container was created (mount points, /etc/mtab) or since.
    pub(super) since: Option<String>,
    /// Entries the container sees that are the image's, from the bundle's rootfs on disk.
    pub(super) image: Vec<FileEntry>,
    /// Entries the container sees that the image does not hold.
    pub(super) added: Vec<FileEntry>,
    /// Why the walk stopped early, if it did.
    pub(super) truncated: Option<String>,
}

#[derive(Serialize, Clone)]
pub(super) struct FileEntry {
    pub(super) path: String,
    pub(super) kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) device: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) size: Option<u64>,
    /// The mount point of the added mount this entry is, or is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) mount: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) fstype: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) why: Option<String>,
    /// For a mount point: what is under it in the image directory on disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) on_disk: Option<String>,
}

pub(super) fn files(
    root: &Root,
    state_dir: &Path,
    mounts: &[Mount],
    plan: &[Recorded],
    namespaces: &Namespaces,
) -> Result<Files> {
    if namespaces.mnt.own == Some(false) {
        bail!("the container shares the host's mount namespace: its files are the host's");
    }
    // The topmost mount at each mount point is the last one listed.
    let mut at: HashMap<String, &Mount> = HashMap::new();
    for m in mounts {
        at.insert(m.mount_point.clone(), m);
    }
    let since = reference_time(state_dir);
    let mut walk = Walk {
        mounts: at,
        plan,
        since,
        image: Vec::new(),
        added: Vec::new(),
        seen: 0,
        cut_entries: false,
        cut_depth: 0,
    };
    walk.run(&root.fd, Some(&root.image));
    // Tree order: a directory, then what it holds.
    let key = |e: &FileEntry| e.path.split('/').map(String::from).collect::<Vec<_>>();
    walk.image.sort_by_key(key);
    walk.added.sort_by_key(key);
    let mut truncated = Vec::new();
    if walk.cut_entries {
        truncated.push(format!("stopped after {MAX_ENTRIES} entries"));
    }
    if walk.cut_depth > 0 {
        truncated.push(format!(
            "{} directories at depth {MAX_DEPTH} not walked",
            walk.cut_depth
        ));
    }
    Ok(Files {
        since: since.map(|t| humantime::format_rfc3339_nanos(t).to_string()),
        image: walk.image,
        added: walk.added,
        truncated: (!truncated.is_empty()).then(|| truncated.join(", ")),
    })
}

/// When the container was created: the birth of its state directory (claimed before the init
/// exists), or the oldest file in it (the generated /etc files, written before the clone).
fn reference_time(state_dir: &Path) -> Option<SystemTime> {
    let c = std::ffi::CString::new(state_dir.as_os_str().as_bytes()).ok()?;
    if let Ok(st) = statx(None, &c) {
        if let Some(b) = st.btime {
            return Some(b);
        }
    }
    std::fs::read_dir(state_dir)
        .ok()?
        .filter_map(|e| e.ok()?.metadata().ok()?.modified().ok())
        .min()
}

struct Walk<'a> {
    mounts: HashMap<String, &'a Mount>,
    plan: &'a [Recorded],
    since: Option<SystemTime>,
    image: Vec<FileEntry>,
    added: Vec<FileEntry>,
    seen: usize,
    cut_entries: bool,
    cut_depth: usize,
}

/// The added mount an entry lies in, if not the image's root.
type InMount<'a> = Option<&'a Mount>;

/// A directory still to list, by its path below the root (never a symlink on the way).
struct Pending<'a> {
    dir: PathBuf,
    path: String,
    depth: usize,
    in_mount: InMount<'a>,
    /// Compare with the image directory on disk (false inside an added mount).
    compare: bool,
}

impl<'a> Walk<'a> {
    /// Breadth first, so that a cut walk still shows every top-level entry.
    fn run(&mut self, root: &OwnedFd, disk: Option<&OwnedFd>) {
        let mut queue = std::collections::VecDeque::from([Pending {
            dir: PathBuf::new(),
            path: String::new(),
            depth: 1,
            in_mount: None,
            compare: true,
        }]);
        while let Some(p) = queue.pop_front() {
            let Ok(view) = open_dir_beneath(root, &p.dir, OFlag::O_RDONLY) else {
                continue;
            };
            let disk = match disk {
                Some(d) if p.compare => open_dir_beneath(d, &p.dir, OFlag::O_PATH).ok(),
                _ => None,
            };
            let Ok(mut dir) = nix::dir::Dir::from_fd(view) else {
                continue;
            };
            let mut names: Vec<Vec<u8>> = dir
                .iter()
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_bytes().to_vec())
                .filter(|n| n != b"." && n != b"..")
                .collect();
            names.sort();
            for name in names {
                if self.seen >= MAX_ENTRIES {
                    self.cut_entries = true;
                    return;
                }
                self.seen += 1;
                let path = format!("{}/{}", p.path, String::from_utf8_lossy(&name));
                let Ok(cname) = std::ffi::CString::new(name.clone()) else {
                    continue;
                };
                let disk = disk.as_ref().map(|d| d.as_fd());
                if let Some((in_mount, compare)) = self.entry(dir.as_fd(), disk, &cname, &path, p.in_mount) {
                    if p.depth >= MAX_DEPTH {
                        self.cut_depth += 1;
                        continue;
                    }
                    queue.push_back(Pending {
                        dir: p.dir.join(OsStr::from_bytes(&name)),
                        path,
                        depth: p.depth + 1,
                        in_mount,
                        compare,
                    });
                }
            }
        }
    }

    /// Sort one entry into the image's or the added ones; for a directory to walk, return the
    /// mount its entries are in and whether to compare them with the disk.
    fn entry(
        &mut self,
        view: BorrowedFd,
        disk: Option<BorrowedFd>,
        name: &CStr,
        path: &str,
        in_mount: InMount<'a>,
    ) -> Option<(InMount<'a>, bool)> {
        let path = path.to_string();
        let st = match statx(Some(view), name) {
            Ok(st) => st,
            Err(e) => {
                self.added.push(FileEntry {
                    why: Some(format!("unreadable: {e}")),
                    ..FileEntry::new(path, "unknown")
                });
                return None;
            }
        };
        let mut e = FileEntry::new(path.clone(), st.kind());
        match st.kind() {
            "symlink" => e.target = readlinkat(view, name).ok().map(|t| t.to_string_lossy().into_owned()),
            "char" | "block" => e.device = Some(format!("{}:{}", st.rdev.0, st.rdev.1)),
            "file" => e.size = Some(st.size),
            _ => {}
        }
        let disk_st = disk.and_then(|d| statx(Some(d), name).ok());
        let is_dir = st.kind() == "dir";
        let mount_here = self.mounts.get(&path).copied();
        let walk_into: Option<(InMount<'a>, bool)>; // (mount the children are in, compare with disk)
        if let Some(m) = mount_here {
            e.mount = Some(path.clone());
            e.fstype = Some(m.fstype.clone());
            e.why = m.why.clone();
            e.on_disk = Some(match &disk_st {
                None => "nothing".into(),
                Some(d) if self.is_new(d) => format!("an empty {} the runtime made to mount on", d.kind()),
                Some(d) if d.kind() == "file" && d.size == 0 => {
                    "an empty file, hidden by the mount (the runtime's mount point, left by an earlier container, or the image's)".into()
                }
                Some(d) => format!("a {} of the image directory, hidden by the mount", d.kind()),
            });
            // A directory mask: an empty tmpfs read-only down to its superblock (as runc makes it);
            // a read-only tmpfs of the config's is read-only only at its mount point.
            let masked = m.fstype == "tmpfs" && m.super_options.split(',').next() == Some("ro");
            let pseudo = PSEUDO_FS.contains(&m.fstype.as_str()) || masked;
            let walkable = is_dir && m.fstype == "tmpfs" && !masked;
            if pseudo && is_dir {
                e.why = Some(match e.why.take() {
                    Some(w) => format!("{w} (not walked)"),
                    None => format!("{} mount (not walked)", m.fstype),
                });
            } else if is_dir && !walkable {
                e.why = Some(match e.why.take() {
                    Some(w) => format!("{w} (a {} mount, not walked)", m.fstype),
                    None => format!("{} mount (not walked)", m.fstype),
                });
            }
            walk_into = walkable.then_some((Some(m), false));
            self.added.push(e);
        } else if let Some(m) = in_mount {
            e.mount = Some(m.mount_point.clone());
            e.fstype = Some(m.fstype.clone());
            walk_into = is_dir.then_some((Some(m), false));
            self.added.push(e);
        } else {
            match &disk_st {
                None => {
                    e.why = Some(match adder(self.plan, &path, MADE) {
                        Some(step) => why(step, &path, "", ""),
                        None => "not in the image directory on disk".into(),
                    });
                    walk_into = is_dir.then_some((None, false));
                    self.added.push(e);
                }
                Some(d) if self.is_new(d) => {
                    e.why = Some(if let Some(step) = adder(self.plan, &path, MADE) {
                        why(step, &path, "", "")
                    } else if d.btime.is_some() {
                        format!("a {} made in the image directory at create or since", d.kind())
                    } else {
                        format!("a {} changed in the image directory at create or since", d.kind())
                    });
                    walk_into = is_dir.then_some((None, true));
                    self.added.push(e);
                }
                Some(_) => {
                    walk_into = is_dir.then_some((None, true));
                    self.image.push(e);
                }
            }
        }
        walk_into
    }

    /// Born (or, without birth times, changed) at or after the container's creation.
    fn is_new(&self, st: &Stat) -> bool {
        match (self.since, st.btime.or(st.ctime)) {
            (Some(since), Some(t)) => t >= since,
            _ => false,
        }
    }
}

impl FileEntry {
    pub(super) fn new(path: String, kind: &'static str) -> FileEntry {
        FileEntry {
            path,
            kind,
            target: None,
            device: None,
            size: None,
            mount: None,
            fstype: None,
            why: None,
            on_disk: None,
        }
    }
}

struct Stat {
    mode: u32,
    rdev: (u32, u32),
    size: u64,
    btime: Option<SystemTime>,
    ctime: Option<SystemTime>,
}

impl Stat {
    fn kind(&self) -> &'static str {
        match self.mode & libc::S_IFMT {
            libc::S_IFDIR => "dir",
            libc::S_IFREG => "file",
            libc::S_IFLNK => "symlink",
            libc::S_IFCHR => "char",
            libc::S_IFBLK => "block",
            libc::S_IFIFO => "fifo",
            libc::S_IFSOCK => "socket",
            _ => "unknown",
        }
    }
}

/// statx of `name` in `dir` (or of a path from the cwd), never following a symlink nor
/// triggering an automount.
fn statx(dir: Option<BorrowedFd>, name: &CStr) -> std::io::Result<Stat> {
    let mut buf: libc::statx = unsafe { std::mem::zeroed() };
    let dirfd = dir.map(|d| d.as_raw_fd()).unwrap_or(libc::AT_FDCWD);
    // SAFETY: a valid NUL-terminated name and a buffer of the right type.
    let r = unsafe {
        libc::statx(
            dirfd,
            name.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT,
            libc::STATX_BASIC_STATS | libc::STATX_BTIME,
            &mut buf,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let time = |t: libc::statx_timestamp| {
        (t.tv_sec >= 0).then(|| SystemTime::UNIX_EPOCH + Duration::new(t.tv_sec as u64, t.tv_nsec))
    };
    Ok(Stat {
        mode: buf.stx_mode as u32,
        rdev: (buf.stx_rdev_major, buf.stx_rdev_minor),
        size: buf.stx_size,
        btime: if buf.stx_mask & libc::STATX_BTIME != 0 {
            time(buf.stx_btime)
        } else {
            None
        },
        ctime: if buf.stx_mask & libc::STATX_CTIME != 0 {
            time(buf.stx_ctime)
        } else {
            None
        },
    })
}
