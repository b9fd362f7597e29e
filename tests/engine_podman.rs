//! End to end: podman 4.3 (with conmon) running containers on scrun, registered in
//! containers.conf as README.md says.
//!
//! Podman is daemonless, so there is nothing to start: every podman call gets private
//! `--root/--runroot/--tmpdir`, the cgroupfs manager, file events, a private containers.conf
//! (Debian's stock one with README.md's registration and `default_ulimits` blocks merged in:
//! podman's default RLIMIT_NOFILE and RLIMIT_NPROC, 1048576, cannot be set without
//! CAP_SYS_RESOURCE), a private storage.conf and an empty registries.conf (no network).
//! The image is built from local files (integration/engines/image.py) and `podman load`ed.
//!
//! One test function runs the scenarios one after another; each failure is collected with its
//! name and the test fails at the end listing all of them. A guard removes every container,
//! the storage, leftover mounts under the private directory, and what podman writes outside it
//! (/var/lib/containers/cache, /dev/shm/libpod_lock, the libpod_parent cgroups) when this test
//! created it; then the test checks nothing of its containers is left (processes, scrun state
//! in /run/scrun, cgroups, mounts).
//!
//! If podman is missing, hack/engines.sh installs it (Debian packages, no daemons).

mod common;
use common::readme::{readme_block, replace_path, toml_merge, INSTALLED_SCRUN, PODMAN_ITEM, PODMAN_ULIMITS_ITEM};
use common::*;

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const IMAGE: &str = "localhost/scrun-probe:e2e";
const GREETING: &str = "Hello from a scratch container!";
/// Content of /tmp/marker and /run/marker in the image: seen through `--read-only`'s tmpfs
/// only if the runtime honours `tmpcopyup`.
const MARKER: &str = "from-the-image\n";
const BG_NAME: &str = "scrun-e2e-bg";
/// Debian's containers.conf, which podman reads before /etc/containers/containers.conf.
const STOCK_CONF: &str = "/usr/share/containers/containers.conf";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn umount(mp: &str) {
    let Ok(c) = std::ffi::CString::new(mp) else { return };
    unsafe {
        if libc::umount2(c.as_ptr(), 0) != 0 {
            libc::umount2(c.as_ptr(), libc::MNT_DETACH);
        }
    }
}

/// Processes (not us) whose command line mentions one of `needles`, or whose cgroup does
/// (`libpod-<id>`): conmon names the bundle under our dirs, the container processes live in
/// their container's cgroup.
fn processes_of(needles: &[String]) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let cmdline = fs::read(entry.path().join("cmdline"))
            .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
            .unwrap_or_default();
        let cgroup = fs::read_to_string(entry.path().join("cgroup")).unwrap_or_default();
        if needles
            .iter()
            .any(|n| cmdline.contains(n.as_str()) || cgroup.contains(n.as_str()))
        {
            found.push(format!("{pid}: {}", cmdline.trim_end()));
        }
    }
    found
}

fn rlimit(resource: libc::__rlimit_resource_t) -> (u64, u64) {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    assert_eq!(unsafe { libc::getrlimit(resource, &mut rl) }, 0, "getrlimit");
    (rl.rlim_cur, rl.rlim_max)
}

/// `soft:hard` for RLIMIT_NPROC that the runtime can set: under podman it runs with at most
/// kernel.pid_max (32768 here), lower than ours under cargo, and podman's default (1048576)
/// cannot be set without CAP_SYS_RESOURCE.
fn nproc_limit() -> String {
    let (soft, hard) = rlimit(libc::RLIMIT_NPROC);
    let pid_max = fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(32768);
    format!("{}:{}", soft.min(pid_max), hard.min(pid_max))
}

/// What podman writes outside our private directory, and whether it was there before us.
struct Outside {
    var_lib_containers: bool,
    cache: bool,
    shm_lock: bool,
    libpod_parent: Vec<PathBuf>,
}

impl Outside {
    fn now() -> Outside {
        let libpod_parent = fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("libpod_parent"))
            .filter(|p| p.exists())
            .collect();
        Outside {
            var_lib_containers: Path::new("/var/lib/containers").exists(),
            cache: Path::new("/var/lib/containers/cache").exists(),
            shm_lock: Path::new("/dev/shm/libpod_lock").exists(),
            libpod_parent,
        }
    }
}

