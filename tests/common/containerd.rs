//! A private containerd 1.6 for the engine tests (tests/engine_containerd.rs drives it with ctr,
//! tests/engine_kubernetes.rs over CRI), configured as README.md tells a user to: its own root,
//! state, sockets and opt dir under one /tmp directory, stopped by pid; its shims are stopped by
//! pid and its mounts and directory removed.

use super::readme::{readme_block, replace_path, toml_merge, CONTAINERD_ITEM, CONTAINERD_OOM_ITEM, INSTALLED_SCRUN};
use super::{describe, runtime_bin};
use super::{mounts_under, pids_mentioning};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The config file Debian's containerd package ships.
const STOCK_CONFIG: &str = "/etc/containerd/config.toml";
/// The runtime Root the README gives scrun's entry (and `ctr run --runc-root`).
pub const README_SCRUN_ROOT: &str = "/run/containerd/scrun";

/// Where [`readme_config`] puts scrun's runtime Root (the README's /run/containerd/scrun).
pub fn scrun_root(dir: &Path) -> PathBuf {
    dir.join("scrun-root")
}

/// Where [`readme_config`] puts the CNI config directory (the stock file's /etc/cni/net.d).
pub fn cni_conf_dir(dir: &Path) -> PathBuf {
    dir.join("cni/conf.d")
}

/// containerd's config as README.md has a user make it: Debian's stock config file, the
/// README's runtime tables appended to it (its containerd bullet), and the README's
/// troubleshooting key for a containerd without CAP_SYS_RESOURCE, as here, put under the CRI
/// plugin's header. The only changes are paths: the stock file's opt and CNI config
/// directories and scrun's runtime Root point into `dir`, and scrun is the binary under test.
pub fn readme_config(dir: &Path) -> String {
    let stock = fs::read_to_string(STOCK_CONFIG)
        .unwrap_or_else(|e| panic!("{STOCK_CONFIG} (Debian's containerd package ships it): {e}"));
    let verify = Command::new("dpkg")
        .args(["--verify", "containerd"])
        .output()
        .expect("cannot run dpkg --verify");
    assert!(
        !String::from_utf8_lossy(&verify.stdout).contains(STOCK_CONFIG),
        "{STOCK_CONFIG} is not the file Debian's containerd package ships; the test needs the stock one:\n{}",
        describe(&verify)
    );
    let stock = replace_path(&stock, "/var/lib/containerd/opt", &dir.join("opt"));
    let stock = replace_path(&stock, "/etc/cni/net.d", &cni_conf_dir(dir));
    let runtimes = readme_block(CONTAINERD_ITEM, "toml");
    let runtimes = replace_path(&runtimes, INSTALLED_SCRUN, &runtime_bin());
    let runtimes = replace_path(&runtimes, README_SCRUN_ROOT, &scrun_root(dir));
    toml_merge(
        &format!("{stock}\n{runtimes}"),
        &readme_block(CONTAINERD_OOM_ITEM, "toml"),
    )
}

pub struct PrivateContainerd {
    child: Option<Child>,
    pub dir: PathBuf,
    pub sock: PathBuf,
    pub log: PathBuf,
}

impl PrivateContainerd {
    /// Starts containerd in /tmp/scrun-e2e-<name>-<pid> with the config of [`readme_config`]
    /// and its root, state and socket in that directory, after `prepare(dir)`. Returns once
    /// `ctr version` answers.
    pub fn start(name: &str, prepare: impl FnOnce(&Path)) -> PrivateContainerd {
        let dir = PathBuf::from(format!("/tmp/scrun-e2e-{name}-{}", std::process::id()));
        // Before the directory exists: a README that cannot be used leaves nothing behind.
        let config = readme_config(&dir);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("mkdir containerd dir");
        let sock = dir.join("containerd.sock");
        let log = dir.join("containerd.log");
        prepare(&dir);
        let config_path = dir.join("config.toml");
        fs::write(&config_path, config).unwrap();
        let logf = fs::File::create(&log).unwrap();
        // The ttrpc socket is the grpc one's path plus ".ttrpc".
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config_path)
            .arg("--root")
            .arg(dir.join("root"))
            .arg("--state")
            .arg(dir.join("state"))
            .arg("--address")
            .arg(&sock)
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
        // The shim's socket directory, which containerd 1.6 puts there whatever its own dirs:
        // removed once empty (another containerd of this machine may still use it).
        let _ = fs::remove_dir("/run/containerd/s");
        let _ = fs::remove_dir("/run/containerd");
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
