//! End to end: a private containerd (1.6, with its io.containerd.runc.v2 shim) running
//! containers on scrun through README.md's `ctr run --runc-binary <scrun> --runc-root <root>`.
//!
//! One test function starts ONE containerd (own root, state, sockets, opt dir; the config
//! README.md has a user make, see tests/common/containerd.rs) and runs
//! the scenarios one after another; each scenario's failure is collected with its name and the
//! test fails at the end listing all of them, with the tail of containerd's log. Everything the
//! test starts is stopped by pid and everything it mounts or creates is removed by the guard.
//!
//! If containerd/ctr are missing, hack/engines.sh installs them (Debian packages, no daemons).
//! SCRUN_E2E_LOG=FILE keeps containerd's whole log.
//! Ignored noise: containerd 1.6 logs `failed to remove runc container ... exit status 255` from
//! its dead-shim cleanup for some containers with runc too.

mod common;
use common::containerd::{left_after, scrun_root, PrivateContainerd, README_SCRUN_ROOT};
use common::readme::{readme_block, replace_path, CONTAINERD_ITEM, INSTALLED_SCRUN};
use common::*;

use serde_json::Value;
use std::fs;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const NS: &str = "scrun-e2e";
const IMAGE: &str = "docker.io/library/scrun-probe:e2e";
const GREETING: &str = "Hello from a scratch container!";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The probe's report in ctr's output, with ctr's own log lines cut out of a tty's stream.
fn report_in(s: &str) -> Option<Value> {
    json_in(&strip_ctr_log_lines(s))
}

/// On a pty ctr's own log lines share the terminal with the container's output and can land in
/// the middle of it: `ERRO[0000] resize pty  error="cannot resize a stopped container"` when the
/// process exits before ctr's resize (a ctr race). Cut such lines out.
fn strip_ctr_log_lines(s: &str) -> String {
    let mut s = s.to_string();
    for marker in ["\x1b[31mERRO\x1b[0m[", "\x1b[33mWARN\x1b[0m[", "ERRO[", "WARN["] {
        while let Some(start) = s.find(marker) {
            let end = s[start..].find('\n').map(|n| start + n + 1).unwrap_or(s.len());
            s.replace_range(start..end, "");
        }
    }
    s
}

/// The flags of README.md's `ctr run FLAGS IMAGE ID` line (its containerd bullet), with the scrun
/// under test and `runc_root` in place of the installed binary and its root.
fn readme_ctr_flags(runc_root: &Path) -> Vec<String> {
    let line = readme_block(CONTAINERD_ITEM, "sh");
    let line = replace_path(&line, INSTALLED_SCRUN, &runtime_bin());
    let line = replace_path(&line, README_SCRUN_ROOT, runc_root);
    match line.split_whitespace().collect::<Vec<_>>()[..] {
        ["ctr", "run", ref flags @ .., "IMAGE", "ID"] => flags.iter().map(|f| f.to_string()).collect(),
        _ => panic!("README.md's ctr line is not `ctr run FLAGS IMAGE ID`:\n{line}"),
    }
}

/// The private containerd, configured as README.md says, with the ctr options these scenarios
/// share.
struct Containerd {
    d: PrivateContainerd,
    runc_root: PathBuf,
    fifo_dir: PathBuf,
    /// README.md's `ctr run` flags that select scrun.
    run_flags: Vec<String>,
    /// container ids used, to tidy shim sockets in /run/containerd/s.
    ids: std::cell::RefCell<Vec<String>>,
}

impl Containerd {
    fn start() -> Containerd {
        let d = PrivateContainerd::start("ctrd", |_| {});
        let runc_root = scrun_root(&d.dir);
        let fifo_dir = d.dir.join("fifo");
        for dir in [&runc_root, &fifo_dir] {
            fs::create_dir_all(dir).unwrap();
        }
        Containerd {
            run_flags: readme_ctr_flags(&runc_root),
            d,
            runc_root,
            fifo_dir,
            ids: Default::default(),
        }
    }

