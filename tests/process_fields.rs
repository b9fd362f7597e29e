//! runtime-spec's scheduling, I/O priority, CPU affinity, personality, memory policy and
//! network device fields: each is what the container's process really runs with, read back
//! from inside by the probe, or is refused naming its field with nothing left behind.

mod common;

use common::*;
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

/// Merge `patch` into the config (objects key by key, anything else replaced).
fn patch(config: &mut Value, with: &Value) {
    match (config, with) {
        (Value::Object(c), Value::Object(p)) => {
            for (k, v) in p {
                patch(c.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (c, p) => *c = p.clone(),
    }
}

/// The probe's process_fields report of a container run with `config` patched in.
fn run_with(config: Value, prefix: &str) -> Value {
    let b = Bundle::new();
    b.config_mut(|c| patch(c, &config));
    let rt = Runtime::new();
    let id = unique_id(prefix);
    let (_, report) = run_probe(&b, &rt, &id);
    assert_nothing_left(&rt, &id, b.path());
    report["process_fields"].clone()
}

#[test]
fn scheduler_and_io_priority_are_what_the_process_runs_with() {
    let f = run_with(
        json!({"process": {
            "scheduler": {"policy": "SCHED_IDLE", "flags": ["SCHED_FLAG_RESET_ON_FORK"]},
            "ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 0},
        }}),
        "sched",
    );
    assert_eq!(f["scheduler"]["policy"], 5, "SCHED_IDLE: {f}");
    assert_eq!(f["scheduler"]["flags"], 1, "SCHED_FLAG_RESET_ON_FORK: {f}");
    assert_eq!(f["ioprio"], json!({"class": 3, "level": 0}), "IOPRIO_CLASS_IDLE: {f}");

    let f = run_with(
        json!({"process": {
            "scheduler": {"policy": "SCHED_BATCH", "nice": 7},
            "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 7},
        }}),
        "sched",
    );
    assert_eq!(
        (&f["scheduler"]["policy"], &f["scheduler"]["nice"]),
        (&json!(3), &json!(7)),
        "{f}"
    );
    assert_eq!(f["ioprio"], json!({"class": 2, "level": 7}), "{f}");
}

#[test]
fn personality_linux32_makes_uname_say_i686() {
    let f = run_with(json!({"linux": {"personality": {"domain": "LINUX32"}}}), "persona");
    assert_eq!((&f["personality"], &f["machine"]), (&json!(8), &json!("i686")), "{f}");
}

#[test]
fn memory_policy_is_the_processs() {
    let f = run_with(
        json!({"linux": {"memoryPolicy": {"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}}}),
        "mempol",
    );
    assert_eq!(
        f["mempolicy"],
        json!({"mode": 2, "flags": 1 << 15, "nodes": [0]}),
        "{f}"
    );
    let f = run_with(
        json!({"linux": {"memoryPolicy": {"mode": "MPOL_INTERLEAVE", "nodes": "0"}}}),
        "mempol",
    );
    assert_eq!(f["mempolicy"], json!({"mode": 3, "flags": 0, "nodes": [0]}), "{f}");
}

/// The CPUs this test may run on, from /proc/self/status.
fn own_cpus() -> Vec<u64> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim();
    let mut cpus = Vec::new();
    for part in list.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        cpus.extend(a.parse::<u64>().unwrap()..=b.parse::<u64>().unwrap());
    }
    cpus
}

fn exec_report(rt: &Runtime, args: &[&str]) -> Value {
    let out = rt.run(args);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", describe(&out)));
    report["process_fields"].clone()
}

/// execCPUAffinity is not for the init (runtime-spec) but for each exec'd process: `initial`
/// from its start, `final` once it is in the container's cgroup; an exec's process.json
/// without scheduling fields gets the container's (runc's rule).
#[test]
fn exec_cpu_affinity_and_scheduling_of_execd_processes() {
    let cpus = own_cpus();
    let (first, last) = (cpus[0], cpus[cpus.len() - 1]);
    if first == last {
        eprintln!("skipped: one CPU only, initial and final affinity cannot differ");
        return;
    }
    let b = Bundle::new();
    b.set_args(&["/probe", "sleep", "60"]);
    b.config_mut(|c| {
        c["process"]["execCPUAffinity"] = json!({"initial": last.to_string()});
        c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 3});
    });
    let rt = Runtime::new();
    let id = unique_id("affinity");
    rt.run_bg_ok(&["run", "--detach", "--bundle", b.path().to_str().unwrap(), &id]);
    let pid = rt.pid(&id);
    let own = |pid: &str| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find(|l| l.starts_with("Cpus_allowed_list:"))
            .unwrap()
            .to_string()
    };
    assert_eq!(
        own(&pid.to_string()),
        own("self"),
        "the init keeps the runtime's affinity"
    );

    let f = exec_report(&rt, &["exec", &id, "/probe", "report"]);
    assert_eq!(f["cpus"], json!([last]), "initial, left as it is: {f}");
    assert_eq!(
        (&f["scheduler"]["policy"], &f["scheduler"]["nice"]),
        (&json!(3), &json!(3)),
        "{f}"
    );

    let mut process = b.config()["process"].clone();
    process["args"] = json!(["/probe", "report"]);
    process["execCPUAffinity"] = json!({"initial": last.to_string(), "final": first.to_string()});
    process.as_object_mut().unwrap().remove("scheduler");
    let path = b.path().join("process.json");
    std::fs::write(&path, process.to_string()).unwrap();
    let f = exec_report(&rt, &["exec", "--process", path.to_str().unwrap(), &id]);
    assert_eq!(f["cpus"], json!([first]), "final: {f}");
    assert_eq!(f["scheduler"]["policy"], 3, "the container's scheduler: {f}");

    rt.run_ok(&["delete", "--force", &id]);
    assert_nothing_left(&rt, &id, b.path());
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {args:?}: {}", describe(&out));
}

fn host_has(device: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", device])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// veth pairs made on the host for a test, deleted when it ends however it ends (deleting
/// one end deletes both; one moved into a container is gone with its namespace).
struct Veths(Vec<String>);

impl Veths {
    fn new(names: &[&str]) -> Veths {
        let veths = Veths(names.iter().map(|n| n.to_string()).collect());
        for name in names {
            ip(&["link", "add", name, "type", "veth", "peer", "name", &format!("{name}p")]);
        }
        veths
    }
}

impl Drop for Veths {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = Command::new("ip").args(["link", "del", name]).output();
        }
    }
}

#[test]
fn net_devices_move_in_renamed_and_up_with_their_addresses() {
    let tag = std::process::id() % 100_000;
    let (a, c) = (format!("pfa{tag}"), format!("pfc{tag}"));
    let _veths = Veths::new(&[&a, &c]);
    ip(&["addr", "add", "10.213.7.1/24", "dev", &a]);
    ip(&["addr", "add", "fd00:213::1/64", "dev", &a]);
    let report = {
        let b = Bundle::new();
        b.config_mut(|cfg| cfg["linux"]["netDevices"] = json!({&a: {"name": "eth1"}, &c: {"name": "net%d"}}));
        let rt = Runtime::new();
        let id = unique_id("netdev");
        let (_, report) = run_probe(&b, &rt, &id);
        assert_nothing_left(&rt, &id, b.path());
        report
    };
    let interfaces = report["interfaces"].as_array().unwrap();
    for name in ["eth1", "net0"] {
        assert!(
            interfaces.contains(&json!({"name": name, "up": true, "loopback": false})),
            "{name} up in {interfaces:?}"
        );
    }
    let addresses = report["process_fields"]["addresses"].as_array().unwrap();
    for address in ["eth1 10.213.7.1/24", "eth1 fd00:213::1/64"] {
        assert!(addresses.contains(&json!(address)), "{address} in {addresses:?}");
    }
    // Moved out of the host, and gone with the container's network namespace (the kernel
    // frees it a moment after the last process left).
    let deadline = Instant::now() + Duration::from_secs(5);
    while [&a, &c].iter().any(|d| host_has(d) || host_has(&format!("{d}p"))) {
        assert!(Instant::now() < deadline, "{a} or {c} still on the host");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn refused(config: Value) -> String {
    let b = Bundle::new();
    b.config_mut(|c| patch(c, &config));
    create_fails(&b, &unique_id("refused"))
}

#[test]
fn net_device_errors_name_the_entry_and_leave_the_device_on_the_host() {
    let tag = std::process::id() % 100_000;
    let e = format!("pfe{tag}");
    let _veths = Veths::new(&[&e]);
    let err = refused(json!({"linux": {"netDevices": {&e: {"name": "lo"}}}}));
    assert!(
        err.contains(&format!("linux.netDevices[\"{e}\"]: move network device {e} into the container as lo: a network device named \"lo\" already exists in the container")),
        "{err}"
    );
    assert!(host_has(&e), "{e} stays on the host");
    let missing = format!("pfnone{tag}");
    let err = refused(json!({"linux": {"netDevices": {&missing: {}}}}));
    assert!(
        err.contains(&format!("linux.netDevices[\"{missing}\"]: move network device {missing} into the container as {missing}: no network device \"{missing}\" on the host")),
        "{err}"
    );
    let err = refused(
        json!({"linux": {"netDevices": {&e: {}}, "namespaces": [{"type": "mount"}, {"type": "pid"}, {"type": "uts"}]}}),
    );
    assert!(
        err.contains("linux.netDevices: moving network devices requires a network namespace in linux.namespaces"),
        "{err}"
    );
}

#[test]
fn unknown_or_unsupported_values_are_refused_by_field() {
    for (config, want) in [
        (
            json!({"process": {"scheduler": {"policy": "SCHED_FOO"}}}),
            "process.scheduler.policy: unknown policy \"SCHED_FOO\"",
        ),
        (
            json!({"process": {"scheduler": {"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_NOPE"]}}}),
            "process.scheduler.flags[0]: unknown flag \"SCHED_FLAG_NOPE\"",
        ),
        (
            json!({"process": {"scheduler": {"policy": "SCHED_ISO"}}}),
            "process.scheduler.policy: SCHED_ISO is not implemented by the Linux kernel",
        ),
        (
            json!({"process": {"ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 8}}}),
            "process.ioPriority.priority 8 is out of range",
        ),
        (
            json!({"process": {"execCPUAffinity": {"final": "3-1"}}}),
            "process.execCPUAffinity.final: \"3-1\" is not a range",
        ),
        (
            json!({"linux": {"personality": {"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}}}),
            "linux.personality.flags[0]: \"ADDR_NO_RANDOMIZE\" is not supported",
        ),
        (
            json!({"linux": {"memoryPolicy": {"mode": "MPOL_BIND"}}}),
            "linux.memoryPolicy.nodes: MPOL_BIND needs at least one node",
        ),
        (
            json!({"linux": {"memoryPolicy": {"mode": "MPOL_NOPE"}}}),
            "linux.memoryPolicy.mode: unknown mode \"MPOL_NOPE\"",
        ),
        (
            json!({"linux": {"intelRdt": {"closID": "guaranteed_group"}}}),
            // Refused with every field scrun does not apply (src/spec/coverage.rs).
            "linux.intelRdt: not supported by scrun",
        ),
    ] {
        let err = refused(config.clone());
        assert!(err.contains(want), "{config}: {err}");
    }
}

#[test]
fn features_advertise_what_is_honoured() {
    let f: Value = serde_json::from_slice(&Runtime::new().run_ok(&["features"]).stdout).unwrap();
    let linux = &f["linux"];
    assert_eq!(linux["netDevices"]["enabled"], true);
    assert_eq!(linux["intelRdt"]["enabled"], false);
    assert_eq!(
        linux["memoryPolicy"],
        json!({
            "modes": ["MPOL_DEFAULT", "MPOL_PREFERRED", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_LOCAL",
                "MPOL_PREFERRED_MANY", "MPOL_WEIGHTED_INTERLEAVE"],
            "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"],
        })
    );
}

/// std's start-up ignores SIGPIPE in scrun, and an ignored signal stays ignored across execve:
/// the process must get the signals as scrun's caller left them (here none ignored, none
/// blocked), as runc's does. With a seccomp filter SIGPIPE is given back before it, without
/// one at the exec.
#[test]
fn the_process_starts_with_no_signal_ignored_or_blocked() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seccomp-docker-default.json"
    );
    let profile: Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    for (what, seccomp) in [("without seccomp", Value::Null), ("with seccomp", profile)] {
        let b = Bundle::new();
        b.config_mut(|c| c["linux"]["seccomp"] = seccomp);
        let rt = Runtime::new();
        let id = unique_id("signals");
        let (_, report) = run_probe(&b, &rt, &id);
        assert_nothing_left(&rt, &id, b.path());
        let signals = &report["signals"];
        assert_eq!(
            signals["ign_at_exec"], "0000000000000000",
            "{what}: ignored at exec: {signals}"
        );
        assert_eq!(signals["blk"], "0000000000000000", "{what}: blocked: {signals}");
    }
}
