//! End to end under dockerd 20.10: a private dockerd (with the containerd it starts itself)
//! runs containers on scrun, registered by the daemon.json entry README.md gives, and the test
//! checks what a docker user sees: output, exit codes, the probe's report from inside,
//! `docker exec/top/pause/update/stop/kill/rm`.
//!
//! One test, one daemon, scenarios run in order; every failing scenario is listed at the
//! end. Needs root; installs the engines with hack/engines.sh when dockerd is missing.
//! Everything lives under /tmp/scrun-dk-<pid>/ (data root, exec root, socket, client config)
//! and is removed afterwards: the daemon is stopped by pid, mounts left under the directory
//! are unmounted, nothing is written to /etc/docker, /var/lib/docker or ~/.docker, and the
//! empty /run/docker/plugins dockerd always makes is removed again if it was not there.
//! dockerd runs a private copy of the scrun under test (the shared target/ binary may be
//! relinked by another build meanwhile). `SCRUN_TEST_RUNTIME=runc` runs it all on runc.
//!
//! Scenarios that fail because of a known scrun bug run only with SCRUN_E2E_KNOWN_BUGS set
//! (none at the moment).

mod common;

use common::readme::{readme_block, replace_path, DOCKERD_ITEM, INSTALLED_SCRUN};
use common::*;
use serde_json::Value;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const IMAGE: &str = "scrun-probe:e2e";
const DOCKER: &str = "/usr/bin/docker"; // the 20.10 client, not /usr/local/bin/docker
const ENGINE_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";
const HELLO: &str = "Hello from a scratch container!\n";

/// A private dockerd. Dropping it removes containers, stops the daemon (SIGTERM, then
/// SIGKILL after 20 s), kills what is left of its containerd and shims, unmounts whatever
/// is still mounted under its directory and removes the directory.
struct Dockerd {
    dir: PathBuf,
    child: Option<Child>,
    /// The copy of the runtime under test that dockerd runs.
    runtime: PathBuf,
    /// dockerd makes /run/docker/plugins whatever its exec root; removed again (if empty)
    /// when it was not there before.
    made_run_docker: bool,
}

impl Dockerd {
    fn sock(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }
    fn exec_root(&self) -> PathBuf {
        self.dir.join("exec")
    }
    fn log_path(&self) -> PathBuf {
        self.dir.join("dockerd.log")
    }

    fn start(runtime: &Path) -> Dockerd {
        let dir = PathBuf::from(format!("/tmp/scrun-dk-{}", std::process::id()));
        cleanup_dir(&dir);
        fs::create_dir_all(dir.join("client")).expect("mkdir docker dir");
        // A private copy: others may relink the shared target/ binary while this test runs
        // (seen: `fork/exec …/scrun: no such file or directory` from the shim mid-test).
        let private = dir.join("scrun");
        fs::copy(runtime, &private)
            .unwrap_or_else(|e| panic!("copy {} to {}: {e}", runtime.display(), private.display()));
        // The README's daemon.json, with the private copy as scrun. Without
        // deprecated-key-path, dockerd 20.10 writes /etc/docker/key.json.
        let readme = replace_path(&readme_block(DOCKERD_ITEM, "json"), INSTALLED_SCRUN, &private);
        let mut config: Value =
            serde_json::from_str(&readme).unwrap_or_else(|e| panic!("README.md's daemon.json: {e}:\n{readme}"));
        let old = config
            .as_object_mut()
            .unwrap_or_else(|| panic!("README.md's daemon.json is not an object:\n{readme}"))
            .insert(
                "deprecated-key-path".into(),
                dir.join("key.json").to_string_lossy().into(),
            );
        assert!(old.is_none(), "README.md's daemon.json sets deprecated-key-path");
        fs::write(dir.join("daemon.json"), config.to_string()).unwrap();
        let log = fs::File::create(dir.join("dockerd.log")).unwrap();
        let made_run_docker = !Path::new("/run/docker").exists();
        let mut d = Dockerd {
            dir,
            child: None,
            runtime: private,
            made_run_docker,
        };
        // Debian's dockerd, and through PATH its containerd, shim, runc and docker-init.
        let child = Command::new("/usr/sbin/dockerd")
            .env("PATH", ENGINE_PATH)
            .arg("--config-file")
            .arg(d.dir.join("daemon.json"))
            .arg("--data-root")
            .arg(d.dir.join("data"))
            .arg("--exec-root")
            .arg(d.exec_root())
            .arg("--pidfile")
            .arg(d.dir.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", d.sock().display()))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .args(["--default-runtime", "runc"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cannot start dockerd");
        d.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if d.sock().exists() && d.docker(&["version"]).status.success() {
                break;
            }
            if let Some(status) = d.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("dockerd exited ({status}) before answering:\n{}", d.log_tail(40));
            }
            if Instant::now() > deadline {
                panic!("dockerd did not answer within 60 s:\n{}", d.log_tail(40));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        d
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = text.lines().filter(|l| !l.contains("module=grpc")).collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("timeout");
        cmd.args(["120", DOCKER, "-H"])
            .arg(format!("unix://{}", self.sock().display()))
            .args(args)
            .env("DOCKER_CONFIG", self.dir.join("client"));
        cmd
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.docker_cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("cannot run docker")
    }

