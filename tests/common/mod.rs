//! Shared kit for the container tests: builds the static probe, makes
//! bundles and state roots under /tmp, runs the runtime and checks that a
//! container left nothing behind.
//!
//! Set SCRUN_TEST_RUNTIME=runc (or crun, or a path) to run the same tests
//! against another runtime as an oracle.

#![allow(dead_code)]

pub mod containerd;
pub mod readme;
pub mod user;

use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const PROBE_TARGET: &str = "x86_64-unknown-linux-gnu";

/// Builds integration/probe once per test process and returns the binary.
pub fn probe() -> &'static Path {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE.get_or_init(|| {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo.join("target"))
            .join("probe");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(cargo)
            .args(["build", "--release", "--quiet", "--target", PROBE_TARGET])
            .arg("--manifest-path")
            .arg(repo.join("integration/probe/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir)
            // The encoded form would win over RUSTFLAGS if the outer cargo left it set.
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .stdin(Stdio::null())
            .output()
            .expect("cannot run cargo to build the probe");
        if !output.status.success() {
            panic!("building the probe failed ({}):\n{}", output.status, describe(&output));
        }
        let bin = target_dir.join(PROBE_TARGET).join("release/probe");
        assert!(bin.is_file(), "probe build succeeded but {} is missing", bin.display());
        bin
    })
}

/// The runtime under test: $SCRUN_TEST_RUNTIME, or the scrun built by cargo.
pub fn runtime_bin() -> PathBuf {
    match std::env::var_os("SCRUN_TEST_RUNTIME") {
        Some(rt) if !rt.is_empty() => PathBuf::from(rt),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_scrun")),
    }
}

fn next_serial() -> usize {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// A fresh name, unique within this machine for the life of this process.
pub fn unique_id(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), next_serial())
}

