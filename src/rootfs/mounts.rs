//! config.json `mounts`: the option table (runtime-spec config-linux "Mount Options" plus runc's
//! extensions), and mounting each entry inside the rootfs through an fd from the in-root resolver.

use super::resolve::{fd_path, open_in_root, open_in_root_mode, Create};
use crate::idmap::IdMap;
use anyhow::{bail, Context, Result};
use nix::mount::MsFlags;
use oci_spec::runtime::Mount;
use serde::Serialize;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

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

struct Parsed {
    flags: u64,
    propagation: Vec<u64>,
    data: Vec<String>,
    recursive: bool,
    tmpcopyup: bool,
    /// `idmap` (false) or `ridmap` (true).
    idmap: Option<bool>,
    attrs: Attrs,
}

/// Mount attributes for mount_setattr (MOUNT_ATTR_*) on a mount and all its submounts: the
/// recursive options ("rro", "rnosuid", ...), which mount(2) flags cannot express.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attrs {
    pub set: u64,
    pub clear: u64,
}

/// The recursive options (runc's names, runtime-spec "Mount Options"): (name, attribute, set
/// it or clear it). An access-time attribute replaces the whole access-time field.
pub const RECURSIVE_OPTIONS: &[(&str, u64, bool)] = &[
    ("rro", libc::MOUNT_ATTR_RDONLY, true),
    ("rrw", libc::MOUNT_ATTR_RDONLY, false),
    ("rnosuid", libc::MOUNT_ATTR_NOSUID, true),
    ("rsuid", libc::MOUNT_ATTR_NOSUID, false),
    ("rnodev", libc::MOUNT_ATTR_NODEV, true),
    ("rdev", libc::MOUNT_ATTR_NODEV, false),
    ("rnoexec", libc::MOUNT_ATTR_NOEXEC, true),
    ("rexec", libc::MOUNT_ATTR_NOEXEC, false),
    ("rnodiratime", libc::MOUNT_ATTR_NODIRATIME, true),
    ("rdiratime", libc::MOUNT_ATTR_NODIRATIME, false),
    ("rrelatime", libc::MOUNT_ATTR_RELATIME, true),
    ("rnorelatime", libc::MOUNT_ATTR_RELATIME, false),
    ("rnoatime", libc::MOUNT_ATTR_NOATIME, true),
    ("ratime", libc::MOUNT_ATTR_NOATIME, false),
    ("rstrictatime", libc::MOUNT_ATTR_STRICTATIME, true),
    ("rnostrictatime", libc::MOUNT_ATTR_STRICTATIME, false),
    ("rnosymfollow", libc::MOUNT_ATTR_NOSYMFOLLOW, true),
    ("rsymfollow", libc::MOUNT_ATTR_NOSYMFOLLOW, false),
];

const ATIME_ATTRS: [u64; 3] = [
    libc::MOUNT_ATTR_RELATIME,
    libc::MOUNT_ATTR_NOATIME,
    libc::MOUNT_ATTR_STRICTATIME,
];

/// The mount options that are flags: (name, flags set, flags cleared). runtime-spec's list
/// plus "defaults"; `scrun features` reports these.
pub const FLAG_OPTIONS: &[(&str, u64, u64)] = &[
    ("defaults", 0, 0),
    ("ro", libc::MS_RDONLY, 0),
    ("rw", 0, libc::MS_RDONLY),
    ("suid", 0, libc::MS_NOSUID),
    ("nosuid", libc::MS_NOSUID, 0),
    ("dev", 0, libc::MS_NODEV),
    ("nodev", libc::MS_NODEV, 0),
    ("exec", 0, libc::MS_NOEXEC),
    ("noexec", libc::MS_NOEXEC, 0),
    ("sync", libc::MS_SYNCHRONOUS, 0),
    ("async", 0, libc::MS_SYNCHRONOUS),
    ("dirsync", libc::MS_DIRSYNC, 0),
    ("remount", libc::MS_REMOUNT, 0),
    ("mand", libc::MS_MANDLOCK, 0),
    ("nomand", 0, libc::MS_MANDLOCK),
    ("atime", 0, libc::MS_NOATIME),
    ("noatime", libc::MS_NOATIME, 0),
    ("diratime", 0, libc::MS_NODIRATIME),
    ("nodiratime", libc::MS_NODIRATIME, 0),
    ("relatime", libc::MS_RELATIME, 0),
    ("norelatime", 0, libc::MS_RELATIME),
    ("strictatime", libc::MS_STRICTATIME, 0),
    ("nostrictatime", 0, libc::MS_STRICTATIME),
    ("lazytime", libc::MS_LAZYTIME, 0),
    ("nolazytime", 0, libc::MS_LAZYTIME),
    ("iversion", libc::MS_I_VERSION, 0),
    ("noiversion", 0, libc::MS_I_VERSION),
    ("silent", libc::MS_SILENT, 0),
    ("loud", 0, libc::MS_SILENT),
    ("nosymfollow", libc::MS_NOSYMFOLLOW, 0),
];

