//! `scrun inspect`: what a FROM-scratch container really has, read from the host — its own
//! namespaces, pid 1, the mounts and files the runtime added to an image of one binary.

mod common;

use common::*;
use serde_json::Value;

/// inspect is scrun's own command: other runtimes (SCRUN_TEST_RUNTIME) do not have it.
fn scrun_under_test() -> bool {
    let bin = runtime_bin();
    let ours = bin.file_name().is_some_and(|n| n == "scrun");
    if !ours {
        eprintln!("skipped: {} has no inspect command", bin.display());
    }
    ours
}

fn inspect_json(rt: &Runtime, id: &str) -> Value {
    let out = rt.run_ok(&["inspect", id, "--format", "json"]);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("`inspect {id} --format json` is not JSON ({e}):\n{}", describe(&out)))
}

/// The inode of one of the test's own namespaces, /proc/self/ns/KIND.
fn own_ns(kind: &str) -> u64 {
    let link = std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap();
    let link = link.to_string_lossy();
    link[link.find('[').unwrap() + 1..link.len() - 1].parse().unwrap()
}

fn paths(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect()
}

fn mount_at<'a>(report: &'a Value, point: &str) -> &'a Value {
    report["mounts"]["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no mounts: {}", report["mounts"]))
        .iter()
        .rev()
        .find(|m| m["mount_point"] == point)
        .unwrap_or_else(|| panic!("no mount at {point}: {}", report["mounts"]))
}

