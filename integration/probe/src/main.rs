//! scrun-probe: a tiny static program that runs inside test containers and
//! tells the tests what the container looks like from the inside.
//!
//! It has to work in a rootfs that holds nothing but itself, so it never
//! relies on /etc, shared libraries or NSS, and anything it cannot read (no
//! /proc, no /sys, no /dev) is reported as null instead of failing.

mod hook;
mod orphan;
mod process_fields;
mod steal;

use serde_json::{json, Value};
use std::ffi::CStr;
use std::fs;
use std::io::{self, Write};
use std::mem::zeroed;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::ptr::null_mut;
use std::str::FromStr;
use std::time::Duration;

const USAGE: &str = "usage: probe [report | hello | exit N | sleep SECS | ignore-term SECS | \
wait-signal | cat | write PATH [TEXT] | env PATH | mkdir PATH | alloc MIB | read PATH | open PATH r|w|rw | ls PATH | stat PATH | \
readlink PATH | mount-tmpfs PATH | kill-self SIG | clocks | steal-exe exe|map SECS | hook-dump PATH | orphan]";

/// The signals ignored when the probe was exec'd, as SigIgn's bits: read before Rust's
/// start-up ignores SIGPIPE (from then on SigIgn always shows it), by a constructor.
static IGNORED_AT_EXEC: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[used]
#[link_section = ".init_array"]
static READ_IGNORED_AT_EXEC: extern "C" fn() = read_ignored_at_exec;

extern "C" fn read_ignored_at_exec() {
    let mut mask = 0u64;
    for sig in 1..=64 {
        let mut old: libc::sigaction = unsafe { zeroed() };
        // glibc refuses its own two (32, 33): not ignored, as far as a program can tell.
        if unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) } == 0 && old.sa_sigaction == libc::SIG_IGN {
            mask |= 1 << (sig - 1);
        }
    }
    IGNORED_AT_EXEC.store(mask, std::sync::atomic::Ordering::Relaxed);
}

fn main() {
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_else(|| usage());
    let code = match args.get(1).map(String::as_str).unwrap_or("report") {
        "report" => {
            let mut text = serde_json::to_string(&report(&args)).expect("JSON of a Value");
            text.push('\n');
            out(text.as_bytes());
            0
        }
        "hello" => {
            out(b"Hello from a scratch container!\n");
            0
        }
        "exit" => parse(arg(2)),
        "sleep" => {
            sleep(arg(2));
            0
        }
        "ignore-term" => {
            unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
            sleep(arg(2));
            0
        }
        "wait-signal" => wait_signal(),
        "cat" => match io::copy(&mut io::stdin().lock(), &mut io::stdout().lock()) {
            Ok(_) => 0,
            Err(e) => fail(&e),
        },
        "write" => match fs::write(arg(2), args.get(3).map(String::as_str).unwrap_or("")) {
            Ok(()) => {
                out(b"ok\n");
                0
            }
            Err(e) => fail(&e),
        },
        "alloc" => {
            // Touch every page so the memory is really charged (an OOM test's allocation).
            let mib: usize = parse(arg(2));
            let mut chunks = Vec::new();
            for _ in 0..mib {
                chunks.push(vec![1u8; 1 << 20]);
            }
            out(format!("allocated {} MiB\n", chunks.len()).as_bytes());
            0
        }
        "env" => {
            let env: String = std::env::vars_os()
                .map(|(k, v)| format!("{}={}\n", k.to_string_lossy(), v.to_string_lossy()))
                .collect();
            match fs::write(arg(2), env) {
                Ok(()) => 0,
                Err(e) => fail(&e),
            }
        }
        "mkdir" => match fs::create_dir(arg(2)) {
            Ok(()) => {
                out(b"ok\n");
                0
            }
            Err(e) => fail(&e),
        },
        "read" => match fs::read(arg(2)) {
            Ok(data) => {
                out(&data);
                0
            }
            Err(e) => fail(&e),
        },
        // Opens without reading: the device cgroup check is on open, and a device such as
        // /dev/kmsg would block a read.
        "open" => {
            let mode = arg(3);
            let result = fs::OpenOptions::new()
                .read(mode.contains('r'))
                .write(mode.contains('w'))
                .open(arg(2));
            match result {
                Ok(_) => {
                    out(b"ok\n");
                    0
                }
                Err(e) => fail(&e),
            }
        }
        "ls" => match list_dir(arg(2)) {
            Ok(names) => {
                out(names.iter().map(|n| format!("{n}\n")).collect::<String>().as_bytes());
                0
            }
            Err(e) => fail(&e),
        },
        "stat" => match fs::metadata(arg(2)) {
            Ok(md) => {
                out(format!("{}\n", metadata_json(&md)).as_bytes());
                0
            }
            Err(e) => fail(&e),
        },
        "readlink" => match fs::read_link(arg(2)) {
            Ok(target) => {
                out(format!("{}\n", target.display()).as_bytes());
                0
            }
            Err(e) => fail(&e),
        },
        "mount-tmpfs" => match mount_tmpfs(arg(2)) {
            Ok(()) => {
                out(b"ok\n");
                0
            }
            Err(e) => fail(&e),
        },
        "kill-self" => kill_self(parse(arg(2))),
        "flip" => flip(arg(2), arg(3)),
        "clocks" => {
            out(format!("{}\n", clocks()).as_bytes());
            0
        }
        "steal-exe" => {
            out(format!("{}\n", steal::steal(arg(2), parse(arg(3)))).as_bytes());
            0
        }
        "hook-dump" => hook::dump(arg(2)),
        "orphan" => orphan::orphan(),
        _ => usage(),
    };
    let _ = io::stdout().flush();
    std::process::exit(code);
}

