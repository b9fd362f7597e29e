//! scrun against runc, the behaviour reference: the same bundle runs under both, and what the
//! probe reports from inside (mounts with their options, /dev with modes and owners, the five
//! capability sets, ids, umask, rlimits, env, cwd, hostname, seccomp, no_new_privs, masked and
//! read-only paths, cgroup placement, namespaces, exit code) must be equal field by field, but
//! for the differences listed with their reasons in integration/differential/accepted.json.
//!
//! The corpus is integration/differential/corpus/*.json, each a JSON merge patch (RFC 7386) on
//! `runc spec`'s config: runc's default and what docker, podman, containerd and the CRI path
//! send; plus seeded random variations of them. CI runs a fixed set of seeds; more by hand:
//!
//!     SCRUN_DIFF_SEED=1000 SCRUN_DIFF_COUNT=200 cargo test --test differential

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const RUNC: &str = "runc";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/differential")
}

/// RFC 7386: objects merge, null removes, anything else replaces.
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    b.remove(k);
                } else {
                    merge(b.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// What one runtime made of a config: the probe's report (or None) and the exit status.
struct Outcome {
    report: Option<Value>,
    status: Option<i32>,
    stderr: String,
}

fn run(runtime: &Path, config: &Value, id: &str) -> Outcome {
    let b = Bundle::new();
    // "$ID" in a case stands for the container's id (in a cgroup path, say).
    let mut config: Value = serde_json::from_str(&config.to_string().replace("$ID", id)).unwrap();
    // The bundle's own path differs between the two runs: the rest of the config is the case's.
    config["root"]["path"] = json!("rootfs");
    fs::write(b.config_path(), serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let root = std::env::temp_dir().join(unique_id("diff-root"));
    let out = Command::new(runtime)
        .arg("--root")
        .arg(&root)
        .args(["run", "--bundle", b.path().to_str().unwrap(), id])
        .stdin(Stdio::null())
        .output()
        .expect("run the runtime");
    let _ = Command::new(runtime)
        .arg("--root")
        .arg(&root)
        .args(["delete", "--force", id])
        .output();
    let _ = fs::remove_dir_all(&root);
    let report = json_in(&String::from_utf8_lossy(&out.stdout)).map(|r| normalize(r, &b.rootfs(), id));
    Outcome {
        report,
        status: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Replace what differs between any two runs (the bundle's path, the id, pipe and namespace
/// inode numbers) by what it stands for.
fn normalize(report: Value, rootfs: &Path, id: &str) -> Value {
    let host_ns = |kind: &str| fs::read_link(format!("/proc/self/ns/{kind}")).ok();
    let mut text = serde_json::to_string(&report).unwrap();
    text = text.replace(rootfs.to_str().unwrap(), "$ROOTFS").replace(id, "$ID");
    let mut report: Value = serde_json::from_str(&text).unwrap();
    if let Some(ns) = report["ns"].as_object_mut() {
        for (kind, link) in ns.iter_mut() {
            let own = host_ns(kind).map(|l| l.to_string_lossy().into_owned());
            *link = json!(if link.as_str() == own.as_deref() {
                "host's"
            } else {
                "its own"
            });
        }
    }
    for fd in report["fds"].as_array_mut().into_iter().flatten() {
        if let Some(t) = fd["target"].as_str().filter(|t| t.contains(":[")) {
            fd["target"] = json!(t.split(":[").next().unwrap());
        }
    }
    report["tty"]["ttyname"] = report["fds"][0]["target"].clone();
    report
}

/// The report as field paths: mounts keyed by mount point, /dev entries by path.
fn flatten(v: &Value, at: &str, out: &mut BTreeMap<String, Value>) {
    let key = |item: &Value| match at {
        "mounts" => item["mount_point"].as_str().map(String::from),
        "dev" => item["path"].as_str().map(String::from),
        _ => None,
    };
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                flatten(x, &if at.is_empty() { k.clone() } else { format!("{at}.{k}") }, out);
            }
        }
        Value::Array(items) if items.iter().all(|i| key(i).is_some()) && !items.is_empty() => {
            for item in items {
                flatten(item, &format!("{at}[{}]", key(item).unwrap()), out);
            }
        }
        other => {
            out.insert(at.to_string(), other.clone());
        }
    }
}

struct Accepted {
    field: String,
    reason: String,
}

fn accepted() -> Vec<Accepted> {
    let list: Value = serde_json::from_slice(&fs::read(dir().join("accepted.json")).unwrap()).unwrap();
    list.as_array()
        .expect("accepted.json is a list")
        .iter()
        .map(|a| Accepted {
            field: a["field"].as_str().expect("field").to_string(),
            reason: a["reason"]
                .as_str()
                .filter(|r| !r.is_empty())
                .expect("every difference has its reason")
                .to_string(),
        })
        .collect()
}

/// `*` in a pattern stands for any text.
fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, tail)) => {
            s.starts_with(head)
                && (0..=s.len() - head.len())
                    .any(|i| s.is_char_boundary(head.len() + i) && glob(tail, &s[head.len() + i..]))
        }
    }
}

