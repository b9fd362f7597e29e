//! scrun run by an ordinary user: each test makes its own user (with the /etc/subuid and
//! /etc/subgid ranges useradd gives it), runs scrun as that user through setpriv with no
//! capability, and removes the user and everything it made afterwards, even on a panic. What
//! the container saw is read from the probe.

mod common;

use common::describe;
use common::user::{edit, TestUser};
use serde_json::Value;
use std::fs;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("no probe report ({e}): {}", describe(out)))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_container_is_root_of_its_namespace_and_the_user_outside() {
    let user = TestUser::new();
    let bundle = user.bundle(&["/probe", "report"]);
    let out = user.run_ok(&["run", "--bundle", bundle.to_str().unwrap(), "rl-report"]);
    let r = report(&out);
    assert_eq!((r["euid"].as_u64(), r["egid"].as_u64()), (Some(0), Some(0)), "{r}");
    let map = |k: &str| {
        r["id_maps"][k]
            .as_str()
            .unwrap()
            .split_whitespace()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(map("uid"), ["0", &user.uid.to_string(), "1"]);
    assert_eq!(map("gid"), ["0", &user.gid.to_string(), "1"]);
    assert_eq!(r["id_maps"]["setgroups"].as_str().map(str::trim), Some("deny"));
    assert_eq!(r["hostname"], "runc");
    // The spec's capabilities, within the namespace: AUDIT_WRITE, KILL, NET_BIND_SERVICE.
    assert_eq!(r["caps"]["eff"], "0000000020000420", "{}", r["caps"]);
    assert_eq!(r["caps"]["bnd"], "0000000020000420", "{}", r["caps"]);
    // Each node is the host's, bound: owned by the host's root, which the namespace shows as
    // the overflow id; mknod would have made one owned by the container's root.
    let dev = r["dev"].as_array().unwrap();
    for (name, minor) in [("null", 3), ("zero", 5), ("full", 7), ("random", 8), ("urandom", 9)] {
        let node = dev
            .iter()
            .find(|d| d["path"] == format!("/dev/{name}"))
            .unwrap_or_else(|| panic!("no /dev/{name}: {dev:?}"));
        assert_eq!(
            (node["kind"].as_str(), node["major"].as_u64(), node["minor"].as_u64()),
            (Some("char"), Some(1), Some(minor))
        );
        assert_eq!(node["uid"], 65534, "{node}");
    }
    let mounts = r["mounts"].as_array().unwrap();
    let at = |mp: &str| {
        mounts
            .iter()
            .rev()
            .find(|m| m["mount_point"] == mp)
            .unwrap_or_else(|| panic!("nothing mounted on {mp}: {mounts:?}"))
    };
    assert_eq!(at("/proc")["fstype"], "proc");
    assert_eq!(at("/dev/pts")["fstype"], "devpts");
    assert_eq!(at("/dev/mqueue")["fstype"], "mqueue");
    // /sys is the host's, bound read-only (sysfs cannot be mounted without a network namespace).
    let sys = at("/sys");
    assert_eq!(sys["fstype"], "sysfs");
    assert!(sys["options"].as_str().unwrap().starts_with("ro,"), "{sys}");
    assert!(
        at("/")["options"].as_str().unwrap().starts_with("ro"),
        "readonly root: {}",
        at("/")
    );
    // The masks and read-only paths hold.
    assert_ne!(at("/proc/keys")["fstype"], "proc", "{}", at("/proc/keys"));
    assert!(
        at("/proc/sys")["options"].as_str().unwrap().starts_with("ro"),
        "{}",
        at("/proc/sys")
    );
    assert!(user.left().is_empty(), "left in the state root: {:?}", user.left());
}

#[test]
fn exit_codes_pass_through() {
    let user = TestUser::new();
    let bundle = user.bundle(&["/probe", "exit", "7"]);
    let out = user.run(&["run", "--bundle", bundle.to_str().unwrap(), "rl-exit"]);
    assert_eq!(out.status.code(), Some(7), "{}", describe(&out));
    assert!(user.left().is_empty(), "left in the state root: {:?}", user.left());
}

/// create, start, state, exec, ps, list, kill, delete on the user's own container; another
/// user neither lists it nor reaches it through the first one's state root.
#[test]
fn lifecycle_of_the_users_own_container() {
    let user = TestUser::new();
    let other = TestUser::new();
    let bundle = user.bundle(&["/probe", "sleep", "60"]);
    let (ok, err) = user.run_detached(&["create", "--bundle", bundle.to_str().unwrap(), "rl-life"]);
    assert!(ok, "create: {err}");
    let state: Value = serde_json::from_slice(&user.run_ok(&["state", "rl-life"]).stdout).unwrap();
    assert_eq!(state["status"], "created");
    let (ok, err) = user.run_detached(&["start", "rl-life"]);
    assert!(ok, "start: {err}");
    let out = user.run_ok(&["exec", "rl-life", "/probe", "report"]);
    let r = report(&out);
    assert_eq!(r["euid"], 0);
    assert_eq!(
        r["id_maps"]["uid"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["0", &user.uid.to_string(), "1"]
    );
    let ps = String::from_utf8(user.run_ok(&["ps", "--format", "json", "rl-life"]).stdout).unwrap();
    assert!(ps.contains(&state["pid"].to_string()), "ps: {ps}");
    let list = String::from_utf8(user.run_ok(&["list", "-q"]).stdout).unwrap();
    assert_eq!(list.trim(), "rl-life");

    let theirs = String::from_utf8(other.run_ok(&["list", "-q"]).stdout).unwrap();
    assert_eq!(theirs.trim(), "", "another user lists the container");
    let root = user.state_root();
    for args in [
        &["state", "rl-life"][..],
        &["kill", "rl-life", "KILL"],
        &["delete", "--force", "rl-life"],
    ] {
        let mut full = vec!["--root", root.to_str().unwrap()];
        full.extend_from_slice(args);
        let out = other.run(&full);
        assert!(!out.status.success(), "another user ran {args:?}: {}", describe(&out));
    }

    let out = user.run(&["pause", "rl-life"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no cgroup"), "{}", describe(&out));

    user.run_ok(&["kill", "rl-life", "KILL"]);
    for _ in 0..300 {
        let state: Value = serde_json::from_slice(&user.run_ok(&["state", "rl-life"]).stdout).unwrap();
        if state["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    user.run_ok(&["delete", "rl-life"]);
    assert!(user.left().is_empty(), "left in the state root: {:?}", user.left());
}

/// A mapping wider than the user's own id goes through newuidmap/newgidmap, within the
/// user's /etc/subuid range; process.user may then be another id.
#[test]
fn wider_mappings_come_from_subuid() {
    let user = TestUser::new();
    let (start, _) = user.subuid_range().expect("a subuid range");
    let (gid_start, _) = user.subgid_range().expect("a subgid range");
    let bundle = user.bundle(&["/probe", "report"]);
    edit(&bundle, |c| {
        let maps = |own: u32, start: u32| serde_json::json!([{"containerID": 0, "hostID": own, "size": 1}, {"containerID": 1, "hostID": start, "size": 65536}]);
        c["linux"]["uidMappings"] = maps(user.uid, start);
        c["linux"]["gidMappings"] = maps(user.gid, gid_start);
        c["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1000, "additionalGids": [5]});
    });
    let out = user.run_ok(&["run", "--bundle", bundle.to_str().unwrap(), "rl-wide"]);
    let r = report(&out);
    assert_eq!(
        (r["euid"].as_u64(), r["egid"].as_u64()),
        (Some(1000), Some(1000)),
        "{r}"
    );
    assert_eq!(r["groups"], serde_json::json!([5]));
    let uid_map: Vec<Vec<String>> = r["id_maps"]["uid"]
        .as_str()
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    assert_eq!(
        uid_map,
        [["0", &user.uid.to_string(), "1"], ["1", &start.to_string(), "65536"]].map(|l| l.map(String::from).to_vec())
    );
    assert!(user.left().is_empty(), "left in the state root: {:?}", user.left());
}

/// Bad input as the user: the error names the path or field, and nothing is left behind.
#[test]
fn bad_input_is_named() {
    let user = TestUser::new();
    let (start, count) = user.subuid_range().expect("a subuid range");
    // setpriv passes ours on to the runtime; only root of the host may raise a hard limit.
    let mut nofile = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit struct.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut nofile) }, 0);
    let raised = nofile.rlim_max + 1;
    type Change = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Change, String)> = vec![
        (
            "a mapping outside /etc/subuid",
            Box::new(move |b: &Path| {
                edit(b, |c| {
                    let outside = serde_json::json!({"containerID": 1, "hostID": start + count, "size": 10});
                    c["linux"]["uidMappings"].as_array_mut().unwrap().push(outside);
                })
            }),
            "linux.uidMappings[1]: host ids".into(),
        ),
        (
            "an unmapped process.user.uid",
            Box::new(|b: &Path| edit(b, |c| c["process"]["user"]["uid"] = 1000.into())),
            "process.user.uid: 1000 is not mapped".into(),
        ),
        (
            "a memory limit",
            Box::new(|b: &Path| {
                edit(b, |c| {
                    c["linux"]["resources"] = serde_json::json!({"memory": {"limit": 100000000}})
                })
            }),
            "linux.resources.memory.limit: needs a cgroup the user owns".into(),
        ),
        (
            "a rootfs of another user",
            Box::new(|b: &Path| chown(b.join("rootfs"), Some(0), Some(0)).unwrap()),
            "is owned by uid 0, which linux.uidMappings does not map".into(),
        ),
        (
            "an unreadable bundle",
            Box::new(|b: &Path| {
                chown(b.join("config.json"), Some(0), Some(0)).unwrap();
                fs::set_permissions(b.join("config.json"), fs::Permissions::from_mode(0o600)).unwrap();
            }),
            "config.json: Permission denied".into(),
        ),
        (
            "a hard rlimit above the user's",
            Box::new(move |b: &Path| {
                edit(
                    b,
                    |c| {
                        c["process"]["rlimits"] =
                            serde_json::json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": raised}])
                    },
                )
            }),
            format!(
                "process.rlimits[0]: set RLIMIT_NOFILE 1024/{raised}: operation not permitted (os error 1) \
                 (raising a hard limit needs CAP_SYS_RESOURCE)"
            ),
        ),
        (
            "no user namespace",
            Box::new(|b: &Path| {
                edit(b, |c| {
                    let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
                    ns.retain(|n| n["type"] != "user");
                    let linux = c["linux"].as_object_mut().unwrap();
                    linux.remove("uidMappings");
                    linux.remove("gidMappings");
                })
            }),
            "linux.namespaces: a rootless container needs a user namespace".into(),
        ),
    ];
    for (what, change, expected) in cases {
        let bundle = user.bundle(&["/probe", "report"]);
        change(&bundle);
        let out = user.run(&["run", "--bundle", bundle.to_str().unwrap(), "rl-bad"]);
        assert!(!out.status.success(), "{what}: ran");
        assert!(
            stderr(&out).contains(&expected),
            "{what}: wanted {expected:?}: {}",
            describe(&out)
        );
        assert!(
            user.left().is_empty(),
            "{what}: left in the state root: {:?}",
            user.left()
        );
    }
}

/// Without XDG_RUNTIME_DIR nor /run/user/UID there is no state root to default to.
#[test]
fn no_state_root_is_a_clear_error() {
    let user = TestUser::new();
    let out = user.cmd(&["list"]).env_remove("XDG_RUNTIME_DIR").output().unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "XDG_RUNTIME_DIR is not set and /run/user/{} does not exist",
            user.uid
        )),
        "{}",
        describe(&out)
    );
}

