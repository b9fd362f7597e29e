//! scrun killed with SIGKILL anywhere in start-up, and state.json lost or corrupted under a
//! running container: `delete --force` must leave the host as it was before the container.
//!
//! The kill points are spread over the whole start-up without ptrace: `--trace` prints a line
//! at each step (the runtime's and the init's), and the driver kills after the k-th line plus
//! a random delay, with `create --pause-at` moving the point where create hands over. The
//! choices come from a seeded generator: SCRUN_CRASH_SEED=N reproduces a failure, and
//! SCRUN_CRASH_POINTS=N sets how many points each test tries (12 by default).

mod common;

use common::*;
use std::fs;
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The environment variable that marks every process of a test container: scrun itself, its
/// init (a fork) and the container's processes (from process.env).
const MARK: &str = "SCRUN_CRASH_MARK";

/// xorshift64*: enough spread for kill points, and the same sequence from the same seed.
struct Rng(u64);

impl Rng {
    fn from_env() -> (Rng, u64) {
        let seed = std::env::var("SCRUN_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5c7_0b5e);
        (Rng(seed.max(1)), seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

fn points() -> usize {
    std::env::var("SCRUN_CRASH_POINTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12)
}

/// A bundle whose process sleeps, marked with `id`; with `cgroups_path`, linux.cgroupsPath
/// names the cgroup (its last part the id, so that cgroups_named finds it).
fn bundle(id: &str, cgroups_path: bool) -> Bundle {
    let bundle = Bundle::new();
    bundle.config_mut(|c| {
        c["process"]["args"] = serde_json::json!(["/probe", "sleep", "100"]);
        let env = c["process"]["env"].as_array_mut().expect("process.env");
        env.push(format!("{MARK}={id}").into());
        if cgroups_path {
            c["linux"]["cgroupsPath"] = format!("{}/{id}", crash_parent()).into();
        }
    });
    bundle
}

/// The parent of the cgroups the odd points name: this test process's own, removed at the end.
fn crash_parent() -> String {
    format!("/scrun-crash-{}", std::process::id())
}

/// Remove the parent once no test of this process uses it (best effort: the last one does).
fn remove_crash_parent() {
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
        let _ = std::fs::remove_dir(hierarchy.path().join(crash_parent().trim_start_matches('/')));
    }
}

/// Everything of container `id` the host shows: cgroup directories named for it, mounts
/// mentioning the bundle or --root, processes carrying its mark, and files under --root whose
/// name there holds the id.
fn footprint(rt: &Runtime, bundle: &Path, id: &str) -> Vec<String> {
    let mut found: Vec<String> = cgroups_named(id)
        .into_iter()
        .map(|c| format!("cgroup {}", c.display()))
        .collect();
    let (b, r) = (bundle.to_string_lossy(), rt.root.to_string_lossy());
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    found.extend(
        mountinfo
            .lines()
            .filter(|l| l.contains(&*b) || l.contains(&*r))
            .map(|l| format!("mount {l}")),
    );
    found.extend(marked_processes(id).into_iter().map(|p| format!("process {p}")));
    let mut todo = vec![rt.root.clone()];
    while let Some(dir) = todo.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            // Other containers of the same --root (and the seccomp cache) are not this one's.
            if dir == rt.root && !entry.file_name().to_string_lossy().contains(id) {
                continue;
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(path.clone());
            }
            found.push(format!("file {}", path.display()));
        }
    }
    found
}

/// Live processes whose environment holds the mark of `id`: pid and command line.
fn marked_processes(id: &str) -> Vec<String> {
    let needle = format!("{MARK}={id}\0");
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.parse::<i32>().is_err() {
            continue;
        }
        let environ = fs::read(entry.path().join("environ")).unwrap_or_default();
        if String::from_utf8_lossy(&environ).contains(&needle) {
            let stat = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // A zombie is gone but for its parent's wait.
            if stat.rsplit(") ").next().is_some_and(|s| s.starts_with('Z')) {
                continue;
            }
            let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push(format!(
                "{name}: {}",
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            ));
        }
    }
    found
}

/// Panics with `what` unless the host shows nothing of `id`, allowing killed processes a
/// moment to be reaped.
fn assert_clean(rt: &Runtime, bundle: &Path, id: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = footprint(rt, bundle, id);
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!("{what}: left behind:\n{}", left.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Spawns the runtime with `args` (plus --trace) and SIGKILLs it after `line` trace lines and
/// `delay_us` more, or lets it finish if it prints fewer. Says what happened.
fn kill_at(rt: &Runtime, id: &str, args: &[&str], line: u64, delay_us: u64) -> String {
    let mut child: Child = rt
        .cmd()
        .args(args)
        .env(MARK, id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the runtime");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    // The container's process inherits the pipe: the reader ends when that dies, not scrun.
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut last = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = 0;
    while seen < line && Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            break;
        }
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(20)) {
            seen += 1;
            last = l;
        }
    }
    std::thread::sleep(Duration::from_micros(delay_us));
    let killed = child.try_wait().ok().flatten().is_none();
    let _ = child.kill();
    let status = child.wait().expect("wait for the runtime");
    format!(
        "`{}` {} after trace line {seen} ({last:?}) + {delay_us} µs",
        args.join(" "),
        if killed {
            "killed".to_string()
        } else {
            format!("finished first ({status})")
        }
    )
}

/// For each point: run `scenario` (which starts the container and kills the runtime at the
/// point), then `delete --force`, and check the host is back as before; then a fresh create
/// of the same id must work, and be cleaned as well.
fn crash_points(name: &str, scenario: impl Fn(&Runtime, &Bundle, &str, &mut Rng) -> String) {
    let (mut rng, seed) = Rng::from_env();
    let rt = Runtime::new();
    for n in 0..points() {
        let id = unique_id(name);
        let bundle = bundle(&id, n % 2 == 1);
        let before = footprint(&rt, bundle.path(), &id);
        assert!(before.is_empty(), "not clean before: {before:?}");
        let what = format!("seed {seed}, point {n}: {}", scenario(&rt, &bundle, &id, &mut rng));
        let out = rt.run(&["delete", "--force", &id]);
        assert!(
            out.status.success(),
            "{what}: delete --force failed:\n{}",
            describe(&out)
        );
        assert_clean(&rt, bundle.path(), &id, &what);
        let b = bundle.path().to_str().unwrap();
        let (status, err) = rt.run_bg(&["create", "--bundle", b, &id]);
        assert!(
            status.success(),
            "{what}: create of the same id afterwards failed: {err}"
        );
        rt.run_ok(&["delete", "--force", &id]);
        assert_clean(&rt, bundle.path(), &id, &format!("{what}, then create and delete"));
    }
    remove_crash_parent();
}

/// About how many trace lines a create prints (the default spec's, above): the kill points are
/// drawn a bit beyond, so some land after it finished.
const LINES: u64 = 80;

#[test]
fn create_killed_anywhere_leaves_nothing_after_delete_force() {
    crash_points("crash-create", |rt, bundle, id, rng| {
        let phase = ["namespaces", "mounts", "pivot", "identity", "exec"][rng.below(5) as usize];
        let b = bundle.path().to_str().unwrap();
        let args = ["create", "--trace", "--pause-at", phase, "--bundle", b, id];
        kill_at(rt, id, &args, rng.below(LINES), rng.below(3000))
    });
}

#[test]
fn run_killed_anywhere_leaves_nothing_after_delete_force() {
    crash_points("crash-run", |rt, bundle, id, rng| {
        let b = bundle.path().to_str().unwrap();
        let args = ["run", "--trace", "--bundle", b, id];
        kill_at(rt, id, &args, rng.below(LINES), rng.below(3000))
    });
}

#[test]
fn exec_killed_anywhere_leaves_nothing_after_delete_force() {
    crash_points("crash-exec", |rt, bundle, id, rng| {
        let b = bundle.path().to_str().unwrap();
        rt.run_bg_ok(&["run", "--detach", "--bundle", b, id]);
        let args = ["exec", "--trace", id, "/probe", "sleep", "100"];
        kill_at(rt, id, &args, rng.below(LINES / 2), rng.below(3000))
    });
}

#[test]
fn delete_killed_anywhere_leaves_nothing_after_delete_force() {
    crash_points("crash-delete", |rt, bundle, id, rng| {
        let b = bundle.path().to_str().unwrap();
        rt.run_bg_ok(&["run", "--detach", "--bundle", b, id]);
        // delete prints no trace: the points are spread by time alone.
        kill_at(rt, id, &["delete", "--force", id], 0, rng.below(6000))
    });
}

#[test]
fn update_killed_anywhere_leaves_nothing_after_delete_force() {
    crash_points("crash-update", |rt, bundle, id, rng| {
        let b = bundle.path().to_str().unwrap();
        rt.run_bg_ok(&["run", "--detach", "--bundle", b, id]);
        let limit = (100 + rng.below(100)).to_string();
        kill_at(
            rt,
            id,
            &["update", "--pids-limit", &limit, "--memory", "67108864", id],
            0,
            rng.below(4000),
        )
    });
}

/// What happens to state.json.
const CORRUPTIONS: [(&str, Option<&[u8]>); 4] = [
    ("missing", None),
    ("empty", Some(b"")),
    ("truncated", Some(b"{\"id\":\"x\",\"pid\":1")),
    ("garbage", Some(b"\x7fELF\x00not json at all")),
];

#[test]
fn corrupt_state_is_named_listed_and_force_deleted() {
    let rt = Runtime::new();
    let other_id = unique_id("crash-other");
    let other = bundle(&other_id, false);
    let o = other.path().to_str().unwrap();
    rt.run_bg_ok(&["run", "--detach", "--bundle", o, &other_id]);
    for (kind, content) in CORRUPTIONS {
        let id = unique_id(&format!("crash-{kind}"));
        let bundle = bundle(&id, kind == "truncated");
        let b = bundle.path().to_str().unwrap();
        rt.run_bg_ok(&["run", "--detach", "--bundle", b, &id]);
        assert!(!marked_processes(&id).is_empty(), "{kind}: the container does not run");
        let state_file = rt.root.join(&id).join("state.json");
        match content {
            None => fs::remove_file(&state_file).unwrap(),
            Some(c) => fs::write(&state_file, c).unwrap(),
        }
        let file = state_file.to_str().unwrap();
        for args in [vec!["state", &id], vec!["delete", &id]] {
            let out = rt.run(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success() && err.contains("corrupt") && err.contains(file),
                "{kind}: `{}` does not say the state ({file}) is corrupt:\n{}",
                args.join(" "),
                describe(&out)
            );
        }
        let out = rt.run_ok(&["list"]);
        let text = String::from_utf8_lossy(&out.stdout);
        let row = |id: &str| {
            text.lines()
                .find(|l| l.split_whitespace().next() == Some(id))
                .map(str::to_string)
        };
        assert!(
            row(&id).is_some_and(|r| r.contains("corrupt")),
            "{kind}: list does not show {id} as corrupt:\n{text}"
        );
        assert!(
            row(&other_id).is_some_and(|r| r.contains("running")),
            "{kind}: list lost {other_id}:\n{text}"
        );
        let out = rt.run_ok(&["list", "--format", "json"]);
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("list JSON");
        assert!(
            list.as_array().unwrap().iter().any(|c| c["id"] == other_id.as_str()),
            "{kind}: list --format json lost {other_id}: {list}"
        );
        rt.run_ok(&["delete", "--force", &id]);
        assert_clean(&rt, bundle.path(), &id, kind);
        rt.run_bg_ok(&["create", "--bundle", b, &id]);
        rt.run_ok(&["delete", "--force", &id]);
        assert_clean(&rt, bundle.path(), &id, &format!("{kind}, then create and delete"));
        assert_eq!(rt.state(&other_id)["status"], "running", "{kind}: the other container");
    }
    rt.run_ok(&["delete", "--force", &other_id]);
    assert_clean(&rt, other.path(), &other_id, "the other container");
}
