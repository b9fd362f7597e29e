//! `run --init` / `create --init`: scrun's own minimal init as PID 1 (docker's --init). The
//! program becomes PID 2, gets the signals sent to the container, its orphans are reaped, and
//! its exit status is the container's.

mod common;

use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

/// `run --init` of the probe with `args`: its output.
fn run_init(rt: &Runtime, b: &Bundle, args: &[&str], flags: &[&str]) -> std::process::Output {
    b.set_args(args);
    let id = unique_id("mini-init");
    let mut line = vec!["run"];
    line.extend_from_slice(flags);
    line.extend_from_slice(&["--bundle", b.path().to_str().unwrap(), &id]);
    let out = rt.run(&line);
    assert_nothing_left(rt, &id, b.path());
    out
}

#[test]
fn the_program_is_pid_2_under_scruns_init() {
    let (rt, b) = (Runtime::new(), Bundle::new());
    let out = run_init(&rt, &b, &["/probe"], &["--init"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", describe(&out)));
    assert_eq!(
        (report["pid"].as_i64(), report["ppid"].as_i64()),
        (Some(2), Some(1)),
        "{report}"
    );
    let out = run_init(&rt, &b, &["/probe", "read", "/proc/1/comm"], &["--init"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "scrun-init\n",
        "{}",
        describe(&out)
    );
    // The init is the runtime's fork and stays non-dumpable: the program cannot reach scrun's
    // binary through it (CVE-2019-5736), not even to read it.
    let out = run_init(&rt, &b, &["/probe", "open", "/proc/1/exe", "r"], &["--init"]);
    assert!(
        !out.status.success(),
        "the program opened its init's exe: {}",
        describe(&out)
    );
    // Without --init the program is PID 1 itself.
    let out = run_init(&rt, &b, &["/probe"], &[]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", describe(&out)));
    assert_eq!(report["pid"], 1);
}

#[test]
fn the_exit_status_is_the_programs() {
    let (rt, b) = (Runtime::new(), Bundle::new());
    for (args, code) in [
        (&["/probe", "exit", "3"][..], 3),
        (&["/probe", "kill-self", "11"][..], 139),
    ] {
        let out = run_init(&rt, &b, args, &["--init"]);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", describe(&out));
    }
}

#[test]
fn orphans_are_reaped() {
    let (rt, b) = (Runtime::new(), Bundle::new());
    let out = run_init(&rt, &b, &["/probe", "orphan"], &["--init"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "reaped\n", "{}", describe(&out));
    assert_eq!(out.status.code(), Some(0));
    // The program as PID 1 does not reap: the orphan stays a zombie.
    let out = run_init(&rt, &b, &["/probe", "orphan"], &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "zombie\n", "{}", describe(&out));
}

#[test]
fn ctrl_c_ends_a_program_that_handles_no_signal() {
    // The probe's sleep installs no handler: as PID 1 it would ignore SIGINT.
    let (rt, b) = (Runtime::new(), Bundle::new());
    b.set_args(&["/probe", "sleep", "30"]);
    let id = unique_id("init-ctrlc");
    let (child, _) = foreground_run(&rt, &b, &id, &["--init"]);
    let started = Instant::now();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "SIGINT took {:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("has not exited"),
        "{}",
        describe(&out)
    );
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn create_init_holds_no_fd_and_kill_reaches_the_program() {
    let (rt, b) = (Runtime::new(), Bundle::new());
    b.set_args(&["/probe", "sleep", "30"]);
    let id = unique_id("init-create");
    rt.run_bg_ok(&["create", "--init", "--bundle", b.path().to_str().unwrap(), &id]);
    rt.run_ok(&["start", &id]);
    let pid = rt.pid(&id);
    // The init forks at the exec, which `start` waits for: poll for its name.
    let comm = format!("/proc/{pid}/comm");
    let deadline = Instant::now() + Duration::from_secs(3);
    while std::fs::read_to_string(&comm).unwrap_or_default() != "scrun-init\n" {
        assert!(
            Instant::now() < deadline,
            "{comm}: {:?}",
            std::fs::read_to_string(&comm)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let fds: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .collect();
    assert!(fds.is_empty(), "the init holds fds: {fds:?}");
    rt.run_ok(&["kill", &id, "TERM"]);
    wait_for_status(&rt, &id, "stopped");
    rt.run_ok(&["delete", &id]);
    assert_nothing_left(&rt, &id, b.path());
}