/// A fresh empty directory under /tmp, removing any leftover of an earlier
/// process that had the same pid.
fn fresh_dir(kind: &str) -> PathBuf {
    let dir = PathBuf::from(format!(
        "/tmp/scrun-test-{}-{}-{kind}",
        std::process::id(),
        next_serial()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    dir
}

/// stdout and stderr of a command, for panic messages.
pub fn describe(output: &Output) -> String {
    format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// An OCI bundle whose rootfs holds nothing but /probe.
pub struct Bundle {
    dir: PathBuf,
}

impl Bundle {
    /// rootfs/probe plus the config.json of `<runtime> spec`, patched to run
    /// `/probe report` without a terminal.
    pub fn new() -> Bundle {
        let bundle = Bundle {
            dir: fresh_dir("bundle"),
        };
        let rootfs = bundle.rootfs();
        fs::create_dir(&rootfs).expect("mkdir rootfs");
        let dest = rootfs.join("probe");
        fs::copy(probe(), &dest).expect("copy the probe into the rootfs");
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o755)).expect("chmod probe");

        let output = Command::new(runtime_bin())
            .arg("spec")
            .current_dir(&bundle.dir)
            .stdin(Stdio::null())
            .output()
            .expect("cannot run the runtime's spec command");
        if !output.status.success() {
            panic!(
                "`{} spec` failed ({}):\n{}",
                runtime_bin().display(),
                output.status,
                describe(&output)
            );
        }
        bundle.config_mut(|c| {
            c["process"]["args"] = serde_json::json!(["/probe", "report"]);
            c["process"]["terminal"] = Value::Bool(false);
        });
        bundle
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    pub fn config(&self) -> Value {
        let text = fs::read_to_string(self.config_path()).expect("read config.json");
        serde_json::from_str(&text).expect("config.json is not JSON")
    }

    /// Read-modify-write of config.json.
    pub fn config_mut(&self, f: impl FnOnce(&mut Value)) {
        let mut config = self.config();
        f(&mut config);
        let text = serde_json::to_string_pretty(&config).expect("serialize config");
        fs::write(self.config_path(), text).expect("write config.json");
    }

    pub fn set_args(&self, args: &[&str]) {
        self.config_mut(|c| c["process"]["args"] = serde_json::json!(args));
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// runc, the reference a differential test runs the same config with (see `Runtime::of`).
pub const RUNC: &str = "/usr/sbin/runc";

/// A private state root (`--root`) for the runtime under test.
pub struct Runtime {
    pub root: PathBuf,
    pub bin: PathBuf,
}

impl Runtime {
    pub fn new() -> Runtime {
        Runtime::of(runtime_bin())
    }

    /// A state root for the runtime `bin` instead: a differential test runs one config with
    /// the runtime under test and with runc (`RUNC`) side by side.
    pub fn of(bin: impl Into<PathBuf>) -> Runtime {
        Runtime {
            root: fresh_dir("root"),
            bin: bin.into(),
        }
    }

    /// The runtime binary with `--root <root>` already given.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--root").arg(&self.root);
        cmd
    }

    /// Runs the runtime with these arguments and null stdin, collecting output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()))
    }

    /// Like `run`, but panics unless the runtime exits 0.
    pub fn run_ok(&self, args: &[&str]) -> Output {
        let output = self.run(args);
        if !output.status.success() {
            panic!(
                "`{} {}` failed ({}):\n{}",
                self.bin.display(),
                args.join(" "),
                output.status,
                describe(&output)
            );
        }
        output
    }

    /// For commands that leave a container process behind (`create`, `run -d`): that process
    /// inherits the runtime's stdio, so pipes would not reach EOF until it exits. Its stdio
    /// goes to /dev/null and the runtime's stderr to a file, returned with the exit status.
    pub fn run_bg(&self, args: &[&str]) -> (std::process::ExitStatus, String) {
        let err_path = self.root.with_extension(format!("stderr-{}", next_serial()));
        let err = fs::File::create(&err_path).expect("create stderr file");
        let status = self
            .cmd()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()));
        let text = fs::read_to_string(&err_path).unwrap_or_default();
        let _ = fs::remove_file(err_path);
        (status, text)
    }

    /// `run_bg`, panicking unless the runtime exits 0.
    pub fn run_bg_ok(&self, args: &[&str]) {
        let (status, err) = self.run_bg(args);
        assert!(status.success(), "`{}` failed ({status}): {err}", args.join(" "));
    }

    /// The runtime's `state <id>` JSON.
    pub fn state(&self, id: &str) -> Value {
        let output = self.run_ok(&["state", id]);
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("`state {id}` is not JSON ({e}):\n{}", describe(&output)))
    }

    /// The host pid of the container's init, from `state`.
    pub fn pid(&self, id: &str) -> i64 {
        let state = self.state(id);
        state["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("no pid in state of {id}: {state}"))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Ok(entries) = fs::read_dir(&self.root) {
            for entry in entries.flatten() {
                if entry.path().is_dir() {
                    let id = entry.file_name().to_string_lossy().into_owned();
                    let _ = self.run(&["delete", "--force", &id]);
                }
            }
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// `run --bundle <bundle> <id>` with the probe's `report`; returns the output
/// and the parsed report, panicking if the container failed or printed no JSON.
pub fn run_probe(bundle: &Bundle, rt: &Runtime, id: &str) -> (Output, Value) {
    let output = rt.run(&[
        "run",
        "--bundle",
        bundle.path().to_str().expect("utf-8 bundle path"),
        id,
    ]);
    if !output.status.success() {
        panic!("container {id} failed ({}):\n{}", output.status, describe(&output));
    }
    match serde_json::from_slice(&output.stdout) {
        Ok(report) => (output, report),
        Err(e) => panic!("container {id} printed no probe report ({e}):\n{}", describe(&output)),
    }
}

/// Processes (other than ourselves) whose command line mentions `needle`: pid and command line.
pub fn pids_mentioning(needle: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(raw) = fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push((pid, cmdline.trim_end().to_string()));
            }
        }
    }
    found
}

