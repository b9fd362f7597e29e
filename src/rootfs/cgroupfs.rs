//! The `cgroup` mount type: what the container sees at /sys/fs/cgroup. On a cgroup2-only host it
//! is a cgroup2 mount; on a v1 or hybrid host (this one) it is a tmpfs holding each hierarchy
//! under the name the host gives it ("cpu,cpuacct", "memory", "systemd", "unified"), and for a
//! co-mounted one a symlink per controller ("cpu" -> "cpu,cpuacct"), as runc builds it. Each
//! hierarchy is a bind of the container's own cgroup directory, or, in a cgroup namespace, a
//! cgroup mount of its own, whose root the kernel makes the namespace's.

use super::mounts::{remount_bind, MountStep};
use super::resolve::{fd_path, open_in_root, Create};
use crate::cgroups::Hierarchy;
use anyhow::{Context, Result};
use nix::mount::MsFlags;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

pub fn mount(root: &OwnedFd, target: &OwnedFd, m: &MountStep) -> Result<()> {
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
    .context("mount tmpfs")?;
    // The tmpfs just mounted, which only this process has seen: each hierarchy is resolved from
    // it, not walked to again from the rootfs (about 30 syscalls a hierarchy, twice).
    let base = open_in_root(root, &m.destination, Create::No, false)?;
    let restricted = m.flags | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    for (name, h, v2) in hierarchies()? {
        // Bound, a hierarchy whose mount does not reach our cgroup would show the container the
        // cgroups above its own: left out instead.
        if !m.cgroupns && !h.own.starts_with(h.root.trim_end_matches('/')) {
            continue;
        }
        let dest_fd = open_in_root(&base, Path::new(&name), Create::Dir, false)?;
        if m.cgroupns {
            let (fstype, data) = if v2 {
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
            let mounted = open_in_root(&base, Path::new(&name), Create::No, false)?;
            remount_bind(&mounted, restricted)?;
        }
        if name.contains(',') {
            for controller in name.split(',') {
                crate::devices::symlink(root, &m.destination.join(controller), Path::new(&name))
                    .with_context(|| format!("symlink {controller} -> {name}"))?;
            }
        }
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        nix::mount::mount(
            None::<&str>,
            fd_path(&base).as_str(),
            None::<&str>,
            flags | MsFlags::MS_REMOUNT,
            None::<&str>,
        )
        .context("remount read-only")?;
    }
    Ok(())
}

/// The mounts below `dest` that a `cgroup` mount makes (for `scrun explain`).
pub fn submounts(dest: &Path) -> Vec<PathBuf> {
    if is_cgroup2_only() {
        return vec![];
    }
    hierarchies()
        .unwrap_or_default()
        .into_iter()
        .map(|(name, ..)| dest.join(name))
        .collect()
}

fn is_cgroup2_only() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

/// The hierarchies mounted right under /sys/fs/cgroup that this process is in, each with its
/// directory name there and whether it is cgroup2. Read now, not from the runtime's cached view: this process (the
/// container's init) is in the container's cgroup, which is what gets bound.
fn hierarchies() -> Result<Vec<(String, Hierarchy, bool)>> {
    let read = |path: &str| crate::procfs::read_small(Path::new(path)).with_context(|| format!("read {path}"));
    let info = read("/proc/self/mountinfo")?;
    let own = read("/proc/self/cgroup")?;
    let host = crate::cgroups::parse_mounts(&info, &own);
    let v1 = host.v1.into_iter().map(|h| (h, false));
    Ok(v1
        .chain(host.v2.map(|h| (h, true)))
        .filter(|(h, _)| !h.own.is_empty())
        .filter_map(|(h, v2)| {
            let name = h.mount.strip_prefix("/sys/fs/cgroup").ok()?.to_str()?.to_string();
            (!name.is_empty() && !name.contains('/')).then_some((name, h, v2))
        })
        .collect())
}
