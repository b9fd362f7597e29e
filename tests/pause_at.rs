//! `create --pause-at PHASE` stops the init where the phase says, in every namespace
//! combination, and never runs the program before `start`: a phase is a mark the plan builder
//! sets, not a step searched for (which once let a container without a mount namespace run its
//! program during `create`).

mod common;

use common::*;
use serde_json::json;

const PHASES: [&str; 5] = ["namespaces", "mounts", "pivot", "identity", "exec"];

fn status_field(pid: impl std::fmt::Display, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find_map(|l| l.strip_prefix(field)).unwrap();
    line.trim().to_string()
}

fn ns(pid: impl std::fmt::Display, file: &str) -> std::path::PathBuf {
    std::fs::read_link(format!("/proc/{pid}/ns/{file}")).unwrap()
}

/// A bundle whose program leaves a file in its rootfs, with exactly these namespaces of the
/// default config's, a user namespace mapping the host's ids onto themselves (so that the
/// program may write in the host-owned rootfs) and, with `hook`, a poststart hook.
fn bundle(mount: bool, pid: bool, user: bool, hook: bool) -> Bundle {
    let b = Bundle::new();
    b.set_args(&["/probe", "write", "/ran", "yes"]);
    b.config_mut(|c| {
        c["root"]["readonly"] = json!(false);
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| match n["type"].as_str().unwrap() {
                "mount" => mount,
                "pid" => pid,
                _ => true,
            });
        if user {
            // proc may be mounted only by a user namespace owning the pid namespace.
            if !pid {
                c["mounts"].as_array_mut().unwrap().retain(|m| m["type"] != "proc");
            }
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}));
            let map = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
            c["linux"]["uidMappings"] = map.clone();
            c["linux"]["gidMappings"] = map;
        }
        if hook {
            c["hooks"] = json!({"poststart": [{"path": "/bin/true"}]});
        }
    });
    b
}

#[test]
fn every_phase_pauses_before_the_program_in_every_namespace_combination() {
    let host = std::process::id();
    // Before the bounding set is limited it is the runtime's, or every capability in a new
    // user namespace.
    let last_cap: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let unlimited = [
        status_field(host, "CapBnd:"),
        format!("{:016x}", (1u64 << (last_cap + 1)) - 1),
    ];
    for mount in [true, false] {
        for pid_ns in [true, false] {
            for user in [true, false] {
                for hook in [true, false] {
                    for phase in PHASES {
                        let case = format!("--pause-at {phase}, mount {mount}, pid {pid_ns}, user {user}, hook {hook}");
                        let b = bundle(mount, pid_ns, user, hook);
                        let ran = b.rootfs().join("ran");
                        let rt = Runtime::new();
                        let id = unique_id(phase);
                        let (status, err) = rt.run_bg(&[
                            "create",
                            "--pause-at",
                            phase,
                            "--bundle",
                            b.path().to_str().unwrap(),
                            &id,
                        ]);
                        assert!(status.success(), "{case}: create failed: {err}");
                        assert!(!ran.exists(), "{case}: the program ran during create");
                        assert_eq!(rt.state(&id)["status"], "created", "{case}");
                        let pid = rt.pid(&id);
                        for (file, own) in [("mnt", mount), ("pid", pid_ns), ("user", user)] {
                            assert_eq!(ns(pid, file) != ns(host, file), own, "{case}: own {file} namespace?");
                        }
                        let in_rootfs = std::fs::read_dir(format!("/proc/{pid}/root"))
                            .unwrap()
                            .any(|e| e.unwrap().file_name() == "probe");
                        assert_eq!(
                            in_rootfs,
                            !matches!(phase, "namespaces" | "mounts"),
                            "{case}: in the rootfs?"
                        );
                        let limited = !unlimited.contains(&status_field(pid, "CapBnd:"));
                        assert_eq!(limited, phase == "exec", "{case}: bounding set limited?");
                        let out = rt.run(&["start", &id]);
                        assert!(out.status.success(), "{case}: start failed: {}", describe(&out));
                        wait_for_status(&rt, &id, "stopped");
                        assert_eq!(
                            std::fs::read_to_string(&ran).ok().as_deref(),
                            Some("yes"),
                            "{case}: after start"
                        );
                        rt.run_ok(&["delete", &id]);
                        assert_nothing_left(&rt, &id, b.path());
                    }
                }
            }
        }
    }
}
