//! One test per feature of config.json: each runs a real container whose only file is the
//! probe, and asserts on what the probe saw from inside.

mod common;

use common::*;
use serde_json::{json, Value};
use std::process::Output;

/// Run the probe's report in a container whose config `patch` adjusts; check nothing is left.
fn report(patch: impl FnOnce(&mut Value)) -> Value {
    let bundle = Bundle::new();
    bundle.config_mut(patch);
    let rt = Runtime::new();
    let id = unique_id("feature");
    let (_, report) = run_probe(&bundle, &rt, &id);
    assert_nothing_left(&rt, &id, bundle.path());
    report
}

/// Run the probe with `args` in a container `patch` adjusts, returning what `run` printed.
fn probe_run(args: &[&str], patch: impl FnOnce(&mut Value)) -> Output {
    let bundle = Bundle::new();
    bundle.config_mut(patch);
    let mut full = vec!["/probe"];
    full.extend(args);
    bundle.set_args(&full);
    let rt = Runtime::new();
    let id = unique_id("probe");
    let out = rt.run(&["run", "--bundle", bundle.path().to_str().unwrap(), &id]);
    assert_nothing_left(&rt, &id, bundle.path());
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn mount<'a>(report: &'a Value, at: &str) -> Option<&'a Value> {
    report["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["mount_point"] == at)
}

fn dev<'a>(report: &'a Value, path: &str) -> Option<&'a Value> {
    report["dev"].as_array().unwrap().iter().find(|d| d["path"] == path)
}

fn add_namespace(c: &mut Value, ns: Value) {
    c["linux"]["namespaces"].as_array_mut().unwrap().push(ns);
}

fn remove_namespace(c: &mut Value, kind: &str) {
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != kind);
}

#[test]
fn pid_namespace_makes_the_process_pid_1() {
    let r = report(|_| {});
    assert_eq!(r["pid"], 1);
    assert_eq!(r["ppid"], 0);
}

#[test]
fn hostname_and_domainname_are_set() {
    let r = report(|c| {
        c["hostname"] = json!("box");
        c["domainname"] = json!("example.org");
    });
    assert_eq!(r["hostname"], "box");
    assert_eq!(r["domainname"], "example.org");
}

#[test]
fn new_network_namespace_has_only_lo_and_it_is_up() {
    let r = report(|_| {});
    assert_eq!(r["interfaces"], json!([{"name": "lo", "up": true, "loopback": true}]));
}

#[test]
fn without_network_namespace_the_host_interfaces_are_seen() {
    let r = report(|c| remove_namespace(c, "network"));
    assert!(r["interfaces"].as_array().unwrap().len() > 1, "{}", r["interfaces"]);
}

#[test]
fn user_namespace_maps_root_to_an_unprivileged_host_uid() {
    let bundle = Bundle::new();
    // As engines do for a user namespace: the image belongs to the mapped root.
    std::os::unix::fs::chown(bundle.rootfs(), Some(100000), Some(100000)).unwrap();
    bundle.set_args(&["/probe", "read", "/proc/self/uid_map"]);
    bundle.config_mut(|c| {
        add_namespace(c, json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    let rt = Runtime::new();
    let id = unique_id("userns");
    let out = rt.run(&["run", "--bundle", bundle.path().to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let map: Vec<String> = stdout(&out).split_whitespace().map(String::from).collect();
    assert_eq!(map, ["0", "100000", "65536"]);
    assert_nothing_left(&rt, &id, bundle.path());
}

#[test]
fn joining_a_namespace_by_path_shares_it() {
    let rt = Runtime::new();
    let a = Bundle::new();
    a.config_mut(|c| c["hostname"] = json!("shared-uts"));
    a.set_args(&["/probe", "sleep", "30"]);
    let id_a = unique_id("ns-owner");
    rt.run_bg_ok(&["create", "--bundle", a.path().to_str().unwrap(), &id_a]);
    let pid = rt.pid(&id_a);

    let r = report(|c| {
        remove_namespace(c, "uts");
        add_namespace(c, json!({"type": "uts", "path": format!("/proc/{pid}/ns/uts")}));
        c["hostname"] = Value::Null;
    });
    assert_eq!(r["hostname"], "shared-uts");
    rt.run_ok(&["delete", "--force", &id_a]);
}

#[test]
fn tmpfs_mount_gets_its_options() {
    let r = report(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/scratch/space", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", "noexec", "mode=700", "size=1m"]
        }));
    });
    let m = mount(&r, "/scratch/space").expect("tmpfs mounted");
    assert_eq!(m["fstype"], "tmpfs");
    assert_eq!(m["options"], "rw,nosuid,nodev,noexec,relatime");
    assert!(m["super_options"].as_str().unwrap().contains("size=1024k"), "{m}");
    assert!(m["super_options"].as_str().unwrap().contains("mode=700"), "{m}");
}

