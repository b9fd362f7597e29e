//! Which cgroup hierarchies this host has, read once: a controller lives on exactly one of them
//! (a v1 mount, or the cgroup2 tree), and a hybrid host (v1 controllers at /sys/fs/cgroup/NAME plus
//! a cgroup2 "unified" mount, like this one) can have both at once.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// One mounted hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub mount: PathBuf,
    /// The cgroup mounted there (mountinfo's root field): not "/" inside a container that was
    /// given its own cgroup subtree.
    pub root: String,
    /// v1: the controllers bound to it ("cpu", "cpuacct", "name=systemd"); v2: the root's
    /// cgroup.controllers.
    pub controllers: Vec<String>,
    /// This process's own cgroup in it, as /proc/self/cgroup says: where a relative
    /// cgroupsPath starts.
    pub own: String,
}

impl Hierarchy {
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    /// The directory of cgroup `path` (absolute in the hierarchy, or relative to our own).
    pub fn dir(&self, path: &str) -> PathBuf {
        if path.starts_with('/') {
            // As runc: an absolute cgroupsPath is taken from the mount point, whatever its root.
            return self.mount.join(path.trim_start_matches('/'));
        }
        self.own_dir().join(path)
    }

    /// The directory of our own cgroup: below the mount point, as far as our cgroup is below
    /// the cgroup mounted there.
    pub fn own_dir(&self) -> PathBuf {
        let own = self.own.strip_prefix(self.root.trim_end_matches('/')).unwrap_or("");
        self.mount.join(own.trim_start_matches('/'))
    }
}

#[derive(Debug, Default)]
pub struct Host {
    pub v1: Vec<Hierarchy>,
    /// The cgroup2 mount: /sys/fs/cgroup on a v2-only host, /sys/fs/cgroup/unified on a hybrid one.
    pub v2: Option<Hierarchy>,
    /// True when /sys/fs/cgroup itself is cgroup2.
    pub v2_only: bool,
}

impl Host {
    /// Every hierarchy (the v1 ones, then cgroup2, marked true), each with `own` taken from
    /// `proc_cgroup`, another process's /proc/PID/cgroup: for the container's init, whose
    /// mounts are still the runtime's but whose cgroups are the container's.
    pub fn with_own(&self, proc_cgroup: &str) -> Vec<(Hierarchy, bool)> {
        let v1 = self.v1.iter().map(|h| (h, false));
        v1.chain(self.v2.iter().map(|h| (h, true)))
            .map(|(h, v2)| {
                let own = own_cgroup(proc_cgroup, &h.controllers, v2);
                (Hierarchy { own, ..h.clone() }, v2)
            })
            .collect()
    }

    /// Huge page sizes as the OCI spec and the cgroup file names spell them: "2MB", "1GB".
    /// Read on first use (hugetlb limits and stats), not on every start.
    pub fn hugepage_sizes(&self) -> &'static [String] {
        static SIZES: OnceLock<Vec<String>> = OnceLock::new();
        SIZES.get_or_init(|| read_hugepage_sizes(Path::new("/sys/kernel/mm/hugepages")))
    }

    pub fn v1_for(&self, controller: &str) -> Option<&Hierarchy> {
        self.v1.iter().find(|h| h.has(controller))
    }

    /// The controller is driven through cgroup2 here: no v1 hierarchy has it and v2 offers it.
    pub fn on_v2(&self, controller: &str) -> bool {
        self.v1_for(controller).is_none() && self.v2.as_ref().is_some_and(|h| h.has(controller))
    }
}

pub fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        let read = |path: &str| crate::procfs::read_small(Path::new(path)).unwrap_or_default();
        let mountinfo = read("/proc/self/mountinfo");
        let own = read("/proc/self/cgroup");
        let v2_only = nix::sys::statfs::statfs("/sys/fs/cgroup")
            .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC);
        let mut host = parse(&mountinfo, &own, || read("/proc/cgroups"), v2_only);
        if let Some(v2) = &mut host.v2 {
            let list = crate::procfs::read_small(&v2.mount.join("cgroup.controllers")).unwrap_or_default();
            v2.controllers = list.split_whitespace().map(str::to_string).collect();
        }
        host
    })
}