fn usage() -> ! {
    eprintln!("{USAGE}");
    std::process::exit(2);
}

fn parse<T: FromStr>(s: &str) -> T {
    s.parse().unwrap_or_else(|_| usage())
}

/// Write errors (a closed pipe, say) are ignored: the exit code is what the
/// tests look at, and a panic would hide it.
fn out(data: &[u8]) {
    let _ = io::stdout().write_all(data);
}

fn fail(e: &io::Error) -> i32 {
    let code = e.raw_os_error().unwrap_or(0);
    let text = e.to_string();
    let text = text.trim_end_matches(&format!(" (os error {code})")).to_string();
    out(format!("error: {text} (errno {code})\n").as_bytes());
    1
}

/// A tmpfs mounted from inside the container: a propagation test looks for it on the host.
fn mount_tmpfs(path: &str) -> io::Result<()> {
    let target = std::ffi::CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: NUL-terminated strings and no data.
    let r = unsafe { libc::mount(c"tmpfs".as_ptr(), target.as_ptr(), c"tmpfs".as_ptr(), 0, std::ptr::null()) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn sleep(secs: &str) {
    std::thread::sleep(Duration::from_secs_f64(parse(secs)));
}

/// The signals are blocked and collected with sigwait, so none can slip in
/// before we wait, and a blocked signal still reaches a pid-namespace init,
/// which the kernel otherwise shields from signals left at their default
/// disposition. The handlers never run; they are installed so that a test can
/// see the probe is ready: the signals show up in SigCgt of /proc/PID/status
/// (SigBlk does not help, sigwait unblocks them while it waits).
fn wait_signal() -> i32 {
    extern "C" fn unused(_: libc::c_int) {}
    const WAITED: [libc::c_int; 4] = [libc::SIGUSR1, libc::SIGINT, libc::SIGTERM, libc::SIGHUP];
    unsafe {
        let mut set: libc::sigset_t = zeroed();
        libc::sigemptyset(&mut set);
        for sig in WAITED {
            libc::sigaddset(&mut set, sig);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, null_mut());
        for sig in WAITED {
            libc::signal(sig, unused as extern "C" fn(libc::c_int) as libc::sighandler_t);
        }
        let mut sig = 0;
        if libc::sigwait(&set, &mut sig) != 0 {
            return 1;
        }
        out(format!("signal {sig}\n").as_bytes());
    }
    0
}

/// Dies of `sig` so the runtime can report 128+sig. As the init of a pid
/// namespace the kernel discards signals it sends itself (even SIGKILL), so
/// when raise() is not enough, a real CPU fault is produced for the signals
/// one can produce; faults are forced through. Other signals cannot kill a
/// pid-namespace init from inside: the probe then says so and exits 1.
fn kill_self(sig: i32) -> i32 {
    unsafe {
        // A fault must not leave a core file behind or reach the host's core handler.
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, null_mut());
        libc::raise(sig);
        #[cfg(target_arch = "x86_64")]
        match sig {
            libc::SIGSEGV => std::arch::asm!("xor eax, eax", "mov byte ptr [rax], 0", out("eax") _),
            libc::SIGILL => std::arch::asm!("ud2"),
            libc::SIGTRAP => std::arch::asm!("int3"),
            libc::SIGFPE => std::arch::asm!(
                "xor edx, edx", "xor eax, eax", "xor ecx, ecx", "div ecx",
                out("eax") _, out("ecx") _, out("edx") _,
            ),
            _ => {}
        }
    }
    eprintln!(
        "probe: signal {sig} did not kill pid {} (pid namespace init?)",
        unsafe { libc::getpid() }
    );
    1
}

/// `flip DIR SECS`: for SECS seconds, swap DIR/null and DIR/alt over and over with
/// renameat2(RENAME_EXCHANGE), each swap atomic, so that DIR/null is now one, now the other (a
/// container racing the runtime's check of its /dev/null). Prints how many swaps it made.
fn flip(dir: &str, secs: &str) -> i32 {
    let path = |name: &str| std::ffi::CString::new(format!("{dir}/{name}")).unwrap_or_else(|_| usage());
    let (a, b) = (path("null"), path("alt"));
    let until = std::time::Instant::now() + Duration::from_secs_f64(parse(secs));
    let mut swaps = 0u64;
    while std::time::Instant::now() < until {
        // SAFETY: two NUL-terminated paths.
        let r = unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE) };
        if r != 0 {
            return fail(&io::Error::last_os_error());
        }
        swaps += 1;
    }
    out(format!("{swaps} swaps\n").as_bytes());
    0
}