/// The differences between runc's and scrun's outcome that no entry of accepted.json explains.
fn differences(case: &str, config: &Value, accepted: &[Accepted]) -> Vec<String> {
    // One id for both: it shows in cgroup paths.
    let id = unique_id("diff");
    let theirs = run(Path::new(RUNC), config, &id);
    let ours = run(&runtime_bin(), config, &id);
    let mut found = Vec::new();
    if theirs.status != ours.status {
        found.push(format!(
            "exit status: runc {:?}, scrun {:?}\n  runc said: {}\n  scrun said: {}",
            theirs.status,
            ours.status,
            theirs.stderr.trim(),
            ours.stderr.trim()
        ));
    }
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    if let Some(r) = &theirs.report {
        flatten(r, "", &mut a);
    }
    if let Some(r) = &ours.report {
        flatten(r, "", &mut b);
    }
    for field in a.keys().chain(b.keys()).collect::<std::collections::BTreeSet<_>>() {
        if a.get(field) == b.get(field) || accepted.iter().any(|x| glob(&x.field, field)) {
            continue;
        }
        let show = |v: Option<&Value>| v.map(|v| v.to_string()).unwrap_or_else(|| "(absent)".into());
        found.push(format!(
            "{field}: runc {}, scrun {}",
            show(a.get(field)),
            show(b.get(field))
        ));
    }
    found.into_iter().map(|d| format!("[{case}] {d}")).collect()
}

fn base_config() -> Value {
    let dir = std::env::temp_dir().join(unique_id("diff-spec"));
    fs::create_dir_all(&dir).unwrap();
    let out = Command::new(RUNC)
        .args(["spec", "--bundle"])
        .arg(&dir)
        .output()
        .expect("runc spec");
    assert!(out.status.success(), "runc spec: {}", describe(&out));
    let mut config: Value = serde_json::from_slice(&fs::read(dir.join("config.json")).unwrap()).unwrap();
    fs::remove_dir_all(&dir).unwrap();
    config["process"]["args"] = json!(["/probe", "report"]);
    config["process"]["terminal"] = json!(false);
    config
}

fn corpus() -> Vec<(String, Value)> {
    let mut cases: Vec<_> = fs::read_dir(dir().join("corpus"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let patch: Value =
                serde_json::from_slice(&fs::read(&p).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let mut config = base_config();
            merge(&mut config, &patch);
            (p.file_stem().unwrap().to_string_lossy().into_owned(), config)
        })
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    cases
}

/// xorshift64*: the same seed gives the same variations on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self) -> bool {
        self.next() & 1 == 1
    }
}

const CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_RAW",
    "CAP_SYS_CHROOT",
    "CAP_MKNOD",
    "CAP_AUDIT_WRITE",
    "CAP_SETFCAP",
    "CAP_SYS_ADMIN",
    "CAP_SYS_PTRACE",
    "CAP_IPC_LOCK",
];

