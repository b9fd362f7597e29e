//! `--systemd-cgroup` against a real systemd. None runs on the test host, so each test starts
//! its own: Debian's systemd as PID 1 of private pid, mount, cgroup, uts and ipc namespaces,
//! in a cgroup of its own (`/scrun-test-systemd-<pid>-<n>` in every hierarchy, remounted inside
//! so that systemd sees it as the root), with a private /run and a target that starts nothing.
//! scrun runs in those namespaces (nsenter), as it would run beside a host's systemd. The
//! instance is stopped by pid afterwards and its cgroup tree removed; its mounts die with its
//! mount namespace.

mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SYSTEMD: &str = "/lib/systemd/systemd";

/// A private systemd and the cgroup tree it lives in.
struct PrivateSystemd {
    /// sh, then unshare: waits for systemd, and exits with it.
    launcher: Child,
    /// systemd's pid, as the host sees it.
    pid: i32,
    /// The tree's top directory in every hierarchy.
    tops: Vec<PathBuf>,
}

impl PrivateSystemd {
    /// None (with a note) where it cannot run: not root, or no systemd installed.
    fn start() -> Option<PrivateSystemd> {
        if !nix::unistd::geteuid().is_root() || !Path::new(SYSTEMD).exists() {
            eprintln!("skipped: needs root and {SYSTEMD}");
            return None;
        }
        let name = format!("scrun-test-{}", unique_id("systemd"));
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let hierarchies: Vec<_> = scrun::mountinfo::parse(&info)
            .into_iter()
            .filter(|m| matches!(m.fstype, "cgroup" | "cgroup2") && m.mount_point.starts_with("/sys/fs/cgroup/"))
            .collect();
        assert!(!hierarchies.is_empty(), "no cgroup hierarchy below /sys/fs/cgroup");
        let mut tops = Vec::new();
        let mut join = String::new();
        let mut mount = String::new();
        for h in &hierarchies {
            let top = Path::new(&*h.mount_point).join(&name);
            fs::create_dir(&top).unwrap_or_else(|e| panic!("mkdir {}: {e}", top.display()));
            for file in ["cpuset.cpus", "cpuset.mems"] {
                if let Ok(value) = fs::read_to_string(Path::new(&*h.mount_point).join(file)) {
                    fs::write(top.join(file), value.trim()).unwrap();
                }
            }
            join.push_str(&format!("echo $$ > {}/cgroup.procs\n", top.display()));
            // Mounted again inside the cgroup namespace, the hierarchy's root is our top.
            mount.push_str(&format!(
                "mkdir {mp}; mount -t {fs} -o {opts} cgroup {mp}\n",
                mp = h.mount_point,
                fs = h.fstype,
                opts = h.super_options
            ));
            tops.push(top);
        }
        let inner = format!(
            "set -e\n\
             mount -t tmpfs -o mode=755 tmpfs /run\n\
             mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup\n\
             {mount}\
             # /dev/console is the host's: systemd writes its status there, so it gets a file.\n\
             touch /run/console; mount --bind /run/console /dev/console\n\
             mkdir -p /run/systemd/system\n\
             printf '[Unit]\\nDescription=scrun tests\\nDefaultDependencies=no\\n' > /run/systemd/system/scrun-test.target\n\
             exec {SYSTEMD} --system --unit=scrun-test.target --log-target=console\n"
        );
        let script = format!(
            "set -e\n{join}exec unshare --pid --fork --mount-proc --mount --propagation private \
             --cgroup --uts --ipc sh -c \"$SCRUN_TEST_INNER\""
        );
        let launcher = Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("SCRUN_TEST_INNER", inner)
            // systemd acts as a container's manager: it leaves the kernel and the host alone.
            .env("container", "scrun-test")
            .stdin(Stdio::null())
            .spawn()
            .expect("run sh");
        let mut sd = PrivateSystemd { launcher, pid: 0, tops };
        sd.pid = sd.wait_for_systemd();
        Some(sd)
    }