/// Mount points in our mount namespace at or under `dir`, deepest first (the order to
/// unmount them in).
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().into_owned();
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|mp| mp.replace("\\040", " "))
        .filter(|mp| mp == &prefix || mp.starts_with(&format!("{prefix}/")))
        .collect();
    found.sort_by_key(|m| std::cmp::Reverse(m.len()));
    found.dedup();
    found
}

/// The first JSON object in `s` (the probe's report, possibly among other output).
/// The fd numbers open in the probe, from its report.
pub fn report_fds(report: &Value) -> Vec<i64> {
    let fds = report["fds"].as_array().unwrap_or_else(|| panic!("no fds in {report}"));
    fds.iter().map(|f| f["fd"].as_i64().unwrap()).collect()
}

pub fn json_in(s: &str) -> Option<Value> {
    let start = s.find('{')?;
    let end = s.rfind('}')?;
    serde_json::from_str(&s[start..=end]).ok()
}

/// Cgroup directories named `id` in any hierarchy (searched a few levels deep).
pub fn cgroups_named(id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo: Vec<(PathBuf, usize)> = vec![(PathBuf::from("/sys/fs/cgroup"), 0)];
    while let Some((dir, depth)) = todo.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if entry.file_name() == id {
                found.push(entry.path());
            } else if depth < 4 {
                todo.push((entry.path(), depth + 1));
            }
        }
    }
    found
}

/// Mount points in our mount namespace that contain any of `needles`.
fn mounts_mentioning(needles: &[&str]) -> Vec<String> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|mp| mp.replace("\\040", " "))
        .filter(|mp| needles.iter().any(|n| mp.contains(n)))
        .collect()
}

