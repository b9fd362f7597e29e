//! /proc as the runtime reaches it. A mount from config.json may not cover what the kernel says
//! in the container's /proc, and what the init writes there (sysctls, oom_score_adj) or decides
//! on (setgroups) goes to the host's procfs, whatever the container's "/proc" is.

mod common;

use common::*;
use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
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

/// A writable host file that stands for whatever a mount or the image put where the runtime
/// writes; removed on drop.
struct Decoy {
    dir: PathBuf,
}

impl Decoy {
    fn new() -> Decoy {
        let dir = std::env::temp_dir().join(unique_id("procfs-decoy"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("file"), DECOY).unwrap();
        Decoy { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.join("file")
    }

    fn content(&self) -> String {
        std::fs::read_to_string(self.path()).unwrap()
    }
}

impl Drop for Decoy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// scrun itself, not an oracle (SCRUN_TEST_RUNTIME): only scrun names the field.
fn scrun_under_test() -> bool {
    std::env::var_os("SCRUN_TEST_RUNTIME").is_none_or(|v| v.is_empty())
}

/// Adds a writable bind of `source` at `dest` and the sysctl; returns the mount's index.
fn bind_over(b: &Bundle, dest: &str, source: &Path) -> usize {
    let mut index = 0;
    b.config_mut(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        index = mounts.len();
        mounts.push(json!({"destination": dest, "type": "bind", "source": source, "options": ["bind", "rw"]}));
        c["linux"]["sysctl"] = json!({TTL: "77"});
    });
    index
}

#[test]
fn a_mount_inside_proc_is_refused_and_nothing_is_written_through_it() {
    // Before the fix the bind went in and the sysctl step wrote "77" into the host file.
    for dest in ["/proc/sys/net/ipv4/ip_default_ttl", "/proc/self/attr/exec"] {
        let decoy = Decoy::new();
        let b = Bundle::new();
        let index = bind_over(&b, dest, &decoy.path());
        let err = create_fails(&b, &unique_id("proc-mount"));
        assert!(
            err.contains("cannot be mounted because it is inside /proc"),
            "{dest}: {err}"
        );
        if scrun_under_test() {
            assert!(err.contains(&format!("mounts[{index}]: \"{dest}\"")), "{dest}: {err}");
        }
        assert_eq!(decoy.content(), DECOY, "{dest}: the write landed in the mounted file");
    }
}

#[test]
fn a_mount_led_into_proc_by_a_symlink_in_the_image_is_refused_too() {
    let decoy = Decoy::new();
    let b = Bundle::new();
    std::os::unix::fs::symlink("/proc/sys/net/ipv4", b.rootfs().join("x")).unwrap();
    let index = bind_over(&b, "/x/ip_default_ttl", &decoy.path());
    let err = create_fails(&b, &unique_id("proc-link"));
    assert!(err.contains("inside /proc"), "{err}");
    if scrun_under_test() {
        assert!(
            err.contains(&format!(
                "mounts[{index}]: mount bind on /x/ip_default_ttl: \"/x/ip_default_ttl\" leads inside /proc"
            )),
            "{err}"
        );
    }
    assert_eq!(decoy.content(), DECOY, "the write landed in the mounted file");
}

#[test]
fn the_files_lxcfs_emulates_may_still_be_bound_over() {
    let decoy = Decoy::new();
    std::fs::write(decoy.path(), "12345.67 89.01\n").unwrap();
    let b = Bundle::new();
    b.config_mut(|c| {
        c["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/proc/uptime", "type": "bind", "source": decoy.path(), "options": ["bind", "ro"]}),
        );
    });
    b.set_args(&["/probe", "read", "/proc/uptime"]);
    let out = run(&b, &unique_id("uptime"), false);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "12345.67 89.01\n",
        "{}",
        describe(&out)
    );
}