/// The two clocks a time namespace offsets (whole seconds), its offsets and its identity.
fn clocks() -> Value {
    let secs = |clock| unsafe {
        let mut ts: libc::timespec = zeroed();
        (libc::clock_gettime(clock, &mut ts) == 0).then_some(ts.tv_sec)
    };
    json!({
        "monotonic": secs(libc::CLOCK_MONOTONIC),
        "boottime": secs(libc::CLOCK_BOOTTIME),
        "timens_offsets": read_string("/proc/self/timens_offsets"),
        "time_ns": read_link("/proc/self/ns/time"),
    })
}

fn report(args: &[String]) -> Value {
    let status = read_string("/proc/self/status");
    let field = |name: &str| status.as_deref().and_then(|s| status_field(s, name));
    let (hostname, domainname) = uname();
    let nnp = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) };
    let isatty = |fd| unsafe { libc::isatty(fd) == 1 };
    json!({
        "pid": unsafe { libc::getpid() },
        "ppid": unsafe { libc::getppid() },
        "uid": unsafe { libc::getuid() },
        "euid": unsafe { libc::geteuid() },
        "gid": unsafe { libc::getgid() },
        "egid": unsafe { libc::getegid() },
        "groups": groups(),
        "umask": field("Umask"),
        "caps": {
            "bnd": field("CapBnd"),
            "eff": field("CapEff"),
            "prm": field("CapPrm"),
            "inh": field("CapInh"),
            "amb": field("CapAmb"),
        },
        "no_new_privs": (nnp >= 0).then_some(nnp == 1),
        "seccomp": field("Seccomp").and_then(|v| v.parse::<i64>().ok()),
        "signals": {
            "blk": field("SigBlk"),
            "ign": field("SigIgn"),
            "ign_at_exec": format!("{:016x}", IGNORED_AT_EXEC.load(std::sync::atomic::Ordering::Relaxed)),
            "cgt": field("SigCgt"),
        },
        "hostname": hostname,
        "domainname": domainname,
        "cwd": std::env::current_dir().ok().map(|p| p.to_string_lossy().into_owned()),
        "env": std::env::vars_os()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect::<Vec<_>>(),
        "args": args,
        "mounts": mounts(),
        "dev": dev_entries(),
        "etc": {
            "hostname": read_string("/etc/hostname"),
            "hosts": read_string("/etc/hosts"),
            "resolv.conf": read_string("/etc/resolv.conf"),
            "mtab": read_link("/etc/mtab"),
        },
        "fds": fds(),
        "rlimits": rlimits(),
        "oom_score_adj": read_string("/proc/self/oom_score_adj")
            .and_then(|s| s.trim().parse::<i64>().ok()),
        "interfaces": interfaces(),
        "tty": {
            "stdin": isatty(0),
            "stdout": isatty(1),
            "stderr": isatty(2),
            "ttyname": read_link("/proc/self/fd/0"),
            "winsize": winsize(),
        },
        "root_entries": list_dir("/").ok(),
        "proc_mounted": fs_magic(c"/proc") == Some(PROC_SUPER_MAGIC),
        "sysfs_ro": sysfs_ro(),
        "cgroup": read_string("/proc/self/cgroup")
            .map(|s| s.lines().map(String::from).collect::<Vec<_>>()),
        "ns": namespaces(),
        "id_maps": {
            "uid": read_string("/proc/self/uid_map"),
            "gid": read_string("/proc/self/gid_map"),
            "setgroups": read_string("/proc/self/setgroups"),
        },
        "process_fields": process_fields::report(),
    })
}

