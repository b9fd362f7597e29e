//! The container's cgroup: linux.resources as the container sees them, pause/resume, ps,
//! kill --all, and no cgroup left after delete or a failed create.

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn limits_are_set_before_the_program_runs_and_seen_inside() {
    let b = Bundle::new();
    b.set_args(&["/probe", "read", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]);
    b.config_mut(|c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 64 * 1024 * 1024});
        c["linux"]["resources"]["pids"] = json!({"limit": 42});
        c["linux"]["resources"]["cpu"] = json!({"shares": 0, "quota": 50000, "period": 100000});
    });
    let rt = Runtime::new();
    let id = unique_id("limits");
    let out = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        (64 * 1024 * 1024).to_string(),
        "{}",
        describe(&out)
    );
    b.set_args(&["/probe", "read", "/sys/fs/cgroup/pids/pids.max"]);
    let out = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42", "{}", describe(&out));
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn cgroups_path_from_the_config_is_used_and_removed() {
    let b = Bundle::new();
    b.set_args(&["/probe", "sleep", "30"]);
    let id = unique_id("cgpath");
    let path = format!("/scrun-test-parent-{id}/{id}");
    b.config_mut(|c| c["linux"]["cgroupsPath"] = json!(path));
    let rt = Runtime::new();
    rt.run_bg_ok(&["run", "--detach", "--bundle", b.path().to_str().unwrap(), &id]);
    let pid = rt.pid(&id);
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(own.lines().any(|l| l.ends_with(&path)), "{own}");
    rt.run_ok(&["delete", "--force", &id]);
    assert_nothing_left(&rt, &id, b.path());
    for parent in cgroups_named(&format!("scrun-test-parent-{id}")) {
        std::fs::remove_dir(parent).unwrap();
    }
}

