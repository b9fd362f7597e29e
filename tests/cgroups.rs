//! src/cgroups against the real cgroupfs of this host (v1, hybrid or v2-only): resources written
//! and read back, processes added, frozen, counted and removed. Every test works below its own
//! `/scrun-test-<pid>-<name>` and a Drop guard removes that whole tree, even after a failure.

use oci_spec::runtime::LinuxResources;
use scrun::cgroups::{default_device_rules, host, Cgroup, Dir, FreezerState};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

macro_rules! need_root {
    () => {
        if !is_root() {
            eprintln!("skipped: cgroup tests need root");
            return;
        }
    };
}

fn res(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).unwrap()
}

fn rd(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.join(file).display()))
        .trim()
        .to_string()
}

/// Owns a test's cgroup tree and processes: on drop, thaws, kills and reaps the processes, then
/// removes the tree in every hierarchy.
struct Guard {
    top: String,
    children: Vec<Child>,
    /// Directories to rmdir last if the test made them (the default "/scrun" parent).
    also: Vec<PathBuf>,
    /// Last: dropped after the tree is gone (see `Live`).
    _live: Live,
}

/// Turning a controller on in the cgroup2 root is host-wide (crun's hybrid-host workaround needs
/// hugetlb off there): the last guard of this process to go turns off again what the process
/// turned on. An earlier one would pull it from under a test still using it.
struct Live;

static LIVE: std::sync::Mutex<usize> = std::sync::Mutex::new(0);

impl Live {
    fn new() -> Live {
        root_controllers_at_start();
        *LIVE.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Live
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        *live -= 1;
        if *live > 0 {
            return;
        }
        let at_start = root_controllers_at_start();
        for c in root_subtree_control().split_whitespace() {
            if !at_start.split_whitespace().any(|b| b == c) {
                let _ = std::fs::write("/sys/fs/cgroup/unified/cgroup.subtree_control", format!("-{c}"));
            }
        }
    }
}

impl Guard {
    fn new(name: &str) -> Guard {
        Guard {
            top: format!("/scrun-test-{}-{name}", std::process::id()),
            children: Vec::new(),
            also: Vec::new(),
            _live: Live::new(),
        }
    }

    fn path(&self, leaf: &str) -> String {
        format!("{}/{leaf}", self.top)
    }

    fn create(&self, leaf: &str) -> Cgroup {
        Cgroup::create(Some(&self.path(leaf)), "unused").unwrap()
    }

    fn spawn_sleep(&mut self) -> i32 {
        let child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as i32;
        self.children.push(child);
        pid
    }

