//! The container's cgroup: one directory per cgroup v1 hierarchy and/or one in the cgroup2 tree,
//! with linux.resources written into them, processes added, frozen, measured and removed.
//!
//! Written by hand rather than with a crate. `cgroups-rs` (kata) always pulls in zbus, an async
//! D-Bus stack, and nix 0.25 next to our 0.31; `libcgroups` (youki) pulls nix 0.29, procfs and
//! pathrs, and on a hybrid host such as this one drives only the v1 hierarchies, so hugetlb (here
//! on cgroup2) could not be limited. What a runtime needs is a few hundred lines of file writes.
//!
//! Paths follow runc's cgroupfs driver: an absolute cgroupsPath is taken below each hierarchy's
//! mount point, a relative one below our own cgroup in it. With no cgroupsPath the container
//! goes to `/scrun/<id>` (runc: `<id>` below its own cgroup): on cgroup2 our own cgroup holds
//! processes (us), and the "no internal processes" rule forbids enabling controllers below such a
//! cgroup, so it cannot be the parent; engines always pass a path anyway.

pub mod delegated;
mod device_filter;
mod entry;
mod host;
pub mod oom;
mod resources;
mod stats;
pub mod systemd;

pub use entry::{clone_into, Entry};
pub use host::{host, Hierarchy, Host};
pub use resources::default_device_rules;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::io::{ErrorKind, Write};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

/// What state.json keeps to find the cgroup again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedCgroup {
    /// The cgroup path inside each hierarchy, as resolved from linux.cgroupsPath.
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub v1: Vec<V1Dir>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v2: Option<PathBuf>,
    /// With --systemd-cgroup: the transient unit whose cgroup this is, stopped on removal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V1Dir {
    /// The controllers of that hierarchy ("cpu", "name=systemd").
    pub controllers: Vec<String>,
    pub dir: PathBuf,
}

/// Where a controller's files are, and so which file names and value formats apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

