//! End to end: rootless podman 4.3, run by a user made for the test (with the /etc/subuid
//! and /etc/subgid ranges useradd gives it), with scrun as its runtime, then the same
//! scenarios with runc as the oracle. Podman re-executes itself in a user namespace of the
//! user's ranges (newuidmap), so the runtime runs there as root of that namespace: rootless
//! all the same. Private containers.conf and storage.conf (vfs) in the user's home, the image
//! built from local files (integration/engines/image.py) and `podman load`ed, `--network
//! none`. The user, its files and its processes (podman's pause process) are removed after.

mod common;
use common::user::TestUser;
use common::*;

use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::Output;

const IMAGE: &str = "localhost/scrun-rootless:e2e";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Podman as `user`, with `runtime` as its OCI runtime, its storage in the user's home.
struct Podman<'a> {
    user: &'a TestUser,
}

impl Podman<'_> {
    fn new<'a>(user: &'a TestUser, runtime: &Path) -> Podman<'a> {
        let home = user.home();
        let h = home.display();
        fs::create_dir_all(home.join("conf")).unwrap();
        fs::write(
            home.join("conf/containers.conf"),
            format!(
                "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nlock_type = \"file\"\n\
                 runtime = \"under-test\"\n[engine.runtimes]\nunder-test = [\"{}\"]\n",
                runtime.display()
            ),
        )
        .unwrap();
        fs::write(
            home.join("conf/storage.conf"),
            format!("[storage]\ndriver = \"vfs\"\nrunroot = \"{h}/runroot\"\ngraphroot = \"{h}/storage\"\n"),
        )
        .unwrap();
        fs::write(home.join("conf/registries.conf"), "").unwrap();
        let tar = home.join("image.tar");
        let out = std::process::Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/engines/image.py"))
            .arg(&tar)
            .arg(IMAGE)
            .arg(format!("{}:/probe", probe().display()))
            .args(["--cmd", "/probe", "hello"])
            .output()
            .expect("run image.py");
        assert!(out.status.success(), "image.py: {}", describe(&out));
        user.give(&home);
        let p = Podman { user };
        p.ok(&["load", "-i", tar.to_str().unwrap()]).unwrap();
        p
    }

    fn run(&self, args: &[&str]) -> Output {
        let home = self.user.home();
        self.user
            .command(Path::new("/usr/bin/timeout"))
            .args(["120", "podman"])
            .args(args)
            .env("CONTAINERS_CONF", home.join("conf/containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", home.join("conf/storage.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", home.join("conf/registries.conf"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .output()
            .expect("run podman")
    }

    fn ok(&self, args: &[&str]) -> Result<Output, String> {
        let out = self.run(args);
        if out.status.success() {
            Ok(out)
        } else {
            Err(format!(
                "`podman {}` failed ({}):\n{}",
                args.join(" "),
                out.status,
                describe(&out)
            ))
        }
    }

    fn report(&self, extra: &[&str]) -> Result<Value, String> {
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[IMAGE, "/probe", "report"]);
        let out = self.ok(&args)?;
        serde_json::from_slice(&out.stdout).map_err(|e| format!("no probe report ({e}): {}", describe(&out)))
    }
}

fn check(what: &str, ok: bool, detail: impl std::fmt::Display) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("{what}: {detail}"))
    }
}

/// The scenarios against one runtime (None: the scrun under test, as the user's copy), each
/// named after it, with a user of its own.
fn scenarios(s: &mut Scenarios, name: &str, runtime: Option<&Path>) {
    let user = TestUser::new();
    let p = Podman::new(&user, runtime.unwrap_or(&user.bin));
    let named = |what: &str| -> &'static str { Box::leak(format!("{name}: {what}").into_boxed_str()) };
    s.run(named("run prints the greeting"), || {
        let out = p.ok(&["run", "--rm", "--network", "none", IMAGE]).unwrap();
        assert_eq!(text(&out.stdout), "Hello from a scratch container!\n");
    });
    s.run(named("run passes the exit code"), || {
        let out = p.run(&["run", "--rm", "--network", "none", IMAGE, "/probe", "exit", "5"]);
        assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    });
    s.run(named("root inside is the user outside (no --uidmap)"), || {
        let r = p.report(&[]).unwrap();
        assert_eq!(r["euid"], 0);
        let first = r["id_maps"]["uid"]
            .as_str()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string();
        let fields: Vec<&str> = first.split_whitespace().collect();
        assert_eq!(fields, ["0", &user.uid.to_string(), "1"], "{}", r["id_maps"]);
    });
    s.run(named("--user"), || {
        let r = p.report(&["--user", "1000:1000"]).unwrap();
        check("ids", r["euid"] == 1000 && r["egid"] == 1000, &r).unwrap();
    });
    s.run(named("--read-only"), || {
        let out = p.run(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--read-only",
            IMAGE,
            "/probe",
            "write",
            "/x",
            "y",
        ]);
        assert!(!out.status.success(), "wrote to a read-only root: {}", describe(&out));
        assert!(describe(&out).contains("Read-only file system"), "{}", describe(&out));
    });
    s.run(named("exec, kill, rm"), || {
        let bg = "rl-bg";
        p.ok(&[
            "run",
            "-d",
            "--name",
            bg,
            "--network",
            "none",
            IMAGE,
            "/probe",
            "sleep",
            "60",
        ])
        .unwrap();
        let result = (|| {
            let out = p.ok(&["exec", bg, "/probe", "hello"])?;
            check(
                "exec output",
                text(&out.stdout) == "Hello from a scratch container!\n",
                describe(&out),
            )?;
            p.ok(&["kill", bg])?;
            let out = p.ok(&["wait", bg])?;
            check("exit after kill", text(&out.stdout).trim() == "137", describe(&out))
        })();
        let rm = p.ok(&["rm", "--force", bg]);
        result.and(rm.map(drop)).unwrap();
    });
    s.run(named("nothing left"), || {
        let out = p.ok(&["ps", "-a", "-q"]).unwrap();
        assert_eq!(text(&out.stdout).trim(), "", "containers left");
    });
}

/// One test for both runtimes: Scenarios owns the process's panic hook while it runs.
#[test]
fn rootless_podman_runs_containers_on_scrun_as_on_runc() {
    ensure_engines(&["podman", "newuidmap"]);
    let mut s = Scenarios::new();
    scenarios(&mut s, "scrun", None);
    scenarios(&mut s, "runc", Some(Path::new(RUNC)));
    s.finish(Vec::new(), "");
}
