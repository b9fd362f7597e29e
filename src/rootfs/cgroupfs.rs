//! The `cgroup` mount type: what the container sees at /sys/fs/cgroup. On a cgroup2-only host it
//! is a cgroup2 mount (a bind of the host's without a cgroup namespace); on a v1 or hybrid host (this one) it is a tmpfs holding each hierarchy
//! under the name the host gives it ("cpu,cpuacct", "memory", "systemd", "unified"), and for a
//! co-mounted one a symlink per controller ("cpu" -> "cpu,cpuacct"), as runc builds it. Each
//! hierarchy is a bind of the container's own cgroup directory, or, in a cgroup namespace, a
//! cgroup mount of its own, whose root the kernel makes the namespace's. The plan has a step per
//! hierarchy (`InitStep::CgroupHierarchy`), so that explain and --trace show each.

use super::mount_api::{attach, clone_tree, setattr, setattr_at};
use super::mount_step::MountStep;
use super::resolve::{fd_path, open_in_root, Create};
use super::symlink_in;
use crate::cgroups::Hierarchy;
use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::stat::{mkdirat, Mode};
use std::ffi::{CString, OsStr};
use std::os::fd::OwnedFd;
use std::path::Path;

/// The mount itself: on a cgroup2-only host, cgroup2 (in a cgroup namespace) or a bind of the
/// host's cgroup2 mount (`bind_host_cgroup2`); otherwise a tmpfs, writable until the plan's
/// `CgroupHierarchy` steps have filled it and `CgroupReadonly` remounts it.
pub fn mount(target: &OwnedFd, m: &MountStep) -> Result<()> {
    let flags = MsFlags::from_bits_retain(m.flags);
    let host = crate::cgroups::host();
    if let (true, false, Some(v2)) = (host.v2_only, m.cgroupns, &host.v2) {
        return bind_host_cgroup2(target, &v2.mount, m.flags);
    }
    if host.v2_only {
        return nix::mount::mount(
            Some("cgroup2"),
            fd_path(target).as_str(),
            Some("cgroup2"),
            flags,
            None::<&str>,
        )
        .context("mount cgroup2");
    }
    nix::mount::mount(
        Some("tmpfs"),
        fd_path(target).as_str(),
        Some("tmpfs"),
        flags & !MsFlags::MS_RDONLY,
        Some("mode=755"),
    )
    .context("mount tmpfs")
}

