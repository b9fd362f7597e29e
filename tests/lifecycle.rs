//! The container lifecycle and the ways engines and people drive it: create/start/kill/delete,
//! `run` in the foreground with exit codes and signals, the pid file and the console socket.

mod common;

use common::*;
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::Duration;

#[test]
fn create_start_kill_delete() {
    let b = Bundle::new();
    b.set_args(&["/probe", "sleep", "60"]);
    b.config_mut(|c| c["annotations"] = json!({"org.example/key": "value"}));
    let rt = Runtime::new();
    let id = unique_id("life");
    let pid_file = rt.root.with_extension("pid");
    std::fs::write(&pid_file, "stale content").unwrap();
    rt.run_bg_ok(&[
        "create",
        "--bundle",
        b.path().to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);

    let state = rt.state(&id);
    assert_eq!(state["status"], "created");
    assert_eq!(state["id"], id.as_str());
    assert_eq!(state["bundle"], b.path().to_str().unwrap());
    assert_eq!(state["rootfs"], b.rootfs().to_str().unwrap());
    assert_eq!(state["annotations"], json!({"org.example/key": "value"}));
    assert!(state["ociVersion"].as_str().unwrap().starts_with("1."));
    let pid = state["pid"].as_i64().unwrap();
    let written = std::fs::read_to_string(&pid_file).unwrap();
    assert_eq!(
        written,
        pid.to_string(),
        "pid file must be bare digits (containerd parses it with Atoi)"
    );
    // The created process waits: it has not exec'd the probe yet.
    assert_ne!(
        std::fs::read_link(format!("/proc/{pid}/exe")).ok(),
        Some(b.rootfs().join("probe"))
    );

    rt.run_ok(&["start", &id]);
    assert_eq!(rt.state(&id)["status"], "running");
    // Started means exec'd: the process now is the probe.
    assert_eq!(std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap(), "probe\n");
    let list: Value = serde_json::from_slice(&rt.run_ok(&["list", "--format", "json"]).stdout).unwrap();
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["status"], "running");
    let table = String::from_utf8(rt.run_ok(&["list"]).stdout).unwrap();
    assert!(
        table.starts_with("ID") && table.contains(&id) && table.contains("running"),
        "{table}"
    );
    assert_eq!(
        String::from_utf8(rt.run_ok(&["list", "-q"]).stdout).unwrap(),
        format!("{id}\n")
    );

    let out = rt.run(&["delete", &id]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("that is not stopped: running"),
        "{}",
        describe(&out)
    );

    rt.run_ok(&["kill", &id, "9"]);
    wait_for_status(&rt, &id, "stopped");
    let out = rt.run(&["kill", &id, "KILL"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("container not running"),
        "{}",
        describe(&out)
    );
    assert!(
        rt.run(&["kill", "--all", &id, "9"]).status.success(),
        "kill --all of a stopped container answers 0 (CRI)"
    );

    rt.run_ok(&["delete", &id]);
    assert!(!rt.run(&["state", &id]).status.success());
    std::fs::remove_file(pid_file).unwrap();
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn delete_of_a_created_container_kills_it() {
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id("created");
    rt.run_bg_ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    let pid = rt.pid(&id);
    rt.run_ok(&["delete", &id]);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}/exe")).exists()
            || std::fs::read_link(format!("/proc/{pid}/exe")).is_err()
    );
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn options_may_follow_the_id() {
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id("order");
    rt.run_bg_ok(&["create", &id, "--bundle", b.path().to_str().unwrap()]);
    assert_eq!(rt.state(&id)["status"], "created");
    rt.run_ok(&["delete", "--force", &id]);
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn run_of_a_bundle_directory_by_hand() {
    let b = Bundle::new();
    b.set_args(&["/probe", "hello"]);
    let rt = Runtime::new();
    let out = rt
        .cmd()
        .args(["run", b.path().to_str().unwrap()])
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Hello from a scratch container!\n"
    );
    let id = b.path().file_name().unwrap().to_str().unwrap();
    assert_nothing_left(&rt, id, b.path());
}

#[test]
fn run_returns_the_exit_code_or_128_plus_the_signal() {
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id("codes");
    for (args, code) in [
        (vec!["/probe", "exit", "42"], 42),
        (vec!["/probe", "kill-self", "11"], 139),
    ] {
        b.set_args(&args);
        let out = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", describe(&out));
    }
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn run_forwards_signals_to_the_container() {
    let b = Bundle::new();
    b.set_args(&["/probe", "wait-signal"]);
    let rt = Runtime::new();
    let id = unique_id("fwd");
    let (child, pid) = foreground_run(&rt, &b, &id, &[]);
    wait_for_signal_mask(pid, "SigCgt", libc::SIGUSR1);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGUSR1) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "signal 10\n",
        "{}",
        describe(&out)
    );
    assert_eq!(out.status.code(), Some(0));
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn ctrl_c_on_a_run_whose_pid_1_ignores_it_says_why_and_a_second_one_kills() {
    // The probe's sleep handles no signal: as PID 1 of its pid namespace, SIGINT does nothing.
    let b = Bundle::new();
    b.set_args(&["/probe", "sleep", "30"]);
    let rt = Runtime::new();
    let id = unique_id("ctrlc");
    let (child, _) = foreground_run(&rt, &b, &id, &[]);
    let started = std::time::Instant::now();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("has not exited on SIGINT: as PID 1 of its pid namespace it gets no default action"),
        "{err}"
    );
    assert!(err.contains("or run it with --init"), "{err}");
    assert!(err.contains("SIGINT again: killing the container's process"), "{err}");
    assert_eq!(out.status.code(), Some(137), "{}", describe(&out));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the run did not end on the second SIGINT"
    );
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn run_keep_leaves_a_stopped_container() {
    let b = Bundle::new();
    b.set_args(&["/probe", "exit", "0"]);
    let rt = Runtime::new();
    let id = unique_id("keep");
    rt.run_ok(&["run", "--keep", "--bundle", b.path().to_str().unwrap(), &id]);
    assert_eq!(rt.state(&id)["status"], "stopped");
    rt.run_ok(&["delete", &id]);
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn console_socket_receives_the_pty_master() {
    use std::os::fd::AsRawFd;
    let b = Bundle::new();
    b.set_args(&["/probe", "hello"]);
    b.config_mut(|c| c["process"]["terminal"] = json!(true));
    let rt = Runtime::new();
    let id = unique_id("console");
    let sock_path = rt.root.with_extension("sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    // As containerd's shim does: accept only after create has returned.
    rt.run_bg_ok(&[
        "create",
        "--bundle",
        b.path().to_str().unwrap(),
        "--console-socket",
        sock_path.to_str().unwrap(),
        &id,
    ]);
    let (conn, _) = listener.accept().unwrap();
    let (_, master) = recv_fd(&conn);
    let mut n: libc::c_int = -1;
    // SAFETY: TIOCGPTN writes one int; it only works on a pty master.
    assert_eq!(
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) },
        0,
        "not a pty master"
    );
    rt.run_ok(&["start", &id]);
    let mut out = Vec::new();
    let mut file = std::fs::File::from(master);
    let _ = std::io::Read::read_to_end(&mut file, &mut out); // ends with EIO once the slave closes
    assert_eq!(String::from_utf8_lossy(&out), "Hello from a scratch container!\r\n");
    wait_for_status(&rt, &id, "stopped");
    rt.run_ok(&["delete", &id]);
    std::fs::remove_file(sock_path).unwrap();
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn a_terminal_without_a_console_socket_is_refused_for_create() {
    let b = Bundle::new();
    b.config_mut(|c| c["process"]["terminal"] = json!(true));
    let rt = Runtime::new();
    let id = unique_id("notty");
    let (status, err) = rt.run_bg(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(!status.success());
    assert!(err.contains("--console-socket"), "{err}");
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn spec_writes_runcs_default_and_refuses_to_overwrite() {
    let dir = std::env::temp_dir().join(unique_id("spec"));
    std::fs::create_dir_all(&dir).unwrap();
    let rt = Runtime::new();
    rt.run_ok(&["spec", "--bundle", dir.to_str().unwrap()]);
    let c: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(c["process"]["args"], json!(["sh"]));
    assert_eq!(c["process"]["terminal"], true);
    assert_eq!(c["root"]["path"], "rootfs");
    let out = rt.run(&["spec", "--bundle", dir.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exists"),
        "{}",
        describe(&out)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn debug_traces_every_step_with_its_duration() {
    let b = Bundle::new();
    b.set_args(&["/probe", "hello"]);
    let rt = Runtime::new();
    let id = unique_id("debug");
    let log = rt.root.with_extension("debug.log");
    let out = rt.run(&[
        "--debug",
        "--log",
        log.to_str().unwrap(),
        "run",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = std::fs::read_to_string(&log).unwrap();
    for step in [
        "mount proc on /proc origin=mounts[0]",
        "pivot_root into the rootfs",
        "set identity 0:0",
        "find the program",
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(step))
            .unwrap_or_else(|| panic!("{step} not traced:\n{text}"));
        assert!(line.contains(" µs)"), "{line}");
    }
    std::fs::remove_file(log).unwrap();
    assert_nothing_left(&rt, &id, b.path());
}
