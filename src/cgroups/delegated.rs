//! A rootless container's cgroup, made in a cgroup2 subtree delegated to the caller: a cgroup
//! whose directory, cgroup.procs and cgroup.subtree_control the caller may write (what
//! systemd's `Delegate=yes` or an administrator's chown gives). As runc and crun on cgroup2,
//! the container's cgroup is made below it and holds only cgroup2 directories: the v1
//! hierarchies of a hybrid host are root's. Freezing needs no controller (cgroup.freeze is a
//! core file); a limit needs its controller delegated (in the subtree's cgroup.controllers),
//! and is refused, naming it, where it is not.

use super::{host, read, Cgroup, SavedCgroup};
use anyhow::{anyhow, bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{faccessat, geteuid, AccessFlags};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

/// The delegated cgroup below which the caller's containers' cgroups go.
#[derive(Debug)]
pub struct Delegated {
    /// Its directory in the cgroup2 mount.
    pub dir: PathBuf,
    /// It is the caller's own cgroup, so it holds the caller: cgroup2 enables no controller
    /// for the children of a cgroup that holds processes ("no internal processes").
    holds_caller: bool,
}

/// The caller's delegated cgroup, looked up once: as runc, the parent of the caller's own
/// cgroup where it is delegated (it holds none of the caller's processes, so controllers can
/// be enabled below it: systemd's user@UID.service/app.slice), else the caller's own cgroup
/// (a delegated scope the caller was started in).
pub fn find() -> Option<&'static Delegated> {
    static FOUND: OnceLock<Option<Delegated>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let v2 = host().v2.as_ref()?;
            let own = v2.own_dir();
            // The root cgroup is never a container's parent: it has no cgroup.freeze, and its
            // controllers are the whole host's.
            let below_root = |d: &Path| d.starts_with(&v2.mount) && d != v2.mount;
            let parent = own.parent().filter(|p| below_root(p)).map(Path::to_path_buf);
            parent
                .into_iter()
                .chain(below_root(&own).then(|| own.clone()))
                .find(|d| is_delegated(d))
                .map(|dir| Delegated {
                    holds_caller: dir == own,
                    dir,
                })
        })
        .as_ref()
}

/// Decided on the directory's fd: it is a cgroup2 directory, and the caller may make cgroups
/// in it and move processes and enable controllers there.
fn is_delegated(dir: &Path) -> bool {
    let Ok(fd) = open_dir(None, dir) else {
        return false;
    };
    nix::sys::statfs::fstatfs(&fd).is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        && [".", "cgroup.procs", "cgroup.subtree_control"]
            .iter()
            .all(|f| faccessat(&fd, *f, AccessFlags::W_OK, AtFlags::AT_EACCESS).is_ok())
}

fn open_dir(at: Option<&OwnedFd>, path: &Path) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match at {
        Some(fd) => nix::fcntl::openat(fd, path, flags, Mode::empty()),
        None => nix::fcntl::open(path, flags, Mode::empty()),
    }
}

impl Delegated {
    /// The parent of a rootless container's cgroup, for `update`: limits are checked against
    /// what it was given, whoever calls.
    pub fn parent_of(cgroup: &SavedCgroup) -> Option<Delegated> {
        let dir = cgroup.v2.as_deref()?.parent()?.to_path_buf();
        Some(Delegated {
            dir,
            holds_caller: false,
        })
    }

    /// The directory of the container's cgroup: linux.cgroupsPath relative to the delegated
    /// cgroup, an absolute one only inside it, none `scrun-<id>` there.
    fn dir_of(&self, cgroups_path: Option<&str>, id: &str) -> Result<PathBuf> {
        let mount = &host().v2.as_ref().context("cgroup2 is not mounted")?.mount;
        let dir = match cgroups_path.filter(|p| !p.is_empty()) {
            None => self.dir.join(format!("scrun-{id}")),
            Some(p) => {
                super::check_path(p)?;
                let dir = match p.strip_prefix('/') {
                    Some(abs) => mount.join(abs),
                    None => self.dir.join(p),
                };
                if dir == self.dir || !dir.starts_with(&self.dir) {
                    bail!(
                        "linux.cgroupsPath {p:?} is not below {}, the cgroup2 cgroup delegated to uid {}",
                        self.dir.display(),
                        geteuid()
                    );
                }
                dir
            }
        };
        Ok(dir.components().filter(|c| !matches!(c, Component::CurDir)).collect())
    }

    /// Whether the container's cgroup can go below this one: always unless linux.cgroupsPath
    /// names a cgroup elsewhere (which the caller does not own).
    pub fn holds(&self, cgroups_path: Option<&str>) -> bool {
        self.dir_of(cgroups_path, "x").is_ok()
    }

