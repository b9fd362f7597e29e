//! linux.seccomp, tested on the module itself: `compile` in the test process (as the runtime
//! does before its clone), then `fork`, and in the child only `install` and raw syscalls, whose
//! results go back over a pipe as fixed-size records (write(2) and _exit(2): nothing that could
//! deadlock in a fork of the multi-threaded test harness).
//!
//! Needs root for nothing but the test that drops to nobody; the filters only affect the child.

use oci_spec::runtime::LinuxSeccomp;
use scrun::process::seccomp::{self, Filter};
use serde_json::{json, Value};
use std::ffi::CString;
use std::time::Instant;

const EPERM: i32 = libc::EPERM;
const ENOSYS: i32 = libc::ENOSYS;
const X32_BIT: i64 = 0x4000_0000;
const SPEC_ALLOW: u64 = 1 << 2;

fn profile(v: Value) -> LinuxSeccomp {
    seccomp::parse(&v).expect("test profile parses")
}

/// Docker's default profile as dockerd sends it on amd64 with its default capabilities: moby's
/// profiles/seccomp/default.json (mid 2026) with `archMap`, `includes` and `excludes` applied.
fn docker_default() -> LinuxSeccomp {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seccomp-docker-default.json"
    );
    let text = std::fs::read_to_string(path).expect("read docker's profile fixture");
    profile(serde_json::from_str(&text).expect("fixture is JSON"))
}

/// One syscall made by the child: the native (x86_64 or x32) entry, or i386 through `int 0x80`.
#[derive(Clone, Copy)]
enum Call {
    Sys(i64, [u64; 6]),
    I386(u32, [u32; 3]),
}

fn sys(nr: i64, args: &[u64]) -> Call {
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    Call::Sys(nr, a)
}

#[derive(Clone, Copy, Default)]
struct Setup {
    no_new_privs: bool,
    drop_to_nobody: bool,
}

const NNP: Setup = Setup {
    no_new_privs: true,
    drop_to_nobody: false,
};

#[derive(Debug)]
struct Outcome {
    /// (return value, errno) of each call that returned.
    results: Vec<(i64, i32)>,
    install_error: Option<String>,
    exit_code: Option<i32>,
    signal: Option<i32>,
}

impl Outcome {
    fn ok(&self) -> &Self {
        assert_eq!(self.install_error, None, "install failed: {self:?}");
        assert_eq!(self.exit_code, Some(0), "child did not exit 0: {self:?}");
        self
    }

    fn errno(&self, i: usize) -> i32 {
        let (ret, errno) = self.results[i];
        assert_eq!(
            ret, -1,
            "call {i} succeeded ({ret}) where an error was expected: {self:?}"
        );
        errno
    }

    fn value(&self, i: usize) -> i64 {
        let (ret, errno) = self.results[i];
        assert!(
            ret >= 0,
            "call {i} failed with errno {errno} where success was expected: {self:?}"
        );
        ret
    }
}

/// i386 syscall from this 64-bit process: the kernel sees AUDIT_ARCH_I386 and i386 numbers.
unsafe fn int80(nr: u32, args: [u32; 3]) -> i64 {
    let ret: i32;
    // rbx cannot be an asm operand: swap the first argument in and out around the trap.
    std::arch::asm!(
        "xchg {a1:r}, rbx",
        "int 0x80",
        "xchg {a1:r}, rbx",
        a1 = inout(reg) args[0] as u64 => _,
        inlateout("eax") nr as i32 => ret,
        in("ecx") args[1],
        in("edx") args[2],
        out("r8") _, out("r9") _, out("r10") _, out("r11") _,
    );
    ret as i64
}

const INSTALL_FAILED: i64 = i64::MIN;

/// Fork; in the child: optional setup, `install`, the calls, `_exit(0)`.
fn run(filter: Option<&Filter>, setup: Setup, calls: &[Call]) -> Outcome {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        unsafe { child(fds[1], filter, setup, calls) }
    }
    unsafe { libc::close(fds[1]) };
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = unsafe { libc::read(fds[0], buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        bytes.extend_from_slice(&buf[..n as usize]);
    }
    unsafe { libc::close(fds[0]) };
    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    let mut out = Outcome {
        results: Vec::new(),
        install_error: None,
        exit_code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
    };
    if bytes.len() >= 8 && i64::from_ne_bytes(bytes[..8].try_into().unwrap()) == INSTALL_FAILED {
        out.install_error = Some(String::from_utf8_lossy(&bytes[8..]).into_owned());
        return out;
    }
    for rec in bytes.chunks_exact(16) {
        let ret = i64::from_ne_bytes(rec[..8].try_into().unwrap());
        let errno = i32::from_ne_bytes(rec[8..12].try_into().unwrap());
        out.results.push((ret, errno));
    }
    out
}