#[test]
fn pause_resume_and_ps() {
    let b = Bundle::new();
    b.set_args(&["/probe", "sleep", "30"]);
    let rt = Runtime::new();
    let id = unique_id("pause");
    rt.run_bg_ok(&["run", "--detach", "--bundle", b.path().to_str().unwrap(), &id]);
    let pid = rt.pid(&id);
    let pids: Value = serde_json::from_slice(&rt.run_ok(&["ps", "--format", "json", &id]).stdout).unwrap();
    assert_eq!(pids, json!([pid]));
    rt.run_ok(&["pause", &id]);
    assert_eq!(rt.state(&id)["status"], "paused");
    let out = rt.run(&["pause", &id]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not running: paused"),
        "{}",
        describe(&out)
    );
    let out = rt.run(&["delete", &id]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not stopped: paused"),
        "{}",
        describe(&out)
    );
    rt.run_ok(&["resume", &id]);
    assert_eq!(rt.state(&id)["status"], "running");
    rt.run_ok(&["pause", &id]);
    rt.run_ok(&["delete", "--force", &id]); // a frozen container is thawed to die
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn kill_all_reaches_every_process_without_a_pid_namespace() {
    let (rt, b, id, pids) = init_and_exec_without_a_pid_namespace("killall");
    rt.run_ok(&["kill", "--all", &id, "KILL"]);
    wait_for_status(&rt, &id, "stopped");
    for _ in 0..200 {
        if pids.iter().all(|p| common_dead(*p)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(pids.iter().all(|p| common_dead(*p)), "{pids:?} still alive");
    rt.run_ok(&["delete", &id]);
    assert_nothing_left(&rt, &id, b.path());
}

/// Without a pid namespace the init's death leaves the rest alive; `delete` of the stopped
/// container kills them, since its cgroup would not go otherwise.
#[test]
fn delete_kills_what_outlived_the_init_without_a_pid_namespace() {
    let (rt, b, id, pids) = init_and_exec_without_a_pid_namespace("outlived");
    rt.run_ok(&["kill", &id, "KILL"]);
    wait_for_status(&rt, &id, "stopped");
    assert!(
        pids.iter().any(|p| !common_dead(*p)),
        "the exec'd process died with the init: {pids:?}"
    );
    rt.run_ok(&["delete", &id]);
    assert!(pids.iter().all(|p| common_dead(*p)), "{pids:?} still alive");
    assert_nothing_left(&rt, &id, b.path());
}

/// A container without a pid namespace, running a sleeping init and a sleeping exec'd process:
/// the runtime, the bundle, the id and the two host pids.
fn init_and_exec_without_a_pid_namespace(name: &str) -> (Runtime, Bundle, String, Vec<i64>) {
    let b = Bundle::new();
    b.set_args(&["/probe", "sleep", "30"]);
    b.config_mut(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "pid")
    });
    let rt = Runtime::new();
    let id = unique_id(name);
    rt.run_bg_ok(&["run", "--detach", "--bundle", b.path().to_str().unwrap(), &id]);
    rt.run_bg_ok(&["exec", "--detach", &id, "/probe", "sleep", "30"]);
    let pids: Vec<i64> = serde_json::from_slice(&rt.run_ok(&["ps", "--format", "json", &id]).stdout).unwrap();
    assert_eq!(
        pids.len(),
        2,
        "the exec'd process joined the container's cgroup: {pids:?}"
    );
    (rt, b, id, pids)
}

fn common_dead(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z "))
}

#[test]
fn a_bad_resource_fails_create_naming_the_file_and_leaves_no_cgroup() {
    let b = Bundle::new();
    b.config_mut(|c| c["linux"]["resources"]["cpu"] = json!({"cpus": "4096"}));
    let err = create_fails(&b, &unique_id("badres"));
    assert!(err.contains("linux.resources") && err.contains("cpuset.cpus"), "{err}");
}

#[test]
fn update_changes_the_limits_of_a_running_container() {
    let b = Bundle::new();
    b.set_args(&["/probe", "sleep", "30"]);
    let rt = Runtime::new();
    let id = unique_id("update");
    rt.run_bg_ok(&["run", "--detach", "--bundle", b.path().to_str().unwrap(), &id]);
    let pid = rt.pid(&id);
    let memory_dir = || {
        let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let path = own
            .lines()
            .find_map(|l| {
                l.strip_suffix("")
                    .and_then(|l| l.split_once(":memory:"))
                    .map(|(_, p)| p.to_string())
            })
            .unwrap();
        std::path::PathBuf::from(format!("/sys/fs/cgroup/memory{path}"))
    };
    // containerd's shim: LinuxResources JSON on stdin.
    let mut child = rt
        .cmd()
        .args(["update", "--resources", "-", &id])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        br#"{"memory": {"limit": 33554432}, "pids": {"limit": 10}}"#,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        std::fs::read_to_string(memory_dir().join("memory.limit_in_bytes"))
            .unwrap()
            .trim(),
        "33554432"
    );
    rt.run_ok(&["update", "--memory", "50331648", &id]);
    assert_eq!(
        std::fs::read_to_string(memory_dir().join("memory.limit_in_bytes"))
            .unwrap()
            .trim(),
        "50331648"
    );
    let stats: Value = serde_json::from_slice(&rt.run_ok(&["events", "--stats", &id]).stdout).unwrap();
    assert_eq!(stats["type"], "stats");
    assert_eq!(stats["data"]["pids"]["limit"], 10, "{stats}");
    rt.run_ok(&["delete", "--force", &id]);
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn features_reports_what_the_code_supports() {
    let rt = Runtime::new();
    let f: Value = serde_json::from_slice(&rt.run_ok(&["features"]).stdout).unwrap();
    assert_eq!(f["hooks"].as_array().unwrap().len(), 6);
    for opt in [
        "rbind",
        "tmpcopyup",
        "nosymfollow",
        "rprivate",
        "ro",
        "idmap",
        "ridmap",
        "rro",
    ] {
        assert!(f["mountOptions"].as_array().unwrap().contains(&json!(opt)), "{opt}");
    }
    let linux = &f["linux"];
    assert_eq!(linux["mountExtensions"]["idmap"]["enabled"], true);
    assert!(linux["namespaces"].as_array().unwrap().contains(&json!("time")));
    assert_eq!(linux["cgroup"]["systemd"], true);
    assert_eq!(
        (&linux["apparmor"]["enabled"], &linux["selinux"]["enabled"]),
        (&json!(true), &json!(true))
    );
    let seccomp = &f["linux"]["seccomp"];
    for arch in ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"] {
        assert!(seccomp["archs"].as_array().unwrap().contains(&json!(arch)), "{arch}");
    }
    assert!(seccomp["actions"]
        .as_array()
        .unwrap()
        .contains(&json!("SCMP_ACT_ERRNO")));
    // tests/seccomp_notify.rs runs an agent.
    assert!(seccomp["actions"]
        .as_array()
        .unwrap()
        .contains(&json!("SCMP_ACT_NOTIFY")));
    assert!(f["linux"]["capabilities"]
        .as_array()
        .unwrap()
        .contains(&json!("CAP_SYS_ADMIN")));
}