#[test]
fn bind_mounts_of_files_and_directories_rw_and_ro() {
    let host = std::env::temp_dir().join(unique_id("bind-src"));
    std::fs::create_dir_all(host.join("dir")).unwrap();
    std::fs::write(host.join("dir/inside"), "from the host").unwrap();
    std::fs::write(host.join("file"), "a host file").unwrap();
    let out = probe_run(&["read", "/mnt/ro/inside"], |c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(
            json!({"destination": "/mnt/ro", "type": "bind", "source": host.join("dir"), "options": ["rbind", "ro"]}),
        );
        mounts.push(
            json!({"destination": "/mnt/file", "type": "none", "source": host.join("file"), "options": ["bind"]}),
        );
    });
    assert_eq!(stdout(&out), "from the host");

    let write_ro = probe_run(&["write", "/mnt/ro/new", "x"], |c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/mnt/ro", "source": host.join("dir"), "options": ["bind", "ro"]}));
    });
    assert!(
        stdout(&write_ro).contains("Read-only file system"),
        "{}",
        describe(&write_ro)
    );
    assert!(!host.join("dir/new").exists());

    let write_rw = probe_run(&["write", "/mnt/file", "changed"], |c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/mnt/file", "source": host.join("file"), "options": ["bind", "rw"]}));
    });
    assert_eq!(stdout(&write_rw).trim(), "ok", "{}", describe(&write_rw));
    assert_eq!(std::fs::read_to_string(host.join("file")).unwrap(), "changed");
    std::fs::remove_dir_all(host).unwrap();
}

#[test]
fn tmpcopyup_copies_the_image_content_into_the_tmpfs() {
    let bundle = Bundle::new();
    std::fs::create_dir_all(bundle.rootfs().join("data")).unwrap();
    std::fs::write(bundle.rootfs().join("data/seed"), "image content").unwrap();
    bundle.config_mut(|c| {
        c["root"]["readonly"] = json!(true);
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "mode=755"]
        }));
    });
    bundle.set_args(&["/probe", "read", "/data/seed"]);
    let rt = Runtime::new();
    let id = unique_id("copyup");
    let out = rt.run(&["run", "--bundle", bundle.path().to_str().unwrap(), &id]);
    assert_eq!(stdout(&out), "image content", "{}", describe(&out));
    // Writes land in the tmpfs, not in the image.
    bundle.set_args(&["/probe", "write", "/data/seed", "changed"]);
    let out = rt.run(&["run", "--bundle", bundle.path().to_str().unwrap(), &id]);
    assert_eq!(stdout(&out).trim(), "ok", "{}", describe(&out));
    assert_eq!(
        std::fs::read_to_string(bundle.rootfs().join("data/seed")).unwrap(),
        "image content"
    );
    assert_nothing_left(&rt, &id, bundle.path());
}

