//! `events`: OOM kills reported as they happen, in runc's JSON lines, besides the statistics.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::BufRead;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn events_reports_an_oom_kill_and_ends_with_the_container() {
    let b = Bundle::new();
    b.set_args(&["/probe", "sleep", "60"]);
    b.config_mut(|c| {
        // Swap limited too, so that an allocation past the limit is killed rather than swapped.
        c["linux"]["resources"]["memory"] = json!({"limit": 16 << 20, "swap": 16 << 20});
    });
    let rt = Runtime::new();
    let id = unique_id("oom");
    rt.run_bg_ok(&["run", "--detach", "--bundle", b.path().to_str().unwrap(), &id]);
    let mut events = rt
        .cmd()
        .args(["events", "--interval", "300ms", &id])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let stdout = events.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    let next = |wait: u64| lines.recv_timeout(Duration::from_secs(wait)).ok();
    // The statistics come every interval: once one has, events watches.
    let first = next(10).expect("no statistics from events");
    let stats: Value = serde_json::from_str(&first).unwrap();
    assert_eq!((&stats["type"], &stats["id"]), (&json!("stats"), &json!(id)), "{first}");
    assert!(stats["data"]["memory"].is_object(), "{first}");

    let alloc = rt.run(&["exec", &id, "/probe", "alloc", "64"]);
    assert_eq!(alloc.status.code(), Some(137), "not OOM-killed: {}", describe(&alloc));
    let oom = std::iter::from_fn(|| next(5))
        .find(|l| !l.starts_with(r#"{"type":"stats""#))
        .expect("no event after the OOM kill");
    // runc's line, byte for byte.
    assert_eq!(oom, format!(r#"{{"type":"oom","id":"{id}"}}"#));

    rt.run_ok(&["delete", "--force", &id]);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = events.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = events.kill();
            let _ = events.wait();
            panic!("events still running after delete");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "events: {status}");
    assert_nothing_left(&rt, &id, b.path());
}