    fn docker_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .docker_cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run docker");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    }

    /// `docker run --rm --runtime scrun <opts> IMAGE <cmd...>`; `opts` should hold --network.
    fn run(&self, opts: &[&str], cmd: &[&str]) -> Output {
        let mut args = vec!["run", "--rm", "--runtime", "scrun"];
        args.extend_from_slice(opts);
        args.push(IMAGE);
        args.extend_from_slice(cmd);
        self.docker(&args)
    }

    /// The probe's report from `docker run ... /probe report`.
    fn report(&self, opts: &[&str]) -> Result<Value, String> {
        let out = self.run(opts, &["/probe", "report"]);
        parse_report(&out, &format!("docker run {} /probe report", opts.join(" ")))
    }

    /// `docker <args>` that must exit 0; returns trimmed stdout.
    fn ok(&self, args: &[&str]) -> Result<String, String> {
        let out = self.docker(args);
        if !out.status.success() {
            return Err(format!(
                "`docker {}` failed ({}):\n{}",
                args.join(" "),
                out.status,
                describe(&out)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn remove_all_containers(&self) {
        let ids = self.docker(&["ps", "-aq"]);
        let ids = String::from_utf8_lossy(&ids.stdout).to_string();
        for id in ids.split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
    }
}

impl Dockerd {
    /// Removes the containers, stops the daemon by pid (SIGTERM, SIGKILL after 20 s) and
    /// returns what it left: processes naming its directory, mounts under it (except the
    /// host netns bind mount dockerd itself keeps at exec-root/netns/default).
    fn stop(&mut self) -> Vec<String> {
        let mut left = Vec::new();
        let Some(mut child) = self.child.take() else {
            return left;
        };
        if child.try_wait().ok().flatten().is_none() {
            self.remove_all_containers();
        }
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                left.push("dockerd ignored SIGTERM for 20 s: SIGKILL".to_string());
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let needle = self.dir.to_string_lossy().to_string();
        // containerd and the shims get a moment to follow dockerd.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pids_mentioning(&needle).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        for (pid, _) in pids_mentioning(&needle) {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            left.push(format!(
                "process {pid} left: {}",
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            ));
        }
        let netns = self.exec_root().join("netns/default");
        for m in mounts_under(Path::new(&needle)) {
            if Path::new(&m) != netns {
                left.push(format!("mount left: {m}"));
            }
        }
        left
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        for problem in self.stop() {
            eprintln!("{problem}");
        }
        cleanup_dir(&self.dir);
        if self.made_run_docker {
            let _ = fs::remove_dir("/run/docker/plugins");
            let _ = fs::remove_dir("/run/docker");
        }
    }
}

/// Kills processes whose command line names `dir` (dockerd's containerd, shims), unmounts
/// everything under it (deepest first) and removes it.
fn cleanup_dir(dir: &Path) {
    let needle = dir.to_string_lossy().to_string();
    for _ in 0..50 {
        let pids = pids_mentioning(&needle);
        if pids.is_empty() {
            break;
        }
        for (pid, _) in pids {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for m in mounts_under(dir) {
        let c = std::ffi::CString::new(m.clone()).unwrap();
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
            eprintln!("umount {m}: {}", std::io::Error::last_os_error());
        }
    }
    if dir.exists() {
        if let Err(e) = fs::remove_dir_all(dir) {
            eprintln!("rm -r {}: {e}", dir.display());
        }
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn parse_report(out: &Output, what: &str) -> Result<Value, String> {
    if !out.status.success() {
        return Err(format!("`{what}` failed ({}):\n{}", out.status, describe(out)));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("`{what}` printed no report ({e}):\n{}", describe(out)))
}

fn expect_code(out: &Output, code: i32, what: &str) -> Result<(), String> {
    if out.status.code() != Some(code) {
        return Err(format!(
            "`{what}`: expected exit {code}, got {}:\n{}",
            out.status,
            describe(out)
        ));
    }
    Ok(())
}

fn check(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}

fn has_env(report: &Value, entry: &str) -> bool {
    report["env"].as_array().is_some_and(|a| a.iter().any(|e| e == entry))
}

fn mount_at<'a>(report: &'a Value, path: &str) -> Option<&'a Value> {
    report["mounts"]
        .as_array()?
        .iter()
        .rev()
        .find(|m| m["mount_point"] == path)
}

fn interface_names(report: &Value) -> Vec<String> {
    let mut names: Vec<String> = report["interfaces"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["name"].as_str().map(String::from)).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// The host's interfaces, as the probe lists them (from /proc/net/dev).
fn host_interfaces() -> Vec<String> {
    let text = fs::read_to_string("/proc/net/dev").unwrap_or_default();
    let mut names: Vec<String> = text
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, _)| n.trim().to_string())
        .collect();
    names.sort();
    names
}

/// Waits (≤ 5 s) until `signal` shows in the `field` mask of the container's pid 1 (the
/// probe is then ready for it: `wait-signal` catches, `ignore-term` ignores).
fn wait_mask(d: &Dockerd, id: &str, field: &str, signal: i32) -> Result<(), String> {
    let pid = d.ok(&["inspect", "-f", "{{.State.Pid}}", id])?;
    let pid: i64 = pid.trim().parse().map_err(|e| format!("pid {pid:?} of {id}: {e}"))?;
    signal_mask_shows(pid, field, signal).map_err(|e| format!("{id}: {e}"))
}

fn wait_handled(d: &Dockerd, id: &str, signal: i32) -> Result<(), String> {
    wait_mask(d, id, "SigCgt", signal)
}

/// Removes a detached container when a scenario ends early.
struct RmOnDrop<'a>(&'a Dockerd, String);