/// One random variation of a corpus case: mounts and their options, tmpfs modes, users and
/// groups, capability sets, devices, masked paths, a user namespace.
fn vary(config: &mut Value, rng: &mut Rng) -> Vec<String> {
    let mut did = Vec::new();
    if rng.chance() {
        let dest = rng.pick(&["/data", "/tmp", "/var/cache", "/srv/a/b"]);
        let mut options: Vec<&str> = ["nosuid", "nodev", "noexec", "ro", "relatime", "strictatime"]
            .into_iter()
            .filter(|_| rng.chance())
            .collect();
        options.extend(
            rng.pick(&[None, Some("mode=0700"), Some("mode=1777"), Some("size=1m")])
                .iter(),
        );
        config["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": options}));
        did.push(format!("tmpfs on {dest} {options:?}"));
    }
    if rng.chance() {
        let (uid, gid) = (*rng.pick(&[0, 1, 1000, 65534]), *rng.pick(&[0, 5, 1000, 65534]));
        let groups: Vec<u32> = [10u32, 20, 100, 4242].into_iter().filter(|_| rng.chance()).collect();
        config["process"]["user"] =
            json!({"uid": uid, "gid": gid, "additionalGids": groups, "umask": rng.pick(&[0o022, 0o077, 0o002])});
        did.push(format!("user {uid}:{gid} groups {groups:?}"));
    }
    if rng.chance() {
        let set: Vec<&str> = CAPS.iter().copied().filter(|_| rng.chance()).collect();
        let caps = &mut config["process"]["capabilities"];
        for kind in ["bounding", "effective", "permitted"] {
            caps[kind] = json!(set);
        }
        caps["inheritable"] = json!(set.iter().filter(|_| rng.chance()).collect::<Vec<_>>());
        caps["ambient"] = json!(set.iter().filter(|_| rng.chance()).collect::<Vec<_>>());
        did.push(format!("capabilities {set:?}"));
    }
    if rng.chance() {
        let mode = *rng.pick(&[0o600, 0o644, 0o666, 0o620]);
        let (uid, gid) = (*rng.pick(&[0, 1000]), *rng.pick(&[0, 5]));
        let device = json!({"path": "/dev/xnull", "type": "c", "major": 1, "minor": 3, "fileMode": mode, "uid": uid, "gid": gid});
        config["linux"]["devices"] = json!([device]);
        did.push(format!("device /dev/xnull {mode:o} {uid}:{gid}"));
    }
    if rng.chance() {
        let masked: Vec<&str> = [
            "/proc/kcore",
            "/proc/keys",
            "/proc/timer_list",
            "/proc/acpi",
            "/sys/firmware",
            "/proc/no-such-file",
        ]
        .into_iter()
        .filter(|_| rng.chance())
        .collect();
        config["linux"]["maskedPaths"] = json!(masked);
        did.push(format!("maskedPaths {masked:?}"));
    }
    if rng.chance() {
        config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        did.push("user namespace 0->100000".into());
    }
    did
}

fn check(cases: Vec<(String, Value)>) {
    let accepted = accepted();
    let mut all = Vec::new();
    for (name, config) in &cases {
        all.extend(differences(name, config, &accepted));
    }
    assert!(all.is_empty(), "scrun differs from runc:\n{}", all.join("\n"));
}

#[test]
fn the_corpus_runs_the_same_under_runc_and_scrun() {
    check(corpus());
}

#[test]
fn seeded_variations_run_the_same_under_runc_and_scrun() {
    let seed: u64 = std::env::var("SCRUN_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let count: u64 = std::env::var("SCRUN_DIFF_COUNT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let corpus = corpus();
    let mut cases = Vec::new();
    for n in seed..seed + count {
        let mut rng = Rng(n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let (base, config) = rng.pick(&corpus).clone();
        let mut config = config;
        let did = vary(&mut config, &mut rng);
        cases.push((format!("seed{n}-{base} ({})", did.join("; ")), config));
    }
    check(cases);
}

#[test]
fn the_accepted_differences_all_say_why() {
    let list = accepted();
    assert!(!list.is_empty());
    for a in &list {
        assert!(a.reason.len() > 20, "{}: say why", a.field);
    }
}
