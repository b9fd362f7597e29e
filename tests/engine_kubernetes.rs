//! End to end, the Kubernetes way: a private containerd 1.6 configured as README.md tells a user
//! to (Debian's stock config.toml with the README's runtime tables appended: a runtime handler
//! `scrun`, runtime_type io.containerd.runc.v2, BinaryName = the scrun under test, and the runc
//! one), which is what a RuntimeClass with `handler: scrun` selects. The test checks that the CRI
//! plugin loads and that pods without a RuntimeClass still run on runc, and speaks CRI to it as a
//! kubelet does (RunPodSandbox, CreateContainer, ExecSync, ...) through integration/engines/cri.py.
//!
//! The main pod uses the host's network and shares its pid and IPC namespaces, as a
//! `hostNetwork: true, shareProcessNamespace: true` pod does; a second one is an ordinary pod with
//! its own network namespace (made by containerd, set up by CNI's host-device plugin) and a pid
//! namespace per container. Either way every container joins the pause process's namespaces
//! by path. The pause image is the probe (`wait-signal`), built locally and imported with
//! `ctr -n k8s.io images import` under the name of containerd's default sandbox_image, as the
//! probe image is.
//!
//! One test function, one containerd, scenarios in order (each one's failure is collected); a
//! guard removes the pods over CRI, stops containerd and the shims by pid, and removes mounts,
//! cgroups and directories. SCRUN_E2E_LOG=FILE keeps containerd's whole log.

mod common;
use common::containerd::{cni_conf_dir, left_after, scrun_root, PrivateContainerd};
use common::readme::{readme_block, CONTAINERD_ITEM};
use common::*;

use serde_json::{json, Value};
use std::cell::RefCell;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// containerd's namespace for everything the CRI plugin makes.
const K8S_NS: &str = "k8s.io";
const HANDLER: &str = "scrun";
/// The handler of pods without a RuntimeClass: containerd's default_runtime_name.
const DEFAULT_HANDLER: &str = "";
/// containerd 1.6's default sandbox_image, which Debian's stock config keeps.
const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.6";
/// Where the runc shim keeps runc's state for the CRI plugin's pods (no Root in the README's
/// runc entry).
const RUNC_ROOT: &str = "/run/containerd/runc";
/// Where the CRI plugin bind-mounts pods' network namespaces (the stock config keeps
/// netns_mounts_under_state_dir off).
const NETNS_DIR: &str = "/var/run/netns";
const IMAGE: &str = "docker.io/library/scrun-probe:e2e";
const GREETING: &str = "Hello from a scratch container!";
const MEMORY_LIMIT: i64 = 64 << 20;
const CPU_SHARES: i64 = 512;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What a kubelet sends for a `hostNetwork: true, shareProcessNamespace: true` pod, in the
/// sandbox's and in each container's security context.
fn host_network_shared_pid() -> Value {
    json!({"network": "NODE", "pid": "POD", "ipc": "POD"})
}

/// What a kubelet sends for an ordinary pod.
fn pod_network() -> Value {
    json!({"network": "POD", "pid": "CONTAINER", "ipc": "POD"})
}

/// Debian's containernetworking-plugins.
const CNI_PLUGINS: &str = "/usr/lib/cni";
/// Where libcni (in containerd 1.6, not configurable) caches each attachment's result until the
/// pod's network is torn down.
const CNI_CACHE: &str = "/var/lib/cni";
/// The pod's address, from the documentation range: nothing is sent anywhere.
const POD_IP: &str = "192.0.2.2";

/// The CNI network of a pod with its own network namespace: one end of a veth pair the test
/// makes is moved in as eth0 (host-device) with a fixed address. The bridge and ptp plugins
/// would change the host's network (a bridge, addresses, routes, net.ipv4.ip_forward).
fn cni_conflist(device: &str) -> String {
    json!({
        "cniVersion": "0.4.0",
        "name": "scrun-e2e",
        "plugins": [{
            "type": "host-device",
            "device": device,
            "ipam": {"type": "static", "addresses": [{"address": format!("{POD_IP}/24")}]},
        }],
    })
    .to_string()
}

/// `ip link ...`, panicking on failure.
fn ip_link(args: &[&str]) {
    let out = Command::new("ip")
        .arg("link")
        .args(args)
        .output()
        .expect("cannot run ip");
    assert!(out.status.success(), "ip link {}:\n{}", args.join(" "), describe(&out));
}

/// `/proc/<pid>/ns/<kind>` ("net:[4026531840]"); `pid` "self" is the test.
fn ns_of(pid: &str, kind: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|e| format!("(/proc/{pid}/ns/{kind}: {e})"))
}