unsafe fn child(w: i32, filter: Option<&Filter>, setup: Setup, calls: &[Call]) -> ! {
    if setup.drop_to_nobody {
        // Raw syscalls change only this (the only) thread; CAP_SYS_ADMIN goes with uid 0.
        libc::syscall(libc::SYS_setresgid, 65534, 65534, 65534);
        libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534);
    }
    if setup.no_new_privs {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    }
    if let Some(filter) = filter {
        if let Err(e) = seccomp::install(filter) {
            // The failure path may allocate: glibc's fork leaves malloc usable in the child.
            let mut msg = INSTALL_FAILED.to_ne_bytes().to_vec();
            msg.extend_from_slice(format!("{e:#}").as_bytes());
            libc::write(w, msg.as_ptr().cast(), msg.len());
            libc::_exit(3);
        }
    }
    for call in calls {
        *libc::__errno_location() = 0;
        let (ret, errno) = match *call {
            Call::Sys(nr, a) => {
                let r = libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
                if r == 0 && (nr == libc::SYS_clone) {
                    libc::_exit(0); // the grandchild of a successful clone
                }
                (r, *libc::__errno_location())
            }
            Call::I386(nr, a) => {
                let r = int80(nr, a);
                if (-4095..0).contains(&r) {
                    (-1, -r as i32)
                } else {
                    (r, 0)
                }
            }
        };
        let mut rec = [0u8; 16];
        rec[..8].copy_from_slice(&ret.to_ne_bytes());
        rec[8..12].copy_from_slice(&errno.to_ne_bytes());
        libc::write(w, rec.as_ptr().cast(), rec.len());
    }
    libc::_exit(0)
}

fn compile(v: Value) -> Filter {
    seccomp::compile(&profile(v)).expect("profile compiles")
}

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// The calls every allow-list profile here must permit for the child to report and exit.
const REPORTING: [&str; 2] = ["write", "exit_group"];

/// Whether this kernel runs `int 0x80` from a 64-bit process (IA32 emulation).
fn has_i386() -> bool {
    let out = run(None, Setup::default(), &[Call::I386(20, [0; 3])]);
    out.exit_code == Some(0) && out.results.first().is_some_and(|r| r.0 > 0)
}

#[test]
fn errno_with_errno_ret_and_eperm_default() {
    let filter = compile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}
        ]
    }));
    let dir = cstr("/nonexistent-scrun-seccomp/x");
    let p = dir.as_ptr() as u64;
    let out = run(
        Some(&filter),
        NNP,
        &[
            sys(libc::SYS_mkdir, &[p, 0o755]),
            sys(libc::SYS_rmdir, &[p]),
            sys(libc::SYS_getpid, &[]),
            sys(libc::SYS_mkdirat, &[libc::AT_FDCWD as u64, p, 0o755]),
        ],
    );
    out.ok();
    assert_eq!(out.errno(0), 38, "mkdir: errnoRet 38");
    assert_eq!(out.errno(1), EPERM, "rmdir: ERRNO without errnoRet is EPERM");
    assert!(out.value(2) > 0, "getpid is allowed");
    assert_eq!(
        out.errno(3),
        libc::ENOENT,
        "mkdirat is not in the profile: the kernel answers"
    );
}