    /// `timeout 60 ctr -a SOCK -n NS <args>` with null stdin.
    fn ctr_cmd(&self, args: &[&str]) -> Command {
        self.d.ctr_cmd(NS, args)
    }

    fn ctr(&self, args: &[&str]) -> Output {
        self.d.ctr(NS, args)
    }

    fn ctr_ok(&self, args: &[&str]) -> Output {
        self.d.ctr_ok(NS, args)
    }

    /// The `ctr run` prefix that selects scrun.
    fn run_args(&self, extra: &[&str], id: &str, args: &[&str]) -> Vec<String> {
        self.ids.borrow_mut().push(id.to_string());
        let mut v: Vec<String> = vec!["run".into()];
        v.extend(self.run_flags.iter().cloned());
        v.push("--fifo-dir".into());
        v.push(self.fifo_dir.to_string_lossy().into_owned());
        v.extend(extra.iter().map(|s| s.to_string()));
        v.push(IMAGE.into());
        v.push(id.into());
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    fn run(&self, extra: &[&str], id: &str, args: &[&str]) -> Output {
        let v = self.run_args(extra, id, args);
        let refs: Vec<&str> = v.iter().map(String::as_str).collect();
        self.ctr(&refs)
    }

    /// `ctr run --rm` of `/probe report`, parsed. ctr can lose all the output of a process
    /// that exits at once, its copy from the fifo racing the task's exit (containerd/containerd#770,
    /// concourse/concourse#6775; seen once in CI, with ctr's status 0 and the runtime passing the
    /// shim's fds through untouched): an empty stdout with status 0 is tried once more, under a
    /// new id. Any other outcome is the test's.
    fn report(&self, extra: &[&str], id: &str) -> Value {
        let mut e = vec!["--rm"];
        e.extend_from_slice(extra);
        for id in [id.to_string(), format!("{id}-again")] {
            let out = self.run(&e, &id, &["/probe", "report"]);
            assert!(
                out.status.success(),
                "ctr run {id} /probe report failed ({}):\n{}",
                out.status,
                describe(&out)
            );
            if out.stdout.is_empty() && !id.ends_with("-again") {
                eprintln!("ctr run {id}: no output at all (ctr's own race); once more");
                continue;
            }
            return report_in(&text(&out.stdout))
                .unwrap_or_else(|| panic!("no probe report from {id}:\n{}", describe(&out)));
        }
        unreachable!("the second try returns or panics")
    }

    /// `TASK PID STATUS` row of `ctr task ls` for `id`: (pid, status).
    fn task(&self, id: &str) -> Option<(i64, String)> {
        let out = self.ctr(&["task", "ls"]);
        text(&out.stdout).lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&id)).then(|| {
                (
                    f.get(1).and_then(|p| p.parse().ok()).unwrap_or(-1),
                    f.get(2).unwrap_or(&"").to_string(),
                )
            })
        })
    }

    fn wait_task_status(&self, id: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let t = self.task(id);
            if t.as_ref().is_some_and(|(_, s)| s == want) {
                return;
            }
            if Instant::now() > deadline {
                panic!("task {id} never became {want}: {t:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn containers(&self) -> Vec<String> {
        text(&self.ctr_ok(&["containers", "ls", "-q"]).stdout)
            .lines()
            .map(String::from)
            .collect()
    }

    /// scrun's log.json of a container's bundle (only there while the task exists).
    fn bundle_log(&self, id: &str) -> String {
        let p = self
            .d
            .dir
            .join("state/io.containerd.runtime.v2.task")
            .join(NS)
            .join(id)
            .join("log.json");
        fs::read_to_string(&p).unwrap_or_else(|e| format!("({}: {e})", p.display()))
    }

    /// Best-effort removal of a container and its task.
    fn force_remove(&self, id: &str) {
        let _ = self.ctr(&["task", "kill", "-a", "-s", "SIGKILL", id]);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.task(id).is_some_and(|(_, s)| s != "STOPPED") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.ctr(&["task", "delete", "-f", id]);
        let _ = self.ctr(&["containers", "rm", id]);
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Tasks first, while containerd still answers.
        if self.d.running() {
            let out = self.ctr(&["containers", "ls", "-q"]);
            for id in text(&out.stdout).lines() {
                self.force_remove(id);
            }
        }
        self.d.shutdown();
        for id in self.ids.borrow().iter() {
            let _ = fs::remove_file(self.d.shim_socket(NS, id));
        }
        // Namespace-level cgroups the runtime created (`/scrun-e2e/<id>` paths): only if empty.
        for entry in fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
            let _ = fs::remove_dir(entry.path().join(NS));
        }
        let _ = fs::remove_dir(Path::new("/sys/fs/cgroup").join(NS));
    }
}