    fn kill_all(&mut self) {
        for mut c in self.children.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn tops(&self) -> Vec<PathBuf> {
        let h = host();
        h.v1.iter().chain(&h.v2).map(|h| h.dir(&self.top)).collect()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for top in self.tops() {
            thaw_tree(&top);
        }
        self.kill_all();
        for top in self.tops() {
            for _ in 0..50 {
                if rmdir_tree(&top).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        for d in &self.also {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Read once, before any test of this process turned a controller on: a guard that read it
/// while another test had hugetlb on would take that for the host's own setting.
fn root_controllers_at_start() -> String {
    static AT_START: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    AT_START.get_or_init(root_subtree_control).clone()
}

fn root_subtree_control() -> String {
    std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.subtree_control").unwrap_or_default()
}

fn thaw_tree(dir: &Path) {
    let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
    let _ = std::fs::write(dir.join("cgroup.freeze"), "0");
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            thaw_tree(&e.path());
        }
    }
}

fn rmdir_tree(dir: &Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        other => other?,
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            rmdir_tree(&e.path())?;
        }
    }
    std::fs::remove_dir(dir)
}

/// The cgroup2 directory of `full` alone, as a cgroup on a cgroup2-only host would be.
fn only_v2(full: &Cgroup) -> Option<(Cgroup, PathBuf)> {
    let saved = full.saved();
    let v2 = saved.v2.clone()?;
    let cg = Cgroup::open(&scrun::cgroups::SavedCgroup {
        v1: Vec::new(),
        ..saved
    })
    .unwrap();
    Some((cg, v2))
}

fn size_bytes(size: &str) -> i64 {
    let (n, unit) = size.split_at(size.find(|c: char| !c.is_ascii_digit()).unwrap());
    let shift = match unit {
        "KB" => 10,
        "MB" => 20,
        "GB" => 30,
        u => panic!("unit {u}"),
    };
    n.parse::<i64>().unwrap() << shift
}

#[test]
fn memory_cpu_pids_written_as_asked() {
    need_root!();
    let g = Guard::new("basic");
    let cg = g.create("c");
    let v1_only = json!({"swappiness": 10, "disableOOMKiller": true});
    if let Dir::V2(_) = cg.locate("memory").expect("memory controller") {
        // cgroup v2 has no file for either: refused, not ignored.
        for (field, value) in v1_only.as_object().unwrap() {
            let err = cg
                .apply(&res(json!({"memory": {field: value}})))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(&format!("linux.resources.memory.{field}: ")), "{err}");
        }
    }
    let mut memory = json!({"limit": 67108864, "reservation": 33554432, "swap": 134217728});
    if let Dir::V1(_) = cg.locate("memory").unwrap() {
        memory
            .as_object_mut()
            .unwrap()
            .extend(v1_only.as_object().unwrap().clone());
    }
    cg.apply(&res(json!({
        "memory": memory,
        "cpu": {"shares": 512, "quota": 50000, "period": 100000},
        "pids": {"limit": 42},
    })))
    .unwrap();
    match cg.locate("memory").expect("memory controller") {
        Dir::V1(d) => {
            assert_eq!(rd(d, "memory.limit_in_bytes"), "67108864");
            assert_eq!(rd(d, "memory.soft_limit_in_bytes"), "33554432");
            if d.join("memory.memsw.limit_in_bytes").exists() {
                assert_eq!(rd(d, "memory.memsw.limit_in_bytes"), "134217728");
            }
            assert_eq!(rd(d, "memory.swappiness"), "10");
            assert!(rd(d, "memory.oom_control").lines().any(|l| l == "oom_kill_disable 1"));
        }
        Dir::V2(d) => {
            assert_eq!(rd(d, "memory.max"), "67108864");
            assert_eq!(rd(d, "memory.low"), "33554432");
            if d.join("memory.swap.max").exists() {
                assert_eq!(rd(d, "memory.swap.max"), "67108864", "v2 swap.max is swap minus memory");
            }
        }
    }
    match cg.locate("cpu").expect("cpu controller") {
        Dir::V1(d) => {
            assert_eq!(rd(d, "cpu.shares"), "512");
            assert_eq!(rd(d, "cpu.cfs_quota_us"), "50000");
            assert_eq!(rd(d, "cpu.cfs_period_us"), "100000");
        }
        Dir::V2(d) => {
            assert_eq!(rd(d, "cpu.weight"), "20", "1 + (512-2)*9999/262142");
            assert_eq!(rd(d, "cpu.max"), "50000 100000");
        }
    }
    assert_eq!(rd(cg.locate("pids").unwrap().path(), "pids.max"), "42");

    // Unlimited again.
    cg.apply(&res(
        json!({"memory": {"limit": -1}, "cpu": {"quota": -1}, "pids": {"limit": -1}}),
    ))
    .unwrap();
    match cg.locate("memory").unwrap() {
        Dir::V1(d) => assert_eq!(
            rd(d, "memory.limit_in_bytes"),
            rd(d.parent().unwrap(), "memory.limit_in_bytes")
        ),
        Dir::V2(d) => assert_eq!(rd(d, "memory.max"), "max"),
    }
    assert_eq!(rd(cg.locate("pids").unwrap().path(), "pids.max"), "max");
}

#[test]
fn memory_use_hierarchy_and_check_before_update() {
    need_root!();
    let mut g = Guard::new("hierarchy");
    let cg = g.create("c");
    cg.apply(&res(json!({"memory": {"useHierarchy": true}}))).unwrap();
    let err = cg
        .apply(&res(json!({"memory": {"useHierarchy": false}})))
        .unwrap_err()
        .to_string();
    match cg.locate("memory").expect("memory controller") {
        Dir::V1(d) => {
            assert_eq!(rd(d, "memory.use_hierarchy"), "1");
            // Current kernels always account hierarchically and refuse the 0 themselves.
            assert!(err.contains("memory.use_hierarchy"), "{err}");
        }
        Dir::V2(_) => assert!(err.starts_with("linux.resources.memory.useHierarchy: "), "{err}"),
    }

    // 16 MB of a shell variable, charged here (the shell joins before it fills it), with no
    // swap to push it to: a 4 MB limit is below what the cgroup uses.
    let mut child = Command::new("sh")
        .args([
            "-c",
            "read go; x=$(head -c 16000000 /dev/zero | tr '\\0' a); echo ready; read stop",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    cg.add_pid(child.id() as i32).unwrap();
    use std::io::{BufRead, Write};
    // Held open: the shell then waits in its own `read` (no child process to outlive it in the
    // cgroup when the guard kills it), keeping its 16 MB.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"go\n").unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    g.children.push(child);
    let err = cg
        .update(&res(json!({"memory": {"limit": 4194304, "checkBeforeUpdate": true}})))
        .unwrap_err()
        .to_string();
    match cg.locate("memory").unwrap() {
        Dir::V1(d) => {
            assert!(err.contains("memory.limit_in_bytes"), "{err}");
            assert_ne!(rd(d, "memory.limit_in_bytes"), "4194304");
        }
        Dir::V2(d) => {
            assert!(err.contains("(checkBeforeUpdate)"), "{err}");
            assert_eq!(rd(d, "memory.max"), "max");
        }
    }
    drop(stdin);
}

#[test]
fn cpu_idle_burst_and_realtime() {
    need_root!();
    let g = Guard::new("cpuextra");
    let cg = g.create("c");
    cg.apply(&res(
        json!({"cpu": {"idle": 1, "quota": 50000, "period": 100000, "burst": 20000}}),
    ))
    .unwrap();
    let d = cg.locate("cpu").expect("cpu controller");
    let burst = if let Dir::V1(_) = d {
        "cpu.cfs_burst_us"
    } else {
        "cpu.max.burst"
    };
    assert_eq!(rd(d.path(), "cpu.idle"), "1");
    assert_eq!(rd(d.path(), burst), "20000");
    let result = cg.apply(&res(
        json!({"cpu": {"realtimePeriod": 500000, "realtimeRuntime": 1000}}),
    ));
    match d {
        Dir::V1(d) if d.join("cpu.rt_runtime_us").exists() => {
            // The runtime comes from the parent's budget, which this test's fresh parent lacks.
            let err = result.unwrap_err().to_string();
            assert_eq!(rd(d, "cpu.rt_period_us"), "500000");
            assert!(err.contains("cpu.rt_runtime_us"), "{err}");
        }
        Dir::V1(d) => {
            let err = result.unwrap_err().to_string();
            assert!(err.contains(&d.join("cpu.rt_period_us").display().to_string()), "{err}");
        }
        Dir::V2(_) => {
            let err = result.unwrap_err().to_string();
            assert!(
                err.starts_with("linux.resources.cpu.realtimeRuntime/realtimePeriod: "),
                "{err}"
            );
        }
    }
}

#[test]
fn memory_and_swap_ordered_for_growth_and_shrink() {
    need_root!();
    let g = Guard::new("swap");
    let cg = g.create("c");
    let memsw = |cg: &Cgroup| match cg.locate("memory").unwrap() {
        Dir::V1(d) if d.join("memory.memsw.limit_in_bytes").exists() => {
            Some((rd(d, "memory.limit_in_bytes"), rd(d, "memory.memsw.limit_in_bytes")))
        }
        Dir::V2(d) if d.join("memory.swap.max").exists() => Some((rd(d, "memory.max"), rd(d, "memory.swap.max"))),
        _ => None,
    };
    let v2 = matches!(cg.locate("memory"), Some(Dir::V2(_)));
    let expect = |limit: i64, swap: i64| {
        Some((
            limit.to_string(),
            if v2 {
                (swap - limit).to_string()
            } else {
                swap.to_string()
            },
        ))
    };
    const M: i64 = 1 << 20;
    for (limit, swap) in [
        (64 * M, 64 * M),
        (256 * M, 512 * M),
        (32 * M, 32 * M),
        (128 * M, 128 * M),
    ] {
        cg.apply(&res(json!({"memory": {"limit": limit, "swap": swap}})))
            .unwrap_or_else(|e| panic!("limit {limit} swap {swap}: {e:#}"));
        if memsw(&cg).is_some() {
            assert_eq!(memsw(&cg), expect(limit, swap));
        }
    }
}

#[test]
fn new_cpuset_cgroups_get_the_parents_cpus_and_mems() {
    need_root!();
    let g = Guard::new("cpuset");
    let cg = g.create("a/b");
    let Some(dir) = cg.locate("cpuset") else {
        return eprintln!("skipped: no cpuset controller");
    };
    let d = dir.path();
    if let Dir::V1(_) = dir {
        let root = host().v1_for("cpuset").unwrap().mount.clone();
        for level in [d.parent().unwrap(), d] {
            assert_eq!(
                rd(level, "cpuset.cpus"),
                rd(&root, "cpuset.cpus"),
                "{}",
                level.display()
            );
            assert_eq!(
                rd(level, "cpuset.mems"),
                rd(&root, "cpuset.mems"),
                "{}",
                level.display()
            );
        }
    }
    cg.apply(&res(json!({"cpu": {"cpus": "0", "mems": "0"}}))).unwrap();
    assert_eq!(rd(d, "cpuset.cpus"), "0");
    assert_eq!(rd(d, "cpuset.mems"), "0");
}

#[test]
fn parents_made_for_a_cpuset_cgroup_pass_their_cpus_and_mems_on() {
    // A difference from runc, which copies them into every new cgroup: the parents scrun makes
    // have cgroup.clone_children, so the next container's cgroup is filled by the kernel; the
    // container's own cgroup has the flag off, as under runc.
    need_root!();
    let g = Guard::new("clone-children");
    let first = g.create("a/b");
    let Some(Dir::V1(_)) = first.locate("cpuset") else {
        return eprintln!("skipped: no v1 cpuset hierarchy");
    };
    let leaf = first.locate("cpuset").unwrap().path().to_path_buf();
    let parent = leaf.parent().unwrap().to_path_buf();
    assert_eq!(rd(&parent, "cgroup.clone_children"), "1");
    assert_eq!(rd(parent.parent().unwrap(), "cgroup.clone_children"), "1");
    assert_eq!(
        rd(&leaf, "cgroup.clone_children"),
        "0",
        "a container's own cgroup is left as it was"
    );
    let second = g.create("a/c");
    let sibling = second.locate("cpuset").unwrap().path().to_path_buf();
    let root = host().v1_for("cpuset").unwrap().mount.clone();
    assert_eq!(rd(&sibling, "cpuset.cpus"), rd(&root, "cpuset.cpus"));
    assert_eq!(rd(&sibling, "cpuset.mems"), rd(&root, "cpuset.mems"));
    assert_eq!(
        rd(&sibling, "cgroup.clone_children"),
        "0",
        "the kernel's copy of the flag is turned off"
    );
}

#[test]
fn docker_zero_shares_and_weight_are_not_written() {
    need_root!();
    let g = Guard::new("zeros");
    let cg = g.create("c");
    // Written, a weight of 0 is refused by the kernel (and this host has no weight file at all).
    cg.apply(&res(json!({
        "cpu": {"shares": 0, "quota": 0, "period": 0},
        "blockIO": {"weight": 0},
        "memory": {"limit": 0, "swap": 0},
        "pids": {"limit": 0},
    })))
    .unwrap();
    match cg.locate("cpu").unwrap() {
        Dir::V1(d) => assert_eq!(rd(d, "cpu.shares"), "1024"),
        Dir::V2(d) => assert_eq!(rd(d, "cpu.weight"), "100"),
    }
    assert_eq!(rd(cg.locate("pids").unwrap().path(), "pids.max"), "max");
}

#[test]
fn invalid_values_name_the_file() {
    need_root!();
    let g = Guard::new("invalid");
    let cg = g.create("c");
    let err = cg
        .apply(&res(json!({"cpu": {"quota": 1, "period": 100000}})))
        .unwrap_err()
        .to_string();
    let file = match cg.locate("cpu").unwrap() {
        Dir::V1(d) => d.join("cpu.cfs_quota_us"),
        Dir::V2(d) => d.join("cpu.max"),
    };
    assert!(
        err.contains(&format!("to {}: invalid argument", file.display())),
        "{err}"
    );

    let err = cg
        .apply(&res(json!({"cpu": {"cpus": "4096"}})))
        .unwrap_err()
        .to_string();
    let file = cg.locate("cpuset").unwrap().path().join("cpuset.cpus");
    assert!(err.starts_with(&format!("write 4096 to {}: ", file.display())), "{err}");

    if let Some(Dir::V1(d)) = cg.locate("memory") {
        let err = cg
            .apply(&res(json!({"memory": {"swappiness": 200}})))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&d.join("memory.swappiness").display().to_string()),
            "{err}"
        );
    }

    let err = cg
        .apply(&res(json!({"hugepageLimits": [{"pageSize": "3MB", "limit": 0}]})))
        .unwrap_err()
        .to_string();
    assert!(err.contains("page size \"3MB\""), "{err}");

    if let Some(Dir::V1(d)) = cg.locate("cpu") {
        // The kernel clamps shares without an error; scrun reads them back.
        let err = cg
            .apply(&res(json!({"cpu": {"shares": 1_000_000}})))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&d.join("cpu.shares").display().to_string()), "{err}");
    }
}

