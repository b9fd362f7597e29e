//! The teaching commands: `explain` must list exactly what the container then sees, every
//! `--pause-at` phase must be inspectable and then startable or deletable, `--trace` shows the
//! steps, and `spec --scratch` makes a runnable bundle or says why it cannot.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;

fn explain(rt: &Runtime, bundle: &Bundle) -> Value {
    let out = rt.run_ok(&["explain", "--format", "json", bundle.path().to_str().unwrap()]);
    serde_json::from_slice(&out.stdout).expect("explain --format json is JSON")
}

fn set(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// One source of truth: if the plan and reality disagree, this fails.
fn explain_matches_the_container(patch: impl FnOnce(&mut Value)) {
    let bundle = Bundle::new();
    bundle.config_mut(patch);
    let rt = Runtime::new();
    let plan = explain(&rt, &bundle);
    let id = unique_id("explained");
    let (_, seen) = run_probe(&bundle, &rt, &id);

    let mounts: BTreeSet<String> = seen["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mount_point"].as_str().unwrap().to_string())
        .filter(|m| m != "/")
        .collect();
    assert_eq!(set(&plan["instance"]["mounts"]), mounts, "mounts");

    let dev = seen["dev"].as_array().unwrap();
    let top_level = |kind: &str| -> BTreeSet<String> {
        dev.iter()
            .filter(|d| d["kind"] == kind && Path::new(d["path"].as_str().unwrap()).parent() == Some(Path::new("/dev")))
            .map(|d| d["path"].as_str().unwrap().to_string())
            .collect()
    };
    let mut devices = top_level("char");
    devices.remove("/dev/console"); // the pty's slave, a mount, listed with the mounts
    assert_eq!(set(&plan["instance"]["devices"]), devices, "devices");
    let mut links = top_level("symlink");
    if seen["etc"]["mtab"].is_string() {
        links.insert("/etc/mtab".into());
    }
    assert_eq!(set(&plan["instance"]["symlinks"]), links, "symlinks");

    for file in set(&plan["instance"]["files"]) {
        let name = file.strip_prefix("/etc/").unwrap();
        assert!(seen["etc"][name].is_string(), "{file} planned but not seen");
    }
    assert_eq!(plan["exec"]["path"], "/probe");
    assert_nothing_left(&rt, &id, bundle.path());
}

#[test]
fn explain_lists_what_the_default_container_sees() {
    explain_matches_the_container(|_| {});
}

#[test]
fn explain_lists_what_a_terminal_container_with_extra_mounts_sees() {
    explain_matches_the_container(|c| {
        c["process"]["terminal"] = json!(true);
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/data/cache", "type": "tmpfs", "source": "tmpfs"}));
        c["linux"]["devices"] = json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]);
        c["linux"]["maskedPaths"] = json!(["/proc/kcore", "/proc/no-such-file", "/sys/firmware"]);
    });
}

/// A new user namespace, mapped onto the host's ids so that the init may make mount points in
/// the rootfs.
fn in_user_namespace(c: &mut Value) {
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
    c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
}

/// In a user namespace mknod is refused: each device is the host's node bound in, a mount too.
#[test]
fn explain_lists_what_a_user_namespace_container_sees() {
    explain_matches_the_container(|c| {
        in_user_namespace(c);
        c["linux"]["devices"] = json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]);
    });
}

/// `inspect` of a created container gives the reasons `explain` gives for its bundle: both read
/// one plan, which `create` saves in the state.
fn inspect_gives_the_reasons_explain_gives(patch: impl FnOnce(&mut Value)) {
    let bundle = Bundle::new();
    bundle.set_args(&["/probe", "sleep", "30"]);
    bundle.config_mut(patch);
    let rt = Runtime::new();
    let plan = explain(&rt, &bundle);
    let id = unique_id("inspect-plan");
    rt.run_bg_ok(&["create", "--bundle", bundle.path().to_str().unwrap(), &id]);
    let out = rt.run_ok(&["inspect", &id, "--format", "json"]);
    rt.run_ok(&["delete", "--force", &id]);
    assert_nothing_left(&rt, &id, bundle.path());
    let report: Value = serde_json::from_slice(&out.stdout).expect("inspect --format json is JSON");

    // The same steps, asked for by the same fields, adding the same things.
    let steps = |v: &Value| -> Vec<(Value, Value)> {
        v.as_array()
            .unwrap_or_else(|| panic!("no steps: {v}"))
            .iter()
            .map(|s| (s["origin"].clone(), s["adds"].clone()))
            .collect()
    };
    assert_eq!(steps(&report["plan"]), steps(&plan["steps"]));

    // Each mount the container has is there for the field explain names for it.
    let mut asked: std::collections::BTreeMap<String, String> = Default::default();
    for step in plan["steps"].as_array().unwrap() {
        for a in step["adds"].as_array().into_iter().flatten() {
            let path = a["path"].as_str().unwrap();
            if matches!(a["kind"].as_str(), Some("mount" | "masked" | "read_only"))
                && set(&plan["instance"]["mounts"]).contains(path)
            {
                asked.insert(path.into(), step["origin"].as_str().unwrap().into());
            }
        }
    }
    let seen: std::collections::BTreeMap<String, String> = report["mounts"]["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no mounts: {}", report["mounts"]))
        .iter()
        .filter(|m| m["origin"] == "added")
        .map(|m| {
            let why = m["asked_by"].as_str().unwrap_or_else(|| panic!("no reason: {m}"));
            (m["mount_point"].as_str().unwrap().into(), why.into())
        })
        .collect();
    assert_eq!(seen, asked);
}