#[test]
fn default_errno_ret_with_allow_list() {
    let mut names: Vec<&str> = REPORTING.to_vec();
    names.extend(["getpid", "getppid", "openat", "close", "uname"]);
    let filter = compile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 13,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]
    }));
    let null = cstr("/dev/null");
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    let out = run(
        Some(&filter),
        NNP,
        &[
            sys(libc::SYS_getpid, &[]),
            sys(libc::SYS_getppid, &[]),
            sys(
                libc::SYS_openat,
                &[libc::AT_FDCWD as u64, null.as_ptr() as u64, libc::O_RDONLY as u64],
            ),
            sys(libc::SYS_uname, &[&mut uts as *mut _ as u64]),
            sys(libc::SYS_mkdir, &[null.as_ptr() as u64, 0]),
            sys(libc::SYS_keyctl, &[0, 0, 0, 0, 0]),
            // Above every syscall the profile names: ENOSYS, as runc's stub answers.
            sys(1000, &[]),
        ],
    );
    out.ok();
    assert!(out.value(0) > 0 && out.value(1) > 0, "getpid/getppid allowed");
    assert!(out.value(2) >= 0, "openat allowed");
    assert_eq!(out.value(3), 0, "uname allowed");
    assert_eq!(out.errno(4), libc::EACCES, "mkdir: defaultErrnoRet 13");
    assert_eq!(out.errno(5), libc::EACCES, "keyctl: defaultErrnoRet 13");
    assert_eq!(out.errno(6), ENOSYS, "unknown newer syscall: ENOSYS");
}

#[test]
fn kill_process_kills_with_sigsys() {
    let filter = compile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]
    }));
    let out = run(
        Some(&filter),
        NNP,
        &[
            sys(libc::SYS_getpid, &[]),
            sys(libc::SYS_getppid, &[]),
            sys(libc::SYS_getpid, &[]),
        ],
    );
    assert_eq!(out.install_error, None);
    assert_eq!(out.signal, Some(libc::SIGSYS), "{out:?}");
    assert_eq!(out.results.len(), 1, "only the call before getppid returned: {out:?}");
}

#[test]
fn kill_thread_and_trap_end_a_single_threaded_process_with_sigsys() {
    for action in ["SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP"] {
        let filter = compile(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": action}]
        }));
        let out = run(Some(&filter), NNP, &[sys(libc::SYS_getppid, &[])]);
        assert_eq!(out.signal, Some(libc::SIGSYS), "{action}: {out:?}");
        assert!(out.results.is_empty(), "{action}: {out:?}");
    }
}

#[test]
fn log_allows_and_trace_without_tracer_is_enosys() {
    let filter = compile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["getppid"], "action": "SCMP_ACT_LOG"},
            {"names": ["getpgrp"], "action": "SCMP_ACT_TRACE", "errnoRet": 7}
        ]
    }));
    let out = run(
        Some(&filter),
        NNP,
        &[sys(libc::SYS_getppid, &[]), sys(libc::SYS_getpgrp, &[])],
    );
    out.ok();
    assert!(out.value(0) > 0, "SCMP_ACT_LOG lets the call through");
    assert_eq!(
        out.errno(1),
        ENOSYS,
        "SCMP_ACT_TRACE with no tracer: the kernel answers ENOSYS"
    );
}

#[test]
fn arg_condition_eq_allows_one_value_and_denies_another() {
    let filter = compile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": REPORTING, "action": "SCMP_ACT_ALLOW"},
            // Two conditions on one argument are ORed (separate rules), as in runc.
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 0xffff_ffffu64, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}
            ]}
        ]
    }));
    let out = run(
        Some(&filter),
        NNP,
        &[
            sys(libc::SYS_personality, &[0xffff_ffff]),
            sys(libc::SYS_personality, &[0]),
            sys(libc::SYS_personality, &[libc::ADDR_NO_RANDOMIZE as u64]),
        ],
    );
    out.ok();
    assert!(out.value(0) >= 0, "personality(0xffffffff) (query) allowed");
    assert!(out.value(1) >= 0, "personality(PER_LINUX) allowed");
    assert_eq!(out.errno(2), EPERM, "personality(ADDR_NO_RANDOMIZE) denied");
}

#[test]
fn arg_condition_masked_eq_uses_value_as_mask_and_value_two_as_datum() {
    let filter = compile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "syscalls": [
            {"names": REPORTING, "action": "SCMP_ACT_ALLOW"},
            // getpriority(which, who) allowed only when (which & 3) == 2, i.e. PRIO_USER.
            {"names": ["getpriority"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 3, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}
            ]},
            // AND of conditions on two arguments: kill(0, 0) only.
            {"names": ["kill"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}
            ]}
        ]
    }));
    let out = run(
        Some(&filter),
        NNP,
        &[
            sys(libc::SYS_getpriority, &[libc::PRIO_USER as u64, 0]),
            sys(libc::SYS_getpriority, &[libc::PRIO_PROCESS as u64, 0]),
            sys(libc::SYS_kill, &[0, 0]),
            sys(libc::SYS_kill, &[0, libc::SIGCONT as u64]),
        ],
    );
    out.ok();
    assert!(out.value(0) >= 0, "getpriority(PRIO_USER) allowed");
    assert_eq!(out.errno(1), EPERM, "getpriority(PRIO_PROCESS) denied");
    assert_eq!(out.value(2), 0, "kill(0, 0) allowed");
    assert_eq!(out.errno(3), EPERM, "kill(0, SIGCONT): second condition fails");
}