#[test]
fn blkio_weight_and_throttle() {
    need_root!();
    let g = Guard::new("blkio");
    let cg = g.create("c");
    let Some(dir) = cg.locate("blkio").or_else(|| cg.locate("io")) else {
        return eprintln!("skipped: no blkio/io controller");
    };
    let d = dir.path();
    let weight_file = match dir {
        Dir::V1(d) if d.join("blkio.weight").exists() => Some("blkio.weight"),
        Dir::V1(d) if d.join("blkio.bfq.weight").exists() => Some("blkio.bfq.weight"),
        Dir::V2(d) if d.join("io.bfq.weight").exists() => Some("io.bfq.weight"),
        Dir::V2(d) if d.join("io.weight").exists() => Some("io.weight"),
        _ => None,
    };
    let dev = std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .find_map(|e| std::fs::read_to_string(e.path().join("dev")).ok())
        .expect("a block device")
        .trim()
        .to_string();
    let (major, minor) = dev.split_once(':').unwrap();
    let (major, minor) = (major.parse::<i64>().unwrap(), minor.parse::<i64>().unwrap());
    let result = cg.apply(&res(json!({"blockIO": {"weight": 300}})));
    match weight_file {
        Some("io.weight") => {
            result.unwrap();
            assert_eq!(rd(d, "io.weight"), "default 2930", "1 + (300-10)*9999/990");
        }
        Some(f) => {
            result.unwrap();
            assert!(
                rd(d, f).lines().any(|l| l == "300" || l == "default 300"),
                "{}",
                rd(d, f)
            );
        }
        None => {
            // No CFQ/BFQ weight on this kernel: asking for one must fail and say where.
            let err = result.unwrap_err().to_string();
            assert!(
                err.contains(&format!(
                    "{}: no such file or directory",
                    d.join("blkio.weight").display()
                )),
                "{err}"
            );
        }
    }

    // A device's own weight is for its I/O scheduler (BFQ): the kernel refuses it for a device
    // another scheduler runs, and scrun says which file refused.
    let bfq = std::fs::read_dir("/sys/block").unwrap().flatten().find_map(|e| {
        let scheduler = std::fs::read_to_string(e.path().join("queue/scheduler")).ok()?;
        scheduler
            .contains("[bfq]")
            .then(|| std::fs::read_to_string(e.path().join("dev")).ok())?
    });
    let weighted = bfq.as_deref().unwrap_or(&dev).trim();
    let (wmajor, wminor) = weighted.split_once(':').unwrap();
    let device =
        json!([{"major": wmajor.parse::<i64>().unwrap(), "minor": wminor.parse::<i64>().unwrap(), "weight": 200}]);
    let result = cg.apply(&res(json!({"blockIO": {"weightDevice": device}})));
    let file = match (dir, weight_file) {
        (Dir::V2(_), Some("io.weight")) => "io.weight",
        (Dir::V2(_), _) => "io.bfq.weight",
        (Dir::V1(_), Some("blkio.weight")) => "blkio.weight_device",
        (Dir::V1(_), _) => "blkio.bfq.weight_device",
    };
    match (result, &bfq) {
        (Ok(()), _) => assert!(
            rd(d, file)
                .lines()
                .any(|l| l == format!("{weighted} 200") || l == format!("{weighted} 1920")),
            "{}",
            rd(d, file)
        ),
        (Err(e), None) => assert!(e.to_string().contains(&d.join(file).display().to_string()), "{e}"),
        (Err(e), Some(_)) => panic!("{e}"),
    }

    let t = |rate: u64| json!([{"major": major, "minor": minor, "rate": rate}]);
    cg.apply(&res(json!({"blockIO": {
        "throttleReadBpsDevice": t(1048576), "throttleWriteBpsDevice": t(2097152),
        "throttleReadIOPSDevice": t(300), "throttleWriteIOPSDevice": t(400),
    }})))
    .unwrap();
    match dir {
        Dir::V1(d) => {
            assert_eq!(rd(d, "blkio.throttle.read_bps_device"), format!("{dev} 1048576"));
            assert_eq!(rd(d, "blkio.throttle.write_bps_device"), format!("{dev} 2097152"));
            assert_eq!(rd(d, "blkio.throttle.read_iops_device"), format!("{dev} 300"));
            assert_eq!(rd(d, "blkio.throttle.write_iops_device"), format!("{dev} 400"));
        }
        Dir::V2(d) => assert_eq!(
            rd(d, "io.max"),
            format!("{dev} rbps=1048576 wbps=2097152 riops=300 wiops=400")
        ),
    }
}

