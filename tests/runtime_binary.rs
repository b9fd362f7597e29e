//! CVE-2019-5736 played from inside real containers: a process in the container's pid namespace
//! grabs the file a runtime-made process runs (or maps as its interpreter), waits for it to
//! exit, and writes to it. Each attack targets a copy of the runtime made for the test, never
//! the binary cargo built, and the test checks from the host that the copy is unchanged.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The runtime under test, copied to a writable directory of its own.
struct RuntimeCopy {
    dir: PathBuf,
    bin: PathBuf,
    original: Vec<u8>,
}

impl RuntimeCopy {
    fn new() -> RuntimeCopy {
        let dir = std::env::temp_dir().join(unique_id("scrun-copy"));
        fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("scrun");
        fs::copy(runtime_bin(), &bin).expect("copy the runtime binary");
        let original = fs::read(&bin).unwrap();
        RuntimeCopy { dir, bin, original }
    }

    fn cmd(&self, rt: &Runtime) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--root").arg(&rt.root);
        cmd
    }

    /// An image that also holds a static program at the copy's host path: checks that go by
    /// path take that one for what /proc/self/exe leads to, and let the attack through.
    fn plant_decoy(&self, b: &Bundle) {
        let decoy = b.rootfs().join(self.bin.strip_prefix("/").unwrap());
        fs::create_dir_all(decoy.parent().unwrap()).unwrap();
        fs::copy(probe(), &decoy).unwrap();
    }

    fn assert_intact(&self, report: &Value) {
        let now = fs::read(&self.bin).unwrap();
        assert!(
            now == self.original,
            "the runtime binary was overwritten from the container: it now starts with {:?}; attack: {report}",
            String::from_utf8_lossy(&now[..16.min(now.len())])
        );
    }
}

impl Drop for RuntimeCopy {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A pipe whose buffer is already full: a process writing to it blocks, and so stays alive,
/// running the file under attack, until it is killed. Returns the write end, to give as stderr;
/// the read end is kept (and never read) by the caller.
fn full_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds; fcntl and write act on them.
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK), 0);
        let chunk = [b'.'; 4096];
        while libc::write(fds[1], chunk.as_ptr().cast(), chunk.len()) > 0 {}
        // Blocking again: the container's writes must wait, not fail with EAGAIN.
        libc::fcntl(fds[1], libc::F_SETFL, 0);
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    }
}

