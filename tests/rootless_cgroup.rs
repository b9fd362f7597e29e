//! A rootless container's cgroup: made below a cgroup2 cgroup delegated to the user (root
//! makes one and chowns it as systemd's Delegate=yes does), where pause, ps, kill --all and
//! delete work and limits apply for the controllers delegated; without delegation, no cgroup.
//! Each scrun runs from a shell that first moves itself into the cgroup given, as a user's
//! shell in a delegated scope would be. Asserted from the host: /proc/PID/cgroup, the cgroup
//! files.

mod common;

use common::user::{edit, TestUser};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The cgroup2 mount: /sys/fs/cgroup/unified on a hybrid host, else /sys/fs/cgroup.
fn cgroup2_mount() -> PathBuf {
    let hybrid = Path::new("/sys/fs/cgroup/unified");
    let is_cgroup2 = |p: &Path| {
        nix::sys::statfs::statfs(p).is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
    };
    if is_cgroup2(hybrid) {
        hybrid.into()
    } else {
        assert!(is_cgroup2(Path::new("/sys/fs/cgroup")), "no cgroup2 mount");
        "/sys/fs/cgroup".into()
    }
}

/// A cgroup root makes below the cgroup2 mount (named after this process), delegated to
/// `user` or not; on drop, even on a panic, every process in it is killed and it goes with
/// everything below it.
struct TestCgroup {
    dir: PathBuf,
}