#[test]
fn docker_default_profile_blocks_keyctl_and_unshare() {
    let spec = docker_default();
    let filter = seccomp::compile(&spec).expect("docker's default profile compiles");
    assert!(filter.instructions() < 4096);
    let missing = cstr("/nonexistent-scrun-seccomp");
    let mp = missing.as_ptr() as u64;
    let calls = [
        sys(libc::SYS_getpid, &[]),                                    // 0
        sys(libc::SYS_keyctl, &[0, 0, 0, 0, 0]),                       // 1
        sys(libc::SYS_unshare, &[libc::CLONE_NEWUSER as u64]),         // 2
        sys(libc::SYS_personality, &[0xffff_ffff]),                    // 3
        sys(libc::SYS_personality, &[libc::ADDR_NO_RANDOMIZE as u64]), // 4
        sys(libc::SYS_clone, &[libc::SIGCHLD as u64, 0, 0, 0, 0]),     // 5: MASKED_EQ lets it through
        sys(
            libc::SYS_clone,
            &[(libc::CLONE_NEWUSER | libc::SIGCHLD) as u64, 0, 0, 0, 0],
        ), // 6
        sys(libc::SYS_clone3, &[0, 0]),                                // 7: errnoRet 38
        sys(libc::SYS_socket, &[libc::AF_UNIX as u64, libc::SOCK_STREAM as u64, 0]), // 8
        sys(libc::SYS_socket, &[libc::AF_VSOCK as u64, libc::SOCK_STREAM as u64, 0]), // 9
        sys(libc::SYS_fchmodat2, &[libc::AT_FDCWD as u64, mp, 0, 0]),  // 10
        sys(1000, &[]),                                                // 11
        sys(libc::SYS_mount, &[0, 0, 0, 0, 0]),                        // 12
        sys(libc::SYS_wait4, &[u64::MAX, 0, 0, 0]),                    // 13: reap the clone
        sys(X32_BIT | 250, &[0, 0, 0, 0, 0]),                          // 14: x32 keyctl
        sys(X32_BIT | 39, &[]),                                        // 15: x32 getpid
        sys(libc::SYS_mseal, &[0, 0, 0]),                              // 16: unknown to libseccomp 2.5.4
    ];
    let out = run(Some(&filter), NNP, &calls);
    out.ok();
    assert!(out.value(0) > 0, "getpid works");
    assert_eq!(out.errno(1), EPERM, "keyctl blocked (defaultErrnoRet 1)");
    assert_eq!(out.errno(2), EPERM, "unshare blocked");
    assert!(out.value(3) >= 0, "personality query allowed");
    assert_eq!(out.errno(4), EPERM, "personality(ADDR_NO_RANDOMIZE) blocked");
    assert!(out.value(5) > 0, "clone without namespace flags allowed");
    assert_eq!(out.errno(6), EPERM, "clone(CLONE_NEWUSER) blocked by MASKED_EQ");
    assert_eq!(out.errno(7), ENOSYS, "clone3: errnoRet 38 so glibc falls back to clone");
    assert!(out.value(8) >= 0, "socket(AF_UNIX) allowed");
    assert_eq!(out.errno(9), EPERM, "socket(AF_VSOCK) blocked");
    assert_eq!(out.errno(10), libc::ENOENT, "fchmodat2 allowed: the kernel answers");
    assert_eq!(out.errno(11), ENOSYS, "syscall 1000: ENOSYS, not EPERM");
    assert_eq!(out.errno(12), EPERM, "mount blocked");
    assert!(out.value(13) > 0, "wait4 reaped the clone");
    assert_eq!(out.errno(14), EPERM, "x32 keyctl blocked");
    assert_ne!(
        out.results[15].1, EPERM,
        "x32 getpid not blocked (ENOSYS if the kernel lacks x32)"
    );
    let mseal = out.results[16].1;
    assert!(
        mseal != EPERM && mseal != ENOSYS,
        "mseal allowed by scrun's stub: the kernel answers ({mseal})"
    );

    if !has_i386() {
        eprintln!("int 0x80 unavailable (no IA32 emulation): i386 checks skipped");
        return;
    }
    let out = run(
        Some(&filter),
        NNP,
        &[
            Call::I386(20, [0; 3]),               // getpid
            Call::I386(288, [0; 3]),              // keyctl
            Call::I386(310, [0x1000_0000, 0, 0]), // unshare(CLONE_NEWUSER)
            Call::I386(458, [0; 3]),              // listmount(NULL, NULL, 0): unknown to libseccomp 2.5.4
            Call::I386(1000, [0; 3]),
            Call::I386(26, [0; 3]), // ptrace: allowed (kernel >= 4.8)
        ],
    );
    out.ok();
    assert!(out.value(0) > 0, "i386 getpid works");
    assert_eq!(out.errno(1), EPERM, "i386 keyctl blocked");
    assert_eq!(out.errno(2), EPERM, "i386 unshare blocked");
    let listmount = out.errno(3);
    assert!(
        listmount != EPERM && listmount != ENOSYS,
        "i386 listmount allowed by scrun's stub ({listmount})"
    );
    assert_eq!(out.errno(4), ENOSYS, "i386 syscall 1000: ENOSYS");
    assert_ne!(out.results[5].1, EPERM, "i386 ptrace allowed");
}