/// The text of a CRI container log: lines `<time> <stream> <P|F> <text>`, where a P(artial)
/// line is continued by the next one.
fn cri_log_text(raw: &str) -> String {
    let mut text = String::new();
    for line in raw.lines() {
        let mut f = line.splitn(4, ' ');
        let tag = f.nth(2);
        text.push_str(f.next().unwrap_or(""));
        if tag != Some("P") {
            text.push('\n');
        }
    }
    text
}

/// The value of a cgroup v1 `file` of `controller` for process `pid` (this host has the memory
/// and cpu controllers on v1).
fn cgroup_v1_value(pid: i64, controller: &str, file: &str) -> Option<String> {
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = cg.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        ctrls.split(',').any(|c| c == controller).then_some(path)
    })?;
    let v = fs::read_to_string(format!("/sys/fs/cgroup/{controller}{path}/{file}")).ok()?;
    Some(v.trim().to_string())
}

/// Removes the cgroup directory `dir` and every cgroup under it, deepest first, where empty.
fn remove_cgroup_tree(dir: &Path) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup_tree(&entry.path());
        }
    }
    let _ = fs::remove_dir(dir);
}

/// integration/engines/cri.py in its line mode: one request line in, one reply line out.
struct CriClient {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl CriClient {
    fn start(sock: &Path) -> CriClient {
        let mut child = Command::new("python3")
            .arg(repo().join("integration/engines/cri.py"))
            .arg(sock)
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot run integration/engines/cri.py");
        CriClient {
            stdin: child.stdin.take(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            child,
        }
    }

    fn call(&mut self, method: &str, request: &Value) -> Result<Value, String> {
        let stdin = self.stdin.as_mut().ok_or("cri.py's stdin is closed")?;
        writeln!(stdin, "{method} {request}").map_err(|e| format!("{method}: writing to cri.py: {e}"))?;
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => return Err(format!("{method}: cri.py exited ({:?})", self.child.try_wait())),
            Err(e) => return Err(format!("{method}: reading cri.py: {e}")),
            Ok(_) => {}
        }
        let mut reply: Value =
            serde_json::from_str(&line).map_err(|e| format!("{method}: cri.py said {line:?}: {e}"))?;
        match reply["error"].as_str() {
            Some(e) => Err(e.to_string()),
            None => Ok(reply["ok"].take()),
        }
    }
}

impl Drop for CriClient {
    fn drop(&mut self) {
        // EOF on its stdin ends cri.py.
        self.stdin.take();
        let _ = self.child.wait();
    }
}

#[derive(Clone)]
struct Pod {
    id: String,
    /// The PodSandboxConfig, sent again with each CreateContainer as a kubelet does.
    config: Value,
}

impl Pod {
    fn uid(&self) -> &str {
        self.config["metadata"]["uid"].as_str().unwrap()
    }
}

/// The private containerd with CRI on and the CRI client talking to it.
struct Kube {
    cri: RefCell<CriClient>,
    /// The shims' `--root` for scrun is <scrun_root>/k8s.io (the runtime's Root option + namespace).
    scrun_root: PathBuf,
    logs: PathBuf,
    /// Pods' cgroup parents are <cgroup_parent>/pod<uid>, as a kubelet's cgroupfs driver makes them.
    cgroup_parent: String,
    pods: RefCell<Vec<String>>,
    /// The host end of the veth pair whose other end the pod network gets.
    veth: String,
    /// Whether CNI_CACHE was there before: if not, it goes when empty.
    cni_cache_existed: bool,
    /// Which of RUNC_ROOT/k8s.io, RUNC_ROOT and NETNS_DIR were not there before: they go when
    /// empty.
    host_dirs_made: Vec<PathBuf>,
    d: PrivateContainerd,
}

impl Kube {
    fn start() -> Kube {
        // Interface names have at most 15 characters.
        let veth = format!("sk8s{}h", std::process::id());
        let pod_end = format!("sk8s{}c", std::process::id());
        let host_dirs_made = [Path::new(RUNC_ROOT).join(K8S_NS), RUNC_ROOT.into(), NETNS_DIR.into()]
            .into_iter()
            .filter(|d| !d.exists())
            .collect();
        let d = PrivateContainerd::start("k8s", |dir| {
            let conf_dir = cni_conf_dir(dir);
            fs::create_dir_all(&conf_dir).unwrap();
            fs::write(conf_dir.join("10-scrun-e2e.conflist"), cni_conflist(&pod_end)).unwrap();
        });
        // Made once containerd is up, so that a failed start (which drops `d`) leaves no link.
        let _ = Command::new("ip").args(["link", "del", &veth]).output();
        ip_link(&["add", &veth, "type", "veth", "peer", "name", &pod_end]);
        let scrun_root = scrun_root(&d.dir);
        let logs = d.dir.join("pod-logs");
        for dir in [&scrun_root, &logs] {
            fs::create_dir_all(dir).unwrap();
        }
        Kube {
            cri: RefCell::new(CriClient::start(&d.sock)),
            scrun_root,
            logs,
            cgroup_parent: format!("/scrun-e2e-k8s-{}", std::process::id()),
            pods: Default::default(),
            veth,
            cni_cache_existed: Path::new(CNI_CACHE).exists(),
            host_dirs_made,
            d,
        }
    }