impl TestCgroup {
    fn new(tag: &str, user: Option<&TestUser>) -> TestCgroup {
        let dir = cgroup2_mount().join(format!("scrun-test-{}-{tag}", std::process::id()));
        let me = TestCgroup { dir };
        me.remove();
        fs::create_dir(&me.dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", me.dir.display()));
        if let Some(user) = user {
            // What systemd's Delegate=yes chowns.
            for file in ["", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"] {
                std::os::unix::fs::chown(me.dir.join(file), Some(user.uid), Some(user.gid)).unwrap();
            }
        }
        me
    }

    /// The cgroup's path as /proc/PID/cgroup shows it (the test runs in the root cgroup).
    fn name(&self) -> String {
        format!("/{}", self.dir.strip_prefix(cgroup2_mount()).unwrap().display())
    }

    /// A cgroup of root's below this one, for the user's shell to sit in.
    fn leaf(&self) -> PathBuf {
        let leaf = self.dir.join("shell");
        fs::create_dir(&leaf).unwrap();
        leaf
    }

    fn remove(&self) {
        if !self.dir.exists() {
            return;
        }
        let _ = fs::write(self.dir.join("cgroup.kill"), "1");
        for _ in 0..200 {
            let events = fs::read_to_string(self.dir.join("cgroup.events")).unwrap_or_default();
            if !events.lines().any(|l| l == "populated 1") {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        remove_tree(&self.dir);
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A controller turned on in the cgroup2 root's subtree_control for a test, so that a cgroup
/// below can be delegated it (on this hybrid host, only hugetlb is on cgroup2), and turned off
/// again on drop if it was off: crun 1.8 refuses a hybrid host with hugetlb on there.
struct RootController {
    name: &'static str,
    was_on: bool,
}

impl RootController {
    fn enable(name: &'static str) -> RootController {
        let control = cgroup2_mount().join("cgroup.subtree_control");
        let on = |c: &str| {
            fs::read_to_string(&control)
                .unwrap_or_default()
                .split_whitespace()
                .any(|e| e == c)
        };
        let was_on = on(name);
        let available = fs::read_to_string(cgroup2_mount().join("cgroup.controllers")).unwrap_or_default();
        if !was_on && available.split_whitespace().any(|c| c == name) {
            let _ = fs::write(&control, format!("+{name}"));
        }
        RootController { name, was_on }
    }
}

impl Drop for RootController {
    fn drop(&mut self) {
        if !self.was_on {
            let _ = fs::write(
                cgroup2_mount().join("cgroup.subtree_control"),
                format!("-{}", self.name),
            );
        }
    }
}

fn remove_tree(dir: &Path) {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&e.path());
        }
    }
    if let Err(e) = fs::remove_dir(dir) {
        eprintln!("rmdir {}: {e}", dir.display());
    }
}

/// scrun as `user`, from a shell that first moves itself into cgroup `from`; stdout and stderr
/// through files (a container left running holds no pipe of ours).
fn scrun_in(user: &TestUser, from: &Path, args: &[&str]) -> (bool, String, String) {
    let inner = user.cmd(args);
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo $$ > \"$0/cgroup.procs\" && exec \"$@\""])
        .arg(from)
        .arg(inner.get_program())
        .args(inner.get_args())
        .env_clear()
        .envs(inner.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .current_dir(inner.get_current_dir().unwrap())
        .stdin(Stdio::null());
    let [out, err] = ["stdout", "stderr"].map(|f| user.base.join(format!("{f}-{}", common::unique_id("o"))));
    let status = cmd
        .stdout(fs::File::create(&out).unwrap())
        .stderr(fs::File::create(&err).unwrap())
        .status()
        .expect("run sh");
    let [out, err] = [out, err].map(|f| {
        let text = fs::read_to_string(&f).unwrap_or_default();
        let _ = fs::remove_file(f);
        text
    });
    (status.success(), out, err)
}

fn ok_in(user: &TestUser, from: &Path, args: &[&str]) -> String {
    let (ok, out, err) = scrun_in(user, from, args);
    assert!(ok, "scrun {}: {out}\n{err}", args.join(" "));
    out
}

/// The cgroup2 line of /proc/PID/cgroup.
fn cgroup_of(pid: i64) -> String {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or_else(|| panic!("no cgroup2 line: {text}"))
        .to_string()
}

fn frozen(dir: &Path) -> bool {
    fs::read_to_string(dir.join("cgroup.events"))
        .unwrap()
        .lines()
        .any(|l| l == "frozen 1")
}

fn gone(pid: i64) -> bool {
    for _ in 0..300 {
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            // A zombie has left its cgroup and waits only for its parent.
            Ok(stat) if stat.rsplit(')').next().is_some_and(|s| s.trim_start().starts_with('Z')) => return true,
            Ok(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    false
}

fn status(user: &TestUser, from: &Path, id: &str) -> Value {
    serde_json::from_str(&ok_in(user, from, &["state", id])).unwrap()
}

/// Run from the delegated cgroup itself: the container gets a cgroup of its own below it,
/// which pause freezes, ps and kill --all read, delete removes. On the code before, the init
/// stayed in the caller's cgroup and pause was refused.
#[test]
fn a_delegated_cgroup_holds_the_container() {
    let user = TestUser::new();
    let deleg = TestCgroup::new("deleg", Some(&user));
    let bundle = user.bundle(&["/probe", "sleep", "60"]);
    let b = bundle.to_str().unwrap();
    let explained: Value =
        serde_json::from_str(&ok_in(&user, &deleg.dir, &["explain", "--format", "json", b])).unwrap();
    let steps = explained["steps"].as_array().unwrap();
    assert!(
        steps.iter().any(|s| s["action"] == "cgroup"),
        "no cgroup step: {steps:#?}"
    );
    ok_in(&user, &deleg.dir, &["create", "--bundle", b, "rl-cg"]);
    let init = status(&user, &deleg.dir, "rl-cg")["pid"].as_i64().unwrap();
    let own = deleg.dir.join("scrun-rl-cg");
    assert_eq!(cgroup_of(init), format!("{}/scrun-rl-cg", deleg.name()));
    ok_in(&user, &deleg.dir, &["start", "rl-cg"]);
    ok_in(
        &user,
        &deleg.dir,
        &["exec", "--detach", "rl-cg", "/probe", "sleep", "60"],
    );
    let procs: Vec<i64> = fs::read_to_string(own.join("cgroup.procs"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(procs.len(), 2, "the init and the exec: {procs:?}");
    let ps: Vec<i64> = serde_json::from_str(&ok_in(&user, &deleg.dir, &["ps", "--format", "json", "rl-cg"])).unwrap();
    let mut sorted = procs.clone();
    sorted.sort_unstable();
    assert_eq!(ps, sorted);

    ok_in(&user, &deleg.dir, &["pause", "rl-cg"]);
    assert!(frozen(&own), "pause left {} thawed", own.display());
    assert_eq!(status(&user, &deleg.dir, "rl-cg")["status"], "paused");
    ok_in(&user, &deleg.dir, &["resume", "rl-cg"]);
    assert!(!frozen(&own), "resume left {} frozen", own.display());
    assert_eq!(status(&user, &deleg.dir, "rl-cg")["status"], "running");

    ok_in(&user, &deleg.dir, &["kill", "--all", "rl-cg", "KILL"]);
    for pid in &procs {
        assert!(gone(*pid), "kill --all left {pid} alive");
    }
    for _ in 0..300 {
        if status(&user, &deleg.dir, "rl-cg")["status"] == "stopped" {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    ok_in(&user, &deleg.dir, &["delete", "rl-cg"]);
    assert!(!own.exists(), "delete left {}", own.display());
    assert!(user.left().is_empty(), "left in the state root: {:?}", user.left());

    // The caller's own cgroup holds the caller: cgroup2 enables no controller below it, so a
    // limit is refused even for a delegated controller (hugetlb, on this hybrid host), naming it.
    edit(
        &bundle,
        |c| c["linux"]["resources"] = serde_json::json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}),
    );
    let (ok, _, err) = scrun_in(&user, &deleg.dir, &["run", "--bundle", b, "rl-cg-limit"]);
    assert!(!ok);
    assert!(
        err.contains("linux.resources.hugepageLimits: the hugetlb controller is not "),
        "{err}"
    );
    assert!(!deleg.dir.join("scrun-rl-cg-limit").exists());
    assert!(user.left().is_empty(), "left in the state root: {:?}", user.left());
}

/// Run from a cgroup below the delegated one, as a shell in a delegated systemd scope is: the
/// container's cgroup goes below the delegated cgroup, beside the caller's, and a delegated
/// controller is enabled there and limits it; one not delegated (memory is a v1 controller on
/// a hybrid host) is refused naming the limit and what the subtree has.
#[test]
fn limits_apply_where_the_controller_is_delegated() {
    let user = TestUser::new();
    // Dropped after `deleg`: the root cannot turn a controller off while a child has it on.
    let _hugetlb = RootController::enable("hugetlb");
    let deleg = TestCgroup::new("limits", Some(&user));
    let shell = deleg.leaf();
    let available = fs::read_to_string(deleg.dir.join("cgroup.controllers")).unwrap();
    let bundle = user.bundle(&["/probe", "sleep", "60"]);
    let b = bundle.to_str().unwrap();
    if available.split_whitespace().any(|c| c == "hugetlb") {
        edit(&bundle, |c| {
            c["linux"]["resources"] = serde_json::json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]});
            c["linux"]["cgroupsPath"] = "box/rl-limit".into();
        });
        ok_in(&user, &shell, &["create", "--bundle", b, "rl-limit"]);
        let own = deleg.dir.join("box/rl-limit");
        let init = status(&user, &shell, "rl-limit")["pid"].as_i64().unwrap();
        assert_eq!(cgroup_of(init), format!("{}/box/rl-limit", deleg.name()));
        assert_eq!(
            fs::read_to_string(own.join("hugetlb.2MB.max")).unwrap().trim(),
            "4194304"
        );
        let update = user.home().join("update.json");
        fs::write(
            &update,
            r#"{"hugepageLimits": [{"pageSize": "2MB", "limit": 8388608}]}"#,
        )
        .unwrap();
        user.give(&update);
        ok_in(
            &user,
            &shell,
            &["update", "--resources", update.to_str().unwrap(), "rl-limit"],
        );
        assert_eq!(
            fs::read_to_string(own.join("hugetlb.2MB.max")).unwrap().trim(),
            "8388608"
        );
        let stats: Value = serde_json::from_str(&ok_in(&user, &shell, &["events", "--stats", "rl-limit"])).unwrap();
        assert_eq!(stats["type"], "stats", "{stats}");
        if !available.split_whitespace().any(|c| c == "memory") {
            let (ok, _, err) = scrun_in(&user, &shell, &["update", "--memory", "100000000", "rl-limit"]);
            assert!(!ok);
            assert!(
                err.contains("linux.resources.memory.limit: the memory controller is not delegated"),
                "{err}"
            );
        }
        ok_in(&user, &shell, &["delete", "--force", "rl-limit"]);
        assert!(!own.exists(), "delete left {}", own.display());
    }
    if !available.split_whitespace().any(|c| c == "memory") {
        edit(&bundle, |c| {
            c["linux"]["resources"] = serde_json::json!({"memory": {"limit": 100000000}});
            c["linux"]["cgroupsPath"] = Value::Null;
        });
        let (ok, _, err) = scrun_in(&user, &shell, &["run", "--bundle", b, "rl-nomem"]);
        assert!(!ok);
        let want = format!(
            "linux.resources.memory.limit: the memory controller is not delegated to uid {} (cgroup.controllers of {}: {})",
            user.uid,
            deleg.dir.display(),
            match available.trim() {
                "" => "none",
                listed => listed,
            }
        );
        assert!(err.contains(&want), "want {want:?} in: {err}");
        assert!(!deleg.dir.join("scrun-rl-nomem").exists());
    }
    assert!(user.left().is_empty(), "left in the state root: {:?}", user.left());
}

/// A cgroup the user does not own: the old behaviour, no cgroup without limits (the init stays
/// in the caller's), pause refused saying how to get one, a limit refused naming it.
#[test]
fn without_delegation_there_is_no_cgroup() {
    let user = TestUser::new();
    let plain = TestCgroup::new("plain", None);
    let bundle = user.bundle(&["/probe", "sleep", "60"]);
    let b = bundle.to_str().unwrap();
    ok_in(&user, &plain.dir, &["create", "--bundle", b, "rl-plain"]);
    let init = status(&user, &plain.dir, "rl-plain")["pid"].as_i64().unwrap();
    assert_eq!(cgroup_of(init), plain.name());
    let (ok, _, err) = scrun_in(&user, &plain.dir, &["pause", "rl-plain"]);
    assert!(!ok);
    assert!(
        err.contains("no cgroup to freeze") && err.contains("Delegate=yes"),
        "{err}"
    );
    ok_in(&user, &plain.dir, &["delete", "--force", "rl-plain"]);

    edit(&bundle, |c| {
        c["linux"]["resources"] = serde_json::json!({"pids": {"limit": 10}})
    });
    let (ok, _, err) = scrun_in(&user, &plain.dir, &["run", "--bundle", b, "rl-plain"]);
    assert!(!ok);
    assert!(
        err.contains("linux.resources.pids.limit: needs a cgroup the user owns, and no cgroup2 cgroup is delegated"),
        "{err}"
    );
    assert!(user.left().is_empty(), "left in the state root: {:?}", user.left());
}