#[test]
fn inspect_gives_the_reasons_explain_gives_in_a_user_namespace() {
    inspect_gives_the_reasons_explain_gives(|c| {
        in_user_namespace(c);
        c["linux"]["devices"] = json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]);
    });
}

#[test]
fn inspect_gives_the_reasons_explain_gives_without_a_mount_namespace() {
    inspect_gives_the_reasons_explain_gives(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "mount");
        c["root"]["readonly"] = json!(false);
        c["linux"]["maskedPaths"] = json!([]);
        c["linux"]["readonlyPaths"] = json!([]);
    });
}

#[test]
fn explain_names_the_config_field_of_every_step() {
    let bundle = Bundle::new();
    let rt = Runtime::new();
    let text = String::from_utf8(rt.run_ok(&["explain", bundle.path().to_str().unwrap()]).stdout).unwrap();
    for needle in [
        "mount proc on /proc",
        "mounts[0]",
        "linux.maskedPaths[0]",
        "linux.namespaces[0]",
        "libcontainer SPEC",
        "image vs instance",
        "the image holds:       /probe",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let plan = explain(&rt, &bundle);
    for step in plan["steps"].as_array().unwrap() {
        assert!(
            !step["origin"].as_str().unwrap().is_empty(),
            "a step without origin: {step}"
        );
    }
    // explain creates nothing.
    assert_eq!(std::fs::read_dir(&rt.root).unwrap().count(), 0);
}

#[test]
fn explain_respects_an_engines_own_etc_mounts() {
    let host = std::env::temp_dir().join(unique_id("resolv"));
    std::fs::write(&host, "nameserver 192.0.2.1\n").unwrap();
    let bundle = Bundle::new();
    bundle.config_mut(|c| {
        c["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/etc/resolv.conf", "type": "bind", "source": host, "options": ["rbind", "ro"]}),
        );
    });
    let plan = explain(&Runtime::new(), &bundle);
    assert_eq!(
        set(&plan["instance"]["files"]),
        BTreeSet::from(["/etc/hostname".to_string(), "/etc/hosts".to_string()])
    );
    std::fs::remove_file(host).unwrap();
}

/// A capability mask as /proc/PID/status prints it, from CAP_ names.
fn cap_mask(names: &[String]) -> String {
    const BITS: [(&str, u32); 4] = [
        ("CAP_KILL", 5),
        ("CAP_NET_BIND_SERVICE", 10),
        ("CAP_NET_RAW", 13),
        ("CAP_AUDIT_WRITE", 29),
    ];
    let bit = |n: &String| {
        BITS.iter()
            .find(|(name, _)| name == n)
            .unwrap_or_else(|| panic!("{n}?"))
            .1
    };
    format!("{:016x}", names.iter().fold(0u64, |m, n| m | 1 << bit(n)))
}

