//! A private containerd 1.6 for the engine tests (tests/engine_containerd.rs drives it with ctr,
//! tests/engine_kubernetes.rs over CRI): its own root, state, sockets and opt dir under one /tmp
//! directory, stopped by pid; its shims are stopped by pid and its mounts and directory removed.

use super::describe;
use super::{mounts_under, pids_mentioning};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct PrivateContainerd {
    child: Option<Child>,
    pub dir: PathBuf,
    pub sock: PathBuf,
    pub log: PathBuf,
}

impl PrivateContainerd {
    /// Starts containerd in /tmp/scrun-e2e-<name>-<pid> with `plugins(dir)` (TOML tables of
    /// `[plugins."..."]`, given that directory) added to the private base config, and the plugins
    /// in `disabled` off besides the snapshotters this host cannot use. Returns once
    /// `ctr version` answers.
    pub fn start(name: &str, disabled: &[&str], plugins: impl FnOnce(&Path) -> String) -> PrivateContainerd {
        let dir = PathBuf::from(format!("/tmp/scrun-e2e-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("mkdir containerd dir");
        let sock = dir.join("containerd.sock");
        let log = dir.join("containerd.log");
        let d = dir.display();
        let snapshotters = ["btrfs", "zfs", "devmapper", "aufs"].map(|s| format!("io.containerd.snapshotter.v1.{s}"));
        let disabled: Vec<String> = disabled
            .iter()
            .map(|s| s.to_string())
            .chain(snapshotters)
            .map(|p| format!("{p:?}"))
            .collect();
        let disabled = disabled.join(", ");
        let plugins = plugins(&dir);
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [{disabled}]

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{d}/opt"
  # Not used (the tests pick io.containerd.runc.v2), but the tasks service needs it loaded; keep
  # its default /run/containerd/runc out of the way.
  [plugins."io.containerd.runtime.v1.linux"]
    runtime_root = "{d}/v1-runc"
{plugins}"#
        );
        let config_path = dir.join("config.toml");
        fs::write(&config_path, config).unwrap();
        let logf = fs::File::create(&log).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(logf.try_clone().unwrap())
            .stderr(logf)
            .spawn()
            .expect("cannot start containerd");
        let mut c = PrivateContainerd {
            child: Some(child),
            dir,
            sock,
            log,
        };
        // Ready when the socket exists and `ctr version` answers.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = c.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("containerd exited at start ({status}):\n{}", c.log_tail());
            }
            if c.sock.exists() && c.ctr("default", &["version"]).status.success() {
                break;
            }
            if Instant::now() > deadline {
                panic!("containerd did not come up in 30 s:\n{}", c.log_tail());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        c
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// The last 40 lines of containerd's log.
    pub fn log_tail(&self) -> String {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// `timeout 60 ctr -a SOCK -n NS <args>` with null stdin.
    pub fn ctr_cmd(&self, ns: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "5", "60", "ctr", "-a"])
            .arg(&self.sock)
            .args(["-n", ns])
            .args(args);
        cmd.stdin(Stdio::null());
        cmd
    }

    pub fn ctr(&self, ns: &str, args: &[&str]) -> Output {
        self.ctr_cmd(ns, args).output().expect("cannot run ctr")
    }

    pub fn ctr_ok(&self, ns: &str, args: &[&str]) -> Output {
        let out = self.ctr(ns, args);
        assert!(
            out.status.success(),
            "`ctr {}` failed ({}):\n{}",
            args.join(" "),
            out.status,
            describe(&out)
        );
        out
    }

    /// Stops containerd (SIGTERM, SIGKILL after 10 s), then the shims, which outlive it by
    /// design, and unmounts what is left under its directory. Idempotent.
    pub fn shutdown(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id() as i32;
            kill(pid, libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    kill(pid, libc::SIGKILL);
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let shims = self.leftover_processes();
        for (pid, _) in &shims {
            kill(*pid, libc::SIGKILL);
        }
        if !shims.is_empty() {
            std::thread::sleep(Duration::from_millis(200));
        }
        for m in mounts_under(&self.dir) {
            let c = std::ffi::CString::new(m).unwrap();
            if unsafe { libc::umount2(c.as_ptr(), 0) } != 0 {
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }

    /// Shims (and anything else) still mentioning our directory.
    pub fn leftover_processes(&self) -> Vec<(i32, String)> {
        pids_mentioning(&self.dir.to_string_lossy())
    }

    /// containerd 1.6's shim socket for a task: /run/containerd/s/<sha256 of "<address>/<ns>/<id>">
    /// (the shim removes it when it exits normally).
    pub fn shim_socket(&self, ns: &str, id: &str) -> PathBuf {
        let path = format!("{}/{ns}/{id}", self.sock.display());
        let out = Command::new("sh")
            .args(["-c", "printf %s \"$1\" | sha256sum", "sh", &path])
            .output()
            .expect("sha256sum");
        let hash = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string();
        Path::new("/run/containerd/s").join(hash)
    }
}

impl Drop for PrivateContainerd {
    fn drop(&mut self) {
        self.shutdown();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn kill(pid: i32, sig: i32) {
    unsafe { libc::kill(pid, sig) };
}

/// What a dropped containerd left behind in its directory `dir`: mounts, processes, the
/// directory itself.
pub fn left_after(dir: &Path) -> Vec<String> {
    let mut left = Vec::new();
    let m = mounts_under(dir);
    if !m.is_empty() {
        left.push(format!("mounts left after cleanup: {m:?}"));
    }
    let p = pids_mentioning(&dir.to_string_lossy());
    if !p.is_empty() {
        left.push(format!("processes left after cleanup: {p:?}"));
    }
    if dir.exists() {
        left.push(format!("{} not removed", dir.display()));
    }
    left
}