#[test]
fn dev_has_the_default_nodes_and_symlinks() {
    let r = report(|_| {});
    for (name, major, minor) in [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ] {
        let d = dev(&r, &format!("/dev/{name}")).unwrap_or_else(|| panic!("/dev/{name} missing"));
        assert_eq!(
            (d["kind"].as_str(), d["major"].as_i64(), d["minor"].as_i64()),
            (Some("char"), Some(major), Some(minor)),
            "{d}"
        );
        assert_eq!(d["mode"], "0666");
    }
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
        ("/dev/ptmx", "pts/ptmx"),
    ] {
        assert_eq!(
            dev(&r, link).unwrap_or_else(|| panic!("{link} missing"))["target"],
            target
        );
    }
    assert_eq!(mount(&r, "/dev/pts").unwrap()["fstype"], "devpts");
    assert_eq!(mount(&r, "/dev/shm").unwrap()["fstype"], "tmpfs");
    assert_eq!(mount(&r, "/dev/mqueue").unwrap()["fstype"], "mqueue");
}

#[test]
fn linux_devices_are_created_with_their_owner_and_mode() {
    let r = report(|c| {
        c["linux"]["devices"] = json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640, "uid": 7, "gid": 8}]);
    });
    let d = dev(&r, "/dev/fuse").expect("/dev/fuse created");
    assert_eq!((d["major"].as_i64(), d["minor"].as_i64()), (Some(10), Some(229)));
    assert_eq!(
        (d["mode"].as_str(), d["uid"].as_i64(), d["gid"].as_i64()),
        (Some("0640"), Some(7), Some(8))
    );
}

#[test]
fn etc_files_are_generated_for_a_scratch_image() {
    let r = report(|c| c["hostname"] = json!("scratchy"));
    assert_eq!(r["etc"]["hostname"], "scratchy\n");
    let hosts = r["etc"]["hosts"].as_str().unwrap();
    assert!(hosts.contains("127.0.0.1\tlocalhost"), "{hosts}");
    assert!(hosts.contains("scratchy"), "{hosts}");
    let resolv = r["etc"]["resolv.conf"].as_str().unwrap();
    assert!(
        !resolv.contains("nameserver 127."),
        "loopback nameserver kept in a new netns: {resolv}"
    );
    assert_eq!(r["etc"]["mtab"], "/proc/mounts");
    let m = mount(&r, "/etc/hosts").expect("/etc/hosts is a mount");
    assert!(m["options"].as_str().unwrap().starts_with("ro,"), "{m}");
}

#[test]
fn a_config_mount_on_etc_hosts_wins_over_the_generated_one() {
    let host = std::env::temp_dir().join(unique_id("hosts"));
    std::fs::write(&host, "10.1.2.3 engine-made\n").unwrap();
    let r = report(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/etc/hosts", "type": "bind", "source": host, "options": ["rbind", "ro"]}));
    });
    assert_eq!(r["etc"]["hosts"], "10.1.2.3 engine-made\n");
    std::fs::remove_file(host).unwrap();
}

#[test]
fn masked_paths_read_empty_and_cannot_be_written() {
    let read = probe_run(&["read", "/proc/timer_list"], |c| {
        c["linux"]["maskedPaths"] = json!(["/proc/timer_list", "/proc/acpi"])
    });
    assert_eq!(read.status.code(), Some(0), "{}", describe(&read));
    assert_eq!(stdout(&read), "");
    let ls = probe_run(&["ls", "/proc/acpi"], |c| {
        c["linux"]["maskedPaths"] = json!(["/proc/acpi"])
    });
    assert_eq!(stdout(&ls), "");
    let write = probe_run(&["write", "/proc/acpi/x", "y"], |c| {
        c["linux"]["maskedPaths"] = json!(["/proc/acpi"])
    });
    assert!(stdout(&write).contains("error"), "{}", describe(&write));
}

#[test]
fn readonly_paths_refuse_writes() {
    let out = probe_run(&["write", "/proc/sys/kernel/hostname", "evil"], |c| {
        c["linux"]["readonlyPaths"] = json!(["/proc/sys"]);
    });
    assert!(stdout(&out).contains("Read-only file system"), "{}", describe(&out));
}