    fn try_call(&self, method: &str, request: Value) -> Result<Value, String> {
        self.cri.borrow_mut().call(method, &request)
    }

    fn call(&self, method: &str, request: Value) -> Value {
        self.try_call(method, request).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The PodSandboxConfig of a pod named `name` with these namespace options (and its name
    /// as hostname, unless it uses the host's network).
    fn pod_config(&self, name: &str, namespaces: Value) -> Value {
        let uid = unique_id(name);
        let hostname = if namespaces["network"] == "NODE" { "" } else { name };
        json!({
            "metadata": {"name": name, "uid": uid, "namespace": "scrun-e2e", "attempt": 0},
            "hostname": hostname,
            "log_directory": self.logs.join(&uid),
            "labels": {"scrun-e2e": "engine_kubernetes"},
            "linux": {
                "cgroup_parent": format!("{}/pod{uid}", self.cgroup_parent),
                "security_context": {"namespace_options": namespaces},
            },
        })
    }

    /// RunPodSandbox of a pod named `name` on the runtime handler `handler`.
    fn run_pod(&self, name: &str, namespaces: Value, handler: &str) -> Pod {
        let config = self.pod_config(name, namespaces);
        let r = self.call("RunPodSandbox", json!({"config": config, "runtime_handler": handler}));
        let id = r["pod_sandbox_id"].as_str().unwrap().to_string();
        self.pods.borrow_mut().push(id.clone());
        Pod { id, config }
    }

    /// PodSandboxStatus with containerd's verbose record (pid, runtime, spec) parsed.
    fn pod_status(&self, pod: &Pod) -> (Value, Value) {
        let mut r = self.call("PodSandboxStatus", json!({"pod_sandbox_id": pod.id, "verbose": true}));
        let info = serde_json::from_str(r["info"]["info"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
        (r["status"].take(), info)
    }

    /// CreateContainer + StartContainer of the probe image running `command` in `pod`, in the
    /// pod's namespaces as a kubelet asks for them.
    fn start_container(&self, pod: &Pod, name: &str, command: &[&str], resources: Value) -> String {
        let config = json!({
            "metadata": {"name": name},
            "image": {"image": IMAGE},
            "command": command,
            "envs": [{"key": "SCRUN_E2E", "value": "from the pod spec"}],
            "log_path": format!("{name}/0.log"),
            "linux": {
                "resources": resources,
                "security_context": {
                    "namespace_options": pod.config["linux"]["security_context"]["namespace_options"],
                },
            },
        });
        let r = self.call(
            "CreateContainer",
            json!({"pod_sandbox_id": pod.id, "config": config, "sandbox_config": pod.config}),
        );
        let id = r["container_id"].as_str().unwrap().to_string();
        self.call("StartContainer", json!({ "container_id": id }));
        id
    }

    /// ContainerStatus with containerd's verbose record (pid, spec) parsed.
    fn container_status(&self, id: &str) -> (Value, Value) {
        let mut r = self.call("ContainerStatus", json!({"container_id": id, "verbose": true}));
        let info = serde_json::from_str(r["info"]["info"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
        (r["status"].take(), info)
    }

    fn wait_exited(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, _) = self.container_status(id);
            if status["state"] == "CONTAINER_EXITED" {
                return status;
            }
            assert!(Instant::now() < deadline, "container {id} did not exit: {status}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The container's output, from the log file the CRI plugin writes under the pod's
    /// log_directory, once it holds a complete JSON object (the shim copies asynchronously).
    fn report_in_log(&self, pod: &Pod, name: &str) -> Value {
        let path = self.logs.join(pod.uid()).join(name).join("0.log");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = cri_log_text(&fs::read_to_string(&path).unwrap_or_default());
            if let Some(r) = json_in(&text) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "no probe report in {}:\n{text}",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// ExecSync: (exit code, stdout, stderr).
    fn exec(&self, id: &str, cmd: &[&str]) -> (i64, String, String) {
        let r = self.call("ExecSync", json!({"container_id": id, "cmd": cmd, "timeout": 30}));
        let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
        (r["exit_code"].as_i64().unwrap_or(-1), s("stdout"), s("stderr"))
    }

    /// scrun's state directory for the containerd namespace the CRI plugin uses.
    fn scrun_state(&self) -> PathBuf {
        self.scrun_root.join(K8S_NS)
    }

    /// Container and sandbox ids scrun still holds state for (dot entries are its own cache).
    fn scrun_state_ids(&self) -> Vec<String> {
        fs::read_dir(self.scrun_state())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect()
    }
}

impl Drop for Kube {
    fn drop(&mut self) {
        // Pods first, while containerd answers: removing a pod removes its containers.
        if self.d.running() {
            if let Ok(list) = self.try_call("ListPodSandbox", json!({})) {
                for pod in list["items"].as_array().into_iter().flatten() {
                    let id = json!({"pod_sandbox_id": pod["id"]});
                    let _ = self.try_call("StopPodSandbox", id.clone());
                    let _ = self.try_call("RemovePodSandbox", id);
                }
            }
        }
        self.d.shutdown();
        // Deleting one end of a veth pair deletes both, wherever the other end is.
        let _ = Command::new("ip").args(["link", "del", &self.veth]).output();
        if !self.cni_cache_existed {
            let _ = fs::remove_dir(Path::new(CNI_CACHE).join("results"));
            let _ = fs::remove_dir(CNI_CACHE);
        }
        for dir in &self.host_dirs_made {
            // containerd's CRI plugin makes /var/run/netns a shared bind mount of itself.
            let _ = nix::mount::umount2(dir.as_path(), nix::mount::MntFlags::MNT_DETACH);
            let _ = fs::remove_dir(dir);
        }
        for id in self.pods.borrow().iter() {
            let _ = fs::remove_file(self.d.shim_socket(K8S_NS, id));
        }
        for entry in fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
            remove_cgroup_tree(&entry.path().join(self.cgroup_parent.trim_start_matches('/')));
        }
        remove_cgroup_tree(&Path::new("/sys/fs/cgroup").join(self.cgroup_parent.trim_start_matches('/')));
    }
}

/// The ids `<runtime> --root <root> list` shows.
fn listed(runtime: &Path, root: &Path) -> Vec<String> {
    let out = Command::new(runtime)
        .arg("--root")
        .arg(root)
        .args(["list", "--quiet"])
        .output()
        .expect("cannot run the runtime's list");
    assert!(
        out.status.success(),
        "{} --root {} list:\n{}",
        runtime.display(),
        root.display(),
        describe(&out)
    );
    String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()
}

/// The runtime tables `containerd config dump` shows for the config file `text`.
fn dumped_runtimes(dir: &Path, name: &str, text: &str) -> Vec<String> {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    let out = Command::new("containerd")
        .arg("--config")
        .arg(&path)
        .args(["config", "dump"])
        .output()
        .expect("cannot run containerd config dump");
    assert!(
        out.status.success(),
        "containerd config dump of\n{text}\n{}",
        describe(&out)
    );
    let prefix = "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.";
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix(prefix)?.strip_suffix(']').map(String::from))
        .collect()
}

/// Builds a FROM-scratch image holding the probe with `cmd` as its command and imports it
/// into the CRI plugin's namespace.
fn import_probe_image(kube: &Kube, name_tag: &str, cmd: &[&str]) {
    let tar = kube.d.dir.join(format!("{}.tar", name_tag.replace([':', '/'], "-")));
    let out = Command::new("python3")
        .arg(repo().join("integration/engines/image.py"))
        .arg(&tar)
        .arg(name_tag)
        .arg(format!("{}:/probe", probe().display()))
        .arg("--cmd")
        .args(cmd)
        .stdin(Stdio::null())
        .output()
        .expect("run image.py");
    assert!(out.status.success(), "image.py failed:\n{}", describe(&out));
    kube.d.ctr_ok(K8S_NS, &["images", "import", tar.to_str().unwrap()]);
}

#[test]
fn kubernetes_runtime_class_runs_scrun() {
    ensure_engines(&[
        "containerd",
        "ctr",
        "containerd-shim-runc-v2",
        "ip",
        &format!("{CNI_PLUGINS}/host-device"),
        &format!("{CNI_PLUGINS}/static"),
    ]);
    let out = Command::new(repo().join("hack/cri-client.sh"))
        .stdin(Stdio::null())
        .output()
        .expect("cannot run hack/cri-client.sh");
    assert!(out.status.success(), "hack/cri-client.sh failed:\n{}", describe(&out));
    let scrun = runtime_bin();
    assert!(scrun.is_file(), "runtime {} missing", scrun.display());

    let kube = Kube::start();
    // What a user checks after adding the README's tables to the stock config; nothing else
    // here works without it.
    let out = kube.d.ctr_ok(K8S_NS, &["plugins", "ls"]);
    let plugins = String::from_utf8_lossy(&out.stdout);
    let cri = plugins
        .lines()
        .find(|l| l.split_whitespace().take(2).eq(["io.containerd.grpc.v1", "cri"]));
    assert!(
        cri.is_some_and(|l| l.split_whitespace().last() == Some("ok")),
        "containerd's CRI plugin did not load with README.md's config: {cri:?}\n{}",
        kube.d.log_tail()
    );
    import_probe_image(&kube, PAUSE_IMAGE, &["/probe", "wait-signal"]);
    import_probe_image(&kube, IMAGE, &["/probe", "report"]);
    for image in [PAUSE_IMAGE, IMAGE] {
        let r = kube.call("ImageStatus", json!({"image": {"image": image}}));
        assert!(
            r["image"]["repo_tags"]
                .as_array()
                .is_some_and(|t| t.contains(&json!(image))),
            "the CRI plugin does not see the imported {image}: {r}"
        );
    }

    let mut scenarios = Scenarios::new();
    let pod: RefCell<Option<Pod>> = RefCell::new(None);
    let the_pod = || pod.borrow().clone().expect("no pod: run-pod-sandbox failed");
    let pause_pid = RefCell::new(0i64);
    // The long-running container of exec-sync, used again by resources and stop-remove.
    let sleeper = RefCell::new(String::new());
    let mut exited: Vec<String> = Vec::new();

    scenarios.run("readme-tables-alone", || {
        // On a host without a config file, `version = 2` and the README's tables; without that
        // first line, containerd 1.6 reads them as a version 1 file and ignores them.
        let tables = readme_block(CONTAINERD_ITEM, "toml");
        let v2 = dumped_runtimes(&kube.d.dir, "alone.toml", &format!("version = 2\n{tables}"));
        assert_eq!(v2, ["runc", "runc.options", "scrun", "scrun.options"], "runtimes");
        let v1 = dumped_runtimes(&kube.d.dir, "alone-v1.toml", &tables);
        assert_eq!(v1, ["runc", "runc.options"], "runtimes without `version = 2`");
    });

    scenarios.run("cri-version", || {
        let r = kube.call("Version", json!({"version": "v1"}));
        assert_eq!(r["runtime_name"], "containerd", "Version: {r}");
        assert_eq!(r["runtime_api_version"], "v1", "Version: {r}");
    });

    scenarios.run("unknown-handler", || {
        // A RuntimeClass naming a handler containerd has no runtime for fails the pod.
        let config = kube.pod_config("nohandler", host_network_shared_pid());
        let r = kube.try_call(
            "RunPodSandbox",
            json!({"config": config, "runtime_handler": "no-such-handler"}),
        );
        assert!(r.as_ref().is_err_and(|e| e.contains("no-such-handler")), "{r:?}");
    });

    scenarios.run("run-pod-sandbox", || {
        let p = kube.run_pod("pod", host_network_shared_pid(), HANDLER);
        *pod.borrow_mut() = Some(p.clone());
        let (status, info) = kube.pod_status(&p);
        assert_eq!(status["runtime_handler"], HANDLER, "sandbox status: {status}");
        assert_eq!(status["state"], "SANDBOX_READY", "sandbox status: {status}");
        assert_eq!(
            info["runtimeOptions"]["binary_name"],
            scrun.to_str().unwrap(),
            "runtime options of the sandbox: {}",
            info["runtimeOptions"]
        );
        let pid = info["pid"].as_i64().unwrap_or(0);
        assert!(pid > 0, "no sandbox pid in {info}");
        *pause_pid.borrow_mut() = pid;
        // scrun ran the pause: its state is under the shim's --root (the README's Root plus
        // the namespace) and names that process.
        assert_eq!(listed(&scrun, &kube.scrun_state()), [p.id.as_str()], "scrun list");
        let state = Command::new(&scrun)
            .arg("--root")
            .arg(kube.scrun_state())
            .args(["state", &p.id])
            .output()
            .expect("scrun state");
        assert!(state.status.success(), "scrun state {}:\n{}", p.id, describe(&state));
        let state: Value = serde_json::from_slice(&state.stdout).expect("scrun state JSON");
        assert_eq!(state["status"], "running", "scrun state: {state}");
        assert_eq!(state["pid"], pid, "scrun state: {state}");
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert_eq!(cmdline, b"/probe\0wait-signal\0", "the pause process {pid}");
        // Host network; its own pid, IPC and mount namespaces for the pod.
        assert_eq!(ns_of(&pid.to_string(), "net"), ns_of("self", "net"), "pause net ns");
        for kind in ["pid", "ipc", "mnt"] {
            assert_ne!(ns_of(&pid.to_string(), kind), ns_of("self", kind), "pause {kind} ns");
        }
    });

    scenarios.run("default-runtime-runc", || {
        // A pod without a RuntimeClass runs on the README's runc entry, beside scrun's pods and
        // with its state apart from theirs.
        let p = kube.run_pod("runcpod", host_network_shared_pid(), DEFAULT_HANDLER);
        let (status, info) = kube.pod_status(&p);
        assert_eq!(status["state"], "SANDBOX_READY", "sandbox status: {status}");
        assert_eq!(
            info["runtimeOptions"]["binary_name"].as_str().unwrap_or(""),
            "",
            "runtime options of the sandbox: {}",
            info["runtimeOptions"]
        );
        let runc_state = Path::new(RUNC_ROOT).join(K8S_NS);
        let runc = Path::new("runc");
        assert!(
            listed(runc, &runc_state).contains(&p.id),
            "runc list: {:?}",
            listed(runc, &runc_state)
        );
        assert!(!kube.scrun_state_ids().contains(&p.id), "runc's pod in scrun's root");
        if let Some(scrun_pod) = pod.borrow().as_ref() {
            assert!(
                !listed(runc, &runc_state).contains(&scrun_pod.id),
                "scrun's pod in runc's root"
            );
        }
        let id = kube.start_container(&p, "report", &["/probe", "report"], json!({}));
        let status = kube.wait_exited(&id);
        assert_eq!(status["exit_code"], 0, "status: {status}");
        let r = kube.report_in_log(&p, "report");
        let env: Vec<&str> = r["env"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert!(env.contains(&"SCRUN_E2E=from the pod spec"), "env: {env:?}");
        kube.call("RemoveContainer", json!({ "container_id": id }));
        kube.call("StopPodSandbox", json!({"pod_sandbox_id": p.id}));
        kube.call("RemovePodSandbox", json!({"pod_sandbox_id": p.id}));
        assert!(!runc_state.join(&p.id).exists(), "runc state of {} left", p.id);
    });

    scenarios.run("container-in-pod", || {
        let p = the_pod();
        let id = kube.start_container(&p, "report", &["/probe", "report"], json!({}));
        exited.push(id.clone());
        let status = kube.wait_exited(&id);
        assert_eq!(status["exit_code"], 0, "status: {status}");
        assert_eq!(status["reason"], "Completed", "status: {status}");
        let r = kube.report_in_log(&p, "report");
        let env: Vec<&str> = r["env"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert!(env.contains(&"SCRUN_E2E=from the pod spec"), "env: {env:?}");
        // The pod's namespaces, joined by path: pid and IPC of the pause, the host's network
        // and UTS; a mount namespace of its own.
        let pause = pause_pid.borrow().to_string();
        for (kind, with) in [
            ("net", "self"),
            ("uts", "self"),
            ("ipc", pause.as_str()),
            ("pid", pause.as_str()),
        ] {
            assert_eq!(r["ns"][kind], ns_of(with, kind), "{kind} ns (pause is {pause})");
        }
        assert_ne!(r["ns"]["mnt"], ns_of(&pause, "mnt"), "mnt ns shared with the pause");
        assert_ne!(r["pid"], 1, "pid 1 of a shared pid namespace is the pause");
        let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(r["hostname"], host.trim(), "hostname of a host-network pod");
        let shm = r["mounts"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["mount_point"] == "/dev/shm"))
            .cloned();
        assert!(shm.is_some(), "no /dev/shm mount: {}", r["mounts"]);
        let cgroup = format!("{}/pod{}/{id}", kube.cgroup_parent, p.uid());
        let lines = r["cgroup"].as_array().cloned().unwrap_or_default();
        assert!(
            lines
                .iter()
                .any(|l| l.as_str().is_some_and(|l| l.ends_with(&format!(":{cgroup}")))),
            "not in the pod's cgroup {cgroup}: {lines:?}"
        );
    });

    scenarios.run("exec-sync", || {
        let p = the_pod();
        let resources = json!({"memory_limit_in_bytes": MEMORY_LIMIT, "cpu_shares": CPU_SHARES});
        let id = kube.start_container(&p, "sleeper", &["/probe", "sleep", "600"], resources);
        *sleeper.borrow_mut() = id.clone();
        let (code, out, err) = kube.exec(&id, &["/probe", "hello"]);
        assert_eq!(
            (code, out.as_str()),
            (0, &*format!("{GREETING}\n")),
            "exec hello (stderr {err:?})"
        );
        let (code, _, _) = kube.exec(&id, &["/probe", "exit", "3"]);
        assert_eq!(code, 3, "exec exit 3");
        // The exec is in the pod's pid namespace, whose pid 1 is the pause.
        let (code, out, err) = kube.exec(&id, &["/probe", "read", "/proc/1/cmdline"]);
        assert_eq!(
            (code, out.as_str()),
            (0, "/probe\0wait-signal\0"),
            "pid 1 (stderr {err:?})"
        );
        // /dev/shm is the pod's: what the container writes there is in the sandbox's shm.
        let (code, out, _) = kube.exec(&id, &["/probe", "write", "/dev/shm/from-exec", "shared"]);
        assert_eq!(code, 0, "write /dev/shm: {out}");
        let shm = kube
            .d
            .dir
            .join("state/io.containerd.grpc.v1.cri/sandboxes")
            .join(&p.id)
            .join("shm/from-exec");
        assert_eq!(
            fs::read_to_string(&shm).ok().as_deref(),
            Some("shared"),
            "{}",
            shm.display()
        );
    });

    scenarios.run("resources", || {
        let id = sleeper.borrow().clone();
        assert!(!id.is_empty(), "no sleeper: exec-sync failed");
        let (status, info) = kube.container_status(&id);
        assert_eq!(status["state"], "CONTAINER_RUNNING", "status: {status}");
        let pid = info["pid"].as_i64().unwrap_or(0);
        assert!(pid > 0, "no container pid in {info}");
        assert_eq!(
            cgroup_v1_value(pid, "memory", "memory.limit_in_bytes"),
            Some(MEMORY_LIMIT.to_string()),
            "memory limit of {pid}"
        );
        assert_eq!(
            cgroup_v1_value(pid, "cpu", "cpu.shares"),
            Some(CPU_SHARES.to_string()),
            "cpu shares of {pid}"
        );
        // The container sees its own cgroup's limit.
        let (code, out, _) = kube.exec(&id, &["/probe", "read", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]);
        assert_eq!((code, out.trim()), (0, &*MEMORY_LIMIT.to_string()), "limit seen inside");
        // An in-place resize: the CRI plugin hands the new resources to `scrun update`. Raising
        // the limit raises memory+swap with it (CRI sets both), which the kernel takes only in
        // the right order.
        let raised = 2 * MEMORY_LIMIT;
        kube.call(
            "UpdateContainerResources",
            json!({"container_id": id, "linux": {"memory_limit_in_bytes": raised, "cpu_shares": CPU_SHARES}}),
        );
        assert_eq!(
            cgroup_v1_value(pid, "memory", "memory.limit_in_bytes"),
            Some(raised.to_string()),
            "memory limit of {pid} after the update"
        );
    });

    scenarios.run("exit-code", || {
        let id = kube.start_container(&the_pod(), "exit7", &["/probe", "exit", "7"], json!({}));
        exited.push(id.clone());
        let status = kube.wait_exited(&id);
        assert_eq!(status["exit_code"], 7, "status: {status}");
        assert_eq!(status["reason"], "Error", "status: {status}");
    });

    scenarios.run("stop-remove-containers", || {
        let id = sleeper.borrow().clone();
        assert!(!id.is_empty(), "no sleeper: exec-sync failed");
        let (_, info) = kube.container_status(&id);
        let pid = info["pid"].as_i64().unwrap_or(0);
        kube.call("StopContainer", json!({"container_id": id, "timeout": 10}));
        let (status, _) = kube.container_status(&id);
        assert_eq!(status["state"], "CONTAINER_EXITED", "status after stop: {status}");
        // Not pid 1 in the pod, the probe dies of the SIGTERM.
        assert_eq!(status["exit_code"], 128 + libc::SIGTERM, "status after stop: {status}");
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "{pid} alive after stop");
        for id in exited.iter().chain([&id]) {
            kube.call("RemoveContainer", json!({ "container_id": id }));
            let gone = kube.try_call("ContainerStatus", json!({ "container_id": id }));
            assert!(
                gone.as_ref().is_err_and(|e| e.contains("NOT_FOUND")),
                "status after remove: {gone:?}"
            );
            assert!(cgroups_named(id).is_empty(), "cgroups left: {:?}", cgroups_named(id));
        }
        assert_eq!(
            kube.scrun_state_ids(),
            [the_pod().id],
            "scrun state besides the sandbox"
        );
    });

    scenarios.run("pod-network", || {
        let p = kube.run_pod("netpod", pod_network(), HANDLER);
        let (_, info) = kube.pod_status(&p);
        let pause = info["pid"].as_i64().unwrap_or(0).to_string();
        // The pause joined the network namespace containerd made and bind-mounted.
        let netns = info["runtimeSpec"]["linux"]["namespaces"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["type"] == "network"))
            .and_then(|n| n["path"].as_str())
            .unwrap_or_default()
            .to_string();
        assert!(
            Path::new(&netns).starts_with(NETNS_DIR),
            "sandbox network namespace: {}",
            info["runtimeSpec"]["linux"]["namespaces"]
        );
        // A bind-mounted namespace file has the namespace's inode.
        let ino = fs::metadata(&netns).map(|m| m.ino()).unwrap_or(0);
        assert_eq!(
            ns_of(&pause, "net"),
            format!("net:[{ino}]"),
            "the pause's net ns is {netns}"
        );
        assert_ne!(
            ns_of(&pause, "net"),
            ns_of("self", "net"),
            "a pod network on the host's"
        );
        let id = kube.start_container(&p, "report", &["/probe", "report"], json!({}));
        let status = kube.wait_exited(&id);
        assert_eq!(status["exit_code"], 0, "status: {status}");
        let r = kube.report_in_log(&p, "report");
        for kind in ["net", "uts", "ipc"] {
            assert_eq!(r["ns"][kind], ns_of(&pause, kind), "{kind} ns (pause is {pause})");
        }
        assert_ne!(
            r["ns"]["pid"],
            ns_of(&pause, "pid"),
            "pid ns of a CONTAINER-mode container"
        );
        assert_eq!(r["pid"], 1, "pid in its own pid namespace");
        assert_eq!(r["hostname"], "netpod", "hostname of the pod");
        let names: Vec<&str> = r["interfaces"]
            .as_array()
            .map(|a| a.iter().filter_map(|i| i["name"].as_str()).collect())
            .unwrap_or_default();
        let up = |name: &str| {
            r["interfaces"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|i| i["name"] == name && i["up"] == true)
        };
        assert!(
            names.len() == 2 && up("lo") && up("eth0"),
            "interfaces: {}",
            r["interfaces"]
        );
        let (_, info) = kube.pod_status(&p);
        assert_eq!(
            info["cniResult"]["Interfaces"]["eth0"]["IPConfigs"][0]["IP"], POD_IP,
            "CNI result: {}",
            info["cniResult"]
        );
        kube.call("RemoveContainer", json!({ "container_id": id }));
        kube.call("StopPodSandbox", json!({"pod_sandbox_id": p.id}));
        kube.call("RemovePodSandbox", json!({"pod_sandbox_id": p.id}));
        assert!(!Path::new(&netns).exists(), "{netns} left after the pod's removal");
    });

    scenarios.run("stop-remove-pod", || {
        let p = the_pod();
        let pid = *pause_pid.borrow();
        kube.call("StopPodSandbox", json!({"pod_sandbox_id": p.id}));
        let (status, _) = kube.pod_status(&p);
        assert_eq!(status["state"], "SANDBOX_NOTREADY", "status after stop: {status}");
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "pause {pid} alive after stop"
        );
        kube.call("RemovePodSandbox", json!({"pod_sandbox_id": p.id}));
        let list = kube.call("ListPodSandbox", json!({}));
        assert_eq!(list["items"], json!([]), "pods after remove");
        let left = kube.scrun_state_ids();
        assert!(left.is_empty(), "scrun state left: {left:?}");
        let mounts = mounts_under(&kube.d.dir.join("state"));
        assert!(mounts.is_empty(), "mounts left: {mounts:?}");
        assert!(
            cgroups_named(&p.id).is_empty(),
            "cgroups left: {:?}",
            cgroups_named(&p.id)
        );
        let sock = kube.d.shim_socket(K8S_NS, &p.id);
        // The shim exits once its last task is gone.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let shims: Vec<_> = kube
                .d
                .leftover_processes()
                .into_iter()
                .filter(|(_, c)| c.contains("shim"))
                .collect();
            if shims.is_empty() && !sock.exists() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "shims still running: {shims:?}; socket {} there: {}",
                sock.display(),
                sock.exists()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    });

    if let Some(keep) = std::env::var_os("SCRUN_E2E_LOG") {
        let _ = fs::copy(&kube.d.log, keep);
    }
    let log = kube.d.log_tail();
    let dir = kube.d.dir.clone();
    drop(kube);
    scenarios.finish(left_after(&dir), &log);
}