/// Options that are not flags: bind mounts, propagation, runc's tmpcopyup.
pub const OTHER_OPTIONS: &[&str] = &[
    "bind",
    "rbind",
    "tmpcopyup",
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
    "idmap",
    "ridmap",
];

/// Translate mount options to flags. Unknown words are filesystem data, as runc does.
fn parse_options(options: &[String]) -> Parsed {
    let mut p = Parsed {
        flags: 0,
        propagation: vec![],
        data: vec![],
        recursive: false,
        tmpcopyup: false,
        idmap: None,
        attrs: Attrs::default(),
    };
    for opt in options {
        if let Some((_, set, clear)) = FLAG_OPTIONS.iter().find(|(name, _, _)| name == opt) {
            p.flags = (p.flags | set) & !clear;
            continue;
        }
        if let Some(&(_, attr, set)) = RECURSIVE_OPTIONS.iter().find(|(name, _, _)| name == opt) {
            let a = &mut p.attrs;
            if ATIME_ATTRS.contains(&attr) {
                // The access-time attributes are values of one field (relatime is 0), changed
                // as a whole: clearing one leaves the kernel's default, relatime.
                a.clear |= libc::MOUNT_ATTR__ATIME;
                a.set = (a.set & !libc::MOUNT_ATTR__ATIME) | if set { attr } else { 0 };
            } else if set {
                a.set |= attr;
                a.clear &= !attr;
            } else {
                a.clear |= attr;
                a.set &= !attr;
            }
            continue;
        }
        match opt.as_str() {
            "bind" => {}
            "rbind" => p.recursive = true,
            "tmpcopyup" => p.tmpcopyup = true,
            "idmap" => p.idmap = Some(false),
            "ridmap" => p.idmap = Some(true),
            other => match propagation(other) {
                Some(flag) => p.propagation.push(flag.bits()),
                None => p.data.push(other.to_string()),
            },
        }
    }
    p
}

fn propagation(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// rootfsPropagation as flags.
pub fn root_propagation(name: &str) -> Result<MsFlags> {
    propagation(name).with_context(|| format!("linux.rootfsPropagation: unknown propagation {name:?}"))
}

/// A bind mount: `bind` or `rbind` among the options, or type "bind".
pub fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind") || m.options().iter().flatten().any(|o| o == "bind" || o == "rbind")
}

/// An idmapped mount: `idmap` or `ridmap` among the options, or mappings of its own (which
/// runc also takes without either option).
pub fn is_idmapped(m: &Mount) -> bool {
    m.uid_mappings().is_some()
        || m.gid_mappings().is_some()
        || m.options().iter().flatten().any(|o| o == "idmap" || o == "ridmap")
}

pub fn plan_mount(m: &Mount, bundle: &Path) -> Result<MountStep> {
    let options = m.options().clone().unwrap_or_default();
    let p = parse_options(&options);
    let mut fstype = m.typ().clone().unwrap_or_default();
    let bind = is_bind(m);
    let source = m.source().clone().unwrap_or_default();
    let (source, file_mountpoint) = if bind {
        fstype = "bind".into();
        // A relative bind source is relative to the bundle, as in runc.
        let host = bundle.join(&source);
        let meta = std::fs::metadata(&host).with_context(|| format!("bind source {}", host.display()))?;
        (host.to_string_lossy().into_owned(), !meta.is_dir())
    } else {
        if fstype.is_empty() {
            bail!("type is missing for a mount that is not a bind mount");
        }
        (source.to_string_lossy().into_owned(), false)
    };
    if p.tmpcopyup && fstype != "tmpfs" {
        bail!("option tmpcopyup applies to tmpfs mounts only, not {fstype}");
    }
    Ok(MountStep {
        fstype,
        source,
        destination: m.destination().clone(),
        options,
        flags: p.flags,
        propagation: p.propagation,
        data: p.data.join(","),
        recursive: p.recursive,
        tmpcopyup: p.tmpcopyup,
        file_mountpoint,
        idmap: is_idmapped(m).then(|| {
            let maps =
                |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| m.iter().flatten().map(IdMap::from).collect();
            Idmap {
                recursive: p.idmap == Some(true),
                uid: maps(m.uid_mappings()),
                gid: maps(m.gid_mappings()),
            }
        }),
        attrs: p.attrs,
        cgroupns: false,
    })
}

/// linux.mountLabel as the SELinux context of a mount the container gets a fresh filesystem
/// for (runc's rule: not binds, which keep the host file's label, nor the kernel's proc, sysfs
/// and cgroup views, nor mqueue, whose mount takes no context option).
pub fn set_mount_label(m: &mut MountStep, label: &str) {
    if matches!(
        m.fstype.as_str(),
        "bind" | "proc" | "sysfs" | "cgroup" | "cgroup2" | "mqueue"
    ) {
        return;
    }
    let context = format!("context=\"{label}\"");
    m.data = if m.data.is_empty() {
        context
    } else {
        format!("{},{context}", m.data)
    };
}

