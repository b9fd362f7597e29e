//! Device nodes: the ones runc's libcontainer SPEC promises every container whose /dev is a
//! fresh tmpfs, plus linux.devices; made with mknod, or bound from the host in a user namespace.

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::sys::stat::{fchmodat, fstatat, mknodat, FchmodatFlags, Mode, SFlag};
use nix::unistd::{fchownat, unlinkat, Gid, Uid, UnlinkatFlags};
use serde::Serialize;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize)]
pub struct DeviceNode {
    pub path: PathBuf,
    /// "c", "b" or "p", as in config.json.
    pub kind: String,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl DeviceNode {
    fn char(name: &str, major: u64, minor: u64) -> DeviceNode {
        DeviceNode {
            path: Path::new("/dev").join(name),
            kind: "c".into(),
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        }
    }

    pub fn from_spec(d: &oci_spec::runtime::LinuxDevice) -> Result<DeviceNode> {
        use oci_spec::runtime::LinuxDeviceType as T;
        let kind = match d.typ() {
            T::C | T::U => "c",
            T::B => "b",
            T::P => "p",
            T::A => bail!("type \"a\" is for device cgroup rules, not a device node"),
        };
        if !d.path().starts_with("/dev/") {
            bail!("path {} is not under /dev", d.path().display());
        }
        Ok(DeviceNode {
            path: d.path().clone(),
            kind: kind.into(),
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        })
    }
}

/// The nodes every container gets when /dev is not bound from the host.
pub fn defaults() -> Vec<DeviceNode> {
    vec![
        DeviceNode::char("null", 1, 3),
        DeviceNode::char("zero", 1, 5),
        DeviceNode::char("full", 1, 7),
        DeviceNode::char("random", 1, 8),
        DeviceNode::char("urandom", 1, 9),
        DeviceNode::char("tty", 5, 0),
    ]
}

/// Make a device node in the rootfs. In a user namespace mknod is not allowed, so the host's
/// node is bound there instead (runc does the same).
pub fn make(root: &OwnedFd, node: &DeviceNode, in_userns: bool, dirs: &mut super::ParentDir) -> Result<()> {
    if in_userns {
        let target =
            crate::rootfs::resolve::open_in_root(root, &node.path, crate::rootfs::resolve::Create::File, false)?;
        return nix::mount::mount(
            Some(&node.path),
            crate::rootfs::resolve::fd_path(&target).as_str(),
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("bind host {}", node.path.display()));
    }
    let (dir, name) = dirs.open(root, &node.path)?;
    let kind = match node.kind.as_str() {
        "b" => SFlag::S_IFBLK,
        "p" => SFlag::S_IFIFO,
        _ => SFlag::S_IFCHR,
    };
    let mode = Mode::from_bits_truncate(node.mode);
    let dev = libc::makedev(node.major as u32, node.minor as u32);
    match mknodat(dir, name.as_os_str(), kind, mode, dev) {
        Err(Errno::EEXIST) => {
            // Replace whatever the image or an earlier mount left there with the node asked for.
            unlinkat(dir, name.as_os_str(), UnlinkatFlags::NoRemoveDir).context("remove existing entry")?;
            mknodat(dir, name.as_os_str(), kind, mode, dev).context("mknod")?;
        }
        r => r.context("mknod")?,
    }
    // The node usually has the owner and mode asked for already (made by root with the umask
    // the init cleared): one fstatat instead of a chown and a chmod. A chown clears the set-id
    // bits, so a node chowned is chmodded too.
    let st = fstatat(dir, name.as_os_str(), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW).context("stat")?;
    let chown = (st.st_uid, st.st_gid) != (node.uid, node.gid);
    if chown {
        fchownat(
            dir,
            name.as_os_str(),
            Some(Uid::from_raw(node.uid)),
            Some(Gid::from_raw(node.gid)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .context("chown")?;
    }
    if chown || st.st_mode & 0o7777 != mode.bits() {
        fchmodat(dir, name.as_os_str(), mode, FchmodatFlags::FollowSymlink).context("chmod")?;
    }
    Ok(())
}
