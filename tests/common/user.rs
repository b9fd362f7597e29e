//! A user made for a test, removed afterwards (on a panic too), and scrun or another program
//! run as that user through setpriv without capabilities: the rootless tests.

use super::describe;
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

/// useradd and userdel lock /etc/passwd: one at a time within this process.
static USERS: Mutex<()> = Mutex::new(());

/// A user made for one test: `base` (root's, 0755) holds the scrun binary and the user's own
/// 0700 `home`, where its bundles and its XDG_RUNTIME_DIR (`home/run`) are.
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub base: PathBuf,
    pub bin: PathBuf,
}

impl TestUser {
    pub fn new() -> TestUser {
        let name = format!(
            "scrunrl{}x{}",
            std::process::id(),
            super::unique_id("u").rsplit('-').next().unwrap()
        );
        let base = std::env::temp_dir().join(super::unique_id("scrun-rootless"));
        {
            let _guard = USERS.lock().unwrap_or_else(|e| e.into_inner());
            let out = Command::new("useradd")
                .args(["-M", "-s", "/usr/sbin/nologin", &name])
                .output()
                .expect("run useradd");
            assert!(out.status.success(), "useradd {name}: {}", describe(&out));
        }
        let user = nix::unistd::User::from_name(&name).unwrap().expect("the new user");
        // From here on Drop removes the user, whatever happens.
        let me = TestUser {
            name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            bin: base.join("scrun"),
            base,
        };
        if me.subuid_range().is_none() || me.subgid_range().is_none() {
            // useradd gives none where /etc/subuid did not exist: a range of our own, past
            // what useradd hands out, one per uid.
            let start = 2_000_000 + (me.uid % 10_000) * 65_536;
            let range = format!("{start}-{}", start + 65_535);
            let _guard = USERS.lock().unwrap_or_else(|e| e.into_inner());
            let out = Command::new("usermod")
                .args(["--add-subuids", &range, "--add-subgids", &range, &me.name])
                .output()
                .expect("run usermod");
            assert!(out.status.success(), "usermod {}: {}", me.name, describe(&out));
        }
        fs::create_dir_all(me.home().join("run")).unwrap();
        fs::set_permissions(&me.base, fs::Permissions::from_mode(0o755)).unwrap();
        fs::copy(super::runtime_bin(), &me.bin).unwrap();
        fs::set_permissions(&me.bin, fs::Permissions::from_mode(0o755)).unwrap();
        me.give(&me.home());
        fs::set_permissions(me.home(), fs::Permissions::from_mode(0o700)).unwrap();
        me
    }

    /// The user's first range in /etc/subuid.
    pub fn subuid_range(&self) -> Option<(u32, u32)> {
        self.range_in("/etc/subuid")
    }

    /// The user's first range in /etc/subgid.
    pub fn subgid_range(&self) -> Option<(u32, u32)> {
        self.range_in("/etc/subgid")
    }

    fn range_in(&self, file: &str) -> Option<(u32, u32)> {
        let text = fs::read_to_string(file).unwrap_or_default();
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() == 3 && f[0] == self.name).then(|| (f[1].parse().unwrap(), f[2].parse().unwrap()))
        })
    }

    pub fn home(&self) -> PathBuf {
        self.base.join("home")
    }

    pub fn state_root(&self) -> PathBuf {
        self.home().join("run/scrun")
    }

    /// chown -R to the user.
    pub fn give(&self, path: &Path) {
        let out = Command::new("chown")
            .args(["-R", &format!("{}:{}", self.uid, self.gid)])
            .arg(path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
    }

    /// scrun as the user.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(&self.bin);
        cmd.args(args);
        cmd
    }

    /// `program` as the user, without any capability, in its home, with only its environment.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid",
            &self.uid.to_string(),
            "--regid",
            &self.gid.to_string(),
            "--clear-groups",
            "--",
        ])
        .arg(program)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", self.home())
        .env("USER", &self.name)
        .env("XDG_RUNTIME_DIR", self.home().join("run"))
        .current_dir(self.home())
        .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run setpriv")
    }

    pub fn run_ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "scrun {} as {}: {}",
            args.join(" "),
            self.name,
            describe(&out)
        );
        out
    }

    /// For commands that leave a container process behind: no pipes it would hold open.
    pub fn run_detached(&self, args: &[&str]) -> (bool, String) {
        let err = self.base.join(format!("stderr-{}", super::unique_id("e")));
        let status = self
            .cmd(args)
            .stdout(Stdio::null())
            .stderr(fs::File::create(&err).unwrap())
            .status()
            .expect("run setpriv");
        let text = fs::read_to_string(&err).unwrap_or_default();
        let _ = fs::remove_file(err);
        (status.success(), text)
    }

    /// A bundle in the user's home from `scrun spec --rootless` run as the user, with the probe
    /// as rootfs/probe and `args` as process.args, without a terminal.
    pub fn bundle(&self, args: &[&str]) -> PathBuf {
        let dir = self.home().join(super::unique_id("bundle"));
        fs::create_dir_all(dir.join("rootfs")).unwrap();
        fs::copy(super::probe(), dir.join("rootfs/probe")).unwrap();
        self.give(&dir);
        self.run_ok(&["spec", "--rootless", "--bundle", dir.to_str().unwrap()]);
        edit(&dir, |c| {
            c["process"]["args"] = serde_json::json!(args);
            c["process"]["terminal"] = false.into();
        });
        dir
    }

    /// The user's containers: what its state root holds (the seccomp cache aside).
    pub fn left(&self) -> Vec<String> {
        fs::read_dir(self.state_root())
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n != ".cache")
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl TestUser {
    /// The pids of the processes running as the user (real uid).
    pub fn processes(&self) -> Vec<i32> {
        fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let pid: i32 = e.file_name().to_str()?.parse().ok()?;
                let status = fs::read_to_string(e.path().join("status")).ok()?;
                let uid = status
                    .lines()
                    .find_map(|l| l.strip_prefix("Uid:"))?
                    .split_whitespace()
                    .next()?
                    .parse::<u32>()
                    .ok()?;
                (uid == self.uid).then_some(pid)
            })
            .collect()
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        for id in self.left() {
            let _ = self.run(&["delete", "--force", &id]);
        }
        // What the user still runs (rootless podman's pause process) goes first: userdel
        // refuses a user with processes.
        for pid in self.processes() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        for _ in 0..200 {
            if self.processes().is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _guard = USERS.lock().unwrap_or_else(|e| e.into_inner());
        // userdel also drops the user's /etc/subuid and /etc/subgid lines.
        let out = Command::new("userdel").arg(&self.name).output();
        if !matches!(&out, Ok(o) if o.status.success()) {
            eprintln!("userdel {}: {out:?}", self.name);
        }
        let _ = fs::remove_dir_all(&self.base);
    }
}

/// Read-modify-write of a bundle's config.json (it stays the user's: written in place).
pub fn edit(bundle: &Path, f: impl FnOnce(&mut Value)) {
    let path = bundle.join("config.json");
    let mut config: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    f(&mut config);
    fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
}