#[test]
fn an_lsm_label_that_cannot_be_applied_is_refused() {
    let b = Bundle::new();
    b.config_mut(|c| c["process"]["apparmorProfile"] = json!("docker-default"));
    let err = create_fails(&b, &unique_id("apparmor"));
    assert!(
        err.contains("process.apparmorProfile: AppArmor is not enabled on this host"),
        "{err}"
    );
}

/// /loop-control in the image: a device no rule allows, which asks for no capability on open.
fn add_loop_control(b: &Bundle) {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    let node = b.rootfs().join("loop-control");
    mknod(&node, SFlag::S_IFCHR, Mode::from_bits_truncate(0o600), makedev(10, 237)).unwrap();
}

/// Device rules hold inside the container: a device node in the image that no rule allows
/// (loop-control, which asks for no capability on open) cannot be opened. Run twice: as the
/// host is (on a hybrid host, the v1 devices controller), and in a mount namespace that hides
/// the v1 devices hierarchy, where scrun does as on a cgroup2 host: only the eBPF filter on the
/// container's cgroup2 directory can refuse the open.
#[test]
fn device_rules_hold_inside_the_container_with_v1_and_with_the_cgroup2_filter() {
    if !Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists() && !Path::new("/sys/fs/cgroup/cgroup.procs").exists()
    {
        return eprintln!("skipped: no cgroup2 mounted");
    }
    let b = Bundle::new();
    add_loop_control(&b);
    let rt = Runtime::new();
    for hide_v1 in [false, true] {
        for (path, want) in [
            ("/dev/null", "ok"),
            ("/loop-control", "error: Operation not permitted (errno 1)"),
        ] {
            b.set_args(&["/probe", "open", path, "r"]);
            let id = unique_id("devfilter");
            let mut cmd = if hide_v1 && Path::new("/sys/fs/cgroup/devices").exists() {
                let mut c = Command::new("unshare");
                c.args([
                    "--mount",
                    "sh",
                    "-c",
                    "umount -l /sys/fs/cgroup/devices && exec \"$0\" \"$@\"",
                ]);
                c.arg(runtime_bin());
                c
            } else {
                Command::new(runtime_bin())
            };
            let rootdir = rt.root.to_str().unwrap();
            let out = cmd
                .args(["--root", rootdir, "run", "--bundle", b.path().to_str().unwrap(), &id])
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(text.trim(), want, "{path} (v1 hidden: {hide_v1}): {}", describe(&out));
            assert_nothing_left(&rt, &id, b.path());
        }
    }
}

/// scrun as on a cgroup2-only host: each command runs in a mount namespace where the v1
/// hierarchies are gone and cgroup2 (this host's unified tree) is mounted at /sys/fs/cgroup.
/// The state records cgroup paths as seen there, so every command on the container runs so.
/// `detached`: the container keeps the runtime's stdio, which must then not be pipes.
fn on_cgroup2_only(rt: &Runtime, args: &[&str], detached: bool) -> std::process::Output {
    let stdio = || if detached { Stdio::null() } else { Stdio::piped() };
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("umount -R -l /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup && exec \"$0\" \"$@\"")
        .arg(runtime_bin())
        .arg("--root")
        .arg(&rt.root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdio())
        .stderr(stdio())
        .output()
        .unwrap()
}