/// The namespaces the probe is in, as `/proc/self/ns` names them ("net:[4026531840]"): a test
/// compares them with another process's to tell which ones are shared.
fn namespaces() -> Value {
    let kinds = ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"];
    kinds
        .iter()
        .map(|k| (k.to_string(), json!(read_link(format!("/proc/self/ns/{k}")))))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const SYSFS_MAGIC: i64 = 0x6265_6572;

fn read_string(path: &str) -> Option<String> {
    fs::read(path).ok().map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Rows and columns of the terminal on stdin, if it is one.
fn winsize() -> Option<[u16; 2]> {
    let mut ws: libc::winsize = unsafe { zeroed() };
    // SAFETY: TIOCGWINSZ fills one winsize struct.
    (unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } == 0).then_some([ws.ws_row, ws.ws_col])
}

fn read_link(path: impl AsRef<Path>) -> Option<String> {
    fs::read_link(path).ok().map(|p| p.to_string_lossy().into_owned())
}

fn list_dir(path: &str) -> io::Result<Vec<String>> {
    let mut names = fs::read_dir(path)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect::<Vec<_>>();
    names.sort();
    Ok(names)
}

/// A "Name:\tvalue" line of /proc/self/status.
fn status_field(status: &str, name: &str) -> Option<String> {
    status.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == name).then(|| value.trim().to_string())
    })
}

