//! On a cgroup2-only host, a container without a cgroup namespace sees the host's cgroup2 tree
//! at /sys/fs/cgroup through a bind of the host's mount, read-only. A fresh cgroup2 mount made
//! from the host's cgroup namespace would apply its (empty) options to the host's cgroup2 root
//! and drop nsdelegate there (opencontainers/runc#5258). The host is simulated: a mount
//! namespace where this hybrid host's cgroup2 tree, mounted with nsdelegate, is /sys/fs/cgroup.

mod common;

use common::*;
use serde_json::json;
use std::path::Path;
use std::process::{Command, Stdio};

const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// The super options of the host's cgroup2 mount ("rw,nsdelegate"): the cgroup2 root's flags,
/// which every mount of it shows.
fn root_options() -> String {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = info
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(UNIFIED))
        .expect("the cgroup2 mount");
    line.rsplit(' ').next().unwrap().to_string()
}

/// Sets the cgroup2 root's flags to `options` by a mount of it in a throwaway mount namespace.
fn set_root_options(options: &str) {
    let flags: Vec<&str> = options.split(',').filter(|o| *o != "rw" && *o != "ro").collect();
    let opts = if flags.is_empty() {
        String::new()
    } else {
        format!("-o {}", flags.join(","))
    };
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!("mount -t cgroup2 {opts} none /mnt"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
}

/// Puts the host's cgroup2 root back as it was, a failed test too: its flags, and the
/// controllers scrun turned on in it (on a cgroup2 host it turns on every one along the path).
struct Restore {
    options: String,
    controllers: String,
}

impl Drop for Restore {
    fn drop(&mut self) {
        set_root_options(&self.options);
        let control = Path::new(UNIFIED).join("cgroup.subtree_control");
        for c in std::fs::read_to_string(&control).unwrap_or_default().split_whitespace() {
            if !self.controllers.split_whitespace().any(|k| k == c) {
                let _ = std::fs::write(&control, format!("-{c}"));
            }
        }
    }
}

#[test]
fn without_cgroupns_the_hosts_cgroup2_is_bound_and_its_options_kept() {
    if !Path::new(UNIFIED).join("cgroup.procs").exists() {
        return eprintln!("skipped: needs a hybrid host with cgroup2 at {UNIFIED}");
    }
    let _restore = Restore {
        options: root_options(),
        controllers: std::fs::read_to_string(Path::new(UNIFIED).join("cgroup.subtree_control")).unwrap(),
    };
    set_root_options("rw,nsdelegate");
    assert!(root_options().contains("nsdelegate"), "{}", root_options());

    let id = unique_id("v2bind");
    let b = Bundle::new();
    b.config_mut(|c| c["linux"]["cgroupsPath"] = json!(format!("/{id}")));
    let rt = Runtime::new();
    let inside = |args: &[&str]| {
        b.set_args(args);
        let out = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("umount -R -l /sys/fs/cgroup && mount -t cgroup2 -o nsdelegate none /sys/fs/cgroup && exec \"$0\" \"$@\"")
            .arg(runtime_bin())
            .arg("--root")
            .arg(&rt.root)
            .args(["run", "--bundle", b.path().to_str().unwrap(), &id])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string() + &String::from_utf8_lossy(&out.stderr)
    };
    // The host's whole tree, its own cgroup in it (no cgroup namespace), read-only.
    assert_eq!(
        inside(&["/probe", "read", &format!("/sys/fs/cgroup/{id}/cgroup.procs")]),
        "1"
    );
    assert_eq!(
        inside(&["/probe", "mkdir", "/sys/fs/cgroup/made-inside"]),
        "error: Read-only file system (errno 30)"
    );
    let mounts = inside(&["/probe", "read", "/proc/self/mountinfo"]);
    let line = mounts
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/sys/fs/cgroup"))
        .unwrap_or_else(|| panic!("no /sys/fs/cgroup in the container:\n{mounts}"));
    assert!(line.contains(" - cgroup2 "), "{line}");
    assert!(
        !line.contains(" shared:") && !line.contains(" master:"),
        "not private: {line}"
    );
    // What the runs did to the host's cgroup2 root: nothing.
    assert!(
        root_options().contains("nsdelegate"),
        "the host's cgroup2 lost nsdelegate: {}",
        root_options()
    );
    assert_nothing_left(&rt, &id, b.path());
}
