//! The state store under stress: a full `--root`, and many runtimes at once on the same ids.

mod common;

use common::{assert_nothing_left, describe, pids_mentioning, Bundle, Runtime};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A bundle whose container sleeps: cheap to keep around while the store is stressed.
fn sleeping_bundle() -> Bundle {
    let bundle = Bundle::new();
    bundle.set_args(&["/probe", "sleep", "600"]);
    bundle
}

/// The entries of a directory tree, with the sizes of its files (an inode-level listing).
fn tree(dir: &Path) -> BTreeSet<(PathBuf, u64)> {
    let mut out = BTreeSet::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let md = entry.metadata().unwrap();
        out.insert((entry.path(), if md.is_file() { md.len() } else { 0 }));
        if md.is_dir() {
            out.extend(tree(&entry.path()));
        }
    }
    out
}

/// A tmpfs mounted on the runtime's root for the test; on drop, the containers in it are
/// deleted and it is unmounted (lazily, so a failed test still leaves no mount).
struct SmallTmpfs<'a> {
    rt: &'a Runtime,
}

impl<'a> SmallTmpfs<'a> {
    fn mount(rt: &'a Runtime, options: &str) -> SmallTmpfs<'a> {
        nix::mount::mount(
            Some("tmpfs"),
            &rt.root,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some(options),
        )
        .unwrap_or_else(|e| panic!("mount a tmpfs on {}: {e}", rt.root.display()));
        SmallTmpfs { rt }
    }

    /// Writes files into `dir` until the tmpfs refuses with ENOSPC: `size` bytes per file.
    fn fill(&self, dir: &Path, size: usize) {
        fs::create_dir(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        let block = vec![0x5a_u8; size];
        for n in 0.. {
            let path = dir.join(format!("f{n}"));
            match fs::write(&path, &block) {
                Ok(()) => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("fill {}: {e}", path.display()),
            }
        }
    }
}

impl Drop for SmallTmpfs<'_> {
    fn drop(&mut self) {
        for entry in fs::read_dir(&self.rt.root).into_iter().flatten().flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if !id.starts_with('.') && !id.starts_with("fill") {
                let _ = self.rt.run(&["delete", "--force", &id]);
            }
        }
        let _ = nix::mount::umount2(&self.rt.root, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn create(rt: &Runtime, bundle: &Bundle, id: &str) -> (std::process::ExitStatus, String) {
    rt.run_bg(&["create", "--bundle", bundle.path().to_str().unwrap(), id])
}

/// On a full `--root`, `create` fails naming the path it could not write, leaves nothing, and
/// a container made before stays readable (`state`, `list`) and deletable. Both ways a tmpfs
/// fills: out of blocks (state.json cannot be written) and out of inodes (no state directory).
#[test]
fn a_full_root_fails_create_cleanly_and_keeps_the_others() {
    let rt = Runtime::new();
    let bundle = sleeping_bundle();
    let tmpfs = SmallTmpfs::mount(&rt, "size=1m,nr_inodes=64,mode=700");
    let first = common::unique_id("full-first");
    let (status, err) = create(&rt, &bundle, &first);
    assert!(status.success(), "create {first} on an empty tmpfs failed: {err}");
    let first_state = rt.state(&first);

    // Out of inodes, then out of blocks; then 4 KiB is given back at a time until create
    // succeeds, so it runs out of space at each later step (directory, socket, state.json).
    for (what, fill) in [("inodes", 0), ("blocks", 4096)] {
        let fill_dir = rt.root.join(format!("fill-{what}"));
        tmpfs.fill(&fill_dir, fill);
        let mut fillers: Vec<PathBuf> = fs::read_dir(&fill_dir).unwrap().flatten().map(|e| e.path()).collect();
        loop {
            let before = tree(&rt.root);
            let id = common::unique_id(&format!("full-{what}"));
            let (status, err) = create(&rt, &bundle, &id);
            if status.success() {
                assert!(fill > 0, "create {id} succeeded on a tmpfs out of {what}");
                rt.run_ok(&["delete", "--force", &id]);
                break;
            }
            eprintln!("out of {what}: {err}");
            assert!(
                err.contains("No space left on device") && err.contains(&rt.root.display().to_string()),
                "out of {what}: the error does not name the path it could not write:\n{err}"
            );
            assert_nothing_left(&rt, &id, bundle.path());
            assert_eq!(
                tree(&rt.root),
                before,
                "out of {what}: the failed create changed --root"
            );

            let state = rt.state(&first);
            assert_eq!(
                (&state["pid"], &state["status"]),
                (&first_state["pid"], &Value::from("created"))
            );
            let list = rt.run_ok(&["list", "--format", "json"]);
            let listed: Value = serde_json::from_slice(&list.stdout).expect("list prints JSON");
            assert_eq!(
                listed.as_array().map(|a| a.len()),
                Some(1),
                "out of {what}: list shows {listed}"
            );
            assert_eq!(listed[0]["id"], Value::from(first.as_str()));
            if fill == 0 {
                break;
            }
            fs::remove_file(fillers.pop().expect("create never succeeded")).unwrap();
        }
        fs::remove_dir_all(&fill_dir).unwrap();
    }
    rt.run_ok(&["delete", "--force", &first]);
    assert_nothing_left(&rt, &first, bundle.path());
}

/// A runtime command run in the background, to be waited for with a deadline. Its stderr
/// goes to a file: a created container's init inherits it and would hold a pipe open.
fn spawn(rt: &Runtime, args: &[&str]) -> (Child, PathBuf) {
    let err_path = rt.root.with_extension(format!("stderr-{}", common::unique_id("c")));
    let child = rt
        .cmd()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&err_path).expect("create a stderr file"))
        .spawn()
        .expect("spawn the runtime");
    (child, err_path)
}

/// Waits for every child (60 s in all: none may hang), returning exit status and stderr.
fn finish(children: Vec<(String, (Child, PathBuf))>) -> Vec<(String, bool, String)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    for (label, (mut child, err_path)) in children {
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let err = fs::read_to_string(&err_path).unwrap_or_default();
                let _ = fs::remove_file(&err_path);
                out.push((label, status.success(), err));
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`{label}` hangs (60 s)");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    out
}

/// Reads `list` and `state` over and over until `stop`: every answer must be a whole
/// container (an id among `ids`, a pid, a status) or, for `state`, "does not exist".
fn watch(rt: &Runtime, ids: &[String], stop: &AtomicBool) -> usize {
    let mut rounds = 0;
    while !stop.load(Ordering::Relaxed) {
        let out = rt.run(&["list", "--format", "json"]);
        assert!(
            out.status.success(),
            "list failed during the churn:\n{}",
            describe(&out)
        );
        let listed: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("list printed no JSON ({e}):\n{}", describe(&out)));
        for c in listed.as_array().expect("list prints an array") {
            check_whole(c, ids);
        }
        let id = &ids[rounds % ids.len()];
        let out = rt.run(&["state", id]);
        if out.status.success() {
            check_whole(&serde_json::from_slice(&out.stdout).expect("state prints JSON"), ids);
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("does not exist"),
                "state {id} failed during the churn:\n{err}"
            );
        }
        rounds += 1;
    }
    rounds
}

