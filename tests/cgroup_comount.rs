//! Co-mounted cgroup v1 hierarchies ("cpu,cpuacct", "net_cls,net_prio": the usual layout of a
//! systemd v1 host). This host mounts each controller apart, and a controller already bound to a
//! hierarchy cannot join another, so cpu and cpuacct cannot be put together here; net_cls and
//! net_prio are mounted nowhere, so the simulation co-mounts those: each command runs in a mount
//! namespace where /sys/fs/cgroup is a fresh tmpfs holding this host's hierarchies again plus
//! `net_cls,net_prio` with the `net_cls` and `net_prio` symlinks systemd makes. The container's
//! cgroup is made there, its limits written there, and the container sees the hierarchy under
//! its own name with the same symlinks, as runc and crun build it.
//!
//! In a cgroup namespace each hierarchy is mounted afresh inside it, as runc does on v1: a bind
//! from the host would show the host's whole tree.

mod common;

use common::*;
use serde_json::json;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const COMOUNT: &str = "net_cls,net_prio";

/// The shell commands that rebuild /sys/fs/cgroup with this host's hierarchies and the
/// co-mounted one; None when the simulation cannot be made here.
fn simulation() -> Option<String> {
    let known: Vec<String> = std::fs::read_to_string("/proc/cgroups")
        .ok()?
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    if !COMOUNT.split(',').all(|c| known.iter().any(|k| k == c)) {
        return None;
    }
    let mut script =
        "set -e\numount -R -l /sys/fs/cgroup\nmount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup\ncd /sys/fs/cgroup\n"
            .to_string();
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let hierarchies = info.lines().filter_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let name = left.split(' ').nth(4)?.strip_prefix("/sys/fs/cgroup/")?;
        let mut r = right.split(' ');
        Some((name, r.next()?, r.nth(1)?))
    });
    for (name, fstype, opts) in hierarchies {
        let opts: Vec<&str> = opts
            .split(',')
            .filter(|o| o.starts_with("name=") || known.iter().any(|k| k == o))
            .collect();
        if opts.iter().any(|o| COMOUNT.split(',').any(|c| c == *o)) {
            return None;
        }
        match fstype {
            "cgroup2" => script += &format!("mkdir {name}\nmount -t cgroup2 cgroup2 {name}\n"),
            "cgroup" => script += &format!("mkdir {name}\nmount -t cgroup -o {} cgroup {name}\n", opts.join(",")),
            _ => {}
        }
    }
    script += &format!("mkdir {COMOUNT}\nmount -t cgroup -o {COMOUNT} cgroup {COMOUNT}\n");
    for c in COMOUNT.split(',') {
        script += &format!("ln -s {COMOUNT} {c}\n");
    }
    script += "cd /\nexec \"$0\" \"$@\"\n";
    Some(script)
}

