//! One test per kind of bad input: each asserts the error names the field or path, the exit
//! code is not 0, and nothing (state directory, mount, process) is left behind.

mod common;

use common::*;
use serde_json::{json, Value};

fn patched(patch: impl FnOnce(&mut Value)) -> Bundle {
    let b = Bundle::new();
    b.config_mut(patch);
    b
}

#[test]
fn malformed_json_names_line_and_column() {
    let b = Bundle::new();
    std::fs::write(
        b.config_path(),
        "{\n  \"ociVersion\": \"1.0.2\",\n  \"root\": {\"path\": \"rootfs\",}\n}",
    )
    .unwrap();
    let err = create_fails(&b, &unique_id("malformed"));
    assert!(err.contains("config.json") && err.contains("line 3 column"), "{err}");
}

#[test]
fn missing_and_unsupported_oci_version() {
    let err = create_fails(
        &patched(|c| c.as_object_mut().unwrap().remove("ociVersion").map(drop).unwrap()),
        &unique_id("nover"),
    );
    assert!(err.contains("ociVersion is missing"), "{err}");
    let err = create_fails(&patched(|c| c["ociVersion"] = json!("2.0.0")), &unique_id("v2"));
    assert!(err.contains("ociVersion \"2.0.0\" is not supported"), "{err}");
}

#[test]
fn wrongly_typed_field_is_named() {
    let err = create_fails(
        &patched(|c| c["process"]["user"]["uid"] = json!("root")),
        &unique_id("types"),
    );
    assert!(
        err.contains("process.user.uid: invalid type") && err.contains("line"),
        "{err}"
    );
    let err = create_fails(&patched(|c| c["mounts"][2]["type"] = json!(7)), &unique_id("types"));
    assert!(err.contains("mounts[2].type: invalid type"), "{err}");
}

#[test]
fn missing_required_field_is_named_by_its_path() {
    let err = create_fails(
        &patched(|c| c["process"].as_object_mut().unwrap().remove("user").map(drop).unwrap()),
        &unique_id("nouser"),
    );
    assert!(
        err.contains("process.user: missing (required by the runtime spec)"),
        "{err}"
    );
}