#[test]
fn deny_list_blocks_a_syscall_newer_than_libseccomp() {
    // A permissive profile that denies mseal: libseccomp 2.5.4 does not know it, scrun's stub does.
    let filter = compile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mseal", "mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95}]
    }));
    let out = run(
        Some(&filter),
        NNP,
        &[sys(462, &[0, 0, 0]), sys(libc::SYS_getpid, &[]), sys(1000, &[])],
    );
    out.ok();
    assert_eq!(out.errno(0), libc::EOPNOTSUPP, "mseal denied with errnoRet 95");
    assert!(out.value(1) > 0);
    assert_eq!(
        out.errno(2),
        ENOSYS,
        "permissive default: no stub, the kernel's own ENOSYS"
    );
}

#[test]
fn filter_flags() {
    let base = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]});
    let with = |flags: Value| {
        let mut v = base.clone();
        v["flags"] = flags;
        seccomp::compile(&profile(v))
    };
    // Absent: SPEC_ALLOW as runc (this kernel has it); explicit []: none.
    assert_eq!(compile(base.clone()).flags(), SPEC_ALLOW);
    assert_eq!(with(json!([])).unwrap().flags(), 0);
    let all = with(json!([
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
    ]))
    .unwrap();
    assert_eq!(all.flags(), 0b111);
    let d = cstr("/nonexistent-scrun-seccomp");
    let out = run(Some(&all), NNP, &[sys(libc::SYS_mkdir, &[d.as_ptr() as u64, 0])]);
    out.ok();
    assert_eq!(out.errno(0), EPERM);
    let err = with(json!(["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("linux.seccomp.flags[0]"), "{err}");
}

#[test]
fn install_without_no_new_privs_or_cap_sys_admin_says_so() {
    let filter = compile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}));
    let out = run(
        Some(&filter),
        Setup {
            no_new_privs: false,
            drop_to_nobody: true,
        },
        &[],
    );
    let err = out
        .install_error
        .expect("install must fail without no_new_privs and CAP_SYS_ADMIN");
    assert!(
        err.contains("seccomp filter needs no_new_privs or CAP_SYS_ADMIN"),
        "{err}"
    );
    // The same as nobody with no_new_privs works; as root without it too (CAP_SYS_ADMIN).
    run(
        Some(&filter),
        Setup {
            no_new_privs: true,
            drop_to_nobody: true,
        },
        &[],
    )
    .ok();
    if unsafe { libc::geteuid() } == 0 {
        run(Some(&filter), Setup::default(), &[]).ok();
    }
}