/// The whole cgroup2 path through the CLI: the container (with a cgroup namespace, as docker
/// gives on cgroup2) sees its own cgroup2 tree, its
/// hugetlb limit (the one controller this hybrid host has on cgroup2), the device filter;
/// pause and resume go through cgroup.freeze; delete removes the cgroup.
#[test]
fn a_container_on_a_cgroup2_only_host() {
    let unified = Path::new("/sys/fs/cgroup/unified");
    if !unified.join("cgroup.procs").exists() || !Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists() {
        return eprintln!("skipped: needs a hybrid host with cgroup2 at /sys/fs/cgroup/unified and 2MB huge pages");
    }
    let root_controllers = std::fs::read_to_string(unified.join("cgroup.subtree_control")).unwrap();
    let id = unique_id("v2only");
    let parent = format!("scrun-test-{id}");
    let b = Bundle::new();
    b.config_mut(|c| {
        c["linux"]["cgroupsPath"] = json!(format!("/{parent}/c"));
        c["linux"]["resources"]["hugepageLimits"] = json!([{"pageSize": "2MB", "limit": 4 << 20}]);
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "cgroup"}));
    });
    add_loop_control(&b);
    let rt = Runtime::new();
    let bundle = b.path().to_str().unwrap();
    let inside = |args: &[&str]| {
        b.set_args(args);
        let out = on_cgroup2_only(&rt, &["run", "--bundle", bundle, &id], false);
        String::from_utf8_lossy(&out.stdout).trim().to_string() + &String::from_utf8_lossy(&out.stderr)
    };
    // The clone itself places the init in its cgroup (clone3 CLONE_INTO_CGROUP), a step explain
    // shows (scrun's own command: skipped for another runtime under test).
    if std::env::var_os("SCRUN_TEST_RUNTIME").is_none() {
        let explained = on_cgroup2_only(&rt, &["explain", "--format", "json", bundle], false);
        let plan: Value =
            serde_json::from_slice(&explained.stdout).unwrap_or_else(|_| panic!("{}", describe(&explained)));
        let into: Vec<_> = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["action"] == "into_cgroup")
            .collect();
        assert_eq!(into.len(), 1, "{plan}");
        assert_eq!(into[0]["side"], "runtime", "{plan}");
    }
    let mounts = inside(&["/probe", "read", "/proc/self/mountinfo"]);
    let cgroup_mount = mounts
        .lines()
        .find(|l| l.contains(" /sys/fs/cgroup "))
        .unwrap_or_default();
    assert!(cgroup_mount.contains(" - cgroup2 "), "{mounts}");
    // In its cgroup namespace, the container's cgroup2 line is its root.
    let own = inside(&["/probe", "read", "/proc/self/cgroup"]);
    assert!(own.lines().any(|l| l == "0::/"), "{own}");
    assert_eq!(
        inside(&["/probe", "read", "/sys/fs/cgroup/hugetlb.2MB.max"]),
        (4 << 20).to_string()
    );
    assert_eq!(
        inside(&["/probe", "open", "/loop-control", "r"]),
        "error: Operation not permitted (errno 1)"
    );

    b.set_args(&["/probe", "sleep", "30"]);
    let out = on_cgroup2_only(&rt, &["run", "--detach", "--bundle", bundle, &id], true);
    assert!(out.status.success(), "{}", describe(&out));
    let dir = unified.join(&parent).join("c");
    let status = |want: &str| {
        let out = on_cgroup2_only(&rt, &["state", &id], false);
        let state: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", describe(&out)));
        assert_eq!(state["status"], want, "{state}");
        state["pid"].as_i64().unwrap()
    };
    let pid = status("running");
    assert_eq!(
        std::fs::read_to_string(dir.join("cgroup.procs")).unwrap().trim(),
        pid.to_string()
    );
    assert!(on_cgroup2_only(&rt, &["pause", &id], false).status.success());
    assert_eq!(std::fs::read_to_string(dir.join("cgroup.freeze")).unwrap().trim(), "1");
    status("paused");
    assert!(on_cgroup2_only(&rt, &["resume", &id], false).status.success());
    status("running");
    let out = on_cgroup2_only(&rt, &["delete", "--force", &id], false);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert_nothing_left(&rt, &id, b.path());

    // As on a cgroup2 host, scrun turned every controller on along the path; on this hybrid
    // host that is host-wide, so put the root back as it was.
    std::fs::remove_dir(unified.join(&parent)).unwrap();
    for c in std::fs::read_to_string(unified.join("cgroup.subtree_control"))
        .unwrap()
        .split_whitespace()
    {
        if !root_controllers.split_whitespace().any(|r| r == c) {
            let _ = std::fs::write(unified.join("cgroup.subtree_control"), format!("-{c}"));
        }
    }
}