/// The hierarchies in mountinfo, one per superblock (a hierarchy can be mounted more than once;
/// the one under /sys/fs/cgroup wins).
///
/// `proc_cgroups` gives /proc/cgroups, this kernel's v1 controllers: read only when a v1 mount
/// has an option that is neither a controller of [`V1`] nor one of cgroup v1's other options
/// (then it says which are controllers); without it the built-in list says.
fn parse(mountinfo: &str, proc_cgroup: &str, proc_cgroups: impl FnOnce() -> String, v2_only: bool) -> Host {
    let entries = crate::mountinfo::parse(mountinfo);
    let unknown = entries
        .iter()
        .filter(|e| e.fstype == "cgroup")
        .flat_map(|e| e.super_options.split(','))
        .any(|o| {
            !V1.contains(&o) && !V1_OTHER.contains(&o) && !o.starts_with("name=") && !o.starts_with("release_agent=")
        });
    let listed = if unknown { proc_cgroups() } else { String::new() };
    let known: Vec<&str> = listed
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    // (superblock, under /sys/fs/cgroup, is cgroup2, hierarchy)
    let mut found: Vec<(&str, bool, bool, Hierarchy)> = Vec::new();
    for e in &entries {
        let (dev, mount, opts) = (e.device, &*e.mount_point, e.super_options);
        let v2 = match e.fstype {
            "cgroup2" => true,
            "cgroup" => false,
            _ => continue,
        };
        let preferred = mount.starts_with("/sys/fs/cgroup");
        // Of two mounts under /sys/fs/cgroup, the later one: mounted over the first (a nested
        // host mounts its own /sys/fs/cgroup over the outer one's), it is the one in sight, and
        // its root is the one our cgroup path is relative to.
        if found.iter().any(|(d, p, _, _)| *d == dev && *p && !preferred) {
            continue;
        }
        found.retain(|(d, ..)| *d != dev);
        let controllers: Vec<String> = if v2 {
            Vec::new()
        } else {
            opts.split(',')
                .filter(|o| o.starts_with("name=") || known.contains(o) || (known.is_empty() && V1.contains(o)))
                .map(str::to_string)
                .collect()
        };
        let h = Hierarchy {
            mount: PathBuf::from(mount),
            root: e.root.to_string(),
            own: own_cgroup(proc_cgroup, &controllers, v2),
            controllers,
        };
        found.push((dev, preferred, v2, h));
    }
    let mut host = Host {
        v2_only,
        ..Host::default()
    };
    for (_, _, v2, h) in found {
        if !v2 {
            host.v1.push(h);
        } else if host.v2.is_none() || h.mount == Path::new("/sys/fs/cgroup") {
            host.v2 = Some(h);
        }
    }
    host
}

/// The kernel's v1 controller names, for when /proc/cgroups is not read or missing (a kernel
/// without v1 support).
const V1: &[&str] = &[
    "cpuset",
    "cpu",
    "cpuacct",
    "blkio",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// The options of a v1 mount's superblock that are not controllers, but for name= and
/// release_agent= (the kernel's cgroup1_show_options, and rw or ro first).
const V1_OTHER: &[&str] = &[
    "rw",
    "ro",
    "noprefix",
    "xattr",
    "clone_children",
    "cpuset_v2_mode",
    "favordynmods",
];

/// The cgroup a process's /proc/PID/cgroup text gives for the hierarchy of `controllers` (the
/// cgroup2 one with `v2`), empty if none.
fn own_cgroup(proc_cgroup: &str, controllers: &[String], v2: bool) -> String {
    let matches = |listed: &str| {
        if v2 {
            listed.is_empty()
        } else {
            !listed.is_empty() && listed.split(',').all(|x| controllers.iter().any(|c| c == x))
        }
    };
    proc_cgroup
        .lines()
        .find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, listed, path) = (parts.next()?, parts.next()?, parts.next()?);
            matches(listed).then(|| path.to_string())
        })
        .unwrap_or_default()
}

/// "hugepages-2048kB" → "2MB", the unit runc and the hugetlb file names use.
fn read_hugepage_sizes(dir: &Path) -> Vec<String> {
    let mut sizes: Vec<(u64, String)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kb: u64 = name.strip_prefix("hugepages-")?.strip_suffix("kB")?.parse().ok()?;
            Some((kb, size_name(kb)))
        })
        .collect();
    sizes.sort();
    sizes.into_iter().map(|(_, s)| s).collect()
}