#[test]
fn hugetlb_limits() {
    need_root!();
    let g = Guard::new("hugetlb");
    let cg = g.create("c");
    let Some(dir) = cg.locate("hugetlb") else {
        return eprintln!("skipped: no hugetlb controller");
    };
    let sizes = host().hugepage_sizes();
    assert!(!sizes.is_empty());
    let limits: Vec<_> = sizes
        .iter()
        .map(|s| json!({"pageSize": s, "limit": 4 * size_bytes(s)}))
        .collect();
    cg.apply(&res(json!({ "hugepageLimits": limits }))).unwrap();
    for s in sizes {
        let want = (4 * size_bytes(s)).to_string();
        match dir {
            Dir::V1(d) => assert_eq!(rd(d, &format!("hugetlb.{s}.limit_in_bytes")), want),
            Dir::V2(d) => {
                assert_eq!(rd(d, &format!("hugetlb.{s}.max")), want);
                if d.join(format!("hugetlb.{s}.rsvd.max")).exists() {
                    assert_eq!(rd(d, &format!("hugetlb.{s}.rsvd.max")), want);
                }
            }
        }
    }
    let stats = cg.stats().unwrap();
    assert_eq!(stats["hugetlb"][&sizes[0]]["usage"], 0, "{stats}");
}