/// The private podman setup; dropping it removes everything.
struct Podman {
    base: PathBuf,
    runtime: PathBuf,
    driver: String,
    before: Outside,
    /// Leftovers the cleanup had to remove by force, reported by `check_clean`.
    forced: Vec<String>,
    cleaned: bool,
}

impl Podman {
    fn new() -> Podman {
        let base = PathBuf::from(format!("/tmp/scrun-e2e-podman-{}", std::process::id()));
        if base.exists() {
            for mp in mounts_under(&base) {
                umount(&mp);
            }
            let _ = fs::remove_dir_all(&base);
        }
        for d in ["root", "runroot", "tmp", "conf", "net", "imgtmp", "envtmp"] {
            fs::create_dir_all(base.join(d)).expect("mkdir private podman dirs");
        }
        let p = Podman {
            runtime: runtime_bin(),
            driver: "overlay".into(),
            before: Outside::now(),
            forced: Vec::new(),
            cleaned: false,
            base,
        };
        p.write_conf();
        p
    }

    /// containers.conf as README.md has a user make it: the README's registration block and its
    /// `default_ulimits` for a host without CAP_SYS_RESOURCE (as here) on top of Debian's stock
    /// file, which podman reads first, with scrun being the binary under test. The test's own
    /// settings (file locks instead of /dev/shm/libpod_lock, private directories) are merged in.
    fn write_conf(&self) {
        let b = self.base.display();
        let stock = fs::read_to_string(STOCK_CONF).unwrap_or_else(|e| panic!("{STOCK_CONF}: {e}"));
        let private = format!(
            r#"[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
lock_type = "file"
tmp_dir = "{b}/tmp"
image_copy_tmp_dir = "{b}/imgtmp"

[network]
network_config_dir = "{b}/net"
"#
        );
        let conf = [
            replace_path(&readme_block(PODMAN_ITEM, "toml"), INSTALLED_SCRUN, &self.runtime),
            readme_block(PODMAN_ULIMITS_ITEM, "toml"),
            private,
        ]
        .iter()
        .fold(stock, |conf, add| toml_merge(&conf, add));
        fs::write(self.base.join("conf/containers.conf"), conf).expect("write containers.conf");
        fs::write(self.base.join("conf/registries.conf"), "").expect("write registries.conf");
        let storage = format!(
            "[storage]\ndriver = \"{}\"\nrunroot = \"{b}/runroot\"\ngraphroot = \"{b}/root\"\n",
            self.driver
        );
        fs::write(self.base.join("conf/storage.conf"), storage).expect("write storage.conf");
    }