/// The README's learner path: a static hello world, as a normal user.
#[test]
fn the_learner_path_runs_hello() {
    let user = TestUser::new();
    let hello = user.home().join("hello");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/hello.c");
    let out = Command::new("gcc")
        .args(["-static", "-Os", "-s", "-o"])
        .arg(&hello)
        .arg(src)
        .output()
        .expect("run gcc");
    assert!(out.status.success(), "gcc: {}", describe(&out));
    user.give(&hello);
    user.run_ok(&["spec", "--scratch", "./hello", "--rootless", "--bundle", "b"]);
    let out = user.run_ok(&["run", "b"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Hello from a FROM-scratch container!\n"
    );
    assert!(user.left().is_empty(), "left in the state root: {:?}", user.left());
}

/// `spec --rootless` as written (process.terminal true), run in the foreground from a terminal
/// (script(1) gives one): the program gets a pty of the container's devpts as its stdio.
#[test]
fn the_rootless_spec_runs_on_a_terminal() {
    let user = TestUser::new();
    let bundle = user.bundle(&["/probe", "report"]);
    edit(&bundle, |c| c["process"]["terminal"] = true.into());
    let run = format!("{} run --bundle {} rl-tty", user.bin.display(), bundle.display());
    let out = user
        .command(Path::new("/usr/bin/script"))
        .args(["-qec", &run, "/dev/null"])
        .output()
        .expect("run script");
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    // A NUL may come first on the pty.
    let json = text
        .find('{')
        .zip(text.rfind('}'))
        .map(|(a, b)| &text[a..=b])
        .unwrap_or_else(|| panic!("no report: {text}"));
    let r: Value = serde_json::from_str(json).unwrap();
    assert_eq!(r["tty"]["stdin"], true, "{}", r["tty"]);
    assert_eq!(r["tty"]["ttyname"], "/dev/pts/0", "{}", r["tty"]);
    assert!(user.left().is_empty(), "left in the state root: {:?}", user.left());
}

/// explain shows the steps as they run rootless: the /dev nodes as binds of the host's, no
/// cgroup.
#[test]
fn explain_shows_the_rootless_steps() {
    let user = TestUser::new();
    let bundle = user.bundle(&["/probe", "report"]);
    let out = user.run_ok(&["explain", "--format", "json", bundle.to_str().unwrap()]);
    let explained: Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = explained["steps"].as_array().unwrap();
    let null = steps
        .iter()
        .find(|s| s["path"] == "/dev/null")
        .unwrap_or_else(|| panic!("no step for /dev/null: {steps:#?}"));
    assert_eq!(null["action"].as_str(), Some("bind_device"), "{null}");
    for gone in ["make_device", "cgroup"] {
        assert!(!steps.iter().any(|s| s["action"] == gone), "a {gone} step: {steps:#?}");
    }
}

/// `--rootless true` (runc's global flag) makes root act as a rootless runtime: /dev nodes
/// bound from the host, no cgroup for a config without limits; `false` keeps mknod and a
/// cgroup.
#[test]
fn the_rootless_flag_decides_for_root() {
    let bundle = common::Bundle::new();
    let rt = common::Runtime::new();
    let dev_null_mount = |report: &Value| {
        report["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["mount_point"] == "/dev/null")
    };
    for (flag, rootless) in [("true", true), ("false", false)] {
        let id = common::unique_id("rl-flag");
        let out = rt.run(&[
            "--rootless",
            flag,
            "run",
            "--bundle",
            bundle.path().to_str().unwrap(),
            &id,
        ]);
        assert!(out.status.success(), "--rootless {flag}: {}", describe(&out));
        let r = report(&out);
        assert_eq!(dev_null_mount(&r), rootless, "--rootless {flag}: /dev/null bound");
        let in_own_cgroup = r["cgroup"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains(&id));
        assert_eq!(in_own_cgroup, !rootless, "--rootless {flag}: {}", r["cgroup"]);
        common::assert_nothing_left(&rt, &id, bundle.path());
    }
    let out = rt.run(&["--rootless", "maybe", "list"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--rootless \"maybe\": expected true, false or auto"),
        "{}",
        describe(&out)
    );
}

/// `spec --scratch BINARY --rootless --user UID:GID` maps the user's own ids to 0 and its
/// /etc/subuid and /etc/subgid ranges from 1 on, so the program runs as that id; an id beyond
/// the range is refused before anything is made.
#[test]
fn scratch_rootless_with_another_user() {
    let user = TestUser::new();
    let probe = user.home().join("probe");
    fs::copy(common::probe(), &probe).unwrap();
    user.give(&probe);
    user.run_ok(&[
        "spec",
        "--scratch",
        "./probe",
        "--rootless",
        "--user",
        "1000:1001",
        "--bundle",
        "b",
    ]);
    let out = user.run_ok(&["run", "b"]);
    let r = report(&out);
    assert_eq!(
        (r["euid"].as_u64(), r["egid"].as_u64()),
        (Some(1000), Some(1001)),
        "{r}"
    );
    let (start, count) = user.subuid_range().expect("a subuid range");
    let second = r["id_maps"]["uid"]
        .as_str()
        .unwrap()
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let fields: Vec<&str> = second.split_whitespace().collect();
    assert_eq!(fields, ["1", &start.to_string(), &count.to_string()]);

    let beyond = (count + 1).to_string();
    let out = user.run(&[
        "spec",
        "--scratch",
        "./probe",
        "--rootless",
        "--user",
        &beyond,
        "--bundle",
        "c",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "--user: uid {beyond} is beyond the {count} ids /etc/subuid gives"
        )),
        "{}",
        describe(&out)
    );
    assert!(!user.home().join("c").exists(), "the refused bundle was left");
    assert!(user.left().is_empty(), "left in the state root: {:?}", user.left());
}