    /// Refuses the first of `limits` (linux.resources fields, as `linux.resources.memory.limit`)
    /// whose controller the subtree cannot give the container's cgroup.
    pub fn check_limits(&self, limits: &[String]) -> Result<()> {
        let mut files = None;
        for field in limits {
            let controller = controller_of(field).with_context(|| {
                format!(
                    "{field}: no cgroup2 controller applies it (cgroup v1's net_cls and net_prio do), \
                     and a rootless scrun has only the cgroup2 cgroup delegated to it"
                )
            })?;
            if controller == "cgroup" {
                continue;
            }
            let (available, enabled) = match &files {
                Some(f) => f,
                None => files.insert((
                    read(&self.dir, "cgroup.controllers")?,
                    read(&self.dir, "cgroup.subtree_control")?,
                )),
            };
            let has = |list: &str| list.split_whitespace().any(|c| c == controller);
            if !has(available) {
                bail!(
                    "{field}: the {controller} controller is not delegated to uid {} (cgroup.controllers of {}: {})",
                    geteuid(),
                    self.dir.display(),
                    if available.is_empty() { "none" } else { available }
                );
            }
            if !has(enabled) && self.holds_caller {
                bail!(
                    "{field}: the {controller} controller is not enabled in {}/cgroup.subtree_control, and \
                     cgroup2 enables none for the children of a cgroup that holds processes, as this one \
                     holds scrun: run scrun from a cgroup below it",
                    self.dir.display()
                );
            }
        }
        Ok(())
    }
}

/// The controller a linux.resources field needs on cgroup2; "cgroup" for core files
/// (unified cgroup.*), None for what cgroup2 has no controller for.
fn controller_of(field: &str) -> Option<&str> {
    let rest = field.strip_prefix("linux.resources.")?;
    let (group, rest) = rest.split_once('.').unwrap_or((rest, ""));
    Some(match group {
        "cpu" if matches!(rest, "cpus" | "mems") => "cpuset",
        "cpu" => "cpu",
        "memory" => "memory",
        "pids" => "pids",
        "blockIO" => "io",
        "hugepageLimits" => "hugetlb",
        "rdma" => "rdma",
        "unified" => rest.split('.').next().filter(|c| !c.is_empty())?,
        _ => return None,
    })
}

/// The container's cgroup in the delegated subtree: cgroup2 only.
pub(super) fn plan(cgroups_path: Option<&str>, id: &str) -> Result<Cgroup> {
    let delegated = find().with_context(|| format!("no cgroup2 cgroup is delegated to uid {}", geteuid()))?;
    let dir = delegated.dir_of(cgroups_path, id)?;
    let mount = &host().v2.as_ref().context("cgroup2 is not mounted")?.mount;
    let path = format!("/{}", dir.strip_prefix(mount)?.display());
    Ok(Cgroup {
        saved: SavedCgroup {
            path,
            v1: Vec::new(),
            v2: Some(dir),
            systemd_unit: None,
        },
    })
}

/// Makes the planned directory, each level from the delegated cgroup's fd (mkdirat, then
/// openat without following links); on a cgroup2-only host enables every delegated controller
/// for it, as for root (on a hybrid one only those a limit needs, when it is applied).
pub(super) fn make(saved: &SavedCgroup) -> Result<()> {
    let delegated = find().with_context(|| format!("no cgroup2 cgroup is delegated to uid {}", geteuid()))?;
    let dir = saved
        .v2
        .as_deref()
        .context("a delegated cgroup has a cgroup2 directory")?;
    let below = dir
        .strip_prefix(&delegated.dir)
        .map_err(|_| anyhow!("{} is not below {}", dir.display(), delegated.dir.display()))?;
    let mut at = open_dir(None, &delegated.dir).with_context(|| format!("open {}", delegated.dir.display()))?;
    let mut made = delegated.dir.clone();
    for part in below.components() {
        made.push(part);
        match nix::sys::stat::mkdirat(&at, part.as_os_str(), Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => bail!("create cgroup {}: {}", made.display(), e.desc().to_lowercase()),
        }
        at = open_dir(Some(&at), Path::new(part.as_os_str())).with_context(|| format!("open {}", made.display()))?;
    }
    if host().v2_only && !delegated.holds_caller {
        super::enable_controllers(&delegated.dir, dir, None);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_names_its_controller() {
        for (field, controller) in [
            ("linux.resources.memory.limit", Some("memory")),
            ("linux.resources.cpu.shares", Some("cpu")),
            ("linux.resources.cpu.cpus", Some("cpuset")),
            ("linux.resources.blockIO.weight", Some("io")),
            ("linux.resources.hugepageLimits", Some("hugetlb")),
            ("linux.resources.unified.memory.high", Some("memory")),
            ("linux.resources.unified.cgroup.max.depth", Some("cgroup")),
            ("linux.resources.network.classID", None),
        ] {
            assert_eq!(controller_of(field), controller, "{field}");
        }
    }
}
