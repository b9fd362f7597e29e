//! Time namespaces (linux.namespaces type "time", linux.timeOffsets): the container's
//! monotonic and boot-time clocks, seen from inside, and what exec, joins and hooks see.

mod common;

use common::*;
use serde_json::{json, Value};
use std::process::Output;

const TEN_DAYS: i64 = 10 * 86400;
const HUNDRED_DAYS: i64 = 100 * 86400;

fn offsets() -> Value {
    json!({
        "monotonic": {"secs": TEN_DAYS},
        "boottime": {"secs": HUNDRED_DAYS, "nanosecs": 500_000_000},
    })
}

/// A bundle running `args` with a new time namespace and, if given, these offsets.
fn time_bundle(args: &[&str], offsets: Option<Value>) -> Bundle {
    let b = Bundle::new();
    b.set_args(args);
    b.config_mut(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        if let Some(o) = offsets {
            c["linux"]["timeOffsets"] = o;
        }
    });
    b
}

fn host_secs(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec.
    assert_eq!(unsafe { libc::clock_gettime(clock, &mut ts) }, 0);
    ts.tv_sec
}

fn time_ns(pid: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/time"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// `probe clocks` output.
fn clocks(out: &Output) -> Value {
    assert!(out.status.success(), "{}", describe(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("no clocks JSON:\n{}", describe(out)))
}

/// timens_offsets as (clock, secs, nanosecs).
fn parse_offsets(text: &str) -> Vec<(String, i64, i64)> {
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), f[1].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect()
}

fn expected_offsets() -> Vec<(String, i64, i64)> {
    vec![
        ("monotonic".into(), TEN_DAYS, 0),
        ("boottime".into(), HUNDRED_DAYS, 500_000_000),
    ]
}

#[test]
fn offsets_shift_the_containers_clocks() {
    let b = time_bundle(&["/probe", "clocks"], Some(offsets()));
    let rt = Runtime::new();
    let id = unique_id("timens");
    let before = (host_secs(libc::CLOCK_MONOTONIC), host_secs(libc::CLOCK_BOOTTIME));
    let c = clocks(&rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]));
    let after = (host_secs(libc::CLOCK_MONOTONIC), host_secs(libc::CLOCK_BOOTTIME));
    assert_nothing_left(&rt, &id, b.path());
    // The container read its clocks between our two readings: shifted by the offset.
    let mono = c["monotonic"].as_i64().unwrap();
    assert!(
        (before.0 + TEN_DAYS..=after.0 + TEN_DAYS).contains(&mono),
        "monotonic {mono}, host {before:?}..{after:?}"
    );
    let boot = c["boottime"].as_i64().unwrap();
    assert!(
        (before.1 + HUNDRED_DAYS..=after.1 + HUNDRED_DAYS + 1).contains(&boot),
        "boottime {boot}, host {before:?}..{after:?}"
    );
    assert_eq!(parse_offsets(c["timens_offsets"].as_str().unwrap()), expected_offsets());
    assert_ne!(c["time_ns"], time_ns("self"));
}

#[test]
fn a_time_namespace_without_offsets_is_new_and_unshifted() {
    let b = time_bundle(&["/probe", "clocks"], None);
    let rt = Runtime::new();
    let id = unique_id("timens-zero");
    let c = clocks(&rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]));
    assert_nothing_left(&rt, &id, b.path());
    assert_ne!(c["time_ns"], time_ns("self"), "a time namespace of its own");
    assert_eq!(
        parse_offsets(c["timens_offsets"].as_str().unwrap()),
        [("monotonic".into(), 0, 0), ("boottime".into(), 0, 0)]
    );
}

/// In a user namespace too: the time namespace scrun makes is owned by the host's user
/// namespace, so exec must join it before it enters the container's.
#[test]
fn exec_joins_the_containers_time_namespace() {
    for userns in [false, true] {
        let b = time_bundle(&["/probe", "sleep", "60"], Some(offsets()));
        if userns {
            std::os::unix::fs::chown(b.rootfs(), Some(100000), Some(100000)).unwrap();
            b.config_mut(|c| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "user"}));
                c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
                c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            });
        }
        let rt = Runtime::new();
        let id = unique_id("timens-exec");
        rt.run_bg_ok(&["run", "--detach", "--bundle", b.path().to_str().unwrap(), &id]);
        let pid = rt.pid(&id).to_string();
        let c = clocks(&rt.run(&["exec", &id, "/probe", "clocks"]));
        assert_eq!(c["time_ns"], time_ns(&pid), "userns {userns}");
        assert_ne!(c["time_ns"], time_ns("self"), "userns {userns}");
        assert_eq!(
            parse_offsets(c["timens_offsets"].as_str().unwrap()),
            expected_offsets(),
            "userns {userns}"
        );
        rt.run_ok(&["delete", "--force", &id]);
        assert_nothing_left(&rt, &id, b.path());
    }
}

#[test]
fn a_time_namespace_given_by_path_is_joined() {
    let rt = Runtime::new();
    let owner = time_bundle(&["/probe", "sleep", "60"], Some(offsets()));
    let owner_id = unique_id("timens-owner");
    rt.run_bg_ok(&["create", "--bundle", owner.path().to_str().unwrap(), &owner_id]);
    let pid = rt.pid(&owner_id).to_string();

    let b = Bundle::new();
    b.set_args(&["/probe", "clocks"]);
    b.config_mut(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time", "path": format!("/proc/{pid}/ns/time")}));
    });
    let id = unique_id("timens-joiner");
    let c = clocks(&rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]));
    assert_nothing_left(&rt, &id, b.path());
    assert_eq!(c["time_ns"], time_ns(&pid));
    assert_eq!(parse_offsets(c["timens_offsets"].as_str().unwrap()), expected_offsets());
    rt.run_ok(&["delete", "--force", &owner_id]);
    assert_nothing_left(&rt, &owner_id, owner.path());
}

