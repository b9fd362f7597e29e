//! The `cgroup` mount type: what the container sees at /sys/fs/cgroup. On a cgroup2-only host it
//! is a cgroup2 mount; on a v1 or hybrid host (this one) it is a tmpfs holding each hierarchy
//! under the name the host gives it ("cpu,cpuacct", "memory", "systemd", "unified"), and for a
//! co-mounted one a symlink per controller ("cpu" -> "cpu,cpuacct"), as runc builds it. Each
//! hierarchy is a bind of the container's own cgroup directory, or, in a cgroup namespace, a
//! cgroup mount of its own, whose root the kernel makes the namespace's. The plan has a step per
//! hierarchy (`InitStep::CgroupHierarchy`), so that explain and --trace show each.

use super::mount_step::{remount_bind, MountStep};
use super::resolve::{fd_path, open_in_root, Create};
use crate::cgroups::Hierarchy;
use anyhow::{Context, Result};
use nix::mount::MsFlags;
use std::os::fd::OwnedFd;
use std::path::Path;

/// The mount itself: cgroup2 on a cgroup2-only host; otherwise a tmpfs, writable until the
/// plan's `CgroupHierarchy` steps have filled it and `CgroupReadonly` remounts it.
pub fn mount(target: &OwnedFd, m: &MountStep) -> Result<()> {
    let flags = MsFlags::from_bits_retain(m.flags);
    if is_cgroup2_only() {
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
pub fn hierarchy(
    root: &OwnedFd,
    tmpfs: &OwnedFd,
    m: &MountStep,
    name: &str,
    hierarchies: &[(String, Hierarchy, bool)],
) -> Result<()> {
    // A hierarchy the init is in no cgroup of has nothing to show it.
    let Some((_, h, v2)) = hierarchies.iter().find(|(n, ..)| n == name) else {
        return Ok(());
    };
    // Bound, a hierarchy whose mount does not reach our cgroup would show the container the
    // cgroups above its own: left out instead.
    if !m.cgroupns && !h.own.starts_with(h.root.trim_end_matches('/')) {
        return Ok(());
    }
    let restricted = m.flags | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    let dest_fd = open_in_root(tmpfs, Path::new(name), Create::Dir, false)?;
    if m.cgroupns {
        let (fstype, data) = if *v2 {
            ("cgroup2", None)
        } else {
            ("cgroup", Some(h.controllers.join(",")))
        };
        nix::mount::mount(
            Some("cgroup"),
            fd_path(&dest_fd).as_str(),
            Some(fstype),
            MsFlags::from_bits_retain(restricted),
            data.as_deref(),
        )
        .with_context(|| format!("mount {fstype} {}", data.as_deref().unwrap_or_default()))?;
    } else {
        let source = h.own_dir();
        nix::mount::mount(
            Some(&source),
            fd_path(&dest_fd).as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("bind {}", source.display()))?;
        let mounted = open_in_root(tmpfs, Path::new(name), Create::No, false)?;
        remount_bind(&mounted, restricted)?;
    }
    if name.contains(',') {
        for controller in name.split(',') {
            super::symlink(root, &m.destination.join(controller), Path::new(name))
                .with_context(|| format!("symlink {controller} -> {name}"))?;
        }
    }
    Ok(())
}

/// `tmpfs`, of a read-only `cgroup` mount, once its hierarchies are in place.
pub fn remount_readonly(tmpfs: &OwnedFd, m: &MountStep) -> Result<()> {
    nix::mount::mount(
        None::<&str>,
        fd_path(tmpfs).as_str(),
        None::<&str>,
        MsFlags::from_bits_retain(m.flags) | MsFlags::MS_REMOUNT,
        None::<&str>,
    )
    .context("remount read-only")
}

fn is_cgroup2_only() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

/// The hierarchies mounted right under /sys/fs/cgroup that this process is in, each with its
/// directory name there and whether it is cgroup2. Read now, not from the runtime's cached
/// view: this process (the container's init) is in the container's cgroup, which is what gets
/// bound.
pub fn hierarchies() -> Result<Vec<(String, Hierarchy, bool)>> {
    let read = |path: &str| crate::procfs::read_small(Path::new(path)).with_context(|| format!("read {path}"));
    let info = read("/proc/self/mountinfo")?;
    let own = read("/proc/self/cgroup")?;
    let host = crate::cgroups::parse_mounts(&info, &own);
    let v1 = host.v1.into_iter().map(|h| (h, false));
    Ok(v1
        .chain(host.v2.map(|h| (h, true)))
        .filter(|(h, _)| !h.own.is_empty())
        .filter_map(|(h, v2)| Some((name(&h.mount)?, h, v2)))
        .collect())
}

/// A hierarchy's directory name right under /sys/fs/cgroup.
fn name(mount: &Path) -> Option<String> {
    let name = mount.strip_prefix("/sys/fs/cgroup").ok()?.to_str()?;
    (!name.is_empty() && !name.contains('/')).then(|| name.to_string())
}