impl<'a> Dir<'a> {
    pub fn path(self) -> &'a Path {
        match self {
            Dir::V1(p) | Dir::V2(p) => p,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezerState {
    Thawed,
    Frozen,
}

#[derive(Debug)]
pub struct Cgroup {
    saved: SavedCgroup,
}

impl Cgroup {
    /// Makes the cgroup's directories (and missing parents) in every hierarchy; existing ones are
    /// fine, since Kubernetes pods and engines share parents.
    pub fn create(cgroups_path: Option<&str>, id: &str) -> Result<Cgroup> {
        let cgroup = Cgroup::plan(cgroups_path, id)?;
        cgroup.make()?;
        Ok(cgroup)
    }

    /// Where the cgroup of `id` goes in every hierarchy, without making anything: what a create
    /// records before it makes the directories.
    pub fn plan(cgroups_path: Option<&str>, id: &str) -> Result<Cgroup> {
        if crate::rootless::active() {
            return delegated::plan(cgroups_path, id);
        }
        let path = match cgroups_path.filter(|p| !p.is_empty()) {
            Some(p) => p.to_string(),
            None => format!("/scrun/{id}"),
        };
        check_path(&path)?;
        let host = host();
        if host.v1.is_empty() && host.v2.is_none() {
            bail!("no cgroup hierarchy is mounted (none in /proc/self/mountinfo)");
        }
        let v1 = host
            .v1
            .iter()
            .map(|h| V1Dir {
                controllers: h.controllers.clone(),
                dir: h.dir(&path),
            })
            .collect();
        let v2 = host.v2.as_ref().map(|h| h.dir(&path));
        Ok(Cgroup {
            saved: SavedCgroup {
                path,
                v1,
                v2,
                systemd_unit: None,
            },
        })
    }

    /// Makes the planned directories.
    pub fn make(&self) -> Result<()> {
        self.make_v1()?;
        self.make_v2()
    }

    /// Makes the directory in each v1 hierarchy (none when rootless: its cgroup is cgroup2's).
    pub fn make_v1(&self) -> Result<()> {
        if crate::rootless::active() {
            return Ok(());
        }
        for (h, d) in host().v1.iter().zip(&self.saved.v1) {
            mkdir_p(&h.mount, &d.dir, h.has("cpuset"))?;
        }
        Ok(())
    }

    fn make_v2(&self) -> Result<()> {
        if crate::rootless::active() {
            return delegated::make(&self.saved);
        }
        let host = host();
        if let (Some(h), Some(dir)) = (&host.v2, &self.saved.v2) {
            mkdir_p(&h.mount, dir, false)?;
            // On a hybrid host the cgroup2 controllers are host-wide settings that others
            // (crun's hugetlb workaround, say) may rely on: turn one on only when a limit needs
            // it (see resources::need). On a cgroup2 host, all of them, as runc does.
            if host.v2_only {
                enable_controllers(&h.mount, dir, None);
            }
        }
        Ok(())
    }

    pub fn open(saved: &SavedCgroup) -> Result<Cgroup> {
        check_path(&saved.path)?;
        for dir in saved.v1.iter().map(|d| &d.dir).chain(&saved.v2) {
            if !dir.is_absolute() || dir.components().any(|c| c == Component::ParentDir) {
                bail!("saved cgroup directory {} is not a clean absolute path", dir.display());
            }
        }
        Ok(Cgroup { saved: saved.clone() })
    }

    pub fn saved(&self) -> SavedCgroup {
        self.saved.clone()
    }

    /// Every directory of the cgroup: one per v1 hierarchy, then the cgroup2 one.
    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.saved
            .v1
            .iter()
            .map(|d| d.dir.as_path())
            .chain(self.saved.v2.as_deref())
    }

    /// The directory that drives `controller`: its v1 hierarchy, else cgroup2 if the host offers
    /// it there.
    pub fn locate(&self, controller: &str) -> Option<Dir<'_>> {
        if let Some(d) = self
            .saved
            .v1
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == controller))
        {
            return Some(Dir::V1(&d.dir));
        }
        let v2 = self.saved.v2.as_deref()?;
        host().on_v2(controller).then_some(Dir::V2(v2))
    }

    pub fn apply(&self, resources: &oci_spec::runtime::LinuxResources) -> Result<()> {
        resources::apply(self, resources)
    }

    /// New limits for a running container: its systemd unit's first, if it has one (as runc).
    pub fn update(&self, resources: &oci_spec::runtime::LinuxResources) -> Result<()> {
        if let Some(unit) = &self.saved.systemd_unit {
            systemd::set_limits(unit, resources)?;
        }
        self.apply(resources)
    }

    pub fn add_pid(&self, pid: i32) -> Result<()> {
        self.dirs().try_for_each(|d| write(d, "cgroup.procs", &pid.to_string()))
    }

    /// Every process in the cgroup and in cgroups the container made below it.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let Some(dir) = self.procs_dir() else {
            return Ok(Vec::new());
        };
        let mut pids = Vec::new();
        collect_pids(dir, &mut pids)?;
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Where membership is read: cgroup2 when it is the only tree, else the freezer's hierarchy,
    /// the one whose state `pause` changes.
    fn procs_dir(&self) -> Option<&Path> {
        if host().v2_only {
            return self.saved.v2.as_deref();
        }
        match self.locate("freezer") {
            Some(d) => Some(d.path()),
            None => self.dirs().next(),
        }
    }

    pub fn freeze(&self) -> Result<()> {
        match self.freezer()? {
            Dir::V1(d) => {
                write(d, "freezer.state", "FROZEN")?;
                // A task in an uninterruptible sleep keeps the cgroup FREEZING; asking again
                // now and then is what gets it over the line (runc does the same).
                let result = wait_for(|n| {
                    if n % 50 == 49 {
                        write(d, "freezer.state", "FROZEN")?;
                    }
                    Ok(read(d, "freezer.state")? == "FROZEN")
                });
                if result.is_err() {
                    let _ = write(d, "freezer.state", "THAWED");
                }
                result.with_context(|| format!("freeze {}", d.display()))
            }
            Dir::V2(d) => {
                write(d, "cgroup.freeze", "1")?;
                let result = wait_for(|_| Ok(events_frozen(d)? == Some(true)));
                if result.is_err() {
                    let _ = write(d, "cgroup.freeze", "0");
                }
                result.with_context(|| format!("freeze {}", d.display()))
            }
        }
    }

    pub fn thaw(&self) -> Result<()> {
        match self.freezer()? {
            Dir::V1(d) => write(d, "freezer.state", "THAWED"),
            Dir::V2(d) => write(d, "cgroup.freeze", "0"),
        }
    }

    pub fn state(&self) -> Result<FreezerState> {
        let frozen = match self.freezer() {
            Err(_) => false,
            Ok(Dir::V1(d)) => read_opt(d, "freezer.state")?.as_deref() == Some("FROZEN"),
            Ok(Dir::V2(d)) => events_frozen(d)? == Some(true),
        };
        Ok(if frozen {
            FreezerState::Frozen
        } else {
            FreezerState::Thawed
        })
    }

    fn freezer(&self) -> Result<Dir<'_>> {
        if let Some(d) = self.locate("freezer") {
            return Ok(d);
        }
        // cgroup.freeze is a core cgroup2 file, not a controller to enable.
        self.saved
            .v2
            .as_deref()
            .map(Dir::V2)
            .ok_or_else(|| anyhow!("no freezer: neither a v1 freezer hierarchy nor cgroup2 is mounted"))
    }

    /// The shape of runc's `events --stats` "data" object, as far as the files give it.
    pub fn stats(&self) -> Result<serde_json::Value> {
        stats::stats(self)
    }

    /// Removes the cgroup's directory (and any the container made below it) in every hierarchy,
    /// after stopping its systemd unit if it has one (as runc, the directories go even if that
    /// fails: some are scrun's, not systemd's).
    /// Parents stay: they may be shared (a pod, /docker), and removing them would race with
    /// another container's create. A cgroup that still holds live processes is an error; a
    /// killed process needs a moment to leave, so EBUSY is retried briefly. Already removed
    /// directories are fine, so a failed remove can be repeated.
    pub fn remove(&self) -> Result<()> {
        let stopped = self.saved.systemd_unit.as_deref().map_or(Ok(()), systemd::stop);
        self.remove_dirs().and(stopped)
    }

    /// Removes the cgroup at once if no process is left in it (the usual case once the
    /// container stopped), with no wait and no kill; false if one is, when nothing was removed:
    /// a process of the container is in its cgroup in every hierarchy, the first one tried too.
    pub fn remove_if_empty(&self) -> bool {
        self.saved.systemd_unit.is_none() && self.dirs().all(|d| remove_tree(d).is_ok())
    }

    fn remove_dirs(&self) -> Result<()> {
        // One budget for all hierarchies: a live process would otherwise cost it in each.
        let deadline = Instant::now() + Duration::from_secs(1);
        // (why, first directory, how many more) for each distinct reason: a live process
        // makes every hierarchy fail alike.
        let mut errors: Vec<(String, &Path, usize)> = Vec::new();
        for dir in self.dirs() {
            let mut delay = Duration::from_millis(5);
            let why = loop {
                match remove_tree(dir) {
                    Ok(()) => break None,
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                        std::thread::sleep(delay);
                        delay = (delay * 2).min(Duration::from_millis(100));
                    }
                    Err(e) => {
                        let mut pids = Vec::new();
                        let _ = collect_pids(dir, &mut pids);
                        let list: Vec<String> = pids.iter().map(i32::to_string).collect();
                        let held = if list.is_empty() {
                            String::new()
                        } else {
                            format!(": it still holds processes {}", list.join(" "))
                        };
                        break Some(format!("{}{held}", os_text(&e)));
                    }
                }
            };
            let Some(why) = why else { continue };
            match errors.iter_mut().find(|(w, ..)| *w == why) {
                Some((_, _, more)) => *more += 1,
                None => errors.push((why, dir, 0)),
            }
        }
        let text: Vec<String> = errors
            .iter()
            .map(|(why, dir, more)| {
                let also = if *more > 0 {
                    format!(" (and {more} more hierarchies)")
                } else {
                    String::new()
                };
                format!("remove cgroup {}{also}: {why}", dir.display())
            })
            .collect();
        if text.is_empty() {
            Ok(())
        } else {
            Err(anyhow!(text.join("; ")))
        }
    }
}

