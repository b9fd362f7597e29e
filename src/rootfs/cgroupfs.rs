//! The `cgroup` mount type: what the container sees at /sys/fs/cgroup. On a cgroup2-only host it
//! is a cgroup2 mount; on a v1 or hybrid host (this one) it is a tmpfs holding, for each
//! hierarchy, a bind of the container's own cgroup directory, as runc builds it.

use super::mounts::{remount_bind, MountStep};
use super::resolve::{fd_path, open_in_root, Create};
use anyhow::{Context, Result};
use std::os::fd::OwnedFd;
use std::path::Path;

pub fn mount(root: &OwnedFd, target: &OwnedFd, m: &MountStep) -> Result<()> {
    let flags = nix::mount::MsFlags::from_bits_retain(m.flags);
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
    let tmpfs_flags = flags & !nix::mount::MsFlags::MS_RDONLY;
    nix::mount::mount(
        Some("tmpfs"),
        fd_path(target).as_str(),
        Some("tmpfs"),
        tmpfs_flags,
        Some("mode=755"),
    )
    .context("mount tmpfs")?;
    for (source, name) in own_hierarchies()? {
        let dest = m.destination.join(&name);
        let dest_fd = open_in_root(root, &dest, Create::Dir, false)?;
        nix::mount::mount(
            Some(&source),
            fd_path(&dest_fd).as_str(),
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("bind {}", source.display()))?;
        let mounted = open_in_root(root, &dest, Create::No, false)?;
        remount_bind(&mounted, m.flags | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC)?;
    }
    if flags.contains(nix::mount::MsFlags::MS_RDONLY) {
        let mounted = open_in_root(root, &m.destination, Create::No, false)?;
        nix::mount::mount(
            None::<&str>,
            fd_path(&mounted).as_str(),
            None::<&str>,
            flags | nix::mount::MsFlags::MS_REMOUNT,
            None::<&str>,
        )
        .context("remount read-only")?;
    }
    Ok(())
}

/// The mounts below `dest` that a `cgroup` mount makes (for `scrun explain`).
pub fn submounts(dest: &Path) -> Vec<std::path::PathBuf> {
    if is_cgroup2_only() {
        return vec![];
    }
    own_hierarchies()
        .unwrap_or_default()
        .into_iter()
        .map(|(_, name)| dest.join(name))
        .collect()
}

/// For each hierarchy this process is in: the host directory of its cgroup there, and the
/// hierarchy's name.
fn own_hierarchies() -> Result<Vec<(std::path::PathBuf, String)>> {
    let own = std::fs::read_to_string("/proc/self/cgroup").context("read /proc/self/cgroup")?;
    Ok(hierarchies()?
        .into_iter()
        .filter_map(|(host_dir, name)| {
            let path = own_path(&own, &name)?;
            Some((Path::new(&host_dir).join(path.trim_start_matches('/')), name))
        })
        .collect())
}

fn is_cgroup2_only() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

/// Host mount points of cgroup hierarchies under /sys/fs/cgroup, with the name of each
/// (its directory name: "memory", "cpu", "unified", "systemd").
fn hierarchies() -> Result<Vec<(String, String)>> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").context("read /proc/self/mountinfo")?;
    Ok(crate::mountinfo::parse(&info)
        .into_iter()
        .filter(|e| matches!(e.fstype.as_str(), "cgroup" | "cgroup2"))
        .filter_map(|e| {
            let name = e.mount_point.strip_prefix("/sys/fs/cgroup/")?.to_string();
            (!name.contains('/')).then_some((e.mount_point, name))
        })
        .collect())
}

/// This process's cgroup in the hierarchy mounted at /sys/fs/cgroup/NAME.
fn own_path<'a>(proc_cgroup: &'a str, name: &str) -> Option<&'a str> {
    proc_cgroup.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = match name {
            "unified" => controllers.is_empty(),
            _ => controllers
                .split(',')
                .any(|c| c == name || c.strip_prefix("name=") == Some(name)),
        };
        matches.then_some(path)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_path_by_hierarchy() {
        let pc = "12:memory:/a\n3:cpu,cpuacct:/b\n1:name=systemd:/c\n0::/d\n";
        assert_eq!(super::own_path(pc, "memory"), Some("/a"));
        assert_eq!(super::own_path(pc, "cpuacct"), Some("/b"));
        assert_eq!(super::own_path(pc, "systemd"), Some("/c"));
        assert_eq!(super::own_path(pc, "unified"), Some("/d"));
        assert_eq!(super::own_path(pc, "pids"), None);
    }
}