/// `docker run -d` of the probe with `args` on scrun: the guard removes the container even
/// when the scenario stops early, and `seen` keeps its id for the final leftover check.
fn detached<'a>(d: &'a Dockerd, seen: &std::cell::RefCell<Vec<String>>, args: &[&str]) -> Result<RmOnDrop<'a>, String> {
    let mut run = vec!["run", "-d", "--runtime", "scrun", "--network", "none", IMAGE];
    run.extend(args);
    let id = d.ok(&run)?;
    seen.borrow_mut().push(id.clone());
    Ok(RmOnDrop(d, id))
}

impl Drop for RmOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.docker(&["rm", "-f", &self.1]);
    }
}

type Scenario<'a> = (&'static str, Box<dyn Fn() -> Result<(), String> + 'a>);

#[test]
fn dockerd_runs_containers_on_scrun() {
    assert!(unsafe { libc::geteuid() } == 0, "this test needs root");
    let started = Instant::now();
    ensure_engines(&["dockerd", "containerd", "docker-init"]);
    let probe = probe();
    let runtime = runtime_bin();
    let daemon = Dockerd::start(&runtime);
    let d = &daemon;
    eprintln!(
        "dockerd up in {:.1} s ({})",
        started.elapsed().as_secs_f64(),
        d.dir.display()
    );

    // The image: a FROM-scratch layer holding /probe, CMD /probe hello.
    let tar = d.dir.join("image.tar");
    let image_py = Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/engines/image.py");
    let out = Command::new("python3")
        .arg(&image_py)
        .arg(&tar)
        .arg(IMAGE)
        .arg(format!("{}:/probe", probe.display()))
        .args(["--cmd", "/probe", "hello"])
        .output()
        .expect("run image.py");
    assert!(out.status.success(), "image.py failed:\n{}", describe(&out));
    d.ok(&["load", "-i", tar.to_str().unwrap()])
        .unwrap_or_else(|e| panic!("{e}"));

    let host_dir = d.dir.join("volume");
    fs::create_dir_all(&host_dir).unwrap();
    fs::write(host_dir.join("from-host"), "host data").unwrap();
    let none = ["--network", "none"];
    // Ids of the detached containers, to look for leftovers after the daemon is gone.
    let seen = std::cell::RefCell::new(Vec::<String>::new());

    let scenarios: Vec<Scenario> = vec![
        (
            "run-hello (image CMD, output, exit 0)",
            Box::new(|| {
                let out = d.run(&none, &[]);
                expect_code(&out, 0, "docker run IMAGE")?;
                check(stdout(&out) == HELLO, || {
                    format!("output {:?}, expected {HELLO:?}", stdout(&out))
                })?;
                let info = d.ok(&["info", "--format", "{{json .Runtimes}}"])?;
                check(info.contains(&d.runtime.display().to_string()), || {
                    format!("scrun not among the runtimes: {info}")
                })
            }),
        ),
        (
            "exit-code 7",
            Box::new(|| expect_code(&d.run(&none, &["/probe", "exit", "7"]), 7, "docker run /probe exit 7")),
        ),
        (
            "env -e A=B",
            Box::new(|| {
                let r = d.report(&["--network", "none", "-e", "A=B"])?;
                check(has_env(&r, "A=B"), || format!("A=B not in env: {}", r["env"]))?;
                check(
                    has_env(&r, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
                    || format!("image PATH not in env: {}", r["env"]),
                )
            }),
        ),
        (
            "workdir -w /tmp/wd (created)",
            Box::new(|| {
                let r = d.report(&["--network", "none", "-w", "/tmp/wd"])?;
                check(r["cwd"] == "/tmp/wd", || format!("cwd {}", r["cwd"]))
            }),
        ),
        (
            "hostname --hostname h",
            Box::new(|| {
                let r = d.report(&["--network", "none", "--hostname", "scrun-h"])?;
                check(r["hostname"] == "scrun-h", || format!("hostname {}", r["hostname"]))?;
                check(
                    r["etc"]["hostname"].as_str().is_some_and(|h| h.trim() == "scrun-h"),
                    || format!("/etc/hostname {}", r["etc"]["hostname"]),
                )
            }),
        ),
        (
            "user --user 1000:1000",
            Box::new(|| {
                let r = d.report(&["--network", "none", "--user", "1000:1000"])?;
                check(r["uid"] == 1000 && r["euid"] == 1000 && r["gid"] == 1000, || {
                    format!("uid {} euid {} gid {}", r["uid"], r["euid"], r["gid"])
                })?;
                check(r["caps"]["eff"] == "0000000000000000", || {
                    format!("non-root has effective caps {}", r["caps"]["eff"])
                })
            }),
        ),
        (
            "read-only --read-only (EROFS)",
            Box::new(|| {
                let out = d.run(&["--network", "none", "--read-only"], &["/probe", "write", "/x", "hi"]);
                expect_code(&out, 1, "write /x on --read-only")?;
                check(stdout(&out).contains("errno 30"), || {
                    format!("expected EROFS: {}", describe(&out))
                })
            }),
        ),
        (
            "tmpfs --tmpfs /scratch",
            Box::new(|| {
                let out = d.run(
                    &["--network", "none", "--read-only", "--tmpfs", "/scratch"],
                    &["/probe", "write", "/scratch/x", "hi"],
                );
                expect_code(&out, 0, "write /scratch/x")?;
                let r = d.report(&["--network", "none", "--tmpfs", "/scratch"])?;
                let m = mount_at(&r, "/scratch").ok_or_else(|| "no mount at /scratch".to_string())?;
                check(m["fstype"] == "tmpfs", || format!("/scratch is {m}"))
            }),
        ),
        (
            "volume -v host:/data (rw)",
            Box::new(|| {
                let v = format!("{}:/data", host_dir.display());
                let out = d.run(
                    &["--network", "none", "-v", &v],
                    &["/probe", "write", "/data/from-container", "ctr data"],
                );
                expect_code(&out, 0, "write /data/from-container")?;
                let got = fs::read_to_string(host_dir.join("from-container")).unwrap_or_default();
                check(got == "ctr data", || format!("host sees {got:?}"))?;
                let out = d.run(&["--network", "none", "-v", &v], &["/probe", "read", "/data/from-host"]);
                expect_code(&out, 0, "read /data/from-host")?;
                check(stdout(&out) == "host data", || format!("read {:?}", stdout(&out)))
            }),
        ),
        (
            "volume -v host:/data:ro",
            Box::new(|| {
                let v = format!("{}:/data:ro", host_dir.display());
                let out = d.run(
                    &["--network", "none", "-v", &v],
                    &["/probe", "write", "/data/nope", "x"],
                );
                expect_code(&out, 1, "write on a :ro volume")?;
                check(stdout(&out).contains("errno 30"), || {
                    format!("expected EROFS: {}", describe(&out))
                })?;
                check(!host_dir.join("nope").exists(), || "file appeared on the host".into())?;
                let out = d.run(&["--network", "none", "-v", &v], &["/probe", "read", "/data/from-host"]);
                expect_code(&out, 0, "read on a :ro volume")?;
                check(stdout(&out) == "host data", || format!("read {:?}", stdout(&out)))
            }),
        ),
        (
            "memory --memory 64m",
            Box::new(|| {
                let out = d.run(
                    &["--network", "none", "--memory", "64m"],
                    &["/probe", "read", "/sys/fs/cgroup/memory/memory.limit_in_bytes"],
                );
                expect_code(&out, 0, "read memory.limit_in_bytes")?;
                check(stdout(&out).trim() == "67108864", || {
                    format!("memory.limit_in_bytes {:?}", stdout(&out))
                })
            }),
        ),
        (
            "oom: --memory 16m, a process that wants 64 MiB exits 137",
            Box::new(|| {
                let out = d.run(
                    &["--network", "none", "--memory", "16m", "--memory-swap", "16m"],
                    &["/probe", "alloc", "64"],
                );
                expect_code(&out, 137, "allocating 64 MiB under a 16 MiB limit")
            }),
        ),
        (
            "pids --pids-limit 20",
            Box::new(|| {
                let out = d.run(
                    &["--network", "none", "--pids-limit", "20"],
                    &["/probe", "read", "/sys/fs/cgroup/pids/pids.max"],
                );
                expect_code(&out, 0, "read pids.max")?;
                check(stdout(&out).trim() == "20", || format!("pids.max {:?}", stdout(&out)))
            }),
        ),
        (
            "ulimit --ulimit nofile=123:456",
            Box::new(|| {
                let r = d.report(&["--network", "none", "--ulimit", "nofile=123:456"])?;
                let n = &r["rlimits"]["RLIMIT_NOFILE"];
                check(n["soft"] == 123 && n["hard"] == 456, || format!("RLIMIT_NOFILE {n}"))
            }),
        ),
        (
            "sysctl --sysctl net.ipv4.ip_forward=1",
            Box::new(|| {
                let out = d.run(
                    &["--network", "none", "--sysctl", "net.ipv4.ip_forward=1"],
                    &["/probe", "read", "/proc/sys/net/ipv4/ip_forward"],
                );
                expect_code(&out, 0, "read ip_forward")?;
                check(stdout(&out).trim() == "1", || format!("ip_forward {:?}", stdout(&out)))?;
                // Docker's default sysctls are applied too.
                let out = d.run(
                    &none,
                    &["/probe", "read", "/proc/sys/net/ipv4/ip_unprivileged_port_start"],
                );
                expect_code(&out, 0, "read ip_unprivileged_port_start")?;
                check(stdout(&out).trim() == "0", || {
                    format!("ip_unprivileged_port_start {:?}", stdout(&out))
                })
            }),
        ),
        (
            "capabilities --cap-drop ALL --cap-add KILL",
            Box::new(|| {
                let r = d.report(&["--network", "none", "--cap-drop", "ALL", "--cap-add", "KILL"])?;
                let c = &r["caps"];
                let kill = "0000000000000020";
                check(c["eff"] == kill && c["prm"] == kill && c["bnd"] == kill, || {
                    format!("caps {c}")
                })
            }),
        ),
        (
            "seccomp (docker's default profile on, off with seccomp=unconfined)",
            Box::new(|| {
                let r = d.report(&none)?;
                check(r["seccomp"] == 2, || {
                    format!("Seccomp {} (expected 2 = filter)", r["seccomp"])
                })?;
                let r = d.report(&["--network", "none", "--security-opt", "seccomp=unconfined"])?;
                check(r["seccomp"] == 0, || {
                    format!("Seccomp {} with unconfined", r["seccomp"])
                })
            }),
        ),
        (
            "network none: only lo, up",
            Box::new(|| {
                let r = d.report(&none)?;
                let ifs = r["interfaces"].as_array().cloned().unwrap_or_default();
                check(ifs.len() == 1 && ifs[0]["name"] == "lo" && ifs[0]["up"] == true, || {
                    format!("interfaces {}", r["interfaces"])
                })
            }),
        ),
        (
            "network host: the host's interfaces",
            Box::new(|| {
                // Other tests may add or remove host interfaces meanwhile: the container must
                // see every interface present before and after, and none the host never had.
                let before = host_interfaces();
                let r = d.report(&["--network", "host"])?;
                let after = host_interfaces();
                let inside = interface_names(&r);
                let missing: Vec<_> = before
                    .iter()
                    .filter(|i| after.contains(i) && !inside.contains(i))
                    .collect();
                let extra: Vec<_> = inside
                    .iter()
                    .filter(|i| !before.contains(i) && !after.contains(i))
                    .collect();
                check(missing.is_empty() && extra.is_empty() && inside.len() > 1, || {
                    format!("inside {inside:?}, host before {before:?}, after {after:?}")
                })
            }),
        ),
        (
            "tty -t",
            Box::new(|| {
                let r = d.report(&["--network", "none", "-t"])?;
                check(r["tty"]["stdin"] == true && r["tty"]["stdout"] == true, || {
                    format!("tty {}", r["tty"])
                })
            }),
        ),
        (
            "stdin -i (piped into /probe cat)",
            Box::new(|| {
                let out = d.docker_stdin(
                    &[
                        "run",
                        "--rm",
                        "-i",
                        "--runtime",
                        "scrun",
                        "--network",
                        "none",
                        IMAGE,
                        "/probe",
                        "cat",
                    ],
                    b"through stdin\n",
                );
                expect_code(&out, 0, "docker run -i /probe cat")?;
                check(stdout(&out) == "through stdin\n", || {
                    format!("echoed {:?}", stdout(&out))
                })
            }),
        ),
        (
            "missing binary: docker run exits 127",
            Box::new(|| {
                let out = d.run(&none, &["/nonexistent"]);
                expect_code(&out, 127, "docker run /nonexistent")?;
                let err = String::from_utf8_lossy(&out.stderr);
                check(
                    err.contains("/nonexistent") && err.contains("no such file or directory"),
                    || format!("message: {err}"),
                )
            }),
        ),
        (
            "more options: --group-add, --oom-score-adj, no-new-privileges, --cpus, --device",
            Box::new(|| {
                let r = d.report(&[
                    "--network",
                    "none",
                    "--group-add",
                    "1234",
                    "--oom-score-adj",
                    "500",
                    "--security-opt",
                    "no-new-privileges",
                ])?;
                check(
                    r["groups"].as_array().is_some_and(|g| g.iter().any(|x| x == 1234)),
                    || format!("groups {}", r["groups"]),
                )?;
                check(r["oom_score_adj"] == 500, || {
                    format!("oom_score_adj {}", r["oom_score_adj"])
                })?;
                check(r["no_new_privs"] == true, || {
                    format!("no_new_privs {}", r["no_new_privs"])
                })?;
                let out = d.run(
                    &["--network", "none", "--cpus", "0.5"],
                    &["/probe", "read", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"],
                );
                expect_code(&out, 0, "read cpu.cfs_quota_us")?;
                check(stdout(&out).trim() == "50000", || {
                    format!("--cpus 0.5: cfs_quota_us {:?}", stdout(&out))
                })?;
                let out = d.run(
                    &["--network", "none", "--device", "/dev/zero:/dev/myzero"],
                    &["/probe", "stat", "/dev/myzero"],
                );
                let st = parse_report(&out, "docker run --device /dev/zero:/dev/myzero /probe stat")?;
                check(st["kind"] == "char" && st["major"] == 1 && st["minor"] == 5, || {
                    format!("/dev/myzero {st}")
                })?;
                // The device cgroup lets the container open it: a write to /dev/zero succeeds.
                let out = d.run(
                    &["--network", "none", "--device", "/dev/zero:/dev/myzero"],
                    &["/probe", "write", "/dev/myzero", "x"],
                );
                expect_code(&out, 0, "write /dev/myzero")
            }),
        ),
        // Plain `--cap-add ALL` fails here with runc as with scrun (EPERM from capset): the
        // machine's bounding set lacks CAP_SYS_RESOURCE. runc is the oracle.
        (
            "--cap-add ALL --cap-drop SYS_RESOURCE (same caps as runc)",
            Box::new(|| {
                let opts = ["--network", "none", "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE"];
                let r = d.report(&opts)?;
                let mut oracle = vec!["run", "--rm", "--runtime", "runc"];
                oracle.extend_from_slice(&opts);
                oracle.extend_from_slice(&[IMAGE, "/probe", "report"]);
                let want = parse_report(&d.docker(&oracle), "the same under runc")?;
                check(r["caps"] == want["caps"], || {
                    format!("caps {} (runc: {})", r["caps"], want["caps"])
                })?;
                check(r["caps"]["eff"] == r["caps"]["bnd"], || format!("caps {}", r["caps"]))
            }),
        ),
        (
            "namespaces shared with the host: --pid host, --uts host, --ipc host",
            Box::new(|| {
                let r = d.report(&["--network", "none", "--pid", "host", "--uts", "host", "--ipc", "host"])?;
                check(r["pid"] != 1, || "pid 1 with --pid host".into())?;
                let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
                check(r["hostname"] == host.trim(), || {
                    format!("hostname {} vs host {host:?}", r["hostname"])
                })
            }),
        ),
        (
            "--init (docker-init as pid 1)",
            Box::new(|| {
                let r = d.report(&["--network", "none", "--init"])?;
                check(r["pid"] != 1 && r["ppid"] == 1, || {
                    format!("pid {} ppid {}", r["pid"], r["ppid"])
                })
            }),
        ),
        (
            "detached: exec, exec -u, exec -t, exec -i, exec missing, top, pause/unpause, update, rm -f",
            Box::new(|| {
                let _rm = detached(d, &seen, &["/probe", "sleep", "300"])?;
                let id = _rm.1.clone();
                let state_dir = d.exec_root().join("runtime-runc/moby").join(&id);
                check(state_dir.is_dir(), || {
                    format!("no scrun state at {}", state_dir.display())
                })?;
                let rt = d.ok(&["inspect", "-f", "{{.HostConfig.Runtime}}", &id])?;
                check(rt == "scrun", || format!("runtime {rt}"))?;

                let out = d.docker(&["exec", &id, "/probe", "hello"]);
                expect_code(&out, 0, "docker exec hello")?;
                check(stdout(&out) == HELLO, || format!("exec output {:?}", stdout(&out)))?;

                let r = parse_report(
                    &d.docker(&["exec", "-u", "1000", &id, "/probe", "report"]),
                    "docker exec -u 1000",
                )?;
                check(r["uid"] == 1000, || format!("exec -u 1000: uid {}", r["uid"]))?;
                check(r["seccomp"] == 2, || format!("exec: Seccomp {}", r["seccomp"]))?;
                check(r["pid"] != 1, || "exec'd process is pid 1".into())?;

                // An existing directory: runc fails an exec whose cwd is missing (scrun makes it).
                let r = parse_report(
                    &d.docker(&["exec", "-w", "/dev", "-e", "X=Y", &id, "/probe", "report"]),
                    "docker exec -w /dev -e X=Y",
                )?;
                check(r["cwd"] == "/dev" && has_env(&r, "X=Y"), || {
                    format!("exec -w -e: cwd {} env {}", r["cwd"], r["env"])
                })?;

                let r = parse_report(&d.docker(&["exec", "-t", &id, "/probe", "report"]), "docker exec -t")?;
                check(r["tty"]["stdout"] == true, || format!("exec -t: tty {}", r["tty"]))?;

                let out = d.docker_stdin(&["exec", "-i", &id, "/probe", "cat"], b"exec stdin\n");
                expect_code(&out, 0, "docker exec -i cat")?;
                check(stdout(&out) == "exec stdin\n", || {
                    format!("exec -i echoed {:?}", stdout(&out))
                })?;

                // docker maps a failed exec start to 126 (with runc too); the text is scrun's.
                let out = d.docker(&["exec", &id, "/nonexistent"]);
                expect_code(&out, 126, "docker exec /nonexistent")?;
                // docker exec 20.10 prints this error on stdout.
                let err = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
                check(
                    err.contains("/nonexistent") && err.contains("no such file or directory"),
                    || format!("exec message: {err}"),
                )?;

                let top = d.ok(&["top", &id])?;
                check(top.contains("/probe sleep 300"), || format!("docker top:\n{top}"))?;

                d.ok(&["pause", &id])?;
                let st = d.ok(&["inspect", "-f", "{{.State.Status}}", &id])?;
                check(st == "paused", || format!("after pause: {st}"))?;
                let freezer =
                    fs::read_to_string(format!("/sys/fs/cgroup/freezer/docker/{id}/freezer.state")).unwrap_or_default();
                check(freezer.trim() == "FROZEN", || format!("freezer.state {freezer:?}"))?;
                d.ok(&["unpause", &id])?;
                let st = d.ok(&["inspect", "-f", "{{.State.Status}}", &id])?;
                check(st == "running", || format!("after unpause: {st}"))?;
                let out = d.docker(&["exec", &id, "/probe", "hello"]);
                expect_code(&out, 0, "exec after unpause")?;

                d.ok(&["update", "--memory", "128m", "--memory-swap", "256m", &id])?;
                let out = d.docker(&[
                    "exec",
                    &id,
                    "/probe",
                    "read",
                    "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                ]);
                expect_code(&out, 0, "read limit after update")?;
                check(stdout(&out).trim() == "134217728", || {
                    format!("after update --memory 128m: {:?}", stdout(&out))
                })?;

                d.ok(&["rm", "-f", &id])?;
                let left = d.ok(&["ps", "-aq", "--no-trunc"])?;
                check(!left.contains(&id), || "container still listed after rm -f".into())?;
                check(!state_dir.exists(), || {
                    format!("scrun state {} left after rm -f", state_dir.display())
                })
            }),
        ),
        (
            "stop -t 1 of a SIGTERM-ignoring pid 1: exit 137",
            Box::new(|| {
                let _rm = detached(d, &seen, &["/probe", "ignore-term", "300"])?;
                let id = _rm.1.clone();
                wait_mask(d, &id, "SigIgn", libc::SIGTERM)?;
                let t = Instant::now();
                d.ok(&["stop", "-t", "1", &id])?;
                let took = t.elapsed();
                let code = d.ok(&["inspect", "-f", "{{.State.ExitCode}}", &id])?;
                d.ok(&["rm", &id])?;
                check(code == "137", || format!("exit code {code}"))?;
                check(took < Duration::from_secs(10), || format!("docker stop took {took:?}"))
            }),
        ),
        (
            "stop of a program that handles SIGTERM: prompt exit 0",
            Box::new(|| {
                let _rm = detached(d, &seen, &["/probe", "wait-signal"])?;
                let id = _rm.1.clone();
                wait_handled(d, &id, libc::SIGTERM)?;
                let t = Instant::now();
                d.ok(&["stop", "-t", "30", &id])?;
                let took = t.elapsed();
                let code = d.ok(&["inspect", "-f", "{{.State.ExitCode}}", &id])?;
                let logs = d.ok(&["logs", &id])?;
                d.ok(&["rm", &id])?;
                check(code == "0" && logs.contains("signal 15"), || {
                    format!("exit code {code}, logs {logs:?}")
                })?;
                check(took < Duration::from_secs(10), || format!("docker stop took {took:?}"))
            }),
        ),
        (
            "restart: docker restart -t 1 runs it again",
            Box::new(|| {
                let _rm = detached(d, &seen, &["/probe", "sleep", "300"])?;
                let id = _rm.1.clone();
                let pid1 = d.ok(&["inspect", "-f", "{{.State.Pid}}", &id])?;
                d.ok(&["restart", "-t", "1", &id])?;
                let st = d.ok(&[
                    "inspect",
                    "-f",
                    "{{.State.Status}} {{.State.Pid}} {{.RestartCount}}",
                    &id,
                ])?;
                let pid2 = st.split(' ').nth(1).unwrap_or("").to_string();
                check(st.starts_with("running") && pid2 != pid1 && pid2 != "0", || {
                    format!("after restart: {st} (pid before {pid1})")
                })?;
                let out = d.docker(&["exec", &id, "/probe", "hello"]);
                expect_code(&out, 0, "exec after restart")?;
                d.ok(&["rm", "-f", &id]).map(|_| ())
            }),
        ),
        (
            "kill -s USR1 reaches the program (exit 0, its output in logs)",
            Box::new(|| {
                let _rm = detached(d, &seen, &["/probe", "wait-signal"])?;
                let id = _rm.1.clone();
                wait_handled(d, &id, libc::SIGUSR1)?;
                d.ok(&["kill", "-s", "USR1", &id])?;
                let code = d.ok(&["wait", &id])?;
                let logs = d.ok(&["logs", &id])?;
                d.ok(&["rm", &id])?;
                check(code == "0", || format!("exit code {code}"))?;
                check(logs.contains("signal 10"), || format!("logs {logs:?}"))
            }),
        ),
    ];

    let mut failures = Vec::new();
    for (name, scenario) in &scenarios {
        let t = Instant::now();
        match scenario() {
            Ok(()) => eprintln!("PASS {name} ({:.2} s)", t.elapsed().as_secs_f64()),
            Err(e) => {
                eprintln!("FAIL {name}: {e}");
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    let scenarios_len = scenarios.len();
    drop(scenarios);

    // Nothing left: no containers, then the daemon stops and takes its mounts and processes.
    let left = d.ok(&["ps", "-aq"]).unwrap_or_else(|e| e);
    if !left.is_empty() {
        failures.push(format!("containers left: {left}"));
    }
    if !failures.is_empty() {
        failures.push(format!("dockerd log (tail):\n{}", d.log_tail(30)));
    }
    let dir = daemon.dir.clone();
    let mut daemon = daemon;
    failures.extend(daemon.stop());
    drop(daemon);
    let ids = seen.into_inner();
    for id in &ids {
        let cgroups = cgroups_named(id);
        if !cgroups.is_empty() {
            failures.push(format!("cgroups left for {id}: {cgroups:?}"));
        }
    }
    let mounts = mounts_under(&dir);
    if !mounts.is_empty() {
        failures.push(format!("mounts left under {} after cleanup: {mounts:?}", dir.display()));
    }
    if dir.exists() {
        failures.push(format!("{} not removed", dir.display()));
    }
    eprintln!(
        "engine_docker: {} scenarios in {:.1} s",
        scenarios_len,
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