/// createRuntime and prestart hooks run in the runtime's namespaces, not in the ones it
/// entered or made just before the clone: here a new time namespace and a pid namespace
/// joined by path.
#[test]
fn hooks_run_in_the_runtimes_time_and_pid_namespaces() {
    let rt = Runtime::new();
    let owner = Bundle::new();
    owner.set_args(&["/probe", "sleep", "60"]);
    let owner_id = unique_id("pidns-owner");
    rt.run_bg_ok(&["create", "--bundle", owner.path().to_str().unwrap(), &owner_id]);
    let pid = rt.pid(&owner_id);

    let out_dir = std::env::temp_dir().join(unique_id("timens-hooks"));
    std::fs::create_dir_all(&out_dir).unwrap();
    let hook = |name: &str| {
        let script = format!(
            "readlink /proc/self/ns/time /proc/self/ns/pid > {}/{name}",
            out_dir.display()
        );
        json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
    };
    let b = time_bundle(&["/probe", "hello"], Some(offsets()));
    b.config_mut(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
        ns.push(json!({"type": "pid", "path": format!("/proc/{pid}/ns/pid")}));
        c["hooks"] = json!({"createRuntime": [hook("createRuntime")], "prestart": [hook("prestart")]});
    });
    let id = unique_id("timens-hooks");
    let out = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_nothing_left(&rt, &id, b.path());
    let host = format!(
        "{}\n{}\n",
        time_ns("self"),
        std::fs::read_link("/proc/self/ns/pid").unwrap().display()
    );
    for kind in ["createRuntime", "prestart"] {
        assert_eq!(std::fs::read_to_string(out_dir.join(kind)).unwrap(), host, "{kind}");
    }
    std::fs::remove_dir_all(out_dir).unwrap();
    rt.run_ok(&["delete", "--force", &owner_id]);
    assert_nothing_left(&rt, &owner_id, owner.path());
}

#[test]
fn features_list_the_time_namespace() {
    let out = Runtime::new().run_ok(&["features"]);
    let f: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        f["linux"]["namespaces"].as_array().unwrap().contains(&json!("time")),
        "{f}"
    );
}

#[test]
fn explain_and_pause_at_show_the_time_namespace_before_the_clone() {
    let b = time_bundle(&["/probe", "hello"], Some(offsets()));
    let rt = Runtime::new();
    let out = rt.run_ok(&["explain", "--format", "json", b.path().to_str().unwrap()]);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = plan["steps"].as_array().unwrap();
    let index = steps
        .iter()
        .position(|s| s["action"] == "create_namespace" && s["kind"] == "time")
        .expect("a step creating the time namespace");
    let ns_index = b.config()["linux"]["namespaces"].as_array().unwrap().len() - 1;
    assert_eq!(steps[index]["origin"], format!("linux.namespaces[{ns_index}]"));
    assert_eq!(steps[index]["side"], "runtime");
    for (clock, secs) in [("boottime", HUNDRED_DAYS), ("monotonic", TEN_DAYS)] {
        let step = steps
            .iter()
            .position(|s| s["origin"] == format!("linux.timeOffsets.{clock}"))
            .unwrap_or_else(|| panic!("no step for linux.timeOffsets.{clock}"));
        assert!(step > index, "{clock} offset written before the namespace exists");
        assert_eq!(steps[step]["side"], "runtime");
        assert_eq!(steps[step]["secs"], secs);
    }

    // Paused before its first own step, the init is already in the namespace, offsets set.
    let id = unique_id("timens-paused");
    rt.run_bg_ok(&[
        "create",
        "--pause-at",
        "namespaces",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let pid = rt.pid(&id).to_string();
    assert_ne!(time_ns(&pid), time_ns("self"));
    let text = std::fs::read_to_string(format!("/proc/{pid}/timens_offsets")).unwrap();
    assert_eq!(parse_offsets(&text), expected_offsets());
    rt.run_ok(&["delete", &id]);
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn bad_time_offsets_fail_create_naming_the_field() {
    let no_ns = Bundle::new();
    no_ns.config_mut(|c| c["linux"]["timeOffsets"] = offsets());
    let err = create_fails(&no_ns, &unique_id("timens-no-ns"));
    assert!(
        err.contains("linux.timeOffsets: clock offsets require a time namespace"),
        "{err}"
    );

    let nanos = time_bundle(
        &["/probe", "hello"],
        Some(json!({"monotonic": {"secs": 1, "nanosecs": 1_000_000_000}})),
    );
    let err = create_fails(&nanos, &unique_id("timens-nanos"));
    assert!(
        err.contains("linux.timeOffsets.monotonic.nanosecs 1000000000 is out of range"),
        "{err}"
    );

    let clock = time_bundle(&["/probe", "hello"], Some(json!({"realtime": {"secs": 1}})));
    let err = create_fails(&clock, &unique_id("timens-clock"));
    assert!(err.contains("linux.timeOffsets.realtime"), "{err}");

    // Accepted by the checks, refused by the kernel: the clock would go below zero.
    let negative = time_bundle(
        &["/probe", "hello"],
        Some(json!({"boottime": {"secs": -host_secs(libc::CLOCK_BOOTTIME) - HUNDRED_DAYS}})),
    );
    let err = create_fails(&negative, &unique_id("timens-negative"));
    assert!(
        err.contains("linux.timeOffsets.boottime: write /proc/self/timens_offsets"),
        "{err}"
    );
}