#[test]
fn run_of_a_directory_without_config_json_says_so() {
    let dir = std::env::temp_dir().join(unique_id("not-a-bundle"));
    std::fs::create_dir_all(&dir).unwrap();
    let rt = Runtime::new();
    let out = rt.run(&["run", dir.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("there is no config.json in this directory"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn unknown_fields_are_reported_to_people_only() {
    // Engines capture stderr of every call: a warning there reads as an error. --debug (or a
    // terminal) shows it.
    let b = patched(|c| c["hostnme"] = json!("typo"));
    let rt = Runtime::new();
    let path = b.path().to_str().unwrap();
    let (quiet, debug) = (unique_id("unknown"), unique_id("unknown"));
    let (status, err) = rt.run_bg(&["create", "--bundle", path, &quiet]);
    assert!(status.success(), "{err}");
    assert!(!err.contains("hostnme"), "{err}");
    let (status, err) = rt.run_bg(&["--debug", "create", "--bundle", path, &debug]);
    assert!(status.success(), "{err}");
    assert!(err.contains("config.json: unknown field hostnme ignored"), "{err}");
}

#[test]
fn missing_root_path() {
    let err = create_fails(
        &patched(|c| c.as_object_mut().unwrap().remove("root").map(drop).unwrap()),
        &unique_id("noroot"),
    );
    assert!(err.contains("root.path is missing"), "{err}");
}

#[test]
fn missing_rootfs_directory() {
    let b = patched(|c| c["root"]["path"] = json!("no-such-rootfs"));
    let err = create_fails(&b, &unique_id("norootfs"));
    assert!(err.contains("root.path") && err.contains("no-such-rootfs"), "{err}");
}

#[test]
fn invalid_container_ids() {
    let b = Bundle::new();
    let rt = Runtime::new();
    for id in ["", "a/b", "..", "a\u{1}b", "../escape"] {
        let (status, err) = rt.run_bg(&["create", "--bundle", b.path().to_str().unwrap(), id]);
        assert!(!status.success(), "{id:?} accepted");
        assert!(err.contains("invalid container id"), "{id:?}: {err}");
        let left: Vec<_> = std::fs::read_dir(&rt.root).unwrap().collect();
        assert!(left.is_empty(), "{id:?} left {left:?}");
        assert!(!rt.root.parent().unwrap().join("escape").exists());
    }
}

#[test]
fn duplicate_id_exactly_one_of_two_concurrent_creates_wins() {
    let b = Bundle::new();
    b.set_args(&["/probe", "sleep", "30"]);
    let rt = Runtime::new();
    let id = unique_id("dup");
    let spawn = || {
        rt.cmd()
            .args(["create", "--bundle", b.path().to_str().unwrap(), &id])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut first, mut second) = (spawn(), spawn());
    let wins = [first.wait().unwrap(), second.wait().unwrap()]
        .iter()
        .filter(|s| s.success())
        .count();
    assert_eq!(wins, 1);
    let (status, err) = rt.run_bg(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(!status.success());
    assert!(err.contains(&format!("container with id {id} already exists")), "{err}");
    rt.run_ok(&["delete", "--force", &id]);
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn start_of_a_running_or_stopped_container_is_refused() {
    let b = Bundle::new();
    b.set_args(&["/probe", "sleep", "30"]);
    let rt = Runtime::new();
    let id = unique_id("restart");
    rt.run_bg_ok(&["run", "--detach", "--bundle", b.path().to_str().unwrap(), &id]);
    let out = rt.run(&["start", &id]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot start an already running container"),
        "{}",
        describe(&out)
    );
    rt.run_ok(&["kill", &id, "KILL"]);
    wait_for_status(&rt, &id, "stopped");
    let out = rt.run(&["start", &id]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot start a container that has stopped"),
        "{}",
        describe(&out)
    );
    rt.run_ok(&["delete", &id]);
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn unknown_signal_is_refused() {
    let b = Bundle::new();
    b.set_args(&["/probe", "sleep", "30"]);
    let rt = Runtime::new();
    let id = unique_id("sig");
    rt.run_bg_ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    let out = rt.run(&["kill", &id, "SIGNOPE"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown signal \"SIGNOPE\""),
        "{}",
        describe(&out)
    );
    assert_eq!(rt.state(&id)["status"], "created");
    rt.run_ok(&["delete", &id]);
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn relative_mount_destination() {
    let b = patched(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "data", "type": "tmpfs", "source": "tmpfs"}))
    });
    let err = create_fails(&b, &unique_id("reldest"));
    assert!(err.contains("destination \"data\" is not an absolute path"), "{err}");
}

#[test]
fn proc_that_is_a_symlink_in_the_rootfs_is_refused() {
    let b = Bundle::new();
    std::os::unix::fs::symlink("/etc", b.rootfs().join("proc")).unwrap();
    let err = create_fails(&b, &unique_id("procsym"));
    assert!(
        err.contains("mount proc on /proc: resolve /proc in rootfs: is a symlink"),
        "{err}"
    );
}

#[test]
fn mount_destination_escaping_through_a_symlink_is_refused_and_the_host_untouched() {
    let host = std::env::temp_dir().join(unique_id("host-target"));
    std::fs::create_dir_all(&host).unwrap();
    let b = Bundle::new();
    // Relative, so that it climbs out of the rootfs from its real location.
    let up = "../".repeat(b.rootfs().components().count() + 2);
    std::os::unix::fs::symlink(format!("{up}{}", host.display()), b.rootfs().join("evil")).unwrap();
    b.config_mut(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/evil/sub", "type": "tmpfs", "source": "tmpfs"}))
    });
    let err = create_fails(&b, &unique_id("escape"));
    assert!(
        err.contains("mount tmpfs on /evil/sub") && err.contains("leads out of the rootfs"),
        "{err}"
    );
    assert!(
        !host.join("sub").exists(),
        "the runtime created a directory on the host"
    );
    std::fs::remove_dir_all(host).unwrap();
}

#[test]
fn cwd_escaping_through_a_symlink_is_refused() {
    let b = Bundle::new();
    std::os::unix::fs::symlink("../../../../../../../tmp", b.rootfs().join("work")).unwrap();
    b.config_mut(|c| c["process"]["cwd"] = json!("/work"));
    let err = create_fails(&b, &unique_id("cwd"));
    assert!(
        err.contains("chdir to cwd /work") && err.contains("leads out of the rootfs"),
        "{err}"
    );
}

#[test]
fn a_program_not_on_path_is_reported_with_the_path_searched() {
    let b = patched(|c| c["process"]["args"] = json!(["nosuch"]));
    let err = create_fails(&b, &unique_id("notfound"));
    assert!(
        err.contains("exec: \"nosuch\": executable file not found in $PATH (searched /usr/local/sbin:"),
        "{err}"
    );
}

#[test]
fn a_dynamically_linked_binary_is_explained() {
    let b = Bundle::new();
    std::fs::copy("/bin/true", b.rootfs().join("true")).unwrap();
    b.set_args(&["/true"]);
    let err = create_fails(&b, &unique_id("dynamic"));
    assert!(
        err.contains("dynamically linked") && err.contains("/lib64/ld-linux-x86-64.so.2") && err.contains("libc.so.6"),
        "{err}"
    );
    assert!(err.contains("-static"), "no hint: {err}");
}

#[test]
fn a_script_without_its_interpreter_is_explained() {
    let b = Bundle::new();
    std::fs::write(b.rootfs().join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(
        b.rootfs().join("run.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    b.set_args(&["/run.sh"]);
    let err = create_fails(&b, &unique_id("script"));
    assert!(
        err.contains("its interpreter /bin/sh (from the #! line) is not in the container's rootfs"),
        "{err}"
    );
}

/// A program the container's user may not execute fails `create`, with the reason, as in runc
/// (which checks with faccessat before it waits for `start`): here a 0700 root-owned binary
/// and a non-root process.user.
#[test]
fn a_binary_the_user_cannot_execute_fails_create_with_the_reason() {
    let b = Bundle::new();
    std::fs::set_permissions(
        b.rootfs().join("probe"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    b.config_mut(|c| c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [5]}));
    let err = create_fails(&b, &unique_id("noexec"));
    assert!(
        err.contains("exec /probe: permission denied: /probe has no execute permission for uid 1000 gid 1000 (mode 0700, owner 0:0)"),
        "{err}"
    );
}

/// A program on a noexec mount fails `create` too, naming the mount.
#[test]
fn a_binary_on_a_noexec_mount_fails_create_with_the_reason() {
    let host = std::env::temp_dir().join(unique_id("noexec-dir"));
    std::fs::create_dir(&host).unwrap();
    std::fs::copy(probe(), host.join("probe")).unwrap();
    let b = Bundle::new();
    b.config_mut(|c| {
        c["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/tools", "type": "bind", "source": host, "options": ["rbind", "ro", "noexec"]}),
        );
        c["process"]["args"] = json!(["/tools/probe", "hello"]);
    });
    let err = create_fails(&b, &unique_id("noexec-mount"));
    std::fs::remove_dir_all(&host).unwrap();
    assert!(
        err.contains(
            "exec /tools/probe: permission denied: /tools/probe is on a filesystem mounted noexec (mount point /tools)"
        ),
        "{err}"
    );
}

/// The same file, executable by a group the user is in (process.user.additionalGids), runs.
#[test]
fn a_binary_executable_by_an_additional_group_runs() {
    let b = Bundle::new();
    let probe = b.rootfs().join("probe");
    std::fs::set_permissions(&probe, std::os::unix::fs::PermissionsExt::from_mode(0o710)).unwrap();
    std::os::unix::fs::chown(&probe, Some(0), Some(5)).unwrap();
    b.config_mut(|c| c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [5]}));
    let rt = Runtime::new();
    let id = unique_id("groupexec");
    let (_, report) = run_probe(&b, &rt, &id);
    assert_eq!(report["uid"], 1000);
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn errors_go_to_the_json_log_as_runc_writes_them() {
    let b = patched(|c| c["process"]["args"] = json!(["nosuch"]));
    let rt = Runtime::new();
    let id = unique_id("log");
    let log = rt.root.with_extension("log.json");
    let (status, stderr) = rt.run_bg(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert!(!status.success());
    assert!(
        stderr.contains("executable file not found"),
        "the error is on stderr too: {stderr}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert!(
        last["msg"]
            .as_str()
            .unwrap()
            .contains("executable file not found in $PATH"),
        "{last}"
    );
    let time = last["time"].as_str().unwrap();
    assert!(
        time.len() >= 20 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "not RFC 3339: {time}"
    );
    for line in text.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
    }
    std::fs::remove_file(log).unwrap();
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn operations_on_a_missing_container() {
    let rt = Runtime::new();
    let out = rt.run(&["state", "ghost"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("container ghost does not exist"),
        "{}",
        describe(&out)
    );
    for args in [["start", "ghost"], ["kill", "ghost"], ["delete", "ghost"]] {
        let out = rt.run(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("does not exist"),
            "{args:?}: {}",
            describe(&out)
        );
    }
    // containerd's shim always deletes twice.
    assert!(rt.run(&["delete", "--force", "ghost"]).status.success());
}

/// Where no systemd answers; tests/systemd.rs runs one of its own for the rest.
#[test]
fn systemd_cgroup_that_cannot_be_honoured_is_an_error() {
    if std::path::Path::new("/run/systemd/system").exists() {
        eprintln!("skipped: systemd runs on this host");
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id("systemd");
    let (status, err) = rt.run_bg(&[
        "--systemd-cgroup",
        "create",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert!(!status.success());
    assert!(
        err.contains("--systemd-cgroup: cannot reach systemd at /run/systemd/private"),
        "{err}"
    );
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn a_namespace_path_of_the_wrong_type_is_refused() {
    let b = patched(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "ipc");
        ns.push(json!({"type": "ipc", "path": "/proc/self/ns/net"}));
    });
    let err = create_fails(&b, &unique_id("nstype"));
    assert!(
        err.contains("/proc/self/ns/net is a network namespace, not a ipc namespace"),
        "{err}"
    );
}

#[test]
fn a_missing_program_given_by_path_fails_create() {
    let b = patched(|c| c["process"]["args"] = json!(["/nosuch"]));
    let err = create_fails(&b, &unique_id("nopath"));
    assert!(err.contains("exec /nosuch: no such file or directory"), "{err}");
}