#[test]
fn readonly_root_refuses_writes_and_writable_root_accepts_them() {
    let ro = probe_run(&["write", "/newfile", "x"], |c| c["root"]["readonly"] = json!(true));
    assert!(stdout(&ro).contains("Read-only file system"), "{}", describe(&ro));
    let rw = probe_run(&["write", "/newfile", "x"], |c| c["root"]["readonly"] = json!(false));
    assert_eq!(stdout(&rw).trim(), "ok", "{}", describe(&rw));
}

#[test]
fn sysctl_is_applied_inside_the_container() {
    let out = probe_run(&["read", "/proc/sys/net/ipv4/ip_forward"], |c| {
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        c["linux"]["readonlyPaths"] = json!([]);
    });
    assert_eq!(stdout(&out), "1\n", "{}", describe(&out));
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let out = probe_run(&["read", "/proc/sys/net/ipv4/ip_forward"], |c| {
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "0"});
        c["linux"]["readonlyPaths"] = json!([]);
    });
    assert_eq!(stdout(&out), "0\n");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host,
        "the host's value changed"
    );
}

#[test]
fn user_groups_and_umask_are_applied() {
    let r = report(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [5, 1002], "umask": 0o027});
    });
    assert_eq!(
        (
            r["uid"].as_i64(),
            r["euid"].as_i64(),
            r["gid"].as_i64(),
            r["egid"].as_i64()
        ),
        (Some(1000), Some(1000), Some(1001), Some(1001))
    );
    assert_eq!(r["groups"], json!([5, 1002]));
    assert_eq!(r["umask"], "0027");
}

fn caps_hex(bits: &[u32]) -> String {
    format!("{:016x}", bits.iter().fold(0u64, |a, b| a | 1 << b))
}

// CAP_CHOWN=0, CAP_KILL=5, CAP_NET_BIND_SERVICE=10. After execve the kernel recomputes the
// sets: any uid but root keeps only the ambient set. runc's containers look the same.
#[test]
fn root_gets_the_configured_sets() {
    let r = report(|c| {
        // With no_new_privs, execve cannot give root more than it had: permitted stays as set.
        c["process"]["noNewPrivileges"] = json!(true);
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
            "effective": ["CAP_KILL"],
            "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_NET_BIND_SERVICE"]
        });
    });
    assert_eq!(r["caps"]["bnd"], caps_hex(&[0, 5, 10]));
    assert_eq!(r["caps"]["prm"], caps_hex(&[5, 10]));
    assert_eq!(r["caps"]["eff"], caps_hex(&[5, 10]));
    assert_eq!(r["caps"]["inh"], caps_hex(&[10]));
    assert_eq!(r["caps"]["amb"], caps_hex(&[10]));
}

#[test]
fn a_non_root_user_keeps_only_its_ambient_capabilities() {
    let r = report(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_KILL"],
            "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_NET_BIND_SERVICE"]
        });
    });
    assert_eq!(r["uid"], 1000);
    assert_eq!(r["caps"]["bnd"], caps_hex(&[5, 10]));
    assert_eq!(r["caps"]["prm"], caps_hex(&[10]));
    assert_eq!(r["caps"]["eff"], caps_hex(&[10]));
    assert_eq!(r["caps"]["amb"], caps_hex(&[10]));
}

#[test]
fn rlimits_are_set() {
    let r = report(|c| {
        c["process"]["rlimits"] =
            json!([{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}, {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]);
    });
    assert_eq!(r["rlimits"]["RLIMIT_NOFILE"], json!({"soft": 123, "hard": 456}));
    assert_eq!(r["rlimits"]["RLIMIT_CORE"], json!({"soft": 0, "hard": 0}));
}

/// RLIMIT_NOFILE 4 leaves the init one slot beyond stdio, for the start connection: it has
/// nothing else of the runtime's open. Both ways a container starts: run, and create + start.
#[test]
fn a_nofile_limit_of_four_is_enough_to_start() {
    let b = Bundle::new();
    b.set_args(&["/probe", "hello"]);
    b.config_mut(|c| c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 4, "hard": 4}]));
    let rt = Runtime::new();
    let bundle = b.path().to_str().unwrap();
    let id = unique_id("nofile");
    let out = rt.run(&["run", "--bundle", bundle, &id]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Hello from a scratch container!\n",
        "{}",
        describe(&out)
    );
    rt.run_bg_ok(&["create", "--bundle", bundle, &id]);
    rt.run_ok(&["start", &id]);
    wait_for_status(&rt, &id, "stopped");
    rt.run_ok(&["delete", &id]);
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn no_new_privileges_follows_the_config() {
    assert_eq!(
        report(|c| c["process"]["noNewPrivileges"] = json!(true))["no_new_privs"],
        true
    );
    assert_eq!(
        report(|c| c["process"]["noNewPrivileges"] = json!(false))["no_new_privs"],
        false
    );
}