fn size_name(kb: u64) -> String {
    let units = ["KB", "MB", "GB", "TB", "PB"];
    let (mut n, mut u) = (kb, 0);
    while n >= 1024 && n % 1024 == 0 && u + 1 < units.len() {
        n /= 1024;
        u += 1;
    }
    format!("{n}{}", units[u])
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 /docker/x /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:32 / /mnt/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const PROC_CGROUP: &str = "9:name=systemd:/\n4:memory:/docker/x/sub\n2:cpu,cpuacct:/user\n0::/init\n";
    const PROC_CGROUPS: &str = "#subsys_name\thierarchy\nmemory\t4\t1\t1\ncpu\t1\t1\t1\ncpuacct\t1\t1\t1\n";

    #[test]
    fn a_hierarchy_mounted_over_another_is_the_one_used() {
        // A nested host (in a cgroup namespace) mounts its own /sys/fs/cgroup over the outer
        // one: the outer memory mount is still listed, its root outside the namespace.
        let info = "\
31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw
35 31 0:32 /.. /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
50 23 0:40 / /sys/fs/cgroup rw - tmpfs tmpfs rw
51 50 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";
        let h = parse(info, "4:memory:/system.slice/x.scope\n", || PROC_CGROUPS.into(), false);
        assert_eq!(
            h.v1_for("memory").unwrap().own_dir(),
            Path::new("/sys/fs/cgroup/memory/system.slice/x.scope")
        );
    }

    #[test]
    fn parses_hybrid_mountinfo() {
        let h = parse(MOUNTINFO, PROC_CGROUP, || PROC_CGROUPS.into(), false);
        let names: Vec<_> = h.v1.iter().map(|h| h.controllers.join(",")).collect();
        assert_eq!(names, ["cpu,cpuacct", "memory", "name=systemd"]);
        let mem = h.v1_for("memory").unwrap();
        assert_eq!(mem.mount, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(mem.dir("/a/b"), Path::new("/sys/fs/cgroup/memory/a/b"));
        assert_eq!(mem.dir("a/b"), Path::new("/sys/fs/cgroup/memory/sub/a/b"));
        assert_eq!(mem.own_dir(), Path::new("/sys/fs/cgroup/memory/sub"));
        assert_eq!(
            h.v1_for("cpu").unwrap().own_dir(),
            Path::new("/sys/fs/cgroup/cpu,cpuacct/user")
        );
        assert_eq!(
            h.v1_for("cpuacct").unwrap().dir("c"),
            Path::new("/sys/fs/cgroup/cpu,cpuacct/user/c")
        );
        let v2 = h.v2.unwrap();
        assert_eq!(v2.mount, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(v2.dir("c"), Path::new("/sys/fs/cgroup/unified/init/c"));
    }

    #[test]
    fn with_own_takes_another_process_cgroups() {
        let h = parse(MOUNTINFO, PROC_CGROUP, || PROC_CGROUPS.into(), false);
        let theirs = h.with_own("4:memory:/docker/x/c\n2:cpu,cpuacct:/c\n0::/c\n");
        let own: Vec<_> = theirs.iter().map(|(h, v2)| (h.own.as_str(), *v2)).collect();
        assert_eq!(own, [("/c", false), ("/docker/x/c", false), ("", false), ("/c", true)]);
        assert_eq!(theirs[1].0.own_dir(), Path::new("/sys/fs/cgroup/memory/c"));
    }

    #[test]
    fn proc_cgroups_is_read_only_for_an_option_scrun_does_not_know() {
        let read = std::cell::Cell::new(false);
        let proc_cgroups = || {
            read.set(true);
            "#subsys_name\thierarchy\ndebug\t5\t1\t1\n".to_string()
        };
        let h = parse(MOUNTINFO, PROC_CGROUP, proc_cgroups, false);
        assert!(!read.get(), "every option of MOUNTINFO is known");
        assert_eq!(h.v1.len(), 3);
        let info = "50 23 0:40 / /sys/fs/cgroup/debug rw - cgroup cgroup rw,debug\n";
        let h = parse(info, "5:debug:/x\n", proc_cgroups, false);
        assert!(read.get());
        assert_eq!(h.v1[0].controllers, ["debug"]);
        assert_eq!(h.v1[0].own, "/x");
    }

    #[test]
    fn hugepage_size_names() {
        assert_eq!(size_name(2048), "2MB");
        assert_eq!(size_name(1048576), "1GB");
        assert_eq!(size_name(64), "64KB");
    }
}
