//! How a container's processes come to be in their cgroup, in every hierarchy of this hybrid
//! host: the init is born in its cgroup2 cgroup (clone3 CLONE_INTO_CGROUP) and enters each v1
//! hierarchy by itself, writing 0 into the `tasks` files the runtime hands it; an exec'd
//! process enters the same way. Neither takes the kernel's global cgroup lock, whose first
//! writer after an idle spell waits out an RCU grace period (see `Cgroup::entry`). What the
//! processes are in is read from inside, by the probe; so are the fds they hold.

mod common;

use common::*;
use serde_json::{json, Value};

/// The hierarchies of this host, as /proc/self/cgroup names them ("4:memory", "0:").
fn host_hierarchies() -> Vec<String> {
    std::fs::read_to_string("/proc/self/cgroup")
        .unwrap()
        .lines()
        .filter_map(|l| l.rsplit_once(':').map(|(h, _)| h.to_string()))
        .collect()
}

/// Each line of a /proc/PID/cgroup text, as hierarchy and path.
fn memberships(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.rsplit_once(':').map(|(h, p)| (h.to_string(), p.to_string())))
        .collect()
}

#[test]
fn init_and_exec_enter_every_hierarchy() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root for cgroups");
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("entry");
    let path = format!("/{id}");
    let b = Bundle::new();
    b.config_mut(|c| c["linux"]["cgroupsPath"] = json!(path));
    b.set_args(&["/probe", "sleep", "30"]);
    let bundle = b.path().to_str().unwrap();
    // The init is born in its cgroup2 cgroup, a step explain shows (scrun's own command).
    if std::env::var_os("SCRUN_TEST_RUNTIME").is_none() && host_hierarchies().iter().any(|h| h == "0:") {
        let out = rt.run_ok(&["explain", "--format", "json", bundle]);
        let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
        let into = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["action"] == "into_cgroup")
            .count();
        assert_eq!(into, 1, "{plan}");
    }
    rt.run_bg_ok(&["run", "--detach", "--bundle", bundle, &id]);
    let read = |args: &[&str]| {
        let out = rt.run_ok(&[&["exec", &id, "/probe"][..], args].concat());
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let want: Vec<(String, String)> = host_hierarchies().into_iter().map(|h| (h, path.clone())).collect();
    for who in ["1", "self"] {
        let seen = read(&["read", &format!("/proc/{who}/cgroup")]);
        assert_eq!(memberships(&seen), want, "/proc/{who}/cgroup in the container:\n{seen}");
    }
    // The tasks files are the host's: none reaches the container's processes.
    let r = json_in(&read(&["report"])).expect("the probe's report");
    assert_eq!(report_fds(&r), vec![0, 1, 2], "{r}");
    let init_fds = read(&["ls", "/proc/1/fd"]);
    assert_eq!(init_fds.split_whitespace().count(), 3, "the init holds: {init_fds}");
    rt.run_ok(&["delete", "--force", &id]);
    assert_nothing_left(&rt, &id, b.path());
}
