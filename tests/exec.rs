//! `exec`: a new process joins a running container's namespaces and gets its process setup.

mod common;

use common::*;
use serde_json::{json, Value};

/// A running container (`/probe sleep 60`) with a hostname of its own.
fn running(rt: &Runtime) -> (Bundle, String) {
    let b = Bundle::new();
    b.set_args(&["/probe", "sleep", "60"]);
    b.config_mut(|c| c["hostname"] = json!("exec-target"));
    let id = unique_id("exec");
    rt.run_bg_ok(&["run", "--detach", "--bundle", b.path().to_str().unwrap(), &id]);
    (b, id)
}

fn report(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", describe(out)))
}

#[test]
fn exec_joins_the_containers_namespaces() {
    let rt = Runtime::new();
    let (b, id) = running(&rt);
    let r = report(&rt.run(&["exec", &id, "/probe", "report"]));
    assert_eq!(r["hostname"], "exec-target");
    assert_eq!(r["ppid"], 0, "in the container's pid namespace, its parent is outside");
    assert!(r["pid"].as_i64().unwrap() > 1);
    assert!(
        r["root_entries"].as_array().unwrap().contains(&json!("probe")),
        "in the container's root"
    );
    assert_eq!(r["interfaces"], json!([{"name": "lo", "up": true, "loopback": true}]));
    assert_eq!(report_fds(&r), vec![0, 1, 2]);
    assert_eq!(r["caps"]["bnd"], "0000000020000420", "the container's bounding set");
    rt.run_ok(&["delete", "--force", &id]);
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn exec_options_override_the_containers_process() {
    let rt = Runtime::new();
    let (b, id) = running(&rt);
    let r = report(&rt.run(&[
        "exec",
        "--user",
        "1000:1001",
        "--env",
        "EXTRA=1",
        "--cwd",
        "/dev/shm",
        &id,
        "/probe",
        "report",
    ]));
    assert_eq!((r["uid"].as_i64(), r["gid"].as_i64()), (Some(1000), Some(1001)));
    assert!(r["env"].as_array().unwrap().contains(&json!("EXTRA=1")));
    assert_eq!(r["cwd"], "/dev/shm");
    let out = rt.run(&["exec", &id, "/probe", "exit", "7"]);
    assert_eq!(out.status.code(), Some(7));
    rt.run_ok(&["delete", "--force", &id]);
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn exec_as_engines_call_it_with_a_process_file() {
    let rt = Runtime::new();
    let (b, id) = running(&rt);
    let spec = rt.root.with_extension("process.json");
    std::fs::write(
        &spec,
        json!({"args": ["/probe", "sleep", "30"], "cwd": "/", "env": ["PATH=/"], "user": {"uid": 0, "gid": 0}, "terminal": false})
            .to_string(),
    )
    .unwrap();
    let pid_file = rt.root.with_extension("exec.pid");
    rt.run_bg_ok(&[
        "exec",
        "--process",
        spec.to_str().unwrap(),
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(pid.bytes().all(|b| b.is_ascii_digit()), "{pid:?}");
    assert_eq!(std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap(), "probe\n");
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap(),
        std::fs::read_link(format!("/proc/{}/ns/mnt", rt.pid(&id))).unwrap()
    );
    rt.run_ok(&["delete", "--force", &id]);
    for f in [spec, pid_file] {
        std::fs::remove_file(f).unwrap();
    }
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn exec_errors_are_clear() {
    let rt = Runtime::new();
    let (b, id) = running(&rt);
    let out = rt.run(&["exec", &id, "nosuch"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("executable file not found in $PATH"),
        "{}",
        describe(&out)
    );
    // CVE-2019-5736: until it execs, the joining process is a copy of scrun.
    let out = rt.run(&["exec", &id, "/proc/self/exe"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refusing to run the runtime's own binary"),
        "{}",
        describe(&out)
    );
    // A label the host cannot apply is refused, not dropped (no AppArmor on the test host).
    if !std::path::Path::new("/sys/module/apparmor").exists() {
        let out = rt.run(&["exec", "--apparmor", "docker-default", &id, "/probe", "hello"]);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("process.apparmorProfile: AppArmor is not enabled"),
            "{}",
            describe(&out)
        );
    }
    rt.run_ok(&["kill", &id, "KILL"]);
    wait_for_status(&rt, &id, "stopped");
    let out = rt.run(&["exec", &id, "/probe", "hello"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot exec in a stopped container"),
        "{}",
        describe(&out)
    );
    rt.run_ok(&["delete", &id]);
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn exec_with_a_terminal() {
    let rt = Runtime::new();
    let (b, id) = running(&rt);
    let r = report(&rt.run(&["exec", "--tty", &id, "/probe", "report"]));
    assert_eq!(r["tty"]["stdout"], true);
    assert!(
        r["tty"]["ttyname"].as_str().unwrap().starts_with("/dev/pts/"),
        "{}",
        r["tty"]
    );
    rt.run_ok(&["delete", "--force", &id]);
    assert_nothing_left(&rt, &id, b.path());
}