#[test]
fn device_rules() {
    need_root!();
    let g = Guard::new("devices");
    let cg = g.create("c");
    let mut rules = vec![
        json!({"allow": false, "access": "rwm"}),
        json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}),
        json!({"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rw"}),
    ];
    cg.apply(&res(json!({ "devices": rules }))).unwrap();
    let Some(Dir::V1(d)) = cg.locate("devices") else {
        return eprintln!("no v1 devices controller: the cgroup2 filter is tested in tests/resources.rs");
    };
    assert_eq!(rd(d, "devices.list"), "c 1:3 rwm\nc 1:5 rw");

    // Rules that do not begin with an "a" rule start from deny-all, as the cgroup2 filter does.
    let fresh = g.create("fresh");
    fresh.apply(&res(json!({ "devices": [rules[1]] }))).unwrap();
    let Some(Dir::V1(f)) = fresh.locate("devices") else {
        unreachable!()
    };
    assert_eq!(rd(f, "devices.list"), "c 1:3 rwm");

    rules.truncate(1);
    rules.extend(default_device_rules().iter().map(|r| serde_json::to_value(r).unwrap()));
    cg.apply(&res(json!({ "devices": rules }))).unwrap();
    let list = rd(d, "devices.list");
    for line in ["c *:* m", "b *:* m", "c 1:3 rwm", "c 136:* rwm", "c 10:200 rwm"] {
        assert!(list.lines().any(|l| l == line), "{line} missing from\n{list}");
    }
    assert!(!list.lines().any(|l| l == "c 1:5 rw"), "{list}");
}