fn check_path(path: &str) -> Result<()> {
    let p = Path::new(path);
    if p.components().any(|c| c == Component::ParentDir) || path.contains('\0') {
        bail!("linux.cgroupsPath {path:?} must not contain \"..\"");
    }
    if p.components()
        .all(|c| matches!(c, Component::RootDir | Component::CurDir))
    {
        bail!("linux.cgroupsPath {path:?} names no cgroup below the root");
    }
    Ok(())
}

/// mkdir -p from the hierarchy's mount point. A new v1 cpuset cgroup starts with no cpus and
/// mems, and a task cannot join it; fill every level along the path from its parent, as runc
/// does, and have each level made here give its children a copy (cgroup.clone_children).
/// The leaf alone is tried first: its parents usually exist (one mkdir, not one a level), and,
/// made by an earlier create, pass on their cpus and mems (a read and a write, where copying
/// them took ten syscalls on every create). The kernel copies the flag to the new cgroup too:
/// the container's own cgroup has it turned off again, as runc leaves it.
fn mkdir_p(mount: &Path, dir: &Path, cpuset: bool) -> Result<()> {
    match std::fs::create_dir(dir) {
        Ok(()) if !cpuset => return Ok(()),
        Ok(()) if !read(dir, "cpuset.cpus")?.is_empty() => return write(dir, "cgroup.clone_children", "0"),
        Err(e) if e.kind() == ErrorKind::AlreadyExists && !cpuset => return Ok(()),
        _ => {}
    }
    let rest = dir.strip_prefix(mount).unwrap_or(dir);
    let mut current = mount.to_path_buf();
    // The level above's cpuset.cpus and cpuset.mems once read or written: not read again.
    let mut above: Option<[String; 2]> = None;
    for part in rest.components() {
        let parent = current.clone();
        current.push(part);
        let made = match std::fs::create_dir(&current) {
            Ok(()) => true,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => false,
            Err(e) => bail!("create cgroup {}: {}", current.display(), os_text(&e)),
        };
        if cpuset {
            let mut here: [String; 2] = Default::default();
            for (i, file) in ["cpuset.cpus", "cpuset.mems"].into_iter().enumerate() {
                // A cgroup just made is empty, or (cgroup.clone_children) its parent's copy.
                here[i] = if made { String::new() } else { read(&current, file)? };
                if here[i].is_empty() {
                    here[i] = above
                        .as_ref()
                        .map_or_else(|| read(&parent, file), |a| Ok(a[i].clone()))?;
                    write(&current, file, &here[i])?;
                }
            }
            if made {
                let passed_on = if current == dir { "0" } else { "1" };
                write(&current, "cgroup.clone_children", passed_on)?;
            }
            above = Some(here);
        }
    }
    Ok(())
}