/// A container whose init is `probe steal-exe MODE`, the attacker, running in the background.
/// Returns the `run` process (its stdout is the attacker's report) and the init's host pid.
// The child is returned for the caller to wait on (attacker_report).
#[allow(clippy::zombie_processes)]
fn start_attacker(rt: &Runtime, b: &Bundle, id: &str, mode: &str) -> (Child, i64) {
    b.set_args(&["/probe", "steal-exe", mode, "60"]);
    let mut child = Command::new(runtime_bin())
        .arg("--root")
        .arg(&rt.root)
        .args(["run", "--bundle", b.path().to_str().unwrap(), id])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the attacker's container");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = rt.run(&["state", id]);
        if let Some(state) = json_in(&String::from_utf8_lossy(&out.stdout)) {
            if state["status"] == "running" {
                return (child, state["pid"].as_i64().unwrap());
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "the attacker's container never ran: {}",
                describe(&child.wait_with_output().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn attacker_report(child: Child) -> Value {
    let out = child.wait_with_output().unwrap();
    json_in(&String::from_utf8_lossy(&out.stdout))
        .unwrap_or_else(|| panic!("the attacker printed no report:\n{}", describe(&out)))
}

/// Run the runtime copy with `args`, its stderr (and so the container's) a full pipe: the
/// runtime binary, once the container runs it, blocks on its first complaint. Returns the
/// process and the pipe's read end, to keep open until the attack is over.
fn start_victim(copy: &RuntimeCopy, rt: &Runtime, args: &[&str]) -> (Child, OwnedFd) {
    let (keep, stderr) = full_pipe();
    let child = copy
        .cmd(rt)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    (child, keep)
}

/// The attack must have reached its target, and failed to write to it.
fn assert_defended(report: &Value, copy: &RuntimeCopy) {
    assert_eq!(report["found"], true, "the attack never found its target: {report}");
    assert_ne!(
        report["write"], "ok",
        "the attacker wrote to the runtime binary: {report}"
    );
    copy.assert_intact(report);
}

/// Join the attacker's pid namespace, as a pod's containers or `docker run --pid container:X` do.
fn share_pid_namespace(b: &Bundle, attacker_pid: i64) {
    b.config_mut(|c| {
        for ns in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "pid" {
                ns["path"] = json!(format!("/proc/{attacker_pid}/ns/pid"));
            }
        }
    });
}

/// /entry, a script whose interpreter is the running process's own executable.
fn plant_self_exe_script(b: &Bundle) {
    let entry = b.rootfs().join("entry");
    fs::write(&entry, "#!/proc/self/exe\n").unwrap();
    fs::set_permissions(&entry, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn an_entrypoint_running_proc_self_exe_cannot_overwrite_the_runtime() {
    let copy = RuntimeCopy::new();
    let attacker = Bundle::new();
    let victim = Bundle::new();
    plant_self_exe_script(&victim);
    copy.plant_decoy(&victim);
    victim.set_args(&["/entry"]);
    attack_from_a_shared_pid_namespace(&copy, &attacker, "exe", &victim);
}

#[test]
fn a_process_started_by_exec_cannot_overwrite_the_runtime() {
    let copy = RuntimeCopy::new();
    let rt = Runtime::new();
    let target = Bundle::new();
    plant_self_exe_script(&target);
    copy.plant_decoy(&target);
    let id = unique_id("exec-target");
    let (watch, _) = start_attacker(&rt, &target, &id, "exe");

    let (mut exec, _keep) = start_victim(&copy, &rt, &["exec", &id, "/entry"]);

    let report = attacker_report(watch);
    let _ = exec.wait();
    assert_defended(&report, &copy);
    assert_nothing_left(&rt, &id, target.path());
}

#[test]
fn an_elf_interpreted_by_proc_self_exe_cannot_overwrite_the_runtime() {
    let copy = RuntimeCopy::new();
    let attacker = Bundle::new();
    // /proc/PID/map_files, where a mapped interpreter can be opened, takes CAP_CHECKPOINT_RESTORE.
    attacker.config_mut(|c| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_CHECKPOINT_RESTORE"));
        }
    });
    let victim = Bundle::new();
    let evil = victim.rootfs().join("evil");
    fs::write(&evil, interpreted_by_self_exe(&copy.original)).unwrap();
    fs::set_permissions(&evil, fs::Permissions::from_mode(0o755)).unwrap();
    copy.plant_decoy(&victim);
    // The runtime, started as the interpreter, parses these as its arguments and fails on them.
    victim.set_args(&["/evil", "no-such-command"]);
    attack_from_a_shared_pid_namespace(&copy, &attacker, "map", &victim);
}

/// The attacker's container runs `probe steal-exe MODE`; the victim's, run by the runtime copy,
/// joins its pid namespace (as a pod's containers or `docker run --pid container:X` do).
fn attack_from_a_shared_pid_namespace(copy: &RuntimeCopy, attacker: &Bundle, mode: &str, victim: &Bundle) {
    let rt = Runtime::new();
    let attacker_id = unique_id("attacker");
    let (watch, attacker_pid) = start_attacker(&rt, attacker, &attacker_id, mode);
    share_pid_namespace(victim, attacker_pid);
    let victim_id = unique_id("victim");
    let (mut run, _keep) = start_victim(
        copy,
        &rt,
        &["run", "--bundle", victim.path().to_str().unwrap(), &victim_id],
    );
    let report = attacker_report(watch);
    let _ = run.wait();
    assert_defended(&report, copy);
    assert_nothing_left(&rt, &victim_id, victim.path());
    assert_nothing_left(&rt, &attacker_id, attacker.path());
}

#[test]
fn the_init_never_runs_a_writable_binary() {
    // Checked on the running process, whatever path the binary came from.
    let copy = RuntimeCopy::new();
    let rt = Runtime::new();
    let b = Bundle::new();
    for phase in ["namespaces", "exec"] {
        let id = unique_id("sealed");
        let out = copy
            .cmd(&rt)
            .args([
                "create",
                "--pause-at",
                phase,
                "--bundle",
                b.path().to_str().unwrap(),
                &id,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(out.success(), "create --pause-at {phase} failed");
        let exe: OwnedFd = fs::File::open(format!("/proc/{}/exe", rt.pid(&id))).unwrap().into();
        let protection = scrun::sealed_exe::protection(&exe).unwrap();
        assert_ne!(
            protection,
            scrun::sealed_exe::Protection::None,
            "at {phase} the init runs a writable file: {:?}",
            fs::read_link(format!("/proc/{}/exe", rt.pid(&id)))
        );
        rt.run_ok(&["delete", "--force", &id]);
    }
    copy.assert_intact(&Value::Null);
}

/// A position-independent ELF whose interpreter is /proc/self/exe, so the kernel maps into the
/// new process whatever its exec-ing process runs, and starts that. Its TLS program header is
/// the runtime's own: glibc in the static runtime binary, started as an interpreter, reads the
/// program's headers for it, and with them sets up thread-local storage as usual and runs the
/// runtime's main instead of crashing at once.
fn interpreted_by_self_exe(runtime: &[u8]) -> Vec<u8> {
    let u16_at = |at: usize| u16::from_le_bytes(runtime[at..at + 2].try_into().unwrap()) as usize;
    let u64_at = |at: usize| u64::from_le_bytes(runtime[at..at + 8].try_into().unwrap()) as usize;
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    let tls = (0..phnum)
        .map(|i| &runtime[phoff + i * phentsize..phoff + (i + 1) * phentsize])
        .find(|ph| u32::from_le_bytes(ph[0..4].try_into().unwrap()) == 7)
        .expect("the runtime binary has a PT_TLS header");

    let interp = b"/proc/self/exe\0";
    let (ehsize, phsize) = (64u64, 56u64);
    let interp_at = ehsize + 3 * phsize;
    let size = interp_at + interp.len() as u64;
    let phdr = |kind: u32, flags: u32, offset: u64, filesz: u64, align: u64| {
        let mut h = Vec::new();
        for v in [kind, flags] {
            h.extend(v.to_le_bytes());
        }
        for v in [offset, offset, offset, filesz, filesz, align] {
            h.extend(v.to_le_bytes());
        }
        h
    };
    let mut elf = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    elf.extend(3u16.to_le_bytes()); // ET_DYN
    elf.extend(62u16.to_le_bytes()); // EM_X86_64
    elf.extend(1u32.to_le_bytes());
    for v in [0u64, ehsize, 0] {
        elf.extend(v.to_le_bytes()); // entry, phoff, shoff
    }
    elf.extend(0u32.to_le_bytes());
    for v in [ehsize as u16, phsize as u16, 3, 0, 0, 0] {
        elf.extend(v.to_le_bytes());
    }
    elf.extend(phdr(1, 4, 0, size, 0x1000)); // PT_LOAD of the whole file, read-only
    elf.extend(phdr(3, 4, interp_at, interp.len() as u64, 1)); // PT_INTERP
    elf.extend(tls);
    elf.extend(interp);
    assert_eq!(elf.len() as u64, size);
    elf
}

#[test]
fn a_binary_on_a_read_only_mount_runs_as_it_is() {
    // The zero-cost install: no copy, no re-exec, the init's exe is the installed file.
    let copy = RuntimeCopy::new();
    let _ro = ReadOnlyBind::new(&copy.dir);
    let rt = Runtime::new();
    let b = Bundle::new();
    let id = unique_id("ro-install");
    let created = copy
        .cmd(&rt)
        .args(["create", "--bundle", b.path().to_str().unwrap(), &id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(created.success(), "create failed");
    let exe = fs::read_link(format!("/proc/{}/exe", rt.pid(&id)));
    rt.run_ok(&["delete", "--force", &id]);
    assert_eq!(exe.unwrap(), copy.bin);
}

/// `dir` bound read-only onto itself, until dropped.
struct ReadOnlyBind(PathBuf);

impl ReadOnlyBind {
    fn new(dir: &std::path::Path) -> ReadOnlyBind {
        let mount = |opts: &str| {
            let ok = Command::new("mount").args(["-o", opts]).arg(dir).arg(dir).status();
            assert!(ok.unwrap().success(), "mount -o {opts} {}", dir.display());
        };
        mount("bind");
        let bind = ReadOnlyBind(dir.to_path_buf());
        mount("remount,bind,ro");
        bind
    }
}

impl Drop for ReadOnlyBind {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}