#[test]
fn unknown_action_string_names_the_field() {
    let err = seccomp::parse(&json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mkdir"], "action": "SCMP_ACT_FOO"}
        ]
    }))
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("linux.seccomp.syscalls[1].action: "), "{err}");
    assert!(err.contains("SCMP_ACT_FOO"), "{err}");

    let err = seccomp::parse(&json!({"defaultAction": "SCMP_ACT_NOPE"}))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("linux.seccomp.defaultAction: "), "{err}");
    let err = seccomp::parse(&json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]}))
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("linux.seccomp.syscalls[0].args[0].op: "), "{err}");
    let err = seccomp::parse(&json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("linux.seccomp.architectures[0]: "), "{err}");
}

#[test]
fn malformed_rules_name_the_field() {
    let err = |v: Value| seccomp::compile(&profile(v)).unwrap_err().to_string();
    let e = err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["mkdir"], "action": "SCMP_ACT_KILL_PROCESS", "errnoRet": 5}]}));
    assert!(e.starts_with("linux.seccomp.syscalls[1].errnoRet: "), "{e}");
    let e = err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]}));
    assert!(e.starts_with("linux.seccomp.syscalls[0].args[0].index: "), "{e}");
    let e = err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getpid", ""], "action": "SCMP_ACT_ERRNO"}]}));
    assert!(e.starts_with("linux.seccomp.syscalls[0].names[1]: "), "{e}");
    let e = err(json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
    assert_eq!(
        e,
        "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"
    );
    let e = err(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000}));
    assert!(e.starts_with("linux.seccomp.defaultErrnoRet: "), "{e}");
    let e = err(json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}));
    assert!(e.starts_with("linux.seccomp.defaultErrnoRet: "), "{e}");
}

#[test]
fn unknown_syscall_names_are_skipped() {
    let filter = compile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["write", "exit_group", "getpid", "no_such_syscall_xyz", "_llseek", "riscv_flush_icache"],
                      "action": "SCMP_ACT_ALLOW"}]
    }));
    let out = run(Some(&filter), NNP, &[sys(libc::SYS_getpid, &[])]);
    out.ok();
    assert!(out.value(0) > 0);
}

#[test]
fn summary_names_default_action_and_rule_count() {
    let s = seccomp::summary(&docker_default());
    assert!(s.starts_with("default SCMP_ACT_ERRNO(1), "), "{s}");
    let rules = docker_default().syscalls().as_ref().unwrap().len();
    assert!(s.contains(&format!("{rules} rules")), "{s}");
    assert!(s.contains("arches x86_64,x86,x32"), "{s}");
    let s = seccomp::summary(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": []})));
    assert_eq!(
        s,
        "default SCMP_ACT_ALLOW, 0 rules (0 with argument conditions) naming 0 syscalls, arches native, flags none"
    );
}

#[test]
fn docker_profile_compile_time() {
    let spec = docker_default();
    let _ = seccomp::compile(&spec).unwrap(); // warm up
    let runs = 20;
    let t = Instant::now();
    let mut len = 0;
    for _ in 0..runs {
        len = seccomp::compile(&spec).unwrap().instructions();
    }
    let each = t.elapsed() / runs;
    eprintln!(
        "compile(docker default, {} rules) = {:?} per call, {len} BPF instructions",
        spec.syscalls().as_ref().unwrap().len(),
        each
    );
    assert!(each.as_millis() < 250, "compile took {each:?}");
}

#[test]
fn compiled_filters_are_cached_and_a_bad_cache_is_recompiled() {
    let dir = std::env::temp_dir().join(format!("scrun-seccomp-cache-{}", std::process::id()));
    let fresh = seccomp::compile(&docker_default()).unwrap();
    let first = seccomp::compile_cached(&docker_default(), &dir).unwrap();
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "one cache file per profile");
    let cached = seccomp::compile_cached(&docker_default(), &dir).unwrap();
    for f in [&first, &cached] {
        assert_eq!(
            (f.instructions(), f.flags(), f.stub_instructions()),
            (fresh.instructions(), fresh.flags(), fresh.stub_instructions())
        );
    }
    // A cache file that does not hold this very profile is never used.
    std::fs::write(&files[0], b"scrun-bpf-1\ngarbage").unwrap();
    let again = seccomp::compile_cached(&docker_default(), &dir).unwrap();
    assert_eq!(again.instructions(), fresh.instructions());
    std::fs::remove_dir_all(dir).unwrap();
}