/// Turns on, in every cgroup2 ancestor, each controller it has (or only `only`), so the leaf
/// has them (as runc does: later updates and stats need them too). A controller that will not
/// turn on is only warned about here: writing its files fails later, naming it.
pub(super) fn enable_controllers(mount: &Path, dir: &Path, only: Option<&str>) {
    let mut ancestors: Vec<&Path> = dir.ancestors().skip(1).take_while(|a| a.starts_with(mount)).collect();
    ancestors.reverse();
    for a in ancestors {
        let available = read(a, "cgroup.controllers").unwrap_or_default();
        let enabled = read(a, "cgroup.subtree_control").unwrap_or_default();
        let missing: Vec<String> = available
            .split_whitespace()
            .filter(|c| only.is_none_or(|o| o == *c))
            .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
            .map(|c| format!("+{c}"))
            .collect();
        if missing.is_empty() || write(a, "cgroup.subtree_control", &missing.join(" ")).is_ok() {
            continue;
        }
        for c in &missing {
            if let Err(e) = write(a, "cgroup.subtree_control", c) {
                tracing::warn!("{e:#}");
            }
        }
    }
}

fn collect_pids(dir: &Path, pids: &mut Vec<i32>) -> Result<()> {
    let Some(procs) = read_opt(dir, "cgroup.procs")? else {
        return Ok(());
    };
    pids.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_pids(&entry.path(), pids)?;
        }
    }
    Ok(())
}

