//! The container's cgroup: linux.resources as the container sees them, pause/resume, ps,
//! kill --all, and no cgroup left after delete or a failed create.

mod common;

use common::*;
use serde_json::{json, Value};

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
    let b = Bundle::new();
    b.set_args(&["/probe", "sleep", "30"]);
    b.config_mut(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "pid")
    });
    let rt = Runtime::new();
    let id = unique_id("killall");
    rt.run_bg_ok(&["run", "--detach", "--bundle", b.path().to_str().unwrap(), &id]);
    rt.run_bg_ok(&["exec", "--detach", &id, "/probe", "sleep", "30"]);
    let pids: Vec<i64> = serde_json::from_slice(&rt.run_ok(&["ps", "--format", "json", &id]).stdout).unwrap();
    assert_eq!(
        pids.len(),
        2,
        "the exec'd process joined the container's cgroup: {pids:?}"
    );
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
    for opt in ["rbind", "tmpcopyup", "nosymfollow", "rprivate", "ro", "idmap", "ridmap"] {
        assert!(f["mountOptions"].as_array().unwrap().contains(&json!(opt)), "{opt}");
    }
    assert_eq!(f["linux"]["mountExtensions"]["idmap"]["enabled"], true);
    let seccomp = &f["linux"]["seccomp"];
    for arch in ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"] {
        assert!(seccomp["archs"].as_array().unwrap().contains(&json!(arch)), "{arch}");
    }
    assert!(seccomp["actions"]
        .as_array()
        .unwrap()
        .contains(&json!("SCMP_ACT_ERRNO")));
    assert!(
        !seccomp["actions"]
            .as_array()
            .unwrap()
            .contains(&json!("SCMP_ACT_NOTIFY")),
        "notify is not supported"
    );
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