    /// `timeout 120 podman <private flags> args`, stdin /dev/null.
    fn run(&self, args: &[&str]) -> Output {
        let b = &self.base;
        Command::new("timeout")
            .arg("120")
            .arg("podman")
            .arg("--root")
            .arg(b.join("root"))
            .arg("--runroot")
            .arg(b.join("runroot"))
            .arg("--tmpdir")
            .arg(b.join("tmp"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(["--storage-driver", &self.driver])
            .args(args)
            .env("CONTAINERS_CONF", b.join("conf/containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", b.join("conf/storage.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", b.join("conf/registries.conf"))
            .env("TMPDIR", b.join("envtmp"))
            .env_remove("CONTAINER_HOST")
            .env_remove("CONTAINER_CONNECTION")
            .stdin(Stdio::null())
            .output()
            .expect("cannot run timeout/podman")
    }

    /// `run`, an error unless podman exits 0.
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

    /// `podman run --rm --network none <extra> IMAGE <cmd>`.
    fn run_rm(&self, extra: &[&str], cmd: &[&str]) -> Output {
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend_from_slice(extra);
        args.push(IMAGE);
        args.extend_from_slice(cmd);
        self.run(&args)
    }

    /// `run_rm` of `/probe report`, parsed; an error unless it exits 0 with a report.
    fn report(&self, extra: &[&str]) -> Result<Value, String> {
        let out = self.run_rm(extra, &["/probe", "report"]);
        if !out.status.success() {
            return Err(format!(
                "podman run {} /probe report: {}\n{}",
                extra.join(" "),
                out.status,
                describe(&out)
            ));
        }
        json_in(&text(&out.stdout)).ok_or_else(|| format!("no probe report:\n{}", describe(&out)))
    }

    /// Container ids podman created, from its event log.
    fn container_ids(&self) -> Vec<String> {
        let log = fs::read_to_string(self.base.join("tmp/events/events.log")).unwrap_or_default();
        let mut ids: Vec<String> = log
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["Type"] == "container")
            .filter_map(|v| v["ID"].as_str().map(String::from))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Removes every container and the storage, umounts what is left under our dir, removes
    /// it, and tidies what podman wrote outside it if it was not there before.
    fn cleanup(&mut self) {
        if self.cleaned {
            return;
        }
        self.cleaned = true;
        let _ = self.run(&["rm", "--all", "--force", "--time", "0"]);
        let reset = self.run(&["system", "reset", "--force"]);
        if !reset.status.success() {
            self.forced.push(format!(
                "podman system reset failed ({}):\n{}",
                reset.status,
                describe(&reset)
            ));
        }
        // Leftover processes (conmon, containers) of ours, by pid, after a grace period.
        let needles = self.needles();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let procs = processes_of(&needles);
            if procs.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                self.forced.push(format!("processes left behind (killed): {procs:#?}"));
                for p in procs {
                    if let Some(pid) = p.split(':').next().and_then(|s| s.parse::<i32>().ok()) {
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let mounts = mounts_under(&self.base);
        if !mounts.is_empty() {
            self.forced
                .push(format!("mounts left under {}: {mounts:#?}", self.base.display()));
            for mp in &mounts {
                umount(mp);
            }
        }
        if let Err(e) = fs::remove_dir_all(&self.base) {
            if self.base.exists() {
                self.forced.push(format!("cannot remove {}: {e}", self.base.display()));
            }
        }
        // Outside our dir: only what we created.
        if !self.before.var_lib_containers {
            let _ = fs::remove_dir_all("/var/lib/containers");
        } else if !self.before.cache {
            let _ = fs::remove_dir_all("/var/lib/containers/cache");
        }
        if !self.before.shm_lock && Path::new("/dev/shm/libpod_lock").exists() {
            self.forced
                .push("podman created /dev/shm/libpod_lock despite lock_type=file (removed)".into());
            let _ = fs::remove_file("/dev/shm/libpod_lock");
        }
        for dir in fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
            let p = dir.path().join("libpod_parent");
            if p.exists() && !self.before.libpod_parent.contains(&p) {
                // conmon's own cgroup (libpod_parent/conmon), then the parent; rmdir only
                // succeeds on empty cgroups.
                for child in fs::read_dir(&p).into_iter().flatten().flatten() {
                    if child.file_type().is_ok_and(|t| t.is_dir()) {
                        let _ = fs::remove_dir(child.path());
                    }
                }
                let _ = fs::remove_dir(&p);
            }
        }
    }

    fn needles(&self) -> Vec<String> {
        let mut n = self.container_ids();
        n.push(self.base.to_string_lossy().into_owned());
        n
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// Builds the image tar and loads it; falls back to the vfs driver if overlay cannot load.
fn load_image(p: &mut Podman) {
    let tar = p.base.join("image.tar");
    let marker = p.base.join("marker");
    fs::write(&marker, MARKER).unwrap();
    let out = Command::new("python3")
        .arg(repo().join("integration/engines/image.py"))
        .arg(&tar)
        .arg(IMAGE)
        .arg(format!("{}:/probe", probe().display()))
        .arg(format!("{}:/tmp/marker", marker.display()))
        .arg(format!("{}:/run/marker", marker.display()))
        .args(["--cmd", "/probe", "hello"])
        .stdin(Stdio::null())
        .output()
        .expect("cannot run python3 image.py");
    assert!(out.status.success(), "image.py failed:\n{}", describe(&out));
    let tar_s = tar.to_string_lossy().into_owned();
    let first = p.run(&["load", "-i", &tar_s]);
    if first.status.success() {
        return;
    }
    eprintln!("podman load with overlay failed, trying vfs:\n{}", describe(&first));
    let _ = p.run(&["system", "reset", "--force"]);
    for mp in mounts_under(&p.base.join("root")) {
        umount(&mp);
    }
    for d in ["root", "runroot", "tmp"] {
        let _ = fs::remove_dir_all(p.base.join(d));
        fs::create_dir_all(p.base.join(d)).unwrap();
    }
    p.driver = "vfs".into();
    p.write_conf();
    let out = p.run(&["load", "-i", &tar_s]);
    assert!(
        out.status.success(),
        "podman load failed with overlay and vfs:\n{}",
        describe(&out)
    );
}

type Scenario<'a> = (&'static str, Box<dyn Fn(&Podman) -> Result<(), String> + 'a>);

/// `result`, once the container `name` is removed whatever happened: a failed removal fails
/// the scenario too.
fn removed(p: &Podman, name: &str, result: Result<(), String>) -> Result<(), String> {
    let rm = p.run(&["rm", "--force", "--time", "0", name]);
    result?;
    expect(rm.status.success(), || {
        format!("podman rm: {}:\n{}", rm.status, describe(&rm))
    })
}

fn expect(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}

/// True unless SCRUN_TEST_RUNTIME points the test at another runtime (an oracle).
fn testing_scrun() -> bool {
    std::env::var_os("SCRUN_TEST_RUNTIME").is_none_or(|v| v.is_empty())
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

fn mount<'a>(report: &'a Value, mp: &str) -> Option<&'a Value> {
    report["mounts"]
        .as_array()?
        .iter()
        .rev()
        .find(|m| m["mount_point"] == mp)
}

fn inspect(p: &Podman, name: &str, format: &str) -> Result<String, String> {
    let out = p.ok(&["inspect", "--format", format, name])?;
    Ok(text(&out.stdout).trim().to_string())
}

fn scenarios<'a>() -> Vec<Scenario<'a>> {
    vec![
        (
            "registration",
            Box::new(|p: &Podman| {
                // README.md's containers.conf makes scrun podman's runtime...
                let name = "scrun-e2e-registered";
                p.ok(&["create", "--name", name, "--network", "none", IMAGE])?;
                let runtime = inspect(p, name, "{{.OCIRuntime}}");
                removed(p, name, Ok(()))?;
                expect(runtime.as_deref() == Ok("scrun"), || format!("OCI runtime {runtime:?}"))?;
                // ... and its other form, `podman --runtime /usr/local/bin/scrun run IMAGE`, works.
                let rt = p.runtime.to_string_lossy();
                let out = p.run(&["--runtime", &rt, "run", "--rm", "--network", "none", IMAGE]);
                expect(
                    code(&out) == Some(0) && text(&out.stdout) == format!("{GREETING}\n"),
                    || format!("podman --runtime {rt} run: {}:\n{}", out.status, describe(&out)),
                )
            }),
        ),
        (
            "run-hello",
            Box::new(|p: &Podman| {
                let out = p.run_rm(&[], &[]);
                expect(
                    code(&out) == Some(0) && text(&out.stdout) == format!("{GREETING}\n"),
                    || format!("want exit 0 and the greeting, got {}:\n{}", out.status, describe(&out)),
                )
            }),
        ),
        (
            "exit-code",
            Box::new(|p: &Podman| {
                let out = p.run_rm(&[], &["/probe", "exit", "7"]);
                expect(code(&out) == Some(7), || {
                    format!("want exit 7, got {}:\n{}", out.status, describe(&out))
                })
            }),
        ),
        (
            "env",
            Box::new(|p: &Podman| {
                let r = p.report(&["-e", "A=B"])?;
                let env: Vec<&str> = r["env"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                expect(env.contains(&"A=B") && env.contains(&"container=podman"), || {
                    format!("want A=B and container=podman in env, got {env:?}")
                })
            }),
        ),
        (
            "workdir",
            Box::new(|p: &Podman| {
                let r = p.report(&["-w", "/tmp"])?;
                expect(r["cwd"] == "/tmp", || format!("want cwd /tmp, got {}", r["cwd"]))
            }),
        ),
        (
            "hostname",
            Box::new(|p: &Podman| {
                let r = p.report(&["--hostname", "h"])?;
                expect(r["hostname"] == "h", || {
                    format!("want hostname h, got {}", r["hostname"])
                })
            }),
        ),
        (
            "user-1000",
            Box::new(|p: &Podman| {
                let r = p.report(&["--user", "1000:1000"])?;
                expect(
                    r["uid"] == 1000 && r["euid"] == 1000 && r["gid"] == 1000 && r["egid"] == 1000,
                    || {
                        format!(
                            "want uid/gid 1000, got uid {} euid {} gid {} egid {}",
                            r["uid"], r["euid"], r["gid"], r["egid"]
                        )
                    },
                )
            }),
        ),
        (
            "read-only",
            Box::new(|p: &Podman| {
                let ro = ["--read-only"];
                let out = p.run_rm(&ro, &["/probe", "write", "/x", "hi"]);
                expect(
                    code(&out) == Some(1) && text(&out.stdout).contains("Read-only file system"),
                    || {
                        format!(
                            "writing / must fail with EROFS, got {}:\n{}",
                            out.status,
                            describe(&out)
                        )
                    },
                )?;
                for dir in ["/tmp", "/run"] {
                    let file = format!("{dir}/x");
                    let out = p.run_rm(&ro, &["/probe", "write", &file, "hi"]);
                    expect(code(&out) == Some(0), || {
                        format!("writing {file} must work, got {}:\n{}", out.status, describe(&out))
                    })?;
                    // tmpcopyup: the image's content of the directory shows in the fresh tmpfs.
                    let marker = format!("{dir}/marker");
                    let out = p.run_rm(&ro, &["/probe", "read", &marker]);
                    expect(code(&out) == Some(0) && text(&out.stdout) == MARKER, || {
                        format!(
                            "tmpcopyup: {marker} from the image must be in the tmpfs, got {}:\n{}",
                            out.status,
                            describe(&out)
                        )
                    })?;
                }
                let r = p.report(&ro)?;
                let root_ro = mount(&r, "/")
                    .and_then(|m| m["options"].as_str())
                    .is_some_and(|o| o.split(',').any(|x| x == "ro"));
                expect(root_ro, || format!("/ must be mounted ro, got {:?}", mount(&r, "/")))?;
                for dir in ["/tmp", "/run"] {
                    let fstype = mount(&r, dir).map(|m| m["fstype"].clone());
                    expect(fstype == Some(Value::from("tmpfs")), || {
                        format!("{dir} must be a tmpfs, got {:?}", mount(&r, dir))
                    })?;
                }
                Ok(())
            }),
        ),
        (
            "tmpfs",
            Box::new(|p: &Podman| {
                let r = p.report(&["--tmpfs", "/scratch"])?;
                let m = mount(&r, "/scratch");
                expect(m.is_some_and(|m| m["fstype"] == "tmpfs"), || {
                    format!("/scratch must be a tmpfs, got {m:?}")
                })?;
                let out = p.run_rm(&["--tmpfs", "/scratch"], &["/probe", "write", "/scratch/x", "hi"]);
                expect(code(&out) == Some(0), || {
                    format!("writing /scratch/x must work, got {}:\n{}", out.status, describe(&out))
                })
            }),
        ),
        (
            "network-none-loopback",
            Box::new(|p: &Podman| {
                let r = p.report(&[])?;
                let ifs = r["interfaces"].as_array().cloned().unwrap_or_default();
                let ok = ifs.len() == 1 && ifs[0]["name"] == "lo" && ifs[0]["up"] == true && ifs[0]["loopback"] == true;
                expect(ok, || {
                    format!("want only lo, up (the runtime brings it up), got {}", r["interfaces"])
                })
            }),
        ),
        (
            "userns-uidmap",
            Box::new(|p: &Podman| {
                let map = ["--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"];
                let r = p.report(&map)?;
                expect(r["uid"] == 0 && r["gid"] == 0, || {
                    format!("want uid/gid 0 inside, got {} {}", r["uid"], r["gid"])
                })?;
                for file in ["/proc/self/uid_map", "/proc/self/gid_map"] {
                    let out = p.run_rm(&map, &["/probe", "read", file]);
                    let fields: Vec<String> = text(&out.stdout).split_whitespace().map(String::from).collect();
                    expect(code(&out) == Some(0) && fields == ["0", "100000", "65536"], || {
                        format!(
                            "{file} must be `0 100000 65536`, got {}:\n{}",
                            out.status,
                            describe(&out)
                        )
                    })?;
                }
                Ok(())
            }),
        ),
        (
            "volume-idmap",
            Box::new(|p: &Podman| {
                // A volume owned by the host's root, in a container whose root is host uid
                // 100000: with `idmap` the container's root owns it and may write in it.
                let dir = p.base.join("vol-idmap");
                fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
                fs::write(dir.join("root-file"), "host").map_err(|e| format!("write root-file: {e}"))?;
                let volume = format!("{}:/vol:idmap", dir.display());
                let args = [
                    "--uidmap",
                    "0:100000:65536",
                    "--gidmap",
                    "0:100000:65536",
                    "-v",
                    &volume,
                ];
                let out = p.run_rm(&args, &["/probe", "stat", "/vol/root-file"]);
                let st = json_in(&text(&out.stdout)).unwrap_or_default();
                expect(code(&out) == Some(0) && st["uid"] == 0 && st["gid"] == 0, || {
                    format!(
                        "/vol/root-file must show as 0:0 inside, got {}:\n{}",
                        out.status,
                        describe(&out)
                    )
                })?;
                let out = p.run_rm(&args, &["/probe", "write", "/vol/new", "x"]);
                expect(code(&out) == Some(0), || {
                    format!("writing /vol/new must work, got {}:\n{}", out.status, describe(&out))
                })?;
                use std::os::unix::fs::MetadataExt;
                let md = fs::metadata(dir.join("new")).map_err(|e| format!("stat the new file on the host: {e}"))?;
                expect((md.uid(), md.gid()) == (0, 0), || {
                    format!("the new file must be 0:0 on the host, got {}:{}", md.uid(), md.gid())
                })
            }),
        ),
        (
            "detached-exec-pause-kill",
            Box::new(|p: &Podman| {
                let out = p.ok(&[
                    "run",
                    "-d",
                    "--network",
                    "none",
                    "--name",
                    BG_NAME,
                    IMAGE,
                    "/probe",
                    "wait-signal",
                ])?;
                let id = text(&out.stdout).trim().to_string();
                expect(id.len() == 64, || {
                    format!("podman run -d printed no id:\n{}", describe(&out))
                })?;
                let result: Result<(), String> = (|| {
                    let status = inspect(p, BG_NAME, "{{.State.Status}}")?;
                    expect(status == "running", || format!("after run -d: status {status}"))?;
                    // exec
                    let out = p.run(&["exec", BG_NAME, "/probe", "hello"]);
                    expect(
                        code(&out) == Some(0) && text(&out.stdout) == format!("{GREETING}\n"),
                        || format!("exec hello: {}:\n{}", out.status, describe(&out)),
                    )?;
                    let out = p.run(&["exec", "-u", "1000:1000", BG_NAME, "/probe", "report"]);
                    let r = json_in(&text(&out.stdout))
                        .ok_or_else(|| format!("exec -u report: {}:\n{}", out.status, describe(&out)))?;
                    expect(r["uid"] == 1000 && r["gid"] == 1000, || {
                        format!("exec -u 1000:1000: uid {} gid {}", r["uid"], r["gid"])
                    })?;
                    let out = p.run(&["exec", "-t", BG_NAME, "/probe", "report"]);
                    let r = json_in(&text(&out.stdout))
                        .ok_or_else(|| format!("exec -t report: {}:\n{}", out.status, describe(&out)))?;
                    expect(r["tty"]["stdout"] == true, || {
                        format!("exec -t: want a tty on stdout, got {}", r["tty"])
                    })?;
                    let out = p.run(&["exec", BG_NAME, "/probe", "exit", "3"]);
                    expect(code(&out) == Some(3), || {
                        format!("exec exit 3: {}:\n{}", out.status, describe(&out))
                    })?;
                    // pause / unpause
                    p.ok(&["pause", BG_NAME])?;
                    let status = inspect(p, BG_NAME, "{{.State.Status}}")?;
                    expect(status == "paused", || format!("after pause: status {status}"))?;
                    let freezer = format!("/sys/fs/cgroup/freezer/libpod_parent/libpod-{id}/freezer.state");
                    if let Ok(state) = fs::read_to_string(&freezer) {
                        expect(state.trim() == "FROZEN", || format!("after pause {freezer}: {state}"))?;
                    }
                    p.ok(&["unpause", BG_NAME])?;
                    let status = inspect(p, BG_NAME, "{{.State.Status}}")?;
                    expect(status == "running", || format!("after unpause: status {status}"))?;
                    let out = p.run(&["exec", BG_NAME, "/probe", "hello"]);
                    expect(code(&out) == Some(0), || {
                        format!("exec after unpause: {}:\n{}", out.status, describe(&out))
                    })?;
                    // kill with a signal the probe waits for: it prints it and exits 0
                    p.ok(&["kill", "--signal", "USR1", BG_NAME])?;
                    let out = p.ok(&["wait", BG_NAME])?;
                    expect(text(&out.stdout).trim() == "0", || {
                        format!("wait after kill -s USR1: want 0, got {}", describe(&out))
                    })?;
                    let out = p.ok(&["logs", BG_NAME])?;
                    expect(text(&out.stdout).contains("signal 10"), || {
                        format!("logs must show `signal 10`:\n{}", describe(&out))
                    })?;
                    Ok(())
                })();
                removed(p, BG_NAME, result)
            }),
        ),
        (
            "kill-sigkill",
            Box::new(|p: &Podman| {
                let name = "scrun-e2e-kill";
                p.ok(&[
                    "run",
                    "-d",
                    "--network",
                    "none",
                    "--name",
                    name,
                    IMAGE,
                    "/probe",
                    "sleep",
                    "300",
                ])?;
                let result: Result<(), String> = (|| {
                    p.ok(&["kill", name])?;
                    let out = p.ok(&["wait", name])?;
                    expect(text(&out.stdout).trim() == "137", || {
                        format!("wait after kill: want 137, got {}", describe(&out))
                    })?;
                    let status = inspect(p, name, "{{.State.Status}} {{.State.ExitCode}}")?;
                    expect(status == "exited 137", || format!("after kill: {status}"))
                })();
                removed(p, name, result)
            }),
        ),
        (
            "rm-force",
            Box::new(|p: &Podman| {
                let name = "scrun-e2e-rmf";
                p.ok(&[
                    "run",
                    "-d",
                    "--network",
                    "none",
                    "--name",
                    name,
                    IMAGE,
                    "/probe",
                    "sleep",
                    "300",
                ])?;
                let t = Instant::now();
                let out = p.run(&["rm", "--force", "--time", "0", name]);
                expect(out.status.success(), || {
                    format!("rm -f: {}:\n{}", out.status, describe(&out))
                })?;
                expect(t.elapsed() < Duration::from_secs(8), || {
                    format!("rm -f -t 0 took {:?}", t.elapsed())
                })?;
                let out = p.ok(&["ps", "--all", "--quiet", "--filter", &format!("name={name}")])?;
                expect(text(&out.stdout).trim().is_empty(), || {
                    format!("still listed after rm -f: {}", describe(&out))
                })
            }),
        ),
        (
            "tty",
            Box::new(|p: &Podman| {
                // -t: conmon passes --console-socket; the probe's stdio must be the pty slave.
                let r = p.report(&["-t"])?;
                expect(r["tty"]["stdout"] == true && r["tty"]["stdin"] == true, || {
                    format!("want a tty on stdio, got {}", r["tty"])
                })
            }),
        ),
        (
            "ulimit",
            Box::new(|p: &Podman| {
                // --ulimit replaces default_ulimits, so NPROC must be pinned again.
                let nproc = format!("nproc={}", nproc_limit());
                let r = p.report(&["--ulimit", "nofile=1000:2000", "--ulimit", &nproc])?;
                let nofile = &r["rlimits"]["RLIMIT_NOFILE"];
                expect(nofile["soft"] == 1000 && nofile["hard"] == 2000, || {
                    format!("want nofile 1000/2000, got {nofile}")
                })
            }),
        ),
        (
            "stop-sigterm",
            Box::new(|p: &Podman| {
                let name = "scrun-e2e-stop";
                p.ok(&[
                    "run",
                    "-d",
                    "--network",
                    "none",
                    "--name",
                    name,
                    IMAGE,
                    "/probe",
                    "wait-signal",
                ])?;
                let result: Result<(), String> = (|| {
                    let t = Instant::now();
                    p.ok(&["stop", "--time", "20", name])?;
                    expect(t.elapsed() < Duration::from_secs(10), || {
                        format!("stop took {:?}: SIGTERM did not reach the probe", t.elapsed())
                    })?;
                    let status = inspect(p, name, "{{.State.Status}} {{.State.ExitCode}}")?;
                    expect(status == "exited 0", || format!("after stop: {status}"))?;
                    let out = p.ok(&["logs", name])?;
                    expect(text(&out.stdout).contains("signal 15"), || {
                        format!("logs must show `signal 15`:\n{}", describe(&out))
                    })
                })();
                removed(p, name, result)
            }),
        ),
        (
            "create-error-127-path",
            Box::new(|p: &Podman| {
                // A program name (no slash) not on PATH: scrun fails `create` with its own text.
                // conmon hands the runtime's stderr to podman, which maps "not found" to 127.
                let out = p.run_rm(&[], &["nosuch"]);
                let err = text(&out.stderr);
                let ok = code(&out) == Some(127)
                    && err.contains(r#""nosuch": executable file not found in $PATH"#)
                    && err.contains("OCI runtime attempted to invoke a command that was not found")
                    && (!testing_scrun() || err.contains("scrun: exec:"));
                expect(ok, || {
                    format!(
                        "want exit 127 and the runtime's `executable file not found`, got {}:\n{}",
                        out.status,
                        describe(&out)
                    )
                })
            }),
        ),
        (
            "create-error-127",
            Box::new(|p: &Podman| {
                // A program given by path that does not exist fails `create`, so podman
                // reports a command not found (127), as with runc.
                let out = p.run_rm(&[], &["/nosuch"]);
                let err = text(&out.stderr);
                let ok = code(&out) == Some(127)
                    && err.contains("/nosuch")
                    && err.contains("no such file or directory")
                    && err.contains("OCI runtime attempted to invoke a command that was not found")
                    && (!testing_scrun() || err.contains("scrun: exec"));
                expect(ok, || {
                    format!(
                        "want exit 127 and the runtime's text about /nosuch at create, got {}:\n{}",
                        out.status,
                        describe(&out)
                    )
                })
            }),
        ),
        (
            "nothing-listed",
            Box::new(|p: &Podman| {
                let out = p.ok(&["ps", "--all", "--quiet"])?;
                expect(text(&out.stdout).trim().is_empty(), || {
                    format!("podman ps -a is not empty:\n{}", describe(&out))
                })
            }),
        ),
    ]
}

#[test]
fn podman_runs_containers_on_scrun() {
    let started = Instant::now();
    ensure_engines(&["podman", "conmon"]);
    let _ = probe();
    let mut p = Podman::new();
    load_image(&mut p);
    eprintln!("podman on {} (storage driver {})", p.runtime.display(), p.driver);

    let mut failures = Vec::new();
    for (name, scenario) in scenarios() {
        let t = Instant::now();
        let result = scenario(&p);
        match &result {
            Ok(()) => eprintln!("  PASS {name} ({:.1?})", t.elapsed()),
            Err(e) => {
                eprintln!("  FAIL {name} ({:.1?}): {e}", t.elapsed());
                failures.push(format!("{name}: {e}"));
            }
        }
    }

    // Cleanup, then the checks that nothing of ours is left.
    let ids = p.container_ids();
    let needles = p.needles();
    p.cleanup();
    let mut leftovers = std::mem::take(&mut p.forced);
    for id in &ids {
        let state = Path::new("/run/scrun").join(id);
        if state.exists() {
            leftovers.push(format!("scrun state dir {} left behind", state.display()));
            let _ = Command::new(&p.runtime)
                .args(["delete", "--force", id])
                .stdin(Stdio::null())
                .output();
        }
        let cgroups = cgroups_named(&format!("libpod-{id}"));
        if !cgroups.is_empty() {
            leftovers.push(format!("cgroups left behind: {cgroups:#?}"));
        }
    }
    let procs = processes_of(&needles);
    if !procs.is_empty() {
        leftovers.push(format!("processes left behind: {procs:#?}"));
    }
    if !leftovers.is_empty() {
        failures.push(format!("cleanup: {}", leftovers.join("\n")));
    }
    eprintln!("podman e2e: {} containers, {:.1?}", ids.len(), started.elapsed());
    assert!(
        failures.is_empty(),
        "{} podman scenario(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