/// A read-only bind of a file the runtime generated in the state directory.
pub fn generated_file(host: &Path, dest: &Path) -> MountStep {
    let options: Vec<String> = ["bind", "ro", "nosuid", "nodev", "noexec"].map(String::from).to_vec();
    let p = parse_options(&options);
    MountStep {
        fstype: "bind".into(),
        source: host.to_string_lossy().into_owned(),
        destination: dest.to_path_buf(),
        options,
        flags: p.flags,
        propagation: vec![],
        data: String::new(),
        recursive: false,
        tmpcopyup: false,
        file_mountpoint: true,
        idmap: None,
        attrs: Attrs::default(),
        cgroupns: false,
    }
}

fn sys_mount(source: Option<&str>, target: &str, fstype: Option<&str>, flags: u64, data: Option<&str>) -> Result<()> {
    nix::mount::mount(source, target, fstype, MsFlags::from_bits_retain(flags), data)
        .map_err(|e| anyhow::anyhow!("{}", e.desc().to_lowercase()))
}

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

/// open_tree(2) with OPEN_TREE_CLONE: a detached copy of the mount at `path` under `dirfd`.
fn clone_tree(dirfd: libc::c_int, path: &std::ffi::CStr, flags: libc::c_uint) -> std::io::Result<OwnedFd> {
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

pub(crate) fn setattr(mount: &OwnedFd, attr: &libc::mount_attr, recursive: bool) -> nix::Result<()> {
    use std::os::fd::AsRawFd;
    let flags = libc::AT_EMPTY_PATH as libc::c_uint
        | if recursive {
            libc::AT_RECURSIVE as libc::c_uint
        } else {
            0
        };
    // SAFETY: mount_setattr reads `attr` (its size is passed) and an empty path.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mount.as_raw_fd(),
            c"".as_ptr(),
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

/// Mount one entry of config.json's `mounts` beneath `root` (before pivot_root); a bind mount
/// from `source`, the fd `open_source` made.
pub fn mount(root: &OwnedFd, m: &MountStep, source: Option<&OwnedFd>) -> Result<()> {
    let create = if m.file_mountpoint { Create::File } else { Create::Dir };
    // A proc or sysfs mount point that is a symlink could redirect the mount onto the host's
    // view of something else (CVE-2019-19921): refuse it instead of following.
    let follow = !matches!(m.fstype.as_str(), "proc" | "sysfs");
    let (target, found_mode) = open_in_root_mode(root, &m.destination, create, follow)?;
    crate::procfs::check_mount_target(&target, &m.destination)?;
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
        "cgroup" => super::cgroupfs::mount(&target, m)?,
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
            super::copy::copy_tree(&from, &reopen_dir(&mounted)?).context("tmpcopyup")?;
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

use std::os::unix::fs::OpenOptionsExt;

fn reopen_dir(fd: &OwnedFd) -> Result<OwnedFd> {
    Ok(std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(fd_path(fd))
        .context("open directory")?
        .into())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(o: &[&str]) -> Parsed {
        parse_options(&o.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_and_data() {
        let p = opts(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(p.flags, libc::MS_NOSUID | libc::MS_STRICTATIME);
        assert_eq!(p.data, vec!["mode=755", "size=65536k"]);
        let p = opts(&["ro", "rw", "rbind", "rprivate"]);
        assert_eq!(p.flags, 0);
        assert!(p.recursive && p.idmap.is_none());
        assert_eq!(p.propagation, vec![libc::MS_PRIVATE | libc::MS_REC]);
    }

    #[test]
    fn recursive_options_are_attributes() {
        let p = opts(&["rbind", "rro", "rnosuid", "rsuid", "rnoexec", "rnoatime"]);
        assert!(p.data.is_empty());
        assert_eq!(p.flags, 0);
        assert_eq!(
            p.attrs,
            Attrs {
                set: libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOEXEC | libc::MOUNT_ATTR_NOATIME,
                clear: libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR__ATIME,
            }
        );
        let p = opts(&["rnoatime", "rrelatime"]);
        assert_eq!(
            (p.attrs.set, p.attrs.clear),
            (libc::MOUNT_ATTR_RELATIME, libc::MOUNT_ATTR__ATIME)
        );
    }

    #[test]
    fn mount_label_is_the_context_of_fresh_filesystems() {
        let mut tmpfs = plan_mount(
            &serde_json::from_value(serde_json::json!({"destination": "/t", "type": "tmpfs", "options": ["mode=755"]}))
                .unwrap(),
            Path::new("/"),
        )
        .unwrap();
        set_mount_label(&mut tmpfs, "system_u:object_r:container_file_t:s0");
        assert_eq!(tmpfs.data, "mode=755,context=\"system_u:object_r:container_file_t:s0\"");
        let mut proc = plan_mount(
            &serde_json::from_value(serde_json::json!({"destination": "/proc", "type": "proc", "source": "proc"}))
                .unwrap(),
            Path::new("/"),
        )
        .unwrap();
        set_mount_label(&mut proc, "l");
        assert_eq!(proc.data, "");
    }

    #[test]
    fn idmap_options_are_not_filesystem_data() {
        let p = opts(&["rbind", "ridmap"]);
        assert_eq!(p.idmap, Some(true));
        assert!(p.data.is_empty());
        assert_eq!(opts(&["bind", "idmap"]).idmap, Some(false));
    }
}
