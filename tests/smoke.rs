//! First container tests: a scratch rootfs holding only the probe.

mod common;

use common::*;
use serde_json::{json, Value};

#[test]
fn hello_prints_greeting_and_exits_zero() {
    let bundle = Bundle::new();
    bundle.set_args(&["/probe", "hello"]);
    let rt = Runtime::new();
    let id = unique_id("hello");
    let output = rt.run(&["run", "--bundle", bundle.path().to_str().unwrap(), &id]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "Hello from a scratch container!\n"
    );
    assert_nothing_left(&rt, &id, bundle.path());
}

#[test]
fn exit_code_is_passed_through() {
    let bundle = Bundle::new();
    bundle.set_args(&["/probe", "exit", "3"]);
    let rt = Runtime::new();
    let id = unique_id("exit");
    let output = rt.run(&["run", "--bundle", bundle.path().to_str().unwrap(), &id]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert_nothing_left(&rt, &id, bundle.path());
}

fn has_namespace(config: &Value, kind: &str) -> bool {
    config["linux"]["namespaces"]
        .as_array()
        .is_some_and(|list| list.iter().any(|ns| ns["type"] == kind))
}

#[test]
fn report_shows_an_isolated_container() {
    let bundle = Bundle::new();
    bundle.config_mut(|c| {
        c["hostname"] = json!("smoke-host");
        if !has_namespace(c, "network") {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "network"}));
        }
    });
    let rt = Runtime::new();
    let id = unique_id("report");
    let (_, report) = run_probe(&bundle, &rt, &id);

    assert_eq!(report["pid"], 1, "probe should be the pid namespace's init");
    assert_eq!(report["uid"], 0);
    assert_eq!(report["hostname"], "smoke-host");
    assert_eq!(report["proc_mounted"], true);
    assert_eq!(report["args"], json!(["/probe", "report"]));

    let dev = report["dev"].as_array().expect("/dev listing");
    let null = dev.iter().find(|e| e["path"] == "/dev/null").expect("/dev/null exists");
    assert_eq!(
        (&null["kind"], &null["major"], &null["minor"]),
        (&json!("char"), &json!(1), &json!(3))
    );

    let ifaces = report["interfaces"].as_array().expect("interface list");
    let lo = ifaces.iter().find(|i| i["name"] == "lo").expect("lo exists");
    assert_eq!(lo["up"], true, "lo should be up: {ifaces:?}");
    assert_eq!(ifaces.len(), 1, "a new network namespace has only lo: {ifaces:?}");

    assert_nothing_left(&rt, &id, bundle.path());
}

#[test]
fn death_by_signal_gives_128_plus_signal() {
    // Outside a pid namespace raise() is enough.
    let bundle = Bundle::new();
    bundle.set_args(&["/probe", "kill-self", "15"]);
    bundle.config_mut(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|ns| ns["type"] != "pid");
    });
    let rt = Runtime::new();
    let id = unique_id("sigterm");
    let output = rt.run(&["run", "--bundle", bundle.path().to_str().unwrap(), &id]);
    assert_eq!(output.status.code(), Some(128 + 15), "{}", describe(&output));
    assert_nothing_left(&rt, &id, bundle.path());

    // As a pid namespace's init only a real fault kills it.
    let bundle = Bundle::new();
    bundle.set_args(&["/probe", "kill-self", "11"]);
    let id = unique_id("sigsegv");
    let output = rt.run(&["run", "--bundle", bundle.path().to_str().unwrap(), &id]);
    assert_eq!(output.status.code(), Some(128 + 11), "{}", describe(&output));
    assert_nothing_left(&rt, &id, bundle.path());
}

#[test]
fn kill_delivers_a_caught_signal_to_the_container_init() {
    let bundle = Bundle::new();
    bundle.set_args(&["/probe", "wait-signal"]);
    let rt = Runtime::new();
    let id = unique_id("signal");
    let child = rt
        .cmd()
        .args(["run", "--bundle", bundle.path().to_str().unwrap(), &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the runtime");

    // `run` is in the foreground, so wait until the container exists and the
    // probe has its handlers in place before signalling it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !rt.run(&["state", &id]).status.success() {
        assert!(std::time::Instant::now() < deadline, "container {id} never appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    wait_for_signal_mask(rt.pid(&id), "SigCgt", 10);
    rt.run_ok(&["kill", &id, "USR1"]);

    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "signal 10\n");
    assert_nothing_left(&rt, &id, bundle.path());
}