/// The cgroup2 device filter through the cgroup2 directory alone, as on a cgroup2-only host:
/// a process that joins it cannot open a device no rule allows, and applying new rules
/// replaces the program rather than stacking a second one (which would still deny).
#[test]
fn cgroup2_device_filter_is_enforced_and_replaced() {
    need_root!();
    let g = Guard::new("v2devices");
    let Some((cg, v2)) = only_v2(&g.create("c")) else {
        return eprintln!("skipped: no cgroup2");
    };
    let nodes = std::env::temp_dir().join(format!("scrun-test-{}-nodes", std::process::id()));
    std::fs::create_dir_all(&nodes).unwrap();
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    let node = nodes.join("loop-control");
    let _ = std::fs::remove_file(&node);
    mknod(&node, SFlag::S_IFCHR, Mode::from_bits_truncate(0o600), makedev(10, 237)).unwrap();
    // A shell that moves itself into the cgroup, then opens the node.
    let opens = || {
        let out = Command::new("sh")
            .args(["-c", "echo $$ > \"$0/cgroup.procs\" && exec 3< \"$1\""])
            .arg(&v2)
            .arg(&node)
            .output()
            .unwrap();
        out.status.success()
    };
    let allow_null = json!([{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3}]);
    cg.apply(&res(json!({ "devices": allow_null }))).unwrap();
    let denied = !opens();
    let mut with_loop = allow_null.clone();
    with_loop
        .as_array_mut()
        .unwrap()
        .push(json!({"allow": true, "type": "c", "major": 10, "minor": 237, "access": "r"}));
    cg.apply(&res(json!({ "devices": with_loop }))).unwrap();
    let allowed = opens();
    std::fs::remove_dir_all(&nodes).unwrap();
    assert!(denied, "loop-control opened despite the filter");
    assert!(allowed, "the first program is still attached");
}