/// Without a cgroup namespace, the host's cgroup2 mount (at `host_mount`) bound on `target`,
/// read-only, nosuid, nodev and noexec as `flags` say, and private, as runc does since
/// opencontainers/runc#5258. A fresh cgroup2 mount from the host's cgroup namespace would apply
/// its options to the host's cgroup2 root: an empty list drops the host's nsdelegate and
/// memory_recursiveprot, and on Linux 6.18 (this project's host) it takes the global cgroup
/// lock for writing, an RCU grace period (10 to 15 ms in `perf record -e sched:sched_switch
/// -g`). The container sees the same tree either way.
fn bind_host_cgroup2(target: &OwnedFd, host_mount: &Path, flags: u64) -> Result<()> {
    let path = CString::new(host_mount.as_os_str().as_encoded_bytes())?;
    let tree = clone_tree(libc::AT_FDCWD, &path, 0).with_context(|| format!("open_tree {}", host_mount.display()))?;
    let mut attr_set = 0;
    for (ms, a) in [
        (libc::MS_RDONLY, libc::MOUNT_ATTR_RDONLY),
        (libc::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
        (libc::MS_NODEV, libc::MOUNT_ATTR_NODEV),
        (libc::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
    ] {
        if flags & ms != 0 {
            attr_set |= a;
        }
    }
    let attr = libc::mount_attr {
        attr_set,
        attr_clr: 0,
        propagation: libc::MS_PRIVATE,
        userns_fd: 0,
    };
    setattr(&tree, &attr, false).map_err(|e| anyhow::anyhow!("mount_setattr: {}", e.desc().to_lowercase()))?;
    attach(&tree, target).with_context(|| format!("bind {}", host_mount.display()))
}

/// The names of the hierarchies a `cgroup` mount gets, None on a cgroup2-only host, as the
/// runtime sees them when it plans: the init, in the container's cgroup, has the same ones.
pub fn hierarchy_names() -> Option<Vec<String>> {
    let host = crate::cgroups::host();
    if host.v2_only {
        return None;
    }
    let all = host.v1.iter().chain(host.v2.as_ref());
    Some(
        all.filter(|h| !h.own.is_empty())
            .filter_map(|h| name(&h.mount))
            .collect(),
    )
}

/// The tmpfs of the `cgroup` mount on `m.destination`, which only the init has seen yet: each
/// hierarchy is resolved from it, not walked to again from the rootfs (about 30 syscalls a
/// hierarchy, twice).
pub fn tmpfs(root: &OwnedFd, m: &MountStep) -> Result<OwnedFd> {
    open_in_root(root, &m.destination, Create::No, false)
}

/// Hierarchy `name` in `tmpfs`, the tmpfs of the `cgroup` mount on `m.destination`: a bind of the
/// container's own cgroup directory, or, in a cgroup namespace, a cgroup mount of its own; and
/// for a co-mounted one a symlink per controller. `hierarchies` is what the init read once.
/// The tmpfs is fresh and only the init has seen it: names in it are made and used directly,
/// with no walk (two syscalls a bound hierarchy).
pub fn hierarchy(tmpfs: &OwnedFd, m: &MountStep, name: &str, hierarchies: &[(String, Hierarchy, bool)]) -> Result<()> {
    // A hierarchy the init is in no cgroup of has nothing to show it.
    let Some((_, h, v2)) = hierarchies.iter().find(|(n, ..)| n == name) else {
        return Ok(());
    };
    // Bound, a hierarchy whose mount does not reach our cgroup would show the container the
    // cgroups above its own: left out instead.
    if !m.cgroupns && !h.own.starts_with(h.root.trim_end_matches('/')) {
        return Ok(());
    }
    let c_name = CString::new(name).context("hierarchy name holds a NUL byte")?;
    match mkdirat(tmpfs, c_name.as_c_str(), Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(e).context("mkdir"),
    }
    // Mounted on by path from the tmpfs's fd: the directory was just made there, in a
    // filesystem only the init has seen, so the path holds no symlink (one mount(2) a hierarchy).
    let target = format!("{}/{name}", fd_path(tmpfs));
    if m.cgroupns {
        let (fstype, data) = if *v2 {
            ("cgroup2", None)
        } else {
            ("cgroup", Some(h.controllers.join(",")))
        };
        nix::mount::mount(
            Some("cgroup"),
            target.as_str(),
            Some(fstype),
            MsFlags::from_bits_retain(m.flags | RESTRICTED),
            data.as_deref(),
        )
        .with_context(|| format!("mount {fstype} {}", data.as_deref().unwrap_or_default()))?;
    } else {
        let source = h.own_dir();
        nix::mount::mount(
            Some(&source),
            target.as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("bind {}", source.display()))?;
        // A read-only mount's hierarchies are restricted with the tmpfs, in one call
        // (`remount_readonly`).
        if m.flags & libc::MS_RDONLY == 0 {
            setattr_at(tmpfs, &c_name, &restrictions(m.flags), false)
                .map_err(|e| anyhow::anyhow!("mount_setattr: {}", e.desc().to_lowercase()))
                .with_context(|| format!("restrict the bind of {}", source.display()))?;
        }
    }
    if name.contains(',') {
        for controller in name.split(',') {
            symlink_in(tmpfs, OsStr::new(controller), Path::new(name))
                .with_context(|| format!("symlink {controller} -> {name}"))?;
        }
    }
    Ok(())
}

/// What every hierarchy's mount gets beyond the `cgroup` mount's own flags.
const RESTRICTED: u64 = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;

/// The `cgroup` mount's flags and [`RESTRICTED`] as mount_setattr attributes: what a bound
/// hierarchy gets on top of what the host's mount has (an atime option of the mount's replaces
/// the host's).
fn restrictions(flags: u64) -> libc::mount_attr {
    let flags = flags | RESTRICTED;
    let mut attr = libc::mount_attr {
        attr_set: 0,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    for (ms, set) in [
        (libc::MS_RDONLY, libc::MOUNT_ATTR_RDONLY),
        (libc::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
        (libc::MS_NODEV, libc::MOUNT_ATTR_NODEV),
        (libc::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
        (libc::MS_NODIRATIME, libc::MOUNT_ATTR_NODIRATIME),
    ] {
        if flags & ms != 0 {
            attr.attr_set |= set;
        }
    }
    for (ms, atime) in [
        (libc::MS_NOATIME, libc::MOUNT_ATTR_NOATIME),
        (libc::MS_STRICTATIME, libc::MOUNT_ATTR_STRICTATIME),
    ] {
        if flags & ms != 0 {
            attr.attr_set |= atime;
            attr.attr_clr = libc::MOUNT_ATTR__ATIME;
        }
    }
    attr
}

/// `tmpfs`, of a read-only `cgroup` mount, once its hierarchies are in place: the hierarchies
/// get the mount's restrictions (one mount_setattr for all), then the tmpfs is remounted with
/// the mount's own flags.
pub fn remount_readonly(tmpfs: &OwnedFd, m: &MountStep) -> Result<()> {
    setattr(tmpfs, &restrictions(m.flags), true)
        .map_err(|e| anyhow::anyhow!("mount_setattr: {}", e.desc().to_lowercase()))
        .context("make the hierarchies read-only")?;
    nix::mount::mount(
        None::<&str>,
        fd_path(tmpfs).as_str(),
        None::<&str>,
        MsFlags::from_bits_retain(m.flags) | MsFlags::MS_REMOUNT,
        None::<&str>,
    )
    .context("remount read-only")
}

/// The hierarchies mounted right under /sys/fs/cgroup that this process is in, each with its
/// directory name there and whether it is cgroup2. The mounts are the runtime's (read before
/// the clone, and the same ones the plan named); the cgroups are read now: this process (the
/// container's init) is in the container's cgroup, which is what gets bound.
pub fn hierarchies() -> Result<Vec<(String, Hierarchy, bool)>> {
    let own = crate::procfs::read_small(Path::new("/proc/self/cgroup")).context("read /proc/self/cgroup")?;
    Ok(crate::cgroups::host()
        .with_own(&own)
        .into_iter()
        .filter(|(h, _)| !h.own.is_empty())
        .filter_map(|(h, v2)| Some((name(&h.mount)?, h, v2)))
        .collect())
}

/// A hierarchy's directory name right under /sys/fs/cgroup.
fn name(mount: &Path) -> Option<String> {
    let name = mount.strip_prefix("/sys/fs/cgroup").ok()?.to_str()?;
    (!name.is_empty() && !name.contains('/')).then(|| name.to_string())
}