/// The freezer state ("FROZEN", "THAWED", …) of the cgroup holding `pid` (v1 freezer or v2).
fn freezer_state(pid: i64) -> Option<String> {
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    for line in cg.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        if ctrls.split(',').any(|c| c == "freezer") {
            let st = fs::read_to_string(format!("/sys/fs/cgroup/freezer{path}/freezer.state")).ok()?;
            return Some(st.trim().to_string());
        }
    }
    // cgroup v2: cgroup.freeze is 1 or 0.
    let path = cg.lines().find_map(|l| l.strip_prefix("0::"))?;
    let v = fs::read_to_string(format!("/sys/fs/cgroup{path}/cgroup.freeze")).ok()?;
    Some(if v.trim() == "1" { "FROZEN" } else { "THAWED" }.to_string())
}

/// Runs `ctr` on a fresh pty (ctr -t insists on a console on stdin); returns exit status and
/// everything written to the terminal.
fn ctr_on_pty(mut cmd: Command) -> (std::process::ExitStatus, String) {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave: OwnedFd = pty.slave;
    let mut child = cmd
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .expect("cannot run ctr on a pty");
    // The Command keeps its copies of the slave open: drop it, or the master never sees EIO.
    drop(cmd);
    let master = pty.master;
    let reader = std::thread::spawn(move || {
        let mut f = fs::File::from(master);
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match f.read(&mut chunk) {
                Ok(0) | Err(_) => break, // EIO once every slave fd is closed
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf
    });
    let status = child.wait().expect("wait ctr");
    // The command is wrapped in `timeout`, so the slave closes once it exits.
    let out = reader.join().unwrap_or_default();
    (status, text(&out))
}

#[test]
fn containerd_runs_scrun() {
    ensure_engines(&["containerd", "ctr", "containerd-shim-runc-v2"]);
    let probe = probe().to_path_buf();
    let scrun = runtime_bin();
    assert!(scrun.is_file(), "runtime {} missing", scrun.display());

    let ctrd = Containerd::start();

    // The image: a docker-save tar holding only /probe.
    let tar = ctrd.d.dir.join("image.tar");
    let out = Command::new("python3")
        .arg(repo().join("integration/engines/image.py"))
        .arg(&tar)
        .arg("scrun-probe:e2e")
        .arg(format!("{}:/probe", probe.display()))
        .args(["--cmd", "/probe", "hello"])
        .stdin(Stdio::null())
        .output()
        .expect("run image.py");
    assert!(out.status.success(), "image.py failed:\n{}", describe(&out));
    ctrd.ctr_ok(&["images", "import", tar.to_str().unwrap()]);
    let images = text(&ctrd.ctr_ok(&["images", "ls", "-q"]).stdout);
    assert!(
        images.lines().any(|l| l == IMAGE),
        "imported image not listed as {IMAGE}: {images}"
    );

    let mut scenarios = Scenarios::new();
    let host_hostname = std::sync::Mutex::new(String::new());

    scenarios.run("run-hello", || {
        let id = unique_id("e2e-hello");
        let out = ctrd.run(&["--rm"], &id, &["/probe", "hello"]);
        assert!(
            out.status.success(),
            "ctr run hello failed ({}):\n{}",
            out.status,
            describe(&out)
        );
        assert!(text(&out.stdout).contains(GREETING), "no greeting:\n{}", describe(&out));
    });

    scenarios.run("image-default-cmd", || {
        // No args: the image's Cmd (/probe hello) runs.
        let id = unique_id("e2e-cmd");
        let out = ctrd.run(&["--rm"], &id, &[]);
        assert!(
            out.status.success(),
            "ctr run (image cmd) failed ({}):\n{}",
            out.status,
            describe(&out)
        );
        assert!(text(&out.stdout).contains(GREETING), "no greeting:\n{}", describe(&out));
    });

    scenarios.run("exit-code", || {
        let id = unique_id("e2e-exit");
        let out = ctrd.run(&["--rm"], &id, &["/probe", "exit", "7"]);
        assert_eq!(out.status.code(), Some(7), "ctr run exit 7:\n{}", describe(&out));
    });

    scenarios.run("report", || {
        let r = ctrd.report(&[], &unique_id("e2e-report"));
        assert_eq!(r["pid"], 1, "pid: {}", r["pid"]);
        assert_eq!(r["uid"], 0, "uid: {}", r["uid"]);
        let hostname = r["hostname"].as_str().unwrap_or("");
        assert!(!hostname.is_empty(), "no hostname: {}", r["hostname"]);
        *host_hostname.lock().unwrap() = hostname.to_string();
        let lo = r["interfaces"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["name"] == "lo"))
            .cloned();
        assert!(
            lo.as_ref().is_some_and(|l| l["up"] == true),
            "lo not up: {:?}",
            r["interfaces"]
        );
        assert_eq!(r["proc_mounted"], true, "no /proc");
        assert_eq!(r["tty"]["stdout"], false, "stdout is a tty without -t");
    });

    scenarios.run("env-cwd", || {
        let r = ctrd.report(
            &["--env", "SCRUN_E2E=yes it works", "--cwd", "/dev"],
            &unique_id("e2e-env"),
        );
        let env: Vec<&str> = r["env"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert!(env.contains(&"SCRUN_E2E=yes it works"), "env: {env:?}");
        assert!(
            env.iter().any(|e| e.starts_with("PATH=")),
            "no PATH from the image: {env:?}"
        );
        assert_eq!(r["cwd"], "/dev", "cwd");
    });

    scenarios.run("tty-run", || {
        let id = unique_id("e2e-tty");
        let args = ctrd.run_args(&["--rm", "-t"], &id, &["/probe", "report"]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (status, out) = ctr_on_pty(ctrd.ctr_cmd(&refs));
        assert!(status.success(), "ctr run -t failed ({status}):\n{out}");
        let r = report_in(&out).unwrap_or_else(|| panic!("no report on the tty:\n{out}"));
        assert_eq!(r["tty"]["stdin"], true, "tty: {}", r["tty"]);
        assert_eq!(r["tty"]["stdout"], true, "tty: {}", r["tty"]);
        assert_eq!(r["tty"]["stderr"], true, "tty: {}", r["tty"]);
    });

    scenarios.run("detached-exec-ps-pause-kill", || {
        let id = unique_id("e2e-detached");
        let out = ctrd.run(&["-d"], &id, &["/probe", "sleep", "120"]);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert!(
                out.status.success(),
                "ctr run -d failed ({}):\n{}",
                out.status,
                describe(&out)
            );
            ctrd.wait_task_status(&id, "RUNNING");
            let (init_pid, _) = ctrd.task(&id).unwrap();
            assert!(init_pid > 1, "task ls pid {init_pid}");

            // exec sees the container: its pid namespace, its rootfs, its hostname.
            let out = ctrd.ctr(&[
                "task",
                "exec",
                "--fifo-dir",
                ctrd.fifo_dir.to_str().unwrap(),
                "--exec-id",
                "e1",
                &id,
                "/probe",
                "report",
            ]);
            assert!(
                out.status.success(),
                "task exec failed ({}):\n{}\nlog.json: {}",
                out.status,
                describe(&out),
                ctrd.bundle_log(&id)
            );
            let r = report_in(&text(&out.stdout)).unwrap_or_else(|| panic!("no exec report:\n{}", describe(&out)));
            let pid = r["pid"].as_i64().unwrap_or(0);
            assert!(
                pid > 1 && pid < 1000,
                "exec pid {pid} is not in the container's pid namespace"
            );
            assert_eq!(r["uid"], 0);
            let roots: Vec<&str> = r["root_entries"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            assert!(roots.contains(&"probe"), "exec root is not the container's: {roots:?}");
            let h = host_hostname.lock().unwrap().clone();
            if !h.is_empty() {
                assert_eq!(r["hostname"], h.as_str(), "exec hostname");
            }

            // exec as another user.
            let out = ctrd.ctr(&[
                "task",
                "exec",
                "--fifo-dir",
                ctrd.fifo_dir.to_str().unwrap(),
                "--exec-id",
                "e2",
                "--user",
                "1000:1000",
                &id,
                "/probe",
                "report",
            ]);
            assert!(
                out.status.success(),
                "task exec --user failed ({}):\n{}\nlog.json: {}",
                out.status,
                describe(&out),
                ctrd.bundle_log(&id)
            );
            let r =
                report_in(&text(&out.stdout)).unwrap_or_else(|| panic!("no exec --user report:\n{}", describe(&out)));
            assert_eq!(r["uid"], 1000, "exec --user uid");
            assert_eq!(r["gid"], 1000, "exec --user gid");

            // exec exit code.
            let out = ctrd.ctr(&[
                "task",
                "exec",
                "--fifo-dir",
                ctrd.fifo_dir.to_str().unwrap(),
                "--exec-id",
                "e3",
                &id,
                "/probe",
                "exit",
                "3",
            ]);
            assert_eq!(out.status.code(), Some(3), "task exec exit 3:\n{}", describe(&out));

            // ps lists the init's host pid.
            let out = ctrd.ctr_ok(&["task", "ps", &id]);
            let pids: Vec<i64> = text(&out.stdout)
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().next()?.parse().ok())
                .collect();
            assert!(
                pids.contains(&init_pid),
                "task ps {pids:?} lacks init pid {init_pid}:\n{}",
                describe(&out)
            );

            // pause / resume.
            ctrd.ctr_ok(&["task", "pause", &id]);
            ctrd.wait_task_status(&id, "PAUSED");
            assert_eq!(
                freezer_state(init_pid).as_deref(),
                Some("FROZEN"),
                "freezer of paused init {init_pid}"
            );
            ctrd.ctr_ok(&["task", "resume", &id]);
            ctrd.wait_task_status(&id, "RUNNING");
            assert_eq!(
                freezer_state(init_pid).as_deref(),
                Some("THAWED"),
                "freezer of resumed init {init_pid}"
            );

            // exec with a terminal (ctr wants a console on its own stdin for -t).
            let cmd = ctrd.ctr_cmd(&[
                "task",
                "exec",
                "-t",
                "--fifo-dir",
                ctrd.fifo_dir.to_str().unwrap(),
                "--exec-id",
                "e4",
                &id,
                "/probe",
                "report",
            ]);
            let (status, out) = ctr_on_pty(cmd);
            assert!(
                status.success(),
                "ctr task exec -t failed ({status}):\n{out}\nlog.json: {}",
                ctrd.bundle_log(&id)
            );
            let r = report_in(&out).unwrap_or_else(|| panic!("no exec -t report on the tty:\n{out}"));
            assert_eq!(r["tty"]["stdin"], true, "exec -t tty: {}", r["tty"]);
            assert_eq!(r["tty"]["stdout"], true, "exec -t tty: {}", r["tty"]);

            // The shim's socket is where the cleanup below expects it.
            let sock = ctrd.d.shim_socket(NS, &id);
            assert!(
                sock.exists(),
                "shim socket {} not found (hash scheme changed?)",
                sock.display()
            );

            // kill -a SIGKILL, delete, container rm.
            let out = ctrd.ctr(&["task", "kill", "-a", "-s", "SIGKILL", &id]);
            // The init may be reaped by the shim between scrun's look and its kill: --all
            // must still answer 0 (it once failed with ESRCH under load).
            assert!(
                out.status.success(),
                "`ctr task kill -a -s SIGKILL {id}` failed ({}):\n{}\nlog.json:\n{}",
                out.status,
                describe(&out),
                ctrd.bundle_log(&id)
            );
            ctrd.wait_task_status(&id, "STOPPED");
            let out = ctrd.ctr_ok(&["task", "delete", &id]);
            let _ = out;
            assert!(ctrd.task(&id).is_none(), "task still listed after delete");
            ctrd.ctr_ok(&["containers", "rm", &id]);
            assert!(!ctrd.containers().contains(&id), "container still listed after rm");
            assert!(
                !Path::new(&format!("/proc/{init_pid}")).exists() || {
                    std::thread::sleep(Duration::from_millis(500));
                    !Path::new(&format!("/proc/{init_pid}")).exists()
                },
                "init {init_pid} still alive"
            );
        }));
        if let Err(e) = result {
            ctrd.force_remove(&id);
            std::panic::resume_unwind(e);
        }
    });

    scenarios.run("signal-exit-status", || {
        // 128+N for a process killed by signal N (pid 1 cannot signal itself: kill-self faults).
        let id = unique_id("e2e-sig");
        let out = ctrd.run(&["--rm"], &id, &["/probe", "kill-self", "11"]);
        assert_eq!(out.status.code(), Some(128 + 11), "kill-self 11:\n{}", describe(&out));
    });

    scenarios.run("task-kill-signal", || {
        // A signal sent with `ctr task kill` reaches pid 1, which handles it and exits 0.
        let id = unique_id("e2e-kill");
        let out = ctrd.run(&["-d"], &id, &["/probe", "wait-signal"]);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert!(
                out.status.success(),
                "ctr run -d failed ({}):\n{}",
                out.status,
                describe(&out)
            );
            ctrd.wait_task_status(&id, "RUNNING");
            let (pid, _) = ctrd.task(&id).unwrap();
            wait_for_signal_mask(pid, "SigCgt", libc::SIGUSR1);
            ctrd.ctr_ok(&["task", "kill", "-s", "SIGUSR1", &id]);
            ctrd.wait_task_status(&id, "STOPPED");
            let out = ctrd.ctr_ok(&["task", "delete", &id]);
            let _ = out;
            ctrd.ctr_ok(&["containers", "rm", &id]);
        }));
        if let Err(e) = result {
            ctrd.force_remove(&id);
            std::panic::resume_unwind(e);
        }
    });

    scenarios.run("stdin-pipe", || {
        // ctr 1.6 does not reliably close the container's stdin on EOF (same with runc), so `cat` is stopped
        // with a SIGKILL once the piped text came back.
        let id = unique_id("e2e-stdin");
        let v = ctrd.run_args(&["--rm"], &id, &["/probe", "cat"]);
        let refs: Vec<&str> = v.iter().map(String::as_str).collect();
        let mut child = ctrd
            .ctr_cmd(&refs)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(b"piped through ctr\n").unwrap();
        }
        let mut stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut chunk = [0u8; 256];
            while let Ok(n) = stdout.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&chunk[..n]);
                let _ = tx.send(text(&got));
            }
        });
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut seen = String::new();
        while !seen.contains("piped through ctr\n") && Instant::now() < deadline {
            if let Ok(t) = rx.recv_timeout(Duration::from_millis(200)) {
                seen = t;
            }
        }
        let _ = ctrd.ctr(&["task", "kill", "-s", "SIGKILL", &id]);
        let out = child.wait_with_output().unwrap();
        assert_eq!(seen, "piped through ctr\n", "cat output; ctr: {}", describe(&out));
        // 137 when killed; ctr sometimes does pass the EOF on (racy in ctr), and cat then exits 0.
        assert!(
            matches!(out.status.code(), Some(0) | Some(137)),
            "ctr run of the killed cat ({}):\n{}",
            out.status,
            describe(&out)
        );
    });

    scenarios.run("read-only-rootfs", || {
        let id = unique_id("e2e-ro");
        let out = ctrd.run(&["--rm", "--read-only"], &id, &["/probe", "write", "/x", "hi"]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "write to a read-only rootfs:\n{}",
            describe(&out)
        );
        assert!(
            text(&out.stdout).contains("Read-only file system"),
            "write error:\n{}",
            describe(&out)
        );
        let id = unique_id("e2e-rw");
        let out = ctrd.run(&["--rm"], &id, &["/probe", "write", "/x", "hi"]);
        assert!(out.status.success(), "write to a writable rootfs:\n{}", describe(&out));
    });

    scenarios.run("bind-mount", || {
        let host = ctrd.d.dir.join("bind-src");
        fs::create_dir_all(&host).unwrap();
        let id = unique_id("e2e-bind");
        let mount = format!("type=bind,src={},dst=/data,options=rbind:rw", host.display());
        let out = ctrd.run(
            &["--rm", "--mount", &mount],
            &id,
            &["/probe", "write", "/data/f", "from the container"],
        );
        assert!(
            out.status.success(),
            "write to the bind mount failed:\n{}",
            describe(&out)
        );
        assert_eq!(
            fs::read_to_string(host.join("f")).ok().as_deref(),
            Some("from the container")
        );
        let id = unique_id("e2e-bind-ro");
        let mount = format!("type=bind,src={},dst=/data,options=rbind:ro", host.display());
        let out = ctrd.run(&["--rm", "--mount", &mount], &id, &["/probe", "read", "/data/f"]);
        assert!(
            out.status.success(),
            "read from the ro bind mount failed:\n{}",
            describe(&out)
        );
        assert!(
            text(&out.stdout).contains("from the container"),
            "read:\n{}",
            describe(&out)
        );
        let id = unique_id("e2e-bind-ro-w");
        let out = ctrd.run(&["--rm", "--mount", &mount], &id, &["/probe", "write", "/data/g", "x"]);
        assert!(
            !out.status.success() && !host.join("g").exists(),
            "write to a ro bind mount:\n{}",
            describe(&out)
        );
    });

    scenarios.run("seccomp", || {
        let r = ctrd.report(&["--seccomp"], &unique_id("e2e-seccomp"));
        assert_eq!(r["seccomp"], 2, "Seccomp mode with --seccomp");
        let r = ctrd.report(&[], &unique_id("e2e-noseccomp"));
        assert_eq!(r["seccomp"], 0, "Seccomp mode without --seccomp");
    });

    scenarios.run("memory-limit", || {
        let id = unique_id("e2e-mem");
        let out = ctrd.run(&["-d", "--memory-limit", "67108864"], &id, &["/probe", "sleep", "60"]);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert!(
                out.status.success(),
                "ctr run -d --memory-limit failed ({}):\n{}",
                out.status,
                describe(&out)
            );
            ctrd.wait_task_status(&id, "RUNNING");
            let (pid, _) = ctrd.task(&id).unwrap();
            let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            let limit = cg.lines().find_map(|l| {
                let mut f = l.splitn(3, ':');
                let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
                if ctrls.split(',').any(|c| c == "memory") {
                    fs::read_to_string(format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes")).ok()
                } else if ctrls.is_empty() && !cg.contains(":memory:") {
                    fs::read_to_string(format!("/sys/fs/cgroup{path}/memory.max")).ok()
                } else {
                    None
                }
            });
            assert_eq!(
                limit.as_deref().map(str::trim),
                Some("67108864"),
                "memory limit of {pid} ({cg})"
            );
            assert!(
                cg.contains(&format!("/{NS}/{id}")),
                "cgroupsPath /{NS}/{id} not used: {cg}"
            );
        }));
        ctrd.force_remove(&id);
        if let Err(e) = result {
            std::panic::resume_unwind(e);
        }
    });

    scenarios.run("create-error-reaches-user", || {
        let id = unique_id("e2e-nosuch");
        let out = ctrd.run(&["--rm"], &id, &["/nosuch"]);
        let err = text(&out.stderr);
        let leftover = ctrd.containers().contains(&id);
        if leftover {
            ctrd.force_remove(&id);
        }
        assert!(!out.status.success(), "ctr run /nosuch succeeded:\n{}", describe(&out));
        eprintln!("ctr run /nosuch said: {}", err.trim());
        assert!(
            err.contains("executable file not found") || err.contains("no such file or directory"),
            "scrun's error text did not reach ctr:\n{}",
            describe(&out)
        );
        assert!(
            !err.contains("unable to retrieve OCI runtime error"),
            "log.json not understood:\n{err}"
        );
        assert!(!leftover, "ctr run --rm left container {id} behind");
    });

    // Nothing left: no runtime state, no containers, no mounts of tasks.
    scenarios.run("nothing-left", || {
        let mut state_dirs = Vec::new();
        for d in [ctrd.runc_root.clone(), ctrd.runc_root.join(NS)] {
            for e in fs::read_dir(&d).into_iter().flatten().flatten() {
                // Dot entries (scrun's .cache) are the runtime's own, not container state.
                if e.path() != ctrd.runc_root.join(NS) && !e.file_name().to_string_lossy().starts_with('.') {
                    state_dirs.push(e.path());
                }
            }
        }
        assert!(
            state_dirs.is_empty(),
            "scrun state left under the runc root: {state_dirs:?}"
        );
        let cs = ctrd.containers();
        assert!(cs.is_empty(), "containers left: {cs:?}");
        let tasks = text(&ctrd.ctr_ok(&["task", "ls", "-q"]).stdout);
        assert!(tasks.trim().is_empty(), "tasks left: {tasks}");
        let m: Vec<String> = mounts_under(&ctrd.d.dir.join("state"));
        assert!(m.is_empty(), "task mounts left: {m:?}");
        for id in ctrd.ids.borrow().iter() {
            let cg = cgroups_named(id);
            assert!(cg.is_empty(), "cgroups left for {id}: {cg:?}");
        }
        let socks: Vec<PathBuf> = ctrd
            .ids
            .borrow()
            .iter()
            .map(|id| ctrd.d.shim_socket(NS, id))
            .filter(|p| p.exists())
            .collect();
        assert!(socks.is_empty(), "shim sockets left in /run/containerd/s: {socks:?}");
        // Shims exit once their task is deleted.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let shims: Vec<_> = ctrd
                .d
                .leftover_processes()
                .into_iter()
                .filter(|(_, c)| c.contains("shim"))
                .collect();
            if shims.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "shims still running: {shims:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    });

    // SCRUN_E2E_LOG=FILE keeps containerd's whole log (shim cleanup warnings show up only there).
    if let Some(keep) = std::env::var_os("SCRUN_E2E_LOG") {
        let _ = fs::copy(&ctrd.d.log, keep);
    }
    let log = ctrd.d.log_tail();
    let dir = ctrd.d.dir.clone();
    drop(ctrd);
    let after = left_after(&dir);
    scenarios.finish(after, &log);
}
