//! /proc as the runtime reaches it. A mount from config.json may not cover what the kernel says
//! in the container's /proc, and what the init writes there (sysctls, oom_score_adj) or decides
//! on (setgroups) goes to the host's procfs, whatever the container's "/proc" is.

mod common;

use common::*;
use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};

/// What the image's files hold before the runtime runs.
const DECOY: &str = "decoy\n";

/// A namespaced sysctl that a new network namespace starts at 64.
const TTL: &str = "net.ipv4.ip_default_ttl";

/// A supplementary group the runtime is started with: the container's process, which asks for
/// none, must not keep it.
const HOST_GROUP: libc::gid_t = 4242;

/// `run --bundle B ID`, started with HOST_GROUP as the runtime's supplementary group when
/// `grouped`; checks that it worked and left nothing.
fn run(b: &Bundle, id: &str, grouped: bool) -> Output {
    let rt = Runtime::new();
    let mut cmd = rt.cmd();
    cmd.args(["run", "--bundle", b.path().to_str().unwrap(), id]);
    let out = output(cmd, grouped);
    assert!(out.status.success(), "{}", describe(&out));
    assert_nothing_left(&rt, id, b.path());
    out
}

/// The output of `cmd`, run with HOST_GROUP as its supplementary group when `grouped`.
fn output(mut cmd: Command, grouped: bool) -> Output {
    if grouped {
        // SAFETY: setgroups between fork and exec, with a valid one-element list.
        unsafe {
            cmd.pre_exec(|| match libc::setgroups(1, &HOST_GROUP) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            });
        }
    }
    cmd.stdin(Stdio::null()).output().expect("run the runtime")
}

/// A bundle without a proc mount on /proc, whose image has there a directory of files made to
/// catch what the runtime writes and to tell it setgroups is denied; the real procfs is at
/// /realproc for the probe.
fn bundle_with_a_decoy_proc() -> Bundle {
    let b = Bundle::new();
    let proc = b.rootfs().join("proc");
    for (file, content) in [
        ("sys/net/ipv4/ip_default_ttl", DECOY),
        ("self/oom_score_adj", DECOY),
        ("self/setgroups", "deny\n"),
    ] {
        let path = proc.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    b.config_mut(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.retain(|m| m["destination"] != "/proc");
        mounts.push(json!({"destination": "/realproc", "type": "proc", "source": "proc"}));
        // Masks, read-only paths and a read-only root are other defences: left out, so that
        // only what is tested here meets the decoy.
        c["linux"]["maskedPaths"] = json!([]);
        c["linux"]["readonlyPaths"] = json!([]);
        c["root"]["readonly"] = json!(false);
        c["linux"]["sysctl"] = json!({TTL: "77"});
        c["process"]["oomScoreAdj"] = json!(123);
    });
    b
}

fn decoys(b: &Bundle) -> Vec<(String, String)> {
    let proc = b.rootfs().join("proc");
    ["sys/net/ipv4/ip_default_ttl", "self/oom_score_adj", "self/setgroups"]
        .iter()
        .map(|f| (f.to_string(), std::fs::read_to_string(proc.join(f)).unwrap()))
        .collect()
}

fn unchanged(b: &Bundle) {
    let want = [DECOY, DECOY, "deny\n"];
    for ((file, content), want) in decoys(b).into_iter().zip(want) {
        assert_eq!(content, want, "the runtime wrote to the image's /proc/{file}");
    }
}

fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", describe(out)))
}

#[test]
fn a_rootfs_proc_made_to_catch_writes_gets_none_of_them() {
    // Before the fix the sysctl and oom_score_adj landed in the image's files (the container
    // kept 64 and 0), and the image's "deny" kept the runtime's group in the container. runc
    // 1.1.5 too writes the sysctl into the image's file, then refuses to go on because its
    // /proc/self/fd is not on a procfs.
    let b = bundle_with_a_decoy_proc();
    for (file, want) in [("sys/net/ipv4/ip_default_ttl", "77\n"), ("self/oom_score_adj", "123\n")] {
        b.set_args(&["/probe", "read", &format!("/realproc/{file}")]);
        let out = run(&b, &unique_id("decoy"), false);
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{file}: {}", describe(&out));
        unchanged(&b);
    }
    b.set_args(&["/probe", "report"]);
    let r = report(&run(&b, &unique_id("decoy-groups"), true));
    assert_eq!(
        r["groups"],
        json!([]),
        "the runtime's supplementary group reached the container"
    );
    unchanged(&b);
}

#[test]
fn exec_does_not_believe_the_containers_proc_either() {
    let b = bundle_with_a_decoy_proc();
    b.set_args(&["/probe", "sleep", "60"]);
    let rt = Runtime::new();
    let id = unique_id("decoy-exec");
    rt.run_bg_ok(&["run", "--detach", "--bundle", b.path().to_str().unwrap(), &id]);
    let mut cmd = rt.cmd();
    cmd.args(["exec", &id, "/probe", "report"]);
    let out = output(cmd, true);
    rt.run_ok(&["delete", "--force", &id]);
    assert_nothing_left(&rt, &id, b.path());
    assert_eq!(
        report(&out)["groups"],
        json!([]),
        "the runtime's supplementary group reached the process"
    );
    unchanged(&b);
}

#[test]
fn a_host_proc_without_sys_gives_way_to_a_private_procfs() {
    // A service with ProcSubset=pid sees a /proc without sys/: the sysctl must still be set.
    let b = Bundle::new();
    b.set_args(&["/probe", "read", "/proc/sys/net/ipv4/ip_default_ttl"]);
    b.config_mut(|c| c["linux"]["sysctl"] = json!({TTL: "77"}));
    let rt = Runtime::new();
    let id = unique_id("subset-pid");
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount -t proc -o subset=pid proc /proc && exec \"$@\"")
        .arg("sh")
        .arg(runtime_bin())
        .arg("--root")
        .arg(&rt.root)
        .args(["run", "--bundle", b.path().to_str().unwrap(), &id]);
    let out = output(cmd, false);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "77\n", "{}", describe(&out));
    assert_nothing_left(&rt, &id, b.path());
}