#[test]
fn oom_score_adj_is_set() {
    assert_eq!(
        report(|c| c["process"]["oomScoreAdj"] = json!(500))["oom_score_adj"],
        500
    );
}

/// -998 is what containerd's CRI plugin asks for a pod's pause process.
#[test]
fn negative_oom_score_adj_is_set_or_says_it_needs_cap_sys_resource() {
    const CAP_SYS_RESOURCE: u32 = 24;
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap();
    let patch = |c: &mut Value| c["process"]["oomScoreAdj"] = json!(-998);
    if eff & (1 << CAP_SYS_RESOURCE) != 0 {
        assert_eq!(report(patch)["oom_score_adj"], -998);
        return;
    }
    let bundle = Bundle::new();
    bundle.config_mut(patch);
    let err = create_fails(&bundle, &unique_id("oom-neg"));
    assert!(
        err.contains("oom_score_adj") && err.contains("needs CAP_SYS_RESOURCE"),
        "error: {err}"
    );
}

#[test]
fn env_is_exactly_the_configured_one_and_cwd_is_created() {
    let bundle = Bundle::new();
    bundle.config_mut(|c| {
        c["process"]["env"] = json!(["PATH=/bin", "ONLY=this"]);
        c["process"]["cwd"] = json!("/work/dir");
    });
    let rt = Runtime::new();
    let id = unique_id("env");
    let out = rt
        .cmd()
        .args(["run", "--bundle", bundle.path().to_str().unwrap(), &id])
        .env("SCRUN_HOST_SECRET", "leak")
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", describe(&out)));
    assert_eq!(r["env"], json!(["PATH=/bin", "ONLY=this", "HOME=/"]));
    assert_eq!(r["cwd"], "/work/dir");
    assert_nothing_left(&rt, &id, bundle.path());
}

#[test]
fn a_bare_program_name_is_found_on_the_containers_path() {
    let out = probe_run(&["hello"], |c| {
        c["process"]["args"] = json!(["probe", "hello"]);
        c["process"]["env"] = json!(["PATH=/nowhere:/"]);
    });
    assert_eq!(stdout(&out), "Hello from a scratch container!\n", "{}", describe(&out));
}

#[test]
fn only_stdio_reaches_the_container_unless_fds_are_preserved() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let bundle = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id("fds");
    let leaked = std::fs::File::open("/etc/hostname").unwrap();
    let raw = leaked.as_raw_fd();
    let run = |extra: &[&str]| {
        let mut cmd = rt.cmd();
        cmd.arg("run")
            .args(extra)
            .args(["--bundle", bundle.path().to_str().unwrap(), &id]);
        // SAFETY: dup2 in the child before exec, to hand the runtime an inheritable fd 3.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(raw, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let out = cmd.output().unwrap();
        let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", describe(&out)));
        report_fds(&r)
    };
    assert_eq!(run(&[]), vec![0, 1, 2]);
    assert_eq!(run(&["--preserve-fds", "1"]), vec![0, 1, 2, 3]);
    assert_nothing_left(&rt, &id, bundle.path());
}

#[test]
fn terminal_gives_the_container_a_pty_of_its_own() {
    let r = report(|c| c["process"]["terminal"] = json!(true));
    assert_eq!(r["tty"]["stdin"], true);
    assert_eq!(r["tty"]["stdout"], true);
    assert_eq!(r["tty"]["ttyname"], "/dev/pts/0");
    assert!(mount(&r, "/dev/console").is_some(), "/dev/console is bound to the pty");
}