/// Asserts the container left no state dir, no process and no mount behind.
/// Processes get a short grace period to finish dying; the rest must already be gone.
pub fn assert_nothing_left(rt: &Runtime, id: &str, bundle: &Path) {
    let state_dir = rt.root.join(id);
    assert!(!state_dir.exists(), "state dir {} is still there", state_dir.display());

    let cgroups = cgroups_named(id);
    assert!(cgroups.is_empty(), "cgroups left behind by {id}: {cgroups:#?}");

    let bundle_str = bundle.to_string_lossy();
    let mounts = mounts_mentioning(&[&bundle_str, id]);
    assert!(mounts.is_empty(), "mounts left behind by {id}: {mounts:#?}");

    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let procs: Vec<String> = pids_mentioning(id)
            .into_iter()
            .map(|(pid, cmd)| format!("{pid}: {cmd}"))
            .collect();
        if procs.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            panic!("processes left behind by {id}: {procs:#?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `run` in the foreground with `flags`, its output piped; returns it once the container's init exists,
/// with the init's host pid.
pub fn foreground_run(rt: &Runtime, b: &Bundle, id: &str, flags: &[&str]) -> (std::process::Child, i64) {
    let mut child = rt
        .cmd()
        .arg("run")
        .args(flags)
        .args(["--bundle", b.path().to_str().unwrap(), id])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..300 {
        if let Ok(text) = std::fs::read(rt.root.join(id).join("state.json")) {
            if let Some(pid) = serde_json::from_slice::<Value>(&text)
                .ok()
                .and_then(|v| v["pid"].as_i64())
            {
                return (child, pid);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    panic!(
        "container {id} never started: {}",
        describe(&child.wait_with_output().unwrap())
    );
}

/// Polls `state` (up to 3 s) until the container has status `want`.
pub fn wait_for_status(rt: &Runtime, id: &str, want: &str) {
    for _ in 0..300 {
        if rt.state(id)["status"] == want {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{id} never became {want}: {}", rt.state(id));
}

/// `create` that must fail: returns its stderr, after checking it left nothing behind.
pub fn create_fails(bundle: &Bundle, id: &str) -> String {
    let rt = Runtime::new();
    let (status, err) = rt.run_bg(&["create", "--bundle", bundle.path().to_str().unwrap(), id]);
    assert!(!status.success(), "create {id} succeeded");
    assert_nothing_left(&rt, id, bundle.path());
    err
}

/// Waits (up to 5 s) until `signal` is set in the `field` mask ("SigCgt",
/// "SigIgn", "SigBlk") of /proc/<pid>/status. `probe wait-signal` is ready
/// once SIGUSR1 shows in SigCgt; `probe ignore-term` once SIGTERM shows in SigIgn.
pub fn wait_for_signal_mask(pid: i64, field: &str, signal: i32) {
    signal_mask_shows(pid, field, signal).unwrap_or_else(|e| panic!("{e}"))
}

/// `wait_for_signal_mask`, saying why it gave up instead of panicking.
pub fn signal_mask_shows(pid: i64, field: &str, signal: i32) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let bit = 1u64 << (signal - 1);
    loop {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let mask = status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok());
        if mask.is_some_and(|m| m & bit != 0) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "pid {pid}: signal {signal} never showed in {field} (mask {mask:?})"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Installs the container engines (hack/engines.sh) unless every one of `commands` is on PATH.
/// apt may be busy (another process holding its lock), so it retries for up to 10 minutes.
pub fn ensure_engines(commands: &[&str]) {
    let have = |cmd: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {cmd} >/dev/null")])
            .status()
            .is_ok_and(|s| s.success())
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    while !commands.iter().all(|c| have(c)) {
        let out = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/engines.sh"))
            .stdin(Stdio::null())
            .output()
            .expect("cannot run hack/engines.sh");
        if Instant::now() > deadline {
            panic!(
                "hack/engines.sh could not install {commands:?} ({}):\n{}",
                out.status,
                describe(&out)
            );
        }
        if !out.status.success() {
            std::thread::sleep(Duration::from_secs(5));
        }
    }
}

/// The scenarios of an engine test, run one after another against one engine: a failing
/// scenario is recorded with its name and the others still run; `finish` fails the test with
/// all of them. Each failure is printed once, without a backtrace.
pub struct Scenarios {
    failures: Vec<String>,
    passed: Vec<&'static str>,
    started: Instant,
}

impl Scenarios {
    pub fn new() -> Scenarios {
        std::panic::set_hook(Box::new(|_| {}));
        Scenarios {
            failures: Vec::new(),
            passed: Vec::new(),
            started: Instant::now(),
        }
    }

    pub fn run(&mut self, name: &'static str, f: impl FnOnce()) {
        let t = Instant::now();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(()) => {
                eprintln!("scenario {name}: ok ({:.1} s)", t.elapsed().as_secs_f64());
                self.passed.push(name);
            }
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                eprintln!("scenario {name}: FAILED: {msg}");
                self.failures.push(format!("[{name}] {msg}"));
            }
        }
    }

    /// Puts the default panic hook back and panics if a scenario failed or `after` (what the
    /// engine's cleanup left) is not empty, showing `log` (the engine's log tail) then.
    pub fn finish(mut self, after: Vec<String>, log: &str) {
        let _ = std::panic::take_hook();
        eprintln!(
            "passed: {:?}; total {:.1} s",
            self.passed,
            self.started.elapsed().as_secs_f64()
        );
        self.failures.extend(after);
        if !self.failures.is_empty() {
            panic!(
                "{} scenario(s) failed:\n{}\n--- engine log (tail) ---\n{log}",
                self.failures.len(),
                self.failures.join("\n\n")
            );
        }
    }
}

/// One message from a unix socket and the fd sent with it (SCM_RIGHTS).
pub fn recv_fd(conn: &impl std::os::fd::AsRawFd) -> (Vec<u8>, std::os::fd::OwnedFd) {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = vec![0u8; 1 << 20];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(conn.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty()).unwrap();
    let fd = msg
        .cmsgs()
        .unwrap()
        .find_map(|c| match c {
            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
        .expect("no fd came with the message");
    let len = msg.bytes;
    buf.truncate(len);
    // SAFETY: the fd came to us with SCM_RIGHTS.
    (buf, unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

/// The six kinds of hook, in the order the runtime runs them.
pub const HOOK_KINDS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];