/// The kernel raises an ambient capability only if it is permitted and inheritable: explain
/// lists the ambient set the container really gets (the one runc gives the same config) and
/// says why each other one asked for is not raised.
#[test]
fn explain_lists_the_ambient_capabilities_the_container_gets() {
    let cases = [
        // `spec`'s default: ambient capabilities and no inheritable ones, as runc's.
        (
            json!({}),
            vec![],
            vec!["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        ),
        (
            json!({"inheritable": ["CAP_KILL"]}),
            vec!["CAP_KILL"],
            vec!["CAP_AUDIT_WRITE", "CAP_NET_BIND_SERVICE"],
        ),
        // Inheritable but not permitted.
        (
            json!({
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
                "inheritable": ["CAP_KILL", "CAP_NET_RAW"],
                "ambient": ["CAP_KILL", "CAP_NET_RAW"]
            }),
            vec!["CAP_KILL"],
            vec!["CAP_NET_RAW"],
        ),
    ];
    for (caps, raised, not_raised) in cases {
        let bundle = Bundle::new();
        bundle.config_mut(|c| {
            for (k, v) in caps.as_object().unwrap() {
                c["process"]["capabilities"][k] = v.clone();
            }
        });
        let rt = Runtime::new();
        let plan = explain(&rt, &bundle);
        let step = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["action"] == "set_capabilities")
            .unwrap_or_else(|| panic!("no set_capabilities step in {plan}"));
        let listed: Vec<String> = step["ambient"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        assert_eq!(listed, raised, "{caps}: {step}");
        let skipped: Vec<&str> = step["ambient_not_raised"]
            .as_array()
            .map(|a| a.iter().map(|n| n["capability"].as_str().unwrap()).collect())
            .unwrap_or_default();
        assert_eq!(skipped, not_raised, "{caps}: {step}");
        let text = String::from_utf8(rt.run_ok(&["explain", bundle.path().to_str().unwrap()]).stdout).unwrap();
        assert!(
            text.contains(&format!(
                "ambient {} not raised: not in process.capabilities.",
                not_raised.join(",")
            )),
            "{caps}:\n{text}"
        );
        for bin in [runtime_bin(), RUNC.into()] {
            let rt = Runtime::of(&bin);
            let id = unique_id("ambient");
            let (_, seen) = run_probe(&bundle, &rt, &id);
            assert_eq!(seen["caps"]["amb"], cap_mask(&listed), "{}: {caps}", bin.display());
            assert_nothing_left(&rt, &id, bundle.path());
        }
    }
}

#[test]
fn explain_says_why_a_dynamic_binary_cannot_run() {
    let bundle = Bundle::new();
    std::fs::copy("/bin/true", bundle.rootfs().join("true")).unwrap();
    bundle.set_args(&["/true"]);
    let plan = explain(&Runtime::new(), &bundle);
    let why = plan["exec"]["error"].as_str().unwrap();
    assert!(why.contains("/lib64/ld-linux-x86-64.so.2"), "{why}");
}

/// What the host sees of a paused init.
fn root_entries(pid: i64) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/root"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn status_field(pid: i64, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn pause_at_every_phase_then_start_or_delete() {
    let host_mnt = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    for phase in ["namespaces", "mounts", "pivot", "identity", "exec"] {
        for finish in ["start", "delete"] {
            let bundle = Bundle::new();
            bundle.set_args(&["/probe", "hello"]);
            let rt = Runtime::new();
            let id = unique_id(phase);
            rt.run_bg_ok(&[
                "create",
                "--pause-at",
                phase,
                "--bundle",
                bundle.path().to_str().unwrap(),
                &id,
            ]);
            assert_eq!(rt.state(&id)["status"], "created", "{phase}");
            let pid = rt.pid(&id);
            assert_ne!(
                std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap(),
                host_mnt,
                "{phase}: own mount ns"
            );
            let pivoted = root_entries(pid).contains(&"probe".to_string());
            assert_eq!(
                pivoted,
                !matches!(phase, "namespaces" | "mounts"),
                "{phase}: in the rootfs?"
            );
            let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
            // Before pivot_root the rootfs is seen at its host path, after it at "/".
            let container_proc = if pivoted {
                "/proc".to_string()
            } else {
                format!("{}/proc", bundle.rootfs().display())
            };
            let proc_mounted = mountinfo
                .lines()
                .any(|l| l.split(' ').nth(4) == Some(container_proc.as_str()) && l.contains(" - proc "));
            assert_eq!(proc_mounted, phase != "namespaces", "{phase}: proc mounted?");
            // Before the identity phase's steps the bounding set is still the runtime's own.
            let full = status_field(pid, "CapBnd:") == "000001fffeffffff";
            assert_eq!(full, phase != "exec", "{phase}: bounding set limited?");
            if finish == "start" {
                rt.run_ok(&["start", &id]);
                wait_for_status(&rt, &id, "stopped");
                rt.run_ok(&["delete", &id]);
            } else {
                rt.run_ok(&["delete", &id]);
            }
            assert_nothing_left(&rt, &id, bundle.path());
        }
    }
}

#[test]
fn an_error_after_a_pause_is_reported_by_start() {
    let bundle = Bundle::new();
    bundle.set_args(&["/probe", "hello"]);
    bundle.config_mut(|c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 1u64 << 40, "hard": 1u64 << 40}])
    });
    let rt = Runtime::new();
    let id = unique_id("late-error");
    rt.run_bg_ok(&[
        "create",
        "--pause-at",
        "pivot",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &id,
    ]);
    let out = rt.run(&["start", &id]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("set RLIMIT_NOFILE"),
        "{}",
        describe(&out)
    );
    rt.run_ok(&["delete", &id]);
    assert_nothing_left(&rt, &id, bundle.path());
}