fn check_whole(c: &Value, ids: &[String]) {
    let whole = c["id"].as_str().is_some_and(|id| ids.iter().any(|i| i == id))
        && c["pid"].as_i64().is_some_and(|p| p > 0)
        && ["created", "running", "stopped"].contains(&c["status"].as_str().unwrap_or(""))
        && c["bundle"].is_string()
        && c["created"].is_string();
    assert!(whole, "a half-written container was shown: {c}");
}

/// 50 creates at once, half of them on 5 ids: exactly one wins each id, the losers say the id
/// is taken and leave nothing; then 50 `delete --force` at once (20 of them twice on an id)
/// all succeed and leave nothing. `list` and `state` read along the whole time.
#[test]
fn fifty_creates_and_deletes_at_once() {
    let rt = Runtime::new();
    let bundle = sleeping_bundle();
    let bundle_path = bundle.path().to_str().unwrap().to_string();
    let unique: Vec<String> = (0..25).map(|n| common::unique_id(&format!("cc-u{n:02}"))).collect();
    let shared: Vec<String> = (0..5).map(|n| common::unique_id(&format!("cc-s{n}"))).collect();
    let all: Vec<String> = unique.iter().chain(&shared).cloned().collect();
    let stop = AtomicBool::new(false);

    /// Stops the watcher however the scope ends: a scope waits for its threads even when
    /// unwinding.
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    std::thread::scope(|s| {
        let watcher = s.spawn(|| watch(&rt, &all, &stop));
        let _stop = StopOnDrop(&stop);
        let creates: Vec<_> = unique
            .iter()
            .chain(shared.iter().cycle().take(25))
            .map(|id| (id.clone(), spawn(&rt, &["create", "--bundle", &bundle_path, id])))
            .collect();
        let results = finish(creates);
        for id in &all {
            let wins: Vec<_> = results.iter().filter(|r| &r.0 == id && r.1).collect();
            assert_eq!(wins.len(), 1, "{id}: {} creates won: {results:#?}", wins.len());
        }
        for (id, ok, err) in &results {
            assert!(
                *ok || err.contains("already exists"),
                "create {id} failed otherwise: {err}"
            );
        }
        let dirs: BTreeSet<String> = fs::read_dir(&rt.root)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != ".cache")
            .collect();
        assert_eq!(dirs, all.iter().cloned().collect(), "--root after the creates");
        for id in &all {
            assert_eq!(rt.state(id)["status"], "created", "{id}");
            // The winner's init, waiting for `start`, is the one process that names the id.
            // (The watcher's `state` runs name it too.)
            let procs: Vec<_> = pids_mentioning(id)
                .into_iter()
                .filter(|p| p.1.contains(" create "))
                .collect();
            assert_eq!(procs.len(), 1, "{id}: processes {procs:#?}");
        }

        let deletes: Vec<_> = all
            .iter()
            .chain(all.iter().take(20))
            .map(|id| (id.clone(), spawn(&rt, &["delete", "--force", id])))
            .collect();
        for (id, ok, err) in finish(deletes) {
            assert!(ok, "delete --force {id} failed: {err}");
        }
        stop.store(true, Ordering::Relaxed);
        let rounds = watcher.join().expect("list/state failed during the churn");
        assert!(rounds > 0);
    });
    for id in &all {
        assert_nothing_left(&rt, id, bundle.path());
    }
}