    /// systemd's host pid once it answers on its private socket and has reached its target.
    fn wait_for_systemd(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.launcher.try_wait() {
                panic!("the private systemd exited during start-up: {status}");
            }
            let children = format!("/proc/{0}/task/{0}/children", self.launcher.id());
            let pid: Option<i32> = fs::read_to_string(children)
                .ok()
                .and_then(|c| c.split_whitespace().next()?.parse().ok());
            if let Some(pid) =
                pid.filter(|p| fs::read_link(format!("/proc/{p}/exe")).is_ok_and(|e| e.ends_with("systemd")))
            {
                self.pid = pid;
                let state = self.nsenter(&["systemctl", "is-system-running", "--wait"]);
                let text = String::from_utf8_lossy(&state.stdout);
                if text.contains("running") || text.contains("degraded") {
                    return pid;
                }
            }
            assert!(Instant::now() < deadline, "the private systemd did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A command in systemd's namespaces. Its output goes through files: a detached container
    /// inherits them, and would hold a pipe open.
    fn nsenter(&self, args: &[&str]) -> Output {
        let base = std::env::temp_dir().join(unique_id("scrun-test-nsenter"));
        let (out_path, err_path) = (base.with_extension("out"), base.with_extension("err"));
        let status = Command::new("nsenter")
            .args(["--target", &self.pid.to_string(), "--mount", "--pid", "--cgroup", "--"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out_path).unwrap())
            .stderr(fs::File::create(&err_path).unwrap())
            .status()
            .expect("run nsenter");
        let output = Output {
            status,
            stdout: fs::read(&out_path).unwrap(),
            stderr: fs::read(&err_path).unwrap(),
        };
        let _ = (fs::remove_file(out_path), fs::remove_file(err_path));
        output
    }

    /// scrun with `--root` of `rt`, beside this systemd.
    fn scrun(&self, rt: &Runtime, args: &[&str]) -> Output {
        let bin = runtime_bin();
        let root = rt.root.to_str().unwrap();
        let mut all = vec![bin.to_str().unwrap(), "--root", root];
        all.extend(args);
        self.nsenter(&all)
    }

    fn scrun_ok(&self, rt: &Runtime, args: &[&str]) -> Output {
        let out = self.scrun(rt, args);
        assert!(out.status.success(), "scrun {args:?}: {}", describe(&out));
        out
    }

    /// `systemctl show -p <prop> --value <unit>`.
    fn show(&self, unit: &str, prop: &str) -> String {
        let out = self.nsenter(&["systemctl", "show", "-p", prop, "--value", unit]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The directory of `cgroup` (a path below systemd's root) in the host's `hierarchy`.
    fn host_dir(&self, hierarchy: &str, cgroup: &str) -> PathBuf {
        let top = self
            .tops
            .iter()
            .find(|t| t.parent().is_some_and(|p| p.ends_with(hierarchy)))
            .unwrap_or_else(|| panic!("no {hierarchy} hierarchy"));
        top.join(cgroup.trim_start_matches('/'))
    }
}

impl Drop for PrivateSystemd {
    /// Powers systemd off (SIGRTMIN+4; SIGKILL if it has not gone in 30 s), then removes its
    /// cgroup tree. The pid namespace ends with its init, the mount namespace with its last
    /// process.
    fn drop(&mut self) {
        // Must not panic: a panic here while a failed test unwinds aborts, leaving systemd.
        if self.pid > 0 {
            // SAFETY: kill(2) with a pid we found and a signal number; nix has no realtime signals.
            unsafe { libc::kill(self.pid, libc::SIGRTMIN() + 4) };
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while matches!(self.launcher.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.pid > 0 && matches!(self.launcher.try_wait(), Ok(None)) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), nix::sys::signal::Signal::SIGKILL);
        }
        let _ = self.launcher.wait();
        for top in &self.tops {
            if let Err(e) = remove_tree(top) {
                eprintln!("rmdir {}: {e}", top.display());
            }
        }
    }
}

/// rmdir deepest first, retrying while the last processes leave.
fn remove_tree(dir: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&entry.path())?;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match fs::remove_dir(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
            Ok(()) => return Ok(()),
        }
    }
}

fn bundle(args: &[&str], cgroups_path: &str) -> Bundle {
    let b = Bundle::new();
    b.set_args(args);
    b.config_mut(|c| {
        c["linux"]["cgroupsPath"] = json!(cgroups_path);
        c["linux"]["resources"]["memory"] = json!({"limit": 64 << 20});
        c["linux"]["resources"]["pids"] = json!({"limit": 77});
        c["linux"]["resources"]["cpu"] = json!({"shares": 512});
    });
    b
}

/// A whole life through systemd: the scope holds the init, with the limits in its cgroup, seen
/// from inside and from the host; pause, ps and delete work on it; delete stops the unit and
/// its cgroup goes. Then systemd is stopped and leaves nothing.
#[test]
fn a_container_lives_in_a_systemd_scope() {
    let Some(sd) = PrivateSystemd::start() else { return };
    let systemd_pid = sd.pid;
    let tops = sd.tops.clone();
    let rt = Runtime::new();
    let id = unique_id("sdscope");
    let unit = format!("scrun-{id}.scope");
    let cgroup = format!("/system.slice/{unit}");
    let b = bundle(&["/probe", "sleep", "600"], &format!("system.slice:scrun:{id}"));
    let dir = b.path().to_str().unwrap();

    sd.scrun_ok(&rt, &["--systemd-cgroup", "run", "--detach", "--bundle", dir, &id]);
    assert_eq!(sd.show(&unit, "ActiveState"), "active");
    assert_eq!(sd.show(&unit, "ControlGroup"), cgroup);
    assert_eq!(sd.show(&unit, "MemoryMax"), (64 << 20).to_string());
    assert_eq!(sd.show(&unit, "TasksMax"), "77");
    assert_eq!(sd.show(&unit, "DevicePolicy"), "strict");

    // From the host: the init's host pid is the only process of the scope's cgroup, where the
    // limits are written, in the hierarchies systemd manages and those it does not (freezer).
    let memory = sd.host_dir("memory", &cgroup);
    let procs = fs::read_to_string(memory.join("cgroup.procs")).unwrap();
    let host_pid: i32 = procs
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("cgroup.procs: {procs:?}"));
    let own = fs::read_to_string(format!("/proc/{host_pid}/cgroup")).unwrap();
    for controller in ["memory", "pids", "freezer", "name=systemd"] {
        let line = own.lines().find(|l| l.split(':').nth(1) == Some(controller)).unwrap();
        assert!(line.ends_with(&cgroup), "{controller}: {line}");
    }
    assert_eq!(
        fs::read_to_string(memory.join("memory.limit_in_bytes")).unwrap().trim(),
        (64 << 20).to_string()
    );
    assert_eq!(
        fs::read_to_string(sd.host_dir("pids", &cgroup).join("pids.max"))
            .unwrap()
            .trim(),
        "77"
    );

    // The saved cgroup is the scope's: ps and pause use it.
    let state: serde_json::Value = serde_json::from_slice(&sd.scrun_ok(&rt, &["state", &id]).stdout).unwrap();
    let ns_pid = state["pid"].as_i64().unwrap().to_string();
    let ps = sd.scrun_ok(&rt, &["ps", "--format", "json", &id]);
    assert_eq!(String::from_utf8_lossy(&ps.stdout).trim(), format!("[{ns_pid}]"));
    sd.scrun_ok(&rt, &["pause", &id]);
    let freezer = sd.host_dir("freezer", &cgroup);
    assert_eq!(
        fs::read_to_string(freezer.join("freezer.state")).unwrap().trim(),
        "FROZEN"
    );
    sd.scrun_ok(&rt, &["resume", &id]);

    // update tells systemd too: a daemon-reload re-applies the unit's settings, and the new
    // limit must be what it puts back.
    let limit = (128 << 20).to_string();
    sd.scrun_ok(&rt, &["update", "--memory", &limit, &id]);
    assert_eq!(sd.show(&unit, "MemoryMax"), limit);
    let out = sd.nsenter(&["systemctl", "daemon-reload"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        fs::read_to_string(memory.join("memory.limit_in_bytes")).unwrap().trim(),
        limit
    );
    // So is the cpu weight from create, which systemd holds as CPUShares on a v1 cpu hierarchy.
    if Path::new("/sys/fs/cgroup/cpu/cpu.shares").exists() {
        assert_eq!(sd.show(&unit, "CPUShares"), "512");
        let cpu = sd.host_dir("cpu", &cgroup);
        assert_eq!(fs::read_to_string(cpu.join("cpu.shares")).unwrap().trim(), "512");
    }

    // A second container may not take a unit that exists: systemd's refusal is the error,
    // and the failed create leaves nothing.
    let other = unique_id("sdtaken");
    let (b2, rt2) = (
        bundle(&["/probe", "sleep", "600"], &format!("system.slice:scrun:{id}")),
        Runtime::new(),
    );
    let out = sd.scrun(
        &rt2,
        &[
            "--systemd-cgroup",
            "create",
            "--bundle",
            b2.path().to_str().unwrap(),
            &other,
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--systemd-cgroup") && err.contains("UnitExists"),
        "{err}"
    );
    assert_nothing_left(&rt2, &other, b2.path());
    assert_eq!(
        sd.show(&unit, "ActiveState"),
        "active",
        "the failed create stopped the first container's unit"
    );

    sd.scrun_ok(&rt, &["delete", "--force", &id]);
    assert_eq!(sd.show(&unit, "LoadState"), "not-found");
    for top in &tops {
        let gone = top.join(cgroup.trim_start_matches('/'));
        assert!(!gone.exists(), "{} is still there", gone.display());
    }
    assert!(!Path::new(&format!("/proc/{host_pid}")).exists());
    assert_nothing_left(&rt, &id, b.path());

    // Its mounts live only in its mount namespace: once no process holds that, they are gone.
    let mnt_ns = fs::read_link(format!("/proc/{systemd_pid}/ns/mnt")).unwrap();
    drop(sd);
    assert!(
        !Path::new(&format!("/proc/{systemd_pid}")).exists(),
        "systemd {systemd_pid} still runs"
    );
    for top in &tops {
        assert!(!top.exists(), "{} is still there", top.display());
    }
    let holders: Vec<String> = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|p| fs::read_link(p.path().join("ns/mnt")).is_ok_and(|ns| ns == mnt_ns))
        .map(|p| p.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        holders.is_empty(),
        "processes still in systemd's mount namespace: {holders:?}"
    );
}

/// The container reads its own limit through its /sys/fs/cgroup, and a foreground run cleans up
/// through systemd too.
#[test]
fn a_foreground_run_sees_its_limit_and_leaves_no_unit() {
    let Some(sd) = PrivateSystemd::start() else { return };
    let rt = Runtime::new();
    let id = unique_id("sdrun");
    let b = bundle(&["/probe", "read", "/sys/fs/cgroup/memory/memory.limit_in_bytes"], "");
    let out = sd.scrun_ok(
        &rt,
        &["--systemd-cgroup", "run", "--bundle", b.path().to_str().unwrap(), &id],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), (64 << 20).to_string());
    // No cgroupsPath: the default unit, in system.slice.
    assert_eq!(sd.show(&format!("scrun-{id}.scope"), "LoadState"), "not-found");
    let gone = sd.host_dir("memory", &format!("/system.slice/scrun-{id}.scope"));
    assert!(!gone.exists(), "{} is still there", gone.display());
    assert_nothing_left(&rt, &id, b.path());
}