#[test]
fn no_pivot_still_runs_the_container_in_its_rootfs() {
    let bundle = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id("nopivot");
    let out = rt.run(&["run", "--no-pivot", "--bundle", bundle.path().to_str().unwrap(), &id]);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", describe(&out)));
    assert!(r["root_entries"].as_array().unwrap().contains(&json!("probe")));
    assert_nothing_left(&rt, &id, bundle.path());
}

#[test]
fn seccomp_blocks_what_the_profile_denies() {
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    });
    let bundle = Bundle::new();
    bundle.set_args(&["/probe", "mkdir", "/tmp-blocked"]);
    let rt = Runtime::new();
    let id = unique_id("seccomp");
    // Both orders (with and without no_new_privs), and the second run of each from the
    // filter cache in --root.
    for nnp in [true, true, false, false] {
        bundle.config_mut(|c| {
            c["root"]["readonly"] = json!(false);
            c["process"]["noNewPrivileges"] = json!(nnp);
            c["linux"]["seccomp"] = profile.clone();
        });
        let out = rt.run(&["run", "--bundle", bundle.path().to_str().unwrap(), &id]);
        assert!(stdout(&out).contains("errno 38"), "nnp {nnp}: {}", describe(&out));
    }
    assert!(
        rt.root.join(".cache/seccomp").read_dir().unwrap().count() > 0,
        "nothing cached"
    );
    assert_nothing_left(&rt, &id, bundle.path());
    let r = report(|c| c["linux"]["seccomp"] = profile.clone());
    assert_eq!(r["seccomp"], 2, "filter mode");
}

#[test]
fn without_a_mount_namespace_the_container_is_chrooted_and_mounts_nothing() {
    let host_mnt = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    let bundle = Bundle::new();
    bundle.set_args(&["/probe", "hello"]);
    bundle.config_mut(|c| {
        remove_namespace(c, "mount");
        c["root"]["readonly"] = json!(false);
    });
    let rt = Runtime::new();
    let id = unique_id("nomnt");
    let before = std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().count();
    let out = rt.run(&["run", "--bundle", bundle.path().to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not applied without a mount namespace"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().count(),
        before,
        "host mounts changed"
    );
    // The probe ran in the host's mount namespace, inside the rootfs.
    bundle.set_args(&["/probe", "report"]);
    let r: Value = serde_json::from_slice(
        &rt.run(&["run", "--bundle", bundle.path().to_str().unwrap(), &id])
            .stdout,
    )
    .unwrap();
    assert_eq!(r["root_entries"], json!(["probe"]));
    assert_eq!(host_mnt, std::fs::read_link("/proc/self/ns/mnt").unwrap());
    assert_nothing_left(&rt, &id, bundle.path());
}

#[test]
fn rootfs_propagation_applies_to_the_containers_root_only() {
    let host_before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for (propagation, tag) in [
        ("shared", Some("shared:")),
        ("private", None),
        ("unbindable", Some("unbindable")),
    ] {
        let out = probe_run(&["read", "/proc/self/mountinfo"], |c| {
            c["linux"]["rootfsPropagation"] = json!(propagation)
        });
        let info = stdout(&out);
        let root = info
            .lines()
            .find(|l| l.split(' ').nth(4) == Some("/"))
            .unwrap_or_else(|| panic!("{}", describe(&out)));
        let fields: Vec<&str> = root.split(" - ").next().unwrap().split(' ').skip(6).collect();
        match tag {
            Some(t) => assert!(fields.iter().any(|f| f.starts_with(t)), "{propagation}: {root}"),
            None => assert!(fields.is_empty(), "{propagation}: {root}"),
        }
    }
    // Nothing the containers mounted reached the host, "shared" included.
    assert_eq!(std::fs::read_to_string("/proc/self/mountinfo").unwrap(), host_before);
}