#[test]
fn process_added_counted_frozen_thawed_and_removed() {
    need_root!();
    let mut g = Guard::new("proc");
    let cg = g.create("c");
    let pid = g.spawn_sleep();
    cg.add_pid(pid).unwrap();
    assert_eq!(cg.pids().unwrap(), vec![pid]);
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in own.lines() {
        let hier = line.split(':').nth(1).unwrap();
        let mounted =
            host().v1.iter().any(|h| h.controllers.join(",") == hier) || (hier.is_empty() && host().v2.is_some());
        if mounted {
            assert!(line.ends_with(&g.path("c")), "{line}");
        }
    }
    assert_eq!(cg.state().unwrap(), FreezerState::Thawed);

    cg.freeze().unwrap();
    assert_eq!(cg.state().unwrap(), FreezerState::Frozen);
    match cg.locate("freezer") {
        Some(Dir::V1(d)) => assert_eq!(rd(d, "freezer.state"), "FROZEN"),
        _ => assert!(rd(cg.saved().v2.as_deref().unwrap(), "cgroup.events").contains("frozen 1")),
    }
    cg.thaw().unwrap();
    assert_eq!(cg.state().unwrap(), FreezerState::Thawed);

    let stats = cg.stats().unwrap();
    assert_eq!(stats["pids"]["current"], 1, "{stats}");
    // A process moved in keeps its earlier charges elsewhere: only the shape is certain.
    assert!(stats["memory"]["usage"]["usage"].is_u64(), "{stats}");
    assert!(stats["memory"]["usage"]["limit"].is_u64(), "{stats}");
    assert!(stats["cpu"]["usage"]["total"].is_u64(), "{stats}");

    g.kill_all();
    cg.remove().unwrap();
    for d in cg.dirs() {
        assert!(!d.exists(), "{} left behind", d.display());
    }
    assert_eq!(cg.pids().unwrap(), Vec::<i32>::new());
    cg.remove().expect("removing again is fine");
}

/// The cgroup2 paths of freeze, state, pids and stats, through the cgroup2 directory alone
/// (on a hybrid host the full cgroup would use the v1 freezer).
#[test]
fn cgroup2_freezer_and_stats() {
    need_root!();
    let mut g = Guard::new("v2freeze");
    let Some((cg, v2)) = only_v2(&g.create("c")) else {
        return eprintln!("skipped: no cgroup2");
    };
    let pid = g.spawn_sleep();
    cg.add_pid(pid).unwrap();
    assert_eq!(cg.pids().unwrap(), vec![pid]);
    cg.freeze().unwrap();
    assert_eq!(cg.state().unwrap(), FreezerState::Frozen);
    assert_eq!(rd(&v2, "cgroup.freeze"), "1");
    cg.thaw().unwrap();
    assert_eq!(cg.state().unwrap(), FreezerState::Thawed);
    assert!(rd(&v2, "cgroup.events").lines().any(|l| l == "frozen 0"));
    let stats = cg.stats().unwrap();
    assert!(stats["cpu"]["usage"]["total"].is_u64(), "{stats}");
    g.kill_all();
    cg.remove().unwrap();
    assert!(!v2.exists());
}

#[test]
fn remove_with_a_live_process_says_so() {
    need_root!();
    let mut g = Guard::new("busy");
    let cg = g.create("c");
    let pid = g.spawn_sleep();
    cg.add_pid(pid).unwrap();
    let err = cg.remove().unwrap_err().to_string();
    eprintln!("remove error: {err}");
    assert!(
        err.starts_with(&format!("remove cgroup {}", cg.dirs().next().unwrap().display())),
        "{err}"
    );
    assert!(err.contains("device or resource busy"), "{err}");
    assert!(
        err.ends_with(&format!("device or resource busy: it still holds processes {pid}")),
        "{err}"
    );
    assert!(cg.dirs().all(Path::exists));
    g.kill_all();
    cg.remove().unwrap();
    assert!(!cg.dirs().any(Path::exists));
}