#[test]
fn trace_shows_each_step_with_its_duration() {
    let bundle = Bundle::new();
    bundle.set_args(&["/probe", "hello"]);
    let rt = Runtime::new();
    let id = unique_id("trace");
    let out = rt.run(&["run", "--trace", "--bundle", bundle.path().to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "runtime  load and check config.json",
        "init     mount proc on /proc",
        "init     exec /probe: ",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from:\n{err}");
    }
    assert!(err.lines().all(|l| l.starts_with("trace ")), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Hello from a scratch container!\n"
    );
    assert_nothing_left(&rt, &id, bundle.path());
}

#[test]
fn spec_scratch_makes_a_bundle_that_runs() {
    let dir = std::env::temp_dir().join(unique_id("scratch"));
    std::fs::create_dir_all(&dir).unwrap();
    let rt = Runtime::new();
    rt.run_ok(&[
        "spec",
        "--scratch",
        probe().to_str().unwrap(),
        "--bundle",
        dir.to_str().unwrap(),
        "--user",
        "1000:1000",
    ]);
    let config: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["process"]["terminal"], false);
    assert_eq!(config["process"]["user"], json!({"uid": 1000, "gid": 1000}));
    let id = unique_id("scratch-run");
    let inside = config["process"]["args"][0].as_str().unwrap().to_string();
    assert!(dir.join("rootfs").join(inside.trim_start_matches('/')).is_file());
    // The probe reports by default: it runs as the user asked for.
    let out = rt.run(&["run", "--bundle", dir.to_str().unwrap(), &id]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", describe(&out)));
    assert_eq!(report["uid"], 1000);
    assert_nothing_left(&rt, &id, &dir);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn spec_scratch_refuses_a_dynamically_linked_binary() {
    let dir = std::env::temp_dir().join(unique_id("scratch-dyn"));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Runtime::new().run(&["spec", "--scratch", "/bin/true", "--bundle", dir.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("dynamically linked") && err.contains("gcc -static"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "left files behind");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `spec` makes a missing bundle directory, with or without --scratch (runc 1.1.5 and crun
/// refuse: "chdir X: no such file or directory"); a refused --scratch removes what it made.
#[test]
fn spec_makes_a_missing_bundle_directory() {
    let rt = Runtime::new();
    let probe = probe().to_str().unwrap();
    for extra in [&[][..], &["--rootless"], &["--scratch", probe]] {
        let top = std::env::temp_dir().join(unique_id("spec-new"));
        let dir = top.join("bundle");
        let mut args = vec!["spec", "--bundle", dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        rt.run_ok(&args);
        let config: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap())
            .unwrap_or_else(|e| panic!("{extra:?}: {e}"));
        if extra == ["--rootless"] {
            let kinds: Vec<&str> = config["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["type"].as_str().unwrap())
                .collect();
            assert!(kinds.contains(&"user"), "{extra:?}: {kinds:?}");
        }
        std::fs::remove_dir_all(top).unwrap();
    }

    let top = std::env::temp_dir().join(unique_id("spec-refused"));
    let dir = top.join("bundle");
    let out = rt.run(&["spec", "--scratch", "/bin/true", "--bundle", dir.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(!top.exists(), "{} left behind", top.display());
}

#[test]
fn explain_a_docker_style_config() {
    // What dockerd sends (runtime-contract.md §5): its own /etc files, a prestart hook for
    // networking, seccomp, sysctls, a cgroup path with limits.
    let etc = std::env::temp_dir().join(unique_id("docker-etc"));
    std::fs::create_dir_all(&etc).unwrap();
    for f in ["hosts", "hostname", "resolv.conf"] {
        std::fs::write(etc.join(f), "from dockerd\n").unwrap();
    }
    let profile: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/seccomp-docker-default.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let bundle = Bundle::new();
    bundle.config_mut(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        for f in ["hosts", "hostname", "resolv.conf"] {
            mounts.push(json!({"destination": format!("/etc/{f}"), "type": "bind", "source": etc.join(f), "options": ["rbind", "rprivate"]}));
        }
        c["hooks"] = json!({"prestart": [{"path": "/proc/1/exe", "args": ["libnetwork-setkey", "-exec-root=/var/run/docker", "abc", "def"]}]});
        c["linux"]["seccomp"] = profile;
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_unprivileged_port_start": "0"});
        c["linux"]["cgroupsPath"] = json!("/docker/abc");
        c["linux"]["resources"] = json!({"memory": {"limit": 67108864}, "cpu": {"shares": 0}});
    });
    let rt = Runtime::new();
    let plan = explain(&rt, &bundle);
    let steps = plan["steps"].as_array().unwrap();
    let find = |origin: &str| {
        steps
            .iter()
            .find(|s| s["origin"] == origin)
            .unwrap_or_else(|| panic!("no step from {origin}"))
    };
    assert_eq!(find("hooks.prestart[0]")["side"], "runtime");
    assert!(
        find("linux.seccomp")["describe"]
            .as_str()
            .unwrap()
            .contains("SCMP_ACT_ERRNO"),
        "{}",
        find("linux.seccomp")
    );
    assert_eq!(find("linux.cgroupsPath, linux.resources")["path"], "/docker/abc");
    assert!(
        find("linux.sysctl[\"net.ipv4.ip_unprivileged_port_start\"]")["describe"]
            .as_str()
            .unwrap()
            .contains("=0")
    );
    assert_eq!(
        set(&plan["instance"]["files"]),
        BTreeSet::new(),
        "dockerd's own /etc files win"
    );
    let text = String::from_utf8(rt.run_ok(&["explain", bundle.path().to_str().unwrap()]).stdout).unwrap();
    assert!(
        text.contains("run prestart hook /proc/1/exe") && text.contains("install seccomp filter"),
        "{text}"
    );
    std::fs::remove_dir_all(etc).unwrap();
}

/// The init's timed spans in a run's trace: the steps (message and origin), and the spans
/// that are no step (waits on the other processes). Untimed lines are notes, not work.
fn init_trace(stderr: &str) -> (Vec<(String, String)>, Vec<String>) {
    let (mut steps, mut others) = (Vec::new(), Vec::new());
    for line in stderr.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.get(3) != Some(&"init") {
            continue;
        }
        let text = line.split_once(" init ").unwrap().1.trim();
        let Some(text) = text
            .strip_suffix(" µs)")
            .and_then(|t| t.rsplit_once(" ("))
            .filter(|(_, n)| n.parse::<u64>().is_ok())
            .map(|(t, _)| t)
        else {
            continue;
        };
        match text.split_once(" origin=") {
            Some((step, origin)) => steps.push((step.to_string(), origin.to_string())),
            None => others.push(text.to_string()),
        }
    }
    (steps, others)
}

/// Nothing the init does before its exec is outside the plan: a run's --trace lists exactly
/// the init's steps that explain lists, in the same order, with a user namespace and without
/// a mount namespace too.
#[test]
fn explain_lists_every_step_the_init_traces() {
    type Patch = fn(&mut Value);
    let cases: [(&str, Patch); 3] = [
        ("default", |_| {}),
        ("user namespace", in_user_namespace),
        ("no mount namespace", |c| {
            c["root"]["readonly"] = json!(false);
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .retain(|n| n["type"] != "mount");
        }),
    ];
    for (case, patch) in cases {
        let bundle = Bundle::new();
        bundle.set_args(&["/probe", "hello"]);
        bundle.config_mut(patch);
        let rt = Runtime::new();
        let plan = explain(&rt, &bundle);
        let planned: Vec<(String, String)> = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["side"] == "init")
            .map(|s| {
                let text = |k: &str| s[k].as_str().unwrap().to_string();
                (text("describe"), text("origin"))
            })
            .collect();
        let id = unique_id("traced");
        let out = rt.run(&["run", "--trace", "--bundle", bundle.path().to_str().unwrap(), &id]);
        assert!(out.status.success(), "{case}: {}", describe(&out));
        let (traced, others) = init_trace(&String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            traced, planned,
            "{case}: the init's trace and explain's init steps differ"
        );
        for other in &others {
            assert!(
                [
                    "wait to be in the cgroup",
                    "wait for the cgroup's limits",
                    "wait for start"
                ]
                .contains(&other.as_str()),
                "{case}: the init traced {other:?}, which is no step of the plan"
            );
        }
        assert_nothing_left(&rt, &id, bundle.path());
    }
}