#[test]
fn inspect_shows_what_a_running_scratch_container_has() {
    if !scrun_under_test() {
        return;
    }
    let b = Bundle::new();
    b.set_args(&["/probe", "sleep", "30"]);
    let rt = Runtime::new();
    let id = unique_id("inspect");
    rt.run_bg_ok(&["run", "--detach", "--bundle", b.path().to_str().unwrap(), &id]);
    let pid = rt.pid(&id);

    let r = inspect_json(&rt, &id);
    assert_eq!(r["id"], id.as_str());
    assert_eq!(r["pid"], pid);
    assert_eq!(r["status"], "running");
    assert_eq!(r["rootfs"], b.rootfs().to_str().unwrap());

    for kind in ["pid", "mnt", "net", "uts", "ipc"] {
        let ns = &r["namespaces"][kind];
        assert_eq!(ns["own"], true, "{kind}: {ns}");
        assert_ne!(ns["inode"].as_u64().unwrap(), own_ns(kind), "{kind}: {ns}");
        assert_eq!(ns["host_inode"].as_u64().unwrap(), own_ns(kind), "{kind}: {ns}");
    }
    // The default spec has no user, cgroup or time namespace.
    for kind in ["user", "cgroup", "time"] {
        assert_eq!(r["namespaces"][kind]["own"], false, "{kind}: {}", r["namespaces"][kind]);
    }

    let p = &r["process"];
    assert_eq!(p["host_pid"], pid);
    assert_eq!(p["ns_pid"], 1, "{p}");
    assert_eq!(p["cmdline"], serde_json::json!(["/probe", "sleep", "30"]));
    assert_eq!(p["uid"]["effective"], 0);
    assert_eq!(p["no_new_privs"], true);
    // runc's default capabilities, decoded from CapEff.
    let eff: Vec<&str> = p["capabilities"]["effective"]["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(eff, ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"], "{p}");
    assert_eq!(p["capabilities"]["effective"]["hex"], "0000000020000420");

    let proc = mount_at(&r, "/proc");
    assert_eq!(
        (&proc["fstype"], &proc["origin"]),
        (&"proc".into(), &"added".into()),
        "{proc}"
    );
    let hosts = mount_at(&r, "/etc/hosts");
    assert_eq!(hosts["origin"], "added", "{hosts}");
    assert!(hosts["why"].as_str().unwrap().contains("generated"), "{hosts}");
    let root = mount_at(&r, "/");
    assert_eq!(root["origin"], "image", "{root}");

    // The image is one file; everything else the container sees, the runtime added.
    let files = &r["files"];
    assert_eq!(paths(&files["image"]), ["/probe"], "{files}");
    let added = paths(&files["added"]);
    for want in ["/dev/null", "/dev/zero", "/etc/hostname", "/etc/hosts", "/proc", "/sys"] {
        assert!(added.contains(&want), "{want} not in added: {added:?}");
    }
    // /proc is one entry, not walked.
    assert!(!added.iter().any(|p| p.starts_with("/proc/")), "{added:?}");
    assert_eq!(files["truncated"], Value::Null);

    let fds: Vec<i64> = r["fds"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fd"].as_i64().unwrap())
        .collect();
    assert_eq!(fds, [0, 1, 2], "{}", r["fds"]);

    let limits = r["limits"]["resources"].as_array().unwrap();
    let nofile = limits.iter().find(|l| l["rlimit"] == "RLIMIT_NOFILE").unwrap();
    assert_eq!(
        (&nofile["soft"], &nofile["hard"]),
        (&"1024".into(), &"1024".into()),
        "{nofile}"
    );
    assert!(
        r["cgroup"]["lines"].as_array().is_some_and(|l| !l.is_empty()),
        "{}",
        r["cgroup"]
    );

    let text = String::from_utf8(rt.run_ok(&["inspect", &id]).stdout).unwrap();
    for want in [
        id.as_str(),
        "namespaces:",
        "own mnt pid net ipc uts",
        "the image holds: /probe",
        "the instance adds:",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }

    rt.run_ok(&["delete", "--force", &id]);
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn inspect_a_created_container_sees_the_waiting_init() {
    if !scrun_under_test() {
        return;
    }
    let b = Bundle::new();
    b.set_args(&["/probe", "sleep", "30"]);
    let rt = Runtime::new();
    let id = unique_id("inspect-created");
    rt.run_bg_ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);

    // The init is non-dumpable until exec; root on the host still reads it.
    let r = inspect_json(&rt, &id);
    assert_eq!(r["status"], "created");
    assert_eq!(r["process"]["ns_pid"], 1, "{}", r["process"]);
    assert_eq!(r["namespaces"]["mnt"]["own"], true);
    assert_eq!(paths(&r["files"]["image"]), ["/probe"], "{}", r["files"]);
    // Its root is already the container's: the mounts are in place before start.
    assert_eq!(mount_at(&r, "/proc")["origin"], "added");
    // Whatever the runtime still holds open closes at exec: nothing of it reaches the program.
    for fd in r["fds"]["entries"].as_array().unwrap() {
        if fd["fd"].as_i64().unwrap() >= 3 {
            assert_eq!(fd["close_on_exec"], true, "{fd}");
        }
    }
    let text = String::from_utf8(rt.run_ok(&["inspect", &id]).stdout).unwrap();
    assert!(text.contains("created"), "{text}");

    rt.run_ok(&["delete", "--force", &id]);
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn inspect_refuses_missing_and_stopped_containers() {
    if !scrun_under_test() {
        return;
    }
    let rt = Runtime::new();
    let out = rt.run(&["inspect", "no-such-container"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not exist"),
        "{}",
        describe(&out)
    );

    let b = Bundle::new();
    b.set_args(&["/probe", "sleep", "30"]);
    let id = unique_id("inspect-stopped");
    rt.run_bg_ok(&["run", "--detach", "--bundle", b.path().to_str().unwrap(), &id]);
    rt.run_ok(&["kill", &id, "KILL"]);
    wait_for_status(&rt, &id, "stopped");
    let out = rt.run(&["inspect", &id, "--format", "json"]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!("container {id} is not running (stopped): nothing to inspect")),
        "{}",
        describe(&out)
    );
    assert!(out.stdout.is_empty(), "{}", describe(&out));

    rt.run_ok(&["delete", "--force", &id]);
    assert_nothing_left(&rt, &id, b.path());
}

/// Before pivot_root the init's "/" is still the host's: inspect must read the container's
/// files and mounts in the rootfs directory, where the init builds them, and never report the
/// host's own files or mounts as the container's.
fn inspect_before_pivot(phase: &str) -> Value {
    let b = Bundle::new();
    b.set_args(&["/probe", "sleep", "30"]);
    let rt = Runtime::new();
    let planned: Vec<String> = {
        let out = rt.run_ok(&["explain", "--format", "json", b.path().to_str().unwrap()]);
        let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
        plan["instance"]["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_string())
            .collect()
    };
    let id = unique_id(&format!("inspect-{phase}"));
    rt.run_bg_ok(&[
        "create",
        "--pause-at",
        phase,
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let r = inspect_json(&rt, &id);
    let text = String::from_utf8(rt.run_ok(&["inspect", &id]).stdout).unwrap();
    rt.run_ok(&["delete", "--force", &id]);
    assert_nothing_left(&rt, &id, b.path());

    // The image is the probe alone, whatever the host's "/" holds.
    let files = &r["files"];
    assert_eq!(paths(&files["image"]), ["/probe"], "{phase}: {files}");
    let added = paths(&files["added"]);
    for host_only in ["/root", "/usr", "/bin", "/etc/X11", "/etc/passwd", "/home", "/var"] {
        assert!(
            !added
                .iter()
                .any(|p| p == &host_only || p.starts_with(&format!("{host_only}/"))),
            "{phase}: the host's {host_only} reported as added: {added:?}"
        );
    }
    // Only what is mounted in the rootfs, at its place in the container.
    let entries = r["mounts"]["entries"].as_array().unwrap();
    for m in entries {
        let point = m["mount_point"].as_str().unwrap();
        assert!(
            point == "/" || planned.iter().any(|p| p == point),
            "{phase}: {point} is not a mount of the container: {m}"
        );
        assert_ne!(m["fstype"], "devtmpfs", "{phase}: the host's /dev: {m}");
    }
    assert_eq!(r["container_root"], b.rootfs().to_str().unwrap(), "{phase}");
    assert!(text.contains("before pivot_root"), "{phase}:\n{text}");
    r
}

#[test]
fn inspect_before_the_mounts_sees_the_bare_image() {
    if !scrun_under_test() {
        return;
    }
    let r = inspect_before_pivot("namespaces");
    // Nothing is mounted yet: the rootfs is a plain directory of the host's filesystem.
    assert_eq!(r["mounts"]["entries"], serde_json::json!([]), "{}", r["mounts"]);
    let added = paths(&r["files"]["added"]);
    // The runtime makes the /etc mount points in the image before the init exists.
    for want in ["/etc/hostname", "/etc/hosts"] {
        assert!(added.contains(&want), "{want} not in added: {added:?}");
    }
}

#[test]
fn inspect_before_pivot_sees_the_rootfs_being_built() {
    if !scrun_under_test() {
        return;
    }
    let r = inspect_before_pivot("mounts");
    assert_eq!(mount_at(&r, "/")["origin"], "image", "{}", r["mounts"]);
    let dev = mount_at(&r, "/dev");
    assert_eq!(
        (&dev["fstype"], &dev["origin"]),
        (&"tmpfs".into(), &"added".into()),
        "{dev}"
    );
    assert!(
        dev["why"].as_str().unwrap().starts_with("mounts[1] of config.json"),
        "{dev}"
    );
    let proc = mount_at(&r, "/proc");
    assert!(
        proc["why"].as_str().unwrap().starts_with("mounts[0] of config.json"),
        "{proc}"
    );
    let added = paths(&r["files"]["added"]);
    for want in ["/dev/null", "/dev/zero", "/etc/hosts", "/proc", "/sys"] {
        assert!(added.contains(&want), "{want} not in added: {added:?}");
    }
}