#[test]
fn shared_parent_survives_its_children() {
    need_root!();
    let g = Guard::new("shared");
    let a = g.create("pod/a");
    let again = g.create("pod/a");
    assert_eq!(a.saved(), again.saved());
    let b = g.create("pod/b");
    a.remove().unwrap();
    for (da, db) in a.dirs().zip(b.dirs()) {
        assert!(!da.exists());
        assert!(db.exists());
        assert!(db.parent().unwrap().exists());
    }
    b.remove().unwrap();
}

#[test]
fn relative_path_goes_below_our_own_cgroup() {
    need_root!();
    let rel = format!("scrun-test-{}-rel/c", std::process::id());
    // The guard's tree is the relative top, resolved per hierarchy like the cgroup itself.
    let g = Guard {
        top: rel.rsplit_once('/').unwrap().0.to_string(),
        children: Vec::new(),
        also: Vec::new(),
        _live: Live::new(),
    };
    let cg = Cgroup::create(Some(&rel), "x").unwrap();
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    for v1 in &cg.saved().v1 {
        let line = own
            .lines()
            .find(|l| l.split(':').nth(1) == Some(v1.controllers.join(",").as_str()))
            .unwrap_or_else(|| panic!("{:?} not in {own}", v1.controllers));
        let mine = line.splitn(3, ':').nth(2).unwrap();
        let h = host().v1.iter().find(|h| h.controllers == v1.controllers).unwrap();
        assert_eq!(v1.dir, h.mount.join(mine.trim_start_matches('/')).join(&rel));
        assert!(v1.dir.is_dir());
    }
    drop(g);
    assert!(!cg.dirs().any(Path::exists));
}

#[test]
fn default_path_is_scrun_id() {
    need_root!();
    let id = format!("scrun-test-{}-default", std::process::id());
    let mut g = Guard {
        top: format!("/scrun/{id}"),
        children: Vec::new(),
        also: Vec::new(),
        _live: Live::new(),
    };
    let h = host();
    g.also =
        h.v1.iter()
            .chain(&h.v2)
            .map(|h| h.dir("/scrun"))
            .filter(|d| !d.exists())
            .collect();
    let cg = Cgroup::create(None, &id).unwrap();
    assert_eq!(cg.saved().path, format!("/scrun/{id}"));
    for d in cg.dirs() {
        assert!(d.ends_with(format!("scrun/{id}")) && d.is_dir(), "{}", d.display());
    }
    cg.remove().unwrap();
}

#[test]
fn unified_only_for_controllers_on_cgroup2() {
    need_root!();
    let g = Guard::new("unified");
    let cg = g.create("c");
    let r = cg.apply(&res(json!({"unified": {"pids.max": "7"}})));
    if host().on_v2("pids") {
        r.unwrap();
        assert_eq!(rd(cg.saved().v2.as_deref().unwrap(), "pids.max"), "7");
    } else {
        let err = r.unwrap_err().to_string();
        assert!(err.contains("pids.max"), "{err}");
    }
    if host().on_v2("hugetlb") {
        let s = &host().hugepage_sizes()[0];
        let key = format!("hugetlb.{s}.max");
        let v = (2 * size_bytes(s)).to_string();
        cg.apply(&res(json!({"unified": {&key: &v}}))).unwrap();
        assert_eq!(rd(cg.saved().v2.as_deref().unwrap(), &key), v);
    }
    for bad in ["../escape.max", "noformat"] {
        let err = cg.apply(&res(json!({"unified": {bad: "1"}}))).unwrap_err().to_string();
        assert!(err.contains("not a cgroup file name"), "{err}");
    }
}

#[test]
fn saved_state_round_trips() {
    need_root!();
    let g = Guard::new("saved");
    let cg = g.create("c");
    let text = serde_json::to_string(&cg.saved()).unwrap();
    let back: scrun::cgroups::SavedCgroup = serde_json::from_str(&text).unwrap();
    assert_eq!(back, cg.saved());
    let reopened = Cgroup::open(&back).unwrap();
    assert!(reopened.dirs().eq(cg.dirs()));
    let mut bad = back.clone();
    bad.path = "/../etc".into();
    assert!(Cgroup::open(&bad).is_err());
    assert!(Cgroup::create(Some("/a/../../etc"), "x").is_err());
    assert!(Cgroup::create(Some("/"), "x").is_err());
    reopened.remove().unwrap();
}