fn cstr_field(field: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = field.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn uname() -> (Option<String>, Option<String>) {
    let mut u: libc::utsname = unsafe { zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return (None, None);
    }
    (Some(cstr_field(&u.nodename)), Some(cstr_field(&u.domainname)))
}

fn groups() -> Option<Vec<libc::gid_t>> {
    let n = unsafe { libc::getgroups(0, null_mut()) };
    if n < 0 {
        return None;
    }
    let mut gids = vec![0; n as usize];
    let n = unsafe { libc::getgroups(n, gids.as_mut_ptr()) };
    if n < 0 {
        return None;
    }
    gids.truncate(n as usize);
    Some(gids)
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut outb = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                outb.push(d.iter().fold(0u8, |acc, c| acc.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            (c, _) => {
                outb.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&outb).into_owned()
}

fn mounts() -> Option<Vec<Value>> {
    let text = read_string("/proc/self/mountinfo")?;
    Some(text.lines().filter_map(mountinfo_line).collect())
}

fn mountinfo_line(line: &str) -> Option<Value> {
    // The number of optional fields varies, so split at the " - " separator first.
    let (left, right) = line.split_once(" - ")?;
    let l: Vec<&str> = left.split(' ').collect();
    let r: Vec<&str> = right.split(' ').collect();
    Some(json!({
        "root": unescape(l.get(3)?),
        "mount_point": unescape(l.get(4)?),
        "options": l.get(5)?,
        "fstype": r.first()?,
        "source": unescape(r.get(1)?),
        "super_options": r.get(2)?,
    }))
}

fn kind(ft: &fs::FileType) -> &'static str {
    if ft.is_symlink() {
        "symlink"
    } else if ft.is_dir() {
        "dir"
    } else if ft.is_char_device() {
        "char"
    } else if ft.is_block_device() {
        "block"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else {
        "file"
    }
}

fn metadata_json(md: &fs::Metadata) -> Value {
    let mut v = json!({
        "kind": kind(&md.file_type()),
        "mode": format!("{:04o}", md.mode() & 0o7777),
        "uid": md.uid(),
        "gid": md.gid(),
        "size": md.size(),
    });
    if md.file_type().is_char_device() || md.file_type().is_block_device() {
        // glibc's encoding of dev_t.
        let dev = md.rdev();
        v["major"] = json!(((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff));
        v["minor"] = json!((dev & 0xff) | ((dev >> 12) & !0xff));
    }
    v
}

fn file_entry(path: &str) -> Option<Value> {
    let md = fs::symlink_metadata(path).ok()?;
    let mut v = metadata_json(&md);
    v["path"] = json!(path);
    if md.file_type().is_symlink() {
        v["target"] = json!(read_link(path));
    }
    if let Some(obj) = v.as_object_mut() {
        obj.remove("size");
    }
    Some(v)
}

/// /dev and one level below it (/dev/pts, /dev/shm, /dev/mqueue, ...).
fn dev_entries() -> Option<Vec<Value>> {
    let mut entries = Vec::new();
    for name in list_dir("/dev").ok()? {
        let path = format!("/dev/{name}");
        let is_dir = fs::symlink_metadata(&path).is_ok_and(|md| md.is_dir());
        entries.extend(file_entry(&path));
        if is_dir {
            for sub in list_dir(&path).unwrap_or_default() {
                entries.extend(file_entry(&format!("{path}/{sub}")));
            }
        }
    }
    Some(entries)
}

/// Opened by hand so the directory's own descriptor can be left out.
fn fds() -> Option<Vec<Value>> {
    let mut entries = Vec::new();
    unsafe {
        let dir = libc::opendir(c"/proc/self/fd".as_ptr());
        if dir.is_null() {
            return None;
        }
        let own = libc::dirfd(dir);
        loop {
            let ent = libc::readdir(dir);
            if ent.is_null() {
                break;
            }
            let name = CStr::from_ptr((*ent).d_name.as_ptr()).to_string_lossy();
            let Ok(fd) = name.parse::<i32>() else {
                continue;
            };
            if fd != own {
                let target = read_link(format!("/proc/self/fd/{fd}"));
                entries.push((fd, target));
            }
        }
        libc::closedir(dir);
    }
    entries.sort();
    Some(
        entries
            .into_iter()
            .map(|(fd, target)| json!({"fd": fd, "target": target}))
            .collect(),
    )
}

fn rlimits() -> Value {
    macro_rules! named {
        ($($name:ident),*) => { [$((stringify!($name), libc::$name)),*] };
    }
    let all = named!(
        RLIMIT_CPU,
        RLIMIT_FSIZE,
        RLIMIT_DATA,
        RLIMIT_STACK,
        RLIMIT_CORE,
        RLIMIT_RSS,
        RLIMIT_NPROC,
        RLIMIT_NOFILE,
        RLIMIT_MEMLOCK,
        RLIMIT_AS,
        RLIMIT_LOCKS,
        RLIMIT_SIGPENDING,
        RLIMIT_MSGQUEUE,
        RLIMIT_NICE,
        RLIMIT_RTPRIO,
        RLIMIT_RTTIME
    );
    let limit = |v: libc::rlim_t| {
        if v == libc::RLIM_INFINITY {
            json!("unlimited")
        } else {
            json!(v)
        }
    };
    let mut map = serde_json::Map::new();
    for (name, resource) in all {
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        let v = if unsafe { libc::getrlimit(resource, &mut rl) } == 0 {
            json!({"soft": limit(rl.rlim_cur), "hard": limit(rl.rlim_max)})
        } else {
            Value::Null
        };
        map.insert(name.to_string(), v);
    }
    Value::Object(map)
}

fn if_names() -> Option<Vec<String>> {
    let mut names = Vec::new();
    unsafe {
        let list = libc::if_nameindex();
        if list.is_null() {
            return None;
        }
        let mut p = list;
        while (*p).if_index != 0 {
            names.push(CStr::from_ptr((*p).if_name).to_string_lossy().into_owned());
            p = p.add(1);
        }
        libc::if_freenameindex(list);
    }
    Some(names)
}

/// struct ifreq, reduced to the flags member of its union.
#[repr(C)]
struct IfReqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

fn if_flags(sock: libc::c_int, name: &str) -> Option<libc::c_int> {
    let mut req = IfReqFlags {
        name: [0; libc::IFNAMSIZ],
        flags: 0,
        _pad: [0; 22],
    };
    let n = name.len().min(libc::IFNAMSIZ - 1);
    req.name[..n].copy_from_slice(&name.as_bytes()[..n]);
    let rc = unsafe { libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) };
    (rc == 0).then_some(req.flags as libc::c_int)
}

fn interfaces() -> Option<Vec<Value>> {
    let names: Vec<String> = match read_string("/proc/net/dev") {
        // Two header lines, then "  name: counters...".
        Some(text) => text
            .lines()
            .skip(2)
            .filter_map(|l| l.split_once(':'))
            .map(|(name, _)| name.trim().to_string())
            .collect(),
        None => if_names()?,
    };
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    let list = names
        .into_iter()
        .map(|name| {
            let flags = if sock >= 0 { if_flags(sock, &name) } else { None };
            json!({
                "name": name,
                "up": flags.map(|f| f & libc::IFF_UP != 0),
                "loopback": flags.map(|f| f & libc::IFF_LOOPBACK != 0),
            })
        })
        .collect();
    if sock >= 0 {
        unsafe { libc::close(sock) };
    }
    Some(list)
}

fn fs_magic(path: &CStr) -> Option<i64> {
    let mut st: libc::statfs = unsafe { zeroed() };
    (unsafe { libc::statfs(path.as_ptr(), &mut st) } == 0).then_some(st.f_type as i64)
}

/// null when /sys is not a sysfs mount at all.
fn sysfs_ro() -> Option<bool> {
    if fs_magic(c"/sys") != Some(SYSFS_MAGIC) {
        return None;
    }
    let mut st: libc::statvfs = unsafe { zeroed() };
    (unsafe { libc::statvfs(c"/sys".as_ptr(), &mut st) } == 0).then_some(st.f_flag & libc::ST_RDONLY != 0)
}