/// `list` reads a created container without its lock and takes a listener on its start socket
/// for its init: the socket a dead init leaves behind must not pass for it. A created container
/// whose init was killed shows as stopped, and so does one whose recorded pid now names another
/// process (a reused pid), in the table, in the JSON and beside a live one.
#[test]
fn list_shows_a_dead_or_reused_init_stopped() {
    let rt = Runtime::new();
    let bundle = sleeping_bundle();
    let b = bundle.path().to_str().unwrap();
    let ids = ["list-alive", "list-dead", "list-reused"].map(common::unique_id);
    let [_, dead, reused] = &ids;
    for id in &ids {
        rt.run_bg_ok(&["create", "--bundle", b, id]);
    }
    let listed = || {
        let table = String::from_utf8(rt.run_ok(&["list"]).stdout).unwrap();
        let json: Value = serde_json::from_slice(&rt.run_ok(&["list", "--format", "json"]).stdout).unwrap();
        ids.clone().map(|id| {
            let row = table
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
                .find(|r| r[0] == id);
            let entry = json.as_array().unwrap().iter().find(|c| c["id"] == id.as_str());
            (
                row.map(|r| r[2].to_string()),
                entry.map(|c| c["status"].as_str().unwrap().to_string()),
            )
        })
    };
    let both = |s: &str| (Some(s.to_string()), Some(s.to_string()));
    assert_eq!(listed(), [both("created"), both("created"), both("created")]);

    for id in [dead, reused] {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(rt.pid(id) as i32), nix::sys::signal::SIGKILL).unwrap();
        common::wait_for_status(&rt, id, "stopped");
    }
    // The reused pid: one of ours, alive, started at another time than the dead init.
    let mut other = std::process::Command::new("sleep").arg("600").spawn().unwrap();
    let state_file = rt.root.join(reused).join("state.json");
    let saved = fs::read(&state_file).unwrap();
    let mut state: Value = serde_json::from_slice(&saved).unwrap();
    state["pid"] = Value::from(other.id());
    fs::write(&state_file, serde_json::to_vec(&state).unwrap()).unwrap();
    let after = listed();
    fs::write(&state_file, saved).unwrap();
    other.kill().unwrap();
    other.wait().unwrap();
    assert_eq!(after, [both("created"), both("stopped"), both("stopped")]);

    for id in &ids {
        rt.run_ok(&["delete", "--force", id]);
        assert_nothing_left(&rt, id, bundle.path());
    }
}