/// rmdir, deepest first; a cgroup directory's files go with it. The directory itself is tried
/// first: it usually has no child cgroups, and listing it (open, stat, two getdents, close in
/// each hierarchy) would be most of what a delete does. Child cgroups make it EBUSY.
fn remove_tree(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir(dir) {
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        other => return other,
    }
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        other => other?,
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&entry.path())?;
        }
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// "frozen 1" in cgroup.events; None when the cgroup is gone.
fn events_frozen(dir: &Path) -> Result<Option<bool>> {
    Ok(read_opt(dir, "cgroup.events")?.map(|ev| ev.lines().any(|l| l.trim() == "frozen 1")))
}

/// Polls `done` (given the attempt number) for up to five seconds.
fn wait_for(mut done: impl FnMut(u32) -> Result<bool>) -> Result<()> {
    let start = Instant::now();
    for n in 0.. {
        if done(n)? {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(5) {
            break;
        }
        std::thread::sleep(Duration::from_millis(if n < 10 { 1 } else { 10 }));
    }
    bail!("still not frozen after 5 s")
}

/// Go-style strerror text ("device or resource busy"), as runc prints it: libc's text (Go's
/// table is glibc's) without std's " (os error N)", lowercased.
fn os_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or_default();
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}

/// One write(2) of the whole value, never creating the file: cgroupfs takes each write as one
/// command, and a missing file must say so.
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    File::new(dir, file).write(value)
}

/// A cgroup file written with one write(2) per value, opened at the first: several values (the
/// device rules) cost one open, not one each.
pub(crate) struct File {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl File {
    pub(crate) fn new(dir: &Path, file: &str) -> File {
        File {
            path: dir.join(file),
            file: None,
        }
    }

    pub(crate) fn write(&mut self, value: &str) -> Result<()> {
        let file = match self.file.take() {
            Some(f) => Ok(f),
            None => std::fs::OpenOptions::new().write(true).open(&self.path),
        };
        file.and_then(|mut f| {
            let written = f.write_all(value.as_bytes());
            self.file = Some(f);
            written
        })
        .map_err(|e| anyhow!("write {value} to {}: {}", self.path.display(), os_text(&e)))
    }
}

pub(crate) fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    crate::procfs::read_small(&path)
        .map(|s| s.trim().to_string())
        .map_err(|e| anyhow!("read {}: {}", path.display(), os_text(&e)))
}

/// Like `read`, but a missing file (a controller or kernel feature that is not there) is None.
pub(crate) fn read_opt(dir: &Path, file: &str) -> Result<Option<String>> {
    let path = dir.join(file);
    match crate::procfs::read_small(&path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow!("read {}: {}", path.display(), os_text(&e))),
    }
}