/// The cgroups left in the co-mounted hierarchy, seen through a mount of it made and undone
/// for the purpose. The kernel keeps an unmounted v1 hierarchy alive if a cgroup was still
/// dying below it when its last mount went; this mount, undone with no cgroup left, lets it go,
/// so that net_cls and net_prio are free again afterwards.
fn left_in_hierarchy() -> Vec<String> {
    let script = format!(
        "set -e\nmount -t tmpfs tmpfs /mnt\nmkdir /mnt/h\nmount -t cgroup -o {COMOUNT} cgroup /mnt/h\n\
         find /mnt/h -mindepth 1 -type d\numount /mnt/h"
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// net_cls and net_prio are bound to no hierarchy.
fn hierarchy_gone() -> bool {
    let text = std::fs::read_to_string("/proc/cgroups").unwrap_or_default();
    text.lines()
        .filter(|l| COMOUNT.split(',').any(|c| l.split_whitespace().next() == Some(c)))
        .all(|l| l.split_whitespace().nth(1) == Some("0"))
}

/// On drop (a failed test too), lets the co-mounted hierarchy go: a cgroup may still be dying
/// at an unmount, so the mount is made and undone again a while later until it is gone.
struct ReleaseHierarchy;

impl ReleaseHierarchy {
    fn release(&self) -> bool {
        for _ in 0..5 {
            let deadline = Instant::now() + Duration::from_secs(2);
            while !hierarchy_gone() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            if hierarchy_gone() {
                return true;
            }
            left_in_hierarchy();
        }
        false
    }
}

impl Drop for ReleaseHierarchy {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        left_in_hierarchy();
        self.release();
    }
}

/// The runtime with `args` in a fresh simulated namespace.
fn on_comounted_host(script: &str, rt: &Runtime, args: &[&str]) -> Output {
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", script])
        .arg(runtime_bin())
        .arg("--root")
        .arg(&rt.root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// With and without a cgroup namespace: the co-mounted hierarchy is in the container under
/// its own name (the container's own cgroup: a bind of it, or in a cgroup namespace its root),
/// with a symlink per controller; the container's cgroup is in it, with linux.resources.network
/// written there; nothing is left in it after each run (the hierarchy goes away).
#[test]
fn a_comounted_hierarchy_is_in_the_container_with_its_symlinks_and_limits() {
    let Some(script) = simulation() else {
        return eprintln!("skipped: net_cls or net_prio is mounted on this host, or the kernel has neither");
    };
    let release = ReleaseHierarchy;
    for cgroupns in [false, true] {
        let b = Bundle::new();
        let rt = Runtime::new();
        let id = unique_id("comount");
        let path = format!("/scrun-test-{id}");
        b.config_mut(|c| {
            c["linux"]["cgroupsPath"] = json!(path);
            c["linux"]["resources"]["network"] = json!({
                "classID": 0x100001,
                "priorities": [{"name": "lo", "priority": 5}],
            });
            if cgroupns {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "cgroup"}));
            }
        });
        let inside = |args: &[&str]| {
            b.set_args(args);
            let out = on_comounted_host(&script, &rt, &["run", "--bundle", b.path().to_str().unwrap(), &id]);
            assert!(
                out.status.success(),
                "{args:?} (cgroupns {cgroupns}): {}",
                describe(&out)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let own = if cgroupns { "/" } else { path.as_str() };
        let mounts = inside(&["/probe", "read", "/proc/self/mountinfo"]);
        let line = mounts
            .lines()
            .find(|l| l.split(' ').nth(4) == Some(&format!("/sys/fs/cgroup/{COMOUNT}")))
            .unwrap_or_else(|| panic!("no {COMOUNT} in the container (cgroupns {cgroupns}):\n{mounts}"));
        assert_eq!(line.split(' ').nth(3), Some(own), "{line}");
        assert!(line.contains(" - cgroup "), "{line}");
        for c in COMOUNT.split(',') {
            assert_eq!(inside(&["/probe", "readlink", &format!("/sys/fs/cgroup/{c}")]), COMOUNT);
        }
        let cgroup = inside(&["/probe", "read", "/proc/self/cgroup"]);
        assert!(
            cgroup.lines().any(|l| l.ends_with(&format!(":{COMOUNT}:{own}"))),
            "cgroupns {cgroupns}: {cgroup}"
        );
        assert_eq!(
            inside(&["/probe", "read", "/sys/fs/cgroup/net_cls/net_cls.classid"]),
            0x100001.to_string()
        );
        let prio = inside(&["/probe", "read", "/sys/fs/cgroup/net_prio/net_prio.ifpriomap"]);
        assert!(prio.lines().any(|l| l == "lo 5"), "{prio}");
        assert_nothing_left(&rt, &id, b.path());
    }
    let left = left_in_hierarchy();
    assert!(left.is_empty(), "cgroups left in {COMOUNT}: {left:?}");
    assert!(release.release(), "the {COMOUNT} hierarchy outlived its mounts");
}

/// On this (v1) host, a container with a cgroup namespace gets each hierarchy rooted at its own
/// cgroup: mountinfo shows "/" as the root of every cgroup mount, where a bind of the host's
/// mount would show the container's cgroup as "/../.." and list the host's other cgroups.
#[test]
fn in_a_cgroup_namespace_every_hierarchy_is_the_containers_own() {
    let b = Bundle::new();
    b.set_args(&["/probe", "read", "/proc/self/mountinfo"]);
    b.config_mut(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "cgroup"}));
    });
    let rt = Runtime::new();
    let id = unique_id("cgroupns");
    let out = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let cgroup_mounts: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" - cgroup ") || l.contains(" - cgroup2 "))
        .collect();
    assert!(!cgroup_mounts.is_empty(), "{text}");
    for line in cgroup_mounts {
        assert_eq!(line.split(' ').nth(3), Some("/"), "{line}");
    }
    assert_nothing_left(&rt, &id, b.path());
}

/// linux.resources.network where net_cls is not mounted (this host outside the simulation, a
/// cgroup2 host): refused naming the field, as runc refuses it, not accepted and ignored.
#[test]
fn network_limits_without_net_cls_are_refused() {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    if info.lines().any(|l| l.contains(" - cgroup ") && l.contains("net_cls")) {
        return eprintln!("skipped: net_cls is mounted on this host");
    }
    let b = Bundle::new();
    b.config_mut(|c| c["linux"]["resources"]["network"] = json!({"classID": 5}));
    let err = create_fails(&b, &unique_id("netcls"));
    assert!(err.contains("linux.resources.network.classID"), "{err}");
}
