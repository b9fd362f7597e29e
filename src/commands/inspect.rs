//! `scrun inspect`: what a created or running container really has, read from the host the way
//! one explores it by hand (`ls -al /proc/$PID/root`, `cat /proc/$PID/status`, …): its
//! namespaces, its process's identity, capabilities and limits, its fds, its mounts, and the
//! files the instance has that the image on disk does not.
//!
//! Everything is read through one fd of /proc/PID, so a pid recycled during the inspection is
//! never mistaken for the container, and the container's files through an fd of its root, one
//! component at a time with `O_NOFOLLOW`: nothing the container controls can lead the walk out
//! of it. Nothing is written. A part that cannot be read says so instead of failing the whole.

use crate::cli::{GlobalOpts, InspectArgs, TextOrJson};
use crate::state::{Status, Store};
use anyhow::{bail, Context, Result};
use nix::fcntl::{openat, readlinkat, OFlag};
use nix::sys::stat::Mode;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::ffi::CStr;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The walk of the container's files stops this deep (components below `/`) …
const MAX_DEPTH: usize = 4;
/// … and after this many entries.
const MAX_ENTRIES: usize = 500;
/// Filesystems whose content the kernel makes up: shown as one entry, never walked.
const PSEUDO_FS: &[&str] = &[
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "devpts",
    "mqueue",
    "securityfs",
    "debugfs",
    "tracefs",
    "bpf",
    "configfs",
    "fusectl",
    "pstore",
    "binfmt_misc",
    "hugetlbfs",
    "nsfs",
    "efivarfs",
];

pub fn inspect(global: &GlobalOpts, args: &InspectArgs) -> Result<()> {
    let store = Store::open(&global.root)?;
    let container = store.load(&args.id)?;
    let status = container.status();
    if status == Status::Stopped {
        bail!("container {} is not running (stopped): nothing to inspect", args.id);
    }
    let saved = container.saved.clone();
    let state_dir = container.dir.clone();
    // The inspection only reads: do not keep `start`, `kill` or `delete` waiting on the lock.
    drop(container);

    let pid = saved.pid;
    let proc = Proc::open(pid, saved.pid_start_time)
        .with_context(|| format!("container {} exited before it could be inspected", args.id))?;
    let config = read_config(&saved.bundle);
    let namespaces = namespaces(&proc);
    let mounts = proc
        .read("mountinfo")
        .map(|t| explain_mounts(&parse_mountinfo(&t), &config));
    let files = match &mounts {
        Ok(list) => files(&proc, &saved.rootfs, &state_dir, list, &namespaces),
        Err(e) => Err(anyhow::anyhow!("no mount table: {e:#}")),
    };
    let report = Report {
        id: saved.id.clone(),
        pid,
        status: status.to_string(),
        bundle: saved.bundle.clone(),
        rootfs: saved.rootfs.clone(),
        namespaces,
        process: section(process(&proc)),
        cgroup: section(proc.read("cgroup").map(|t| Cgroup {
            lines: t.lines().map(String::from).collect(),
        })),
        limits: section(proc.read("limits").map(|t| Limits {
            resources: parse_limits(&t),
        })),
        fds: section(fds(&proc)),
        mounts: section(mounts.map(|entries| Mounts { entries })),
        files: section(files),
    };
    if !proc.alive() {
        bail!("container {} exited during the inspection", args.id);
    }
    match args.format {
        TextOrJson::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        TextOrJson::Text => print!("{}", text(&report)),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The report, as `--format json` prints it. Every section is an object; one that could not be
// read is `{"unreadable": "why"}`.

#[derive(Serialize)]
struct Report {
    id: String,
    pid: i32,
    status: String,
    bundle: PathBuf,
    rootfs: PathBuf,
    namespaces: Namespaces,
    process: Section<Process>,
    cgroup: Section<Cgroup>,
    limits: Section<Limits>,
    fds: Section<Fds>,
    mounts: Section<Mounts>,
    files: Section<Files>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Section<T> {
    Ok(T),
    Unreadable { unreadable: String },
}

fn section<T>(r: Result<T>) -> Section<T> {
    match r {
        Ok(v) => Section::Ok(v),
        Err(e) => Section::Unreadable {
            unreadable: format!("{e:#}"),
        },
    }
}

impl<T> Section<T> {
    fn get(&self) -> std::result::Result<&T, &str> {
        match self {
            Section::Ok(v) => Ok(v),
            Section::Unreadable { unreadable } => Err(unreadable),
        }
    }
}

#[derive(Serialize)]
struct Namespaces {
    mnt: Ns,
    pid: Ns,
    net: Ns,
    ipc: Ns,
    uts: Ns,
    user: Ns,
    cgroup: Ns,
    time: Ns,
}

/// One namespace: the inode of /proc/PID/ns/X and of /proc/self/ns/X (the host's, as scrun
/// runs in them); `own` when they differ.
#[derive(Serialize, Clone)]
struct Ns {
    inode: Option<u64>,
    host_inode: Option<u64>,
    own: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unreadable: Option<String>,
}

#[derive(Serialize)]
struct Process {
    host_pid: i32,
    /// The pid in the container's own pid namespace (last field of NSpid).
    ns_pid: Option<i64>,
    /// NSpid: the pid in each pid namespace, from the host's down to the container's.
    ns_pids: Vec<i64>,
    name: Option<String>,
    state: Option<String>,
    /// As the host sees them.
    uid: Ids,
    gid: Ids,
    groups: Vec<u32>,
    /// In a user namespace of its own: /proc/PID/uid_map and gid_map (inside outside count),
    /// and the effective ids as the container sees them.
    #[serde(skip_serializing_if = "Option::is_none")]
    user_namespace: Option<UserNs>,
    capabilities: Capabilities,
    no_new_privs: Option<bool>,
    /// disabled, strict or filter.
    seccomp: Option<String>,
    seccomp_filters: Option<u32>,
    umask: Option<String>,
    cwd: Section<String>,
    exe: Section<String>,
    cmdline: Section<Vec<String>>,
}

#[derive(Serialize)]
struct UserNs {
    uid_map: Vec<String>,
    gid_map: Vec<String>,
    uid: Option<u32>,
    gid: Option<u32>,
}

/// An id of the host mapped into the namespace by map lines `inside outside count`.
fn map_in(map: &[String], host: u32) -> Option<u32> {
    map.iter().find_map(|l| {
        let n: Vec<u64> = l.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        let (inside, outside, count) = (*n.first()?, *n.get(1)?, *n.get(2)?);
        let host = host as u64;
        (host >= outside && host < outside + count).then(|| (inside + host - outside) as u32)
    })
}

/// Real, effective, saved and filesystem ids, as in the Uid: and Gid: lines of status.
#[derive(Serialize, Default)]
struct Ids {
    real: Option<u32>,
    effective: Option<u32>,
    saved: Option<u32>,
    fs: Option<u32>,
}

#[derive(Serialize)]
struct Capabilities {
    effective: CapSet,
    permitted: CapSet,
    inheritable: CapSet,
    bounding: CapSet,
    ambient: CapSet,
}

#[derive(Serialize, PartialEq, Eq, Clone)]
struct CapSet {
    hex: String,
    names: Vec<String>,
}

#[derive(Serialize)]
struct Cgroup {
    lines: Vec<String>,
}

#[derive(Serialize)]
struct Limits {
    resources: Vec<Limit>,
}

#[derive(Serialize, Debug, PartialEq, Eq)]
struct Limit {
    /// The name config.json's process.rlimits uses, e.g. RLIMIT_NOFILE.
    rlimit: Option<String>,
    /// The kernel's name, e.g. "Max open files".
    resource: String,
    soft: String,
    hard: String,
    units: String,
}

#[derive(Serialize)]
struct Fds {
    entries: Vec<FdEntry>,
}

#[derive(Serialize)]
struct FdEntry {
    fd: i32,
    target: Section<String>,
    /// O_CLOEXEC, from the flags of /proc/PID/fdinfo/N: the fd closes when the process execs.
    close_on_exec: Option<bool>,
}

#[derive(Serialize)]
struct Mounts {
    entries: Vec<Mount>,
}

#[derive(Serialize, Clone, Debug)]
struct Mount {
    id: u32,
    parent: u32,
    mount_point: String,
    fstype: String,
    source: String,
    /// The directory or file of the source filesystem mounted here (a bind's source).
    root: String,
    options: String,
    super_options: String,
    /// `image` for the rootfs itself, `added` for everything the runtime mounted.
    origin: &'static str,
    why: Option<String>,
}

#[derive(Serialize)]
struct Files {
    /// Entries of the image directory born before this time are the image's; later ones were
    /// made when the container was created (mount points, /etc/mtab) or since.
    since: Option<String>,
    /// Entries the container sees that are the image's, from the bundle's rootfs on disk.
    image: Vec<FileEntry>,
    /// Entries the container sees that the image does not hold.
    added: Vec<FileEntry>,
    /// Why the walk stopped early, if it did.
    truncated: Option<String>,
}

#[derive(Serialize, Clone)]
struct FileEntry {
    path: String,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    /// The mount point of the added mount this entry is, or is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    mount: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fstype: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    why: Option<String>,
    /// For a mount point: what is under it in the image directory on disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    on_disk: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// /proc/PID, through one fd.

struct Proc {
    pid: i32,
    start_time: u64,
    fd: OwnedFd,
}

impl Proc {
    fn open(pid: i32, start_time: u64) -> Result<Proc> {
        let fd = nix::fcntl::open(
            format!("/proc/{pid}").as_str(),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("open /proc/{pid}"))?;
        let proc = Proc { pid, start_time, fd };
        if !proc.alive() {
            bail!("process {pid} is gone");
        }
        Ok(proc)
    }

    /// Still the container's process: alive, not a zombie, with the start time of its state.
    fn alive(&self) -> bool {
        let Ok(stat) = self.read("stat") else { return false };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            return false;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        !matches!(fields.first(), Some(&"Z") | Some(&"X") | None)
            && fields.get(19).and_then(|f| f.parse().ok()) == Some(self.start_time)
    }

    fn read(&self, name: &str) -> Result<String> {
        let bytes = self.read_bytes(name)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn read_bytes(&self, name: &str) -> Result<Vec<u8>> {
        let fd = openat(&self.fd, name, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| self.err("read", name, e))?;
        let mut out = Vec::new();
        std::fs::File::from(fd)
            .read_to_end(&mut out)
            .map_err(|e| anyhow::anyhow!("read /proc/{}/{name}: {e}", self.pid))?;
        Ok(out)
    }

    fn readlink(&self, name: &str) -> Result<String> {
        readlinkat(&self.fd, name)
            .map(|t| t.to_string_lossy().into_owned())
            .map_err(|e| self.err("readlink", name, e))
    }

    fn open_dir(&self, name: &str) -> Result<OwnedFd> {
        openat(
            &self.fd,
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.err("open", name, e))
    }

    fn err(&self, what: &str, name: &str, e: nix::errno::Errno) -> anyhow::Error {
        anyhow::anyhow!("{what} /proc/{}/{name}: {}", self.pid, e.desc().to_lowercase())
    }
}

// ---------------------------------------------------------------------------------------------
// The sections.

fn namespaces(proc: &Proc) -> Namespaces {
    let inode = |link: std::result::Result<String, String>| -> std::result::Result<u64, String> {
        let link = link?;
        // "mnt:[4026531832]"
        link.rsplit_once('[')
            .and_then(|(_, n)| n.strip_suffix(']'))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("unexpected namespace link {link:?}"))
    };
    let one = |kind: &str| {
        let theirs = inode(proc.readlink(&format!("ns/{kind}")).map_err(|e| format!("{e:#}")));
        let ours = inode(
            std::fs::read_link(format!("/proc/self/ns/{kind}"))
                .map(|l| l.to_string_lossy().into_owned())
                .map_err(|e| format!("readlink /proc/self/ns/{kind}: {e}")),
        );
        let unreadable = [&theirs, &ours].iter().find_map(|r| r.as_ref().err().cloned());
        Ns {
            own: match (&theirs, &ours) {
                (Ok(a), Ok(b)) => Some(a != b),
                _ => None,
            },
            inode: theirs.ok(),
            host_inode: ours.ok(),
            unreadable,
        }
    };
    Namespaces {
        mnt: one("mnt"),
        pid: one("pid"),
        net: one("net"),
        ipc: one("ipc"),
        uts: one("uts"),
        user: one("user"),
        cgroup: one("cgroup"),
        time: one("time"),
    }
}

impl Namespaces {
    fn list(&self) -> [(&'static str, &Ns); 8] {
        [
            ("mnt", &self.mnt),
            ("pid", &self.pid),
            ("net", &self.net),
            ("ipc", &self.ipc),
            ("uts", &self.uts),
            ("user", &self.user),
            ("cgroup", &self.cgroup),
            ("time", &self.time),
        ]
    }
}

fn process(proc: &Proc) -> Result<Process> {
    let status = proc.read("status")?;
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .map(str::trim)
    };
    let numbers = |key: &str| -> Vec<i64> {
        field(key)
            .map(|v| v.split_whitespace().filter_map(|n| n.parse().ok()).collect())
            .unwrap_or_default()
    };
    let ids = |key: &str| {
        let n: Vec<u32> = numbers(key).into_iter().map(|n| n as u32).collect();
        Ids {
            real: n.first().copied(),
            effective: n.get(1).copied(),
            saved: n.get(2).copied(),
            fs: n.get(3).copied(),
        }
    };
    let cap = |key: &str| cap_set(field(key).and_then(|v| u64::from_str_radix(v, 16).ok()).unwrap_or(0));
    let ns_pids = numbers("NSpid");
    let cmdline = proc.read_bytes("cmdline").map(|raw| {
        raw.split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
    });
    let cmdline = cmdline.map(|mut args| {
        if args.last().is_some_and(String::is_empty) {
            args.pop();
        }
        args
    });
    let (uid, gid) = (ids("Uid"), ids("Gid"));
    let lines = |name: &str| -> Option<Vec<String>> {
        Some(
            proc.read(name)
                .ok()?
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect(),
        )
    };
    let user_namespace = match (lines("uid_map"), lines("gid_map")) {
        // The initial namespace maps every id to itself.
        (Some(u), Some(g)) if u != ["0 0 4294967295"] => Some(UserNs {
            uid: uid.effective.and_then(|id| map_in(&u, id)),
            gid: gid.effective.and_then(|id| map_in(&g, id)),
            uid_map: u,
            gid_map: g,
        }),
        _ => None,
    };
    Ok(Process {
        user_namespace,
        uid,
        gid,
        host_pid: proc.pid,
        ns_pid: ns_pids.last().copied(),
        ns_pids,
        name: field("Name").map(String::from),
        state: field("State").map(String::from),
        groups: numbers("Groups").into_iter().map(|n| n as u32).collect(),
        capabilities: Capabilities {
            effective: cap("CapEff"),
            permitted: cap("CapPrm"),
            inheritable: cap("CapInh"),
            bounding: cap("CapBnd"),
            ambient: cap("CapAmb"),
        },
        no_new_privs: field("NoNewPrivs").map(|v| v == "1"),
        seccomp: field("Seccomp").map(|v| match v {
            "0" => "disabled".into(),
            "1" => "strict".into(),
            "2" => "filter".into(),
            other => format!("mode {other}"),
        }),
        seccomp_filters: field("Seccomp_filters").and_then(|v| v.parse().ok()),
        umask: field("Umask").map(String::from),
        cwd: section(proc.readlink("cwd")),
        exe: section(proc.readlink("exe")),
        cmdline: section(cmdline),
    })
}

/// A capability mask as hex (as /proc prints it) and as CAP_ names.
fn cap_set(mask: u64) -> CapSet {
    let known: HashMap<u8, String> = caps::all().into_iter().map(|c| (c.index(), c.to_string())).collect();
    let names = (0..64u8)
        .filter(|bit| mask & (1 << bit) != 0)
        .map(|bit| known.get(&bit).cloned().unwrap_or_else(|| format!("CAP_{bit}")))
        .collect();
    CapSet {
        hex: format!("{mask:016x}"),
        names,
    }
}

/// /proc/PID/limits: columns found from the header line, as the resource names hold spaces.
fn parse_limits(text: &str) -> Vec<Limit> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else { return Vec::new() };
    let (Some(soft), Some(hard), Some(units)) = (
        header.find("Soft Limit"),
        header.find("Hard Limit"),
        header.find("Units"),
    ) else {
        return Vec::new();
    };
    let col = |l: &str, a: usize, b: usize| l.get(a..b.min(l.len())).unwrap_or("").trim().to_string();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let resource = col(l, 0, soft);
            Limit {
                rlimit: rlimit_name(&resource).map(String::from),
                soft: col(l, soft, hard),
                hard: col(l, hard, units),
                units: col(l, units, usize::MAX),
                resource,
            }
        })
        .collect()
}

fn rlimit_name(kernel_name: &str) -> Option<&'static str> {
    Some(match kernel_name {
        "Max cpu time" => "RLIMIT_CPU",
        "Max file size" => "RLIMIT_FSIZE",
        "Max data size" => "RLIMIT_DATA",
        "Max stack size" => "RLIMIT_STACK",
        "Max core file size" => "RLIMIT_CORE",
        "Max resident set" => "RLIMIT_RSS",
        "Max processes" => "RLIMIT_NPROC",
        "Max open files" => "RLIMIT_NOFILE",
        "Max locked memory" => "RLIMIT_MEMLOCK",
        "Max address space" => "RLIMIT_AS",
        "Max file locks" => "RLIMIT_LOCKS",
        "Max pending signals" => "RLIMIT_SIGPENDING",
        "Max msgqueue size" => "RLIMIT_MSGQUEUE",
        "Max nice priority" => "RLIMIT_NICE",
        "Max realtime priority" => "RLIMIT_RTPRIO",
        "Max realtime timeout" => "RLIMIT_RTTIME",
        _ => return None,
    })
}

fn fds(proc: &Proc) -> Result<Fds> {
    let mut dir = nix::dir::Dir::from_fd(proc.open_dir("fd")?).context("read /proc/PID/fd")?;
    let mut numbers: Vec<i32> = dir
        .iter()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().ok()?.parse().ok())
        .collect();
    numbers.sort_unstable();
    let entries = numbers
        .into_iter()
        .map(|fd| FdEntry {
            fd,
            target: section(
                readlinkat(dir.as_fd(), fd.to_string().as_str())
                    .map(|t| t.to_string_lossy().into_owned())
                    .map_err(|e| anyhow::anyhow!("readlink /proc/{}/fd/{fd}: {}", proc.pid, e.desc().to_lowercase())),
            ),
            close_on_exec: proc.read(&format!("fdinfo/{fd}")).ok().and_then(|info| {
                let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?;
                let flags = u32::from_str_radix(flags.trim(), 8).ok()?;
                Some(flags & libc::O_CLOEXEC as u32 != 0)
            }),
        })
        .collect();
    Ok(Fds { entries })
}

/// Mount points are seen from the process's root: "/" is the image.
fn parse_mountinfo(text: &str) -> Vec<Mount> {
    crate::mountinfo::parse(text)
        .into_iter()
        .map(|e| Mount {
            id: e.id,
            parent: e.parent,
            root: e.root,
            origin: if e.mount_point == "/" { "image" } else { "added" },
            mount_point: e.mount_point,
            options: e.options,
            fstype: e.fstype,
            source: e.source,
            super_options: e.super_options,
            why: None,
        })
        .collect()
}

/// What config.json (as it is now in the bundle) asked for, to tell why a mount is there.
#[derive(Default)]
struct Config {
    /// (index in `mounts`, destination, type)
    mounts: Vec<(usize, String, String)>,
    masked: Vec<String>,
    readonly: Vec<String>,
    root_readonly: bool,
}

fn read_config(bundle: &Path) -> Config {
    let Ok(text) = std::fs::read(bundle.join("config.json")) else {
        return Config::default();
    };
    let Ok(v) = serde_json::from_slice::<Value>(&text) else {
        return Config::default();
    };
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(clean)).collect())
            .unwrap_or_default()
    };
    Config {
        mounts: v["mounts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .enumerate()
                    .filter_map(|(i, m)| {
                        Some((
                            i,
                            clean(m["destination"].as_str()?),
                            m["type"].as_str().unwrap_or("").to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        masked: strings(&v["linux"]["maskedPaths"]),
        readonly: strings(&v["linux"]["readonlyPaths"]),
        root_readonly: v["root"]["readonly"].as_bool().unwrap_or(false),
    }
}

/// "/dev/" and "/dev" are the same destination.
fn clean(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        "/".into()
    } else {
        t.into()
    }
}

const GENERATED: [&str; 3] = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"];

fn explain_mounts(list: &[Mount], config: &Config) -> Vec<Mount> {
    let by_id: HashMap<u32, &Mount> = list.iter().map(|m| (m.id, m)).collect();
    list.iter()
        .map(|m| {
            let mut m = m.clone();
            m.why = mount_why(&m, by_id.get(&m.parent).copied(), config);
            m
        })
        .collect()
}

fn mount_why(m: &Mount, parent: Option<&Mount>, config: &Config) -> Option<String> {
    let mp = m.mount_point.as_str();
    if mp == "/" {
        let ro = m.options.split(',').any(|o| o == "ro");
        return Some(if ro && config.root_readonly {
            "the image directory (root.path), read-only (root.readonly)".into()
        } else {
            "the image directory (root.path)".into()
        });
    }
    if config.masked.iter().any(|p| p == mp) {
        return Some(if m.root.ends_with("/null") {
            "masked (linux.maskedPaths): /dev/null bound over it".into()
        } else {
            "masked (linux.maskedPaths): an empty read-only tmpfs over it".into()
        });
    }
    if config.readonly.iter().any(|p| p == mp) {
        return Some("read-only (linux.readonlyPaths)".into());
    }
    if let Some((i, _, typ)) = config.mounts.iter().rev().find(|(_, d, _)| d == mp) {
        let typ = if typ.is_empty() { m.fstype.as_str() } else { typ };
        let what = if typ == "cgroup" && m.fstype == "tmpfs" {
            "cgroups (a tmpfs holding one mount per hierarchy)".into()
        } else {
            fs_why(typ, mp)
        };
        return Some(format!("mounts[{i}] of config.json: {what}"));
    }
    if GENERATED.contains(&mp) && m.root.ends_with(&mp["/etc".len()..]) {
        return Some("generated by the runtime (a file of its state directory, read-only)".into());
    }
    if mp == "/dev/console" {
        return Some("the container's terminal (a pty)".into());
    }
    if let Some(p) = parent {
        if matches!(m.fstype.as_str(), "cgroup" | "cgroup2") && p.fstype == "tmpfs" {
            if let Some((i, _, _)) = config.mounts.iter().find(|(_, d, _)| *d == p.mount_point) {
                return Some(format!("mounts[{i}] of config.json: one cgroup hierarchy"));
            }
        }
    }
    None
}

fn fs_why(typ: &str, mp: &str) -> String {
    match (typ, mp) {
        ("proc", _) => "the container's own /proc".into(),
        ("sysfs", _) => "the kernel's /sys".into(),
        ("devpts", _) => "the container's own ptys".into(),
        ("mqueue", _) => "POSIX message queues".into(),
        ("tmpfs", "/dev") => "an empty /dev the runtime fills with device nodes".into(),
        ("tmpfs", "/dev/shm") => "POSIX shared memory".into(),
        ("cgroup" | "cgroup2", _) => "cgroups".into(),
        ("bind" | "none" | "", _) => "bind mount".into(),
        (t, _) => format!("{t} mount"),
    }
}

// ---------------------------------------------------------------------------------------------
// The container's files vs the image directory on disk.

fn files(proc: &Proc, rootfs: &Path, state_dir: &Path, mounts: &[Mount], namespaces: &Namespaces) -> Result<Files> {
    if namespaces.mnt.own == Some(false) {
        bail!("the container shares the host's mount namespace: its files are the host's");
    }
    let root = proc.open_dir("root")?;
    let disk = nix::fcntl::open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "open the image directory {}: {}",
            rootfs.display(),
            e.desc().to_lowercase()
        )
    })
    .ok();
    // The topmost mount at each mount point is the last one listed.
    let mut at: HashMap<String, &Mount> = HashMap::new();
    for m in mounts {
        at.insert(m.mount_point.clone(), m);
    }
    let since = reference_time(state_dir);
    let mut walk = Walk {
        mounts: at,
        since,
        image: Vec::new(),
        added: Vec::new(),
        seen: 0,
        cut_entries: false,
        cut_depth: 0,
    };
    walk.run(&root, disk.as_ref());
    // Tree order: a directory, then what it holds.
    let key = |e: &FileEntry| e.path.split('/').map(String::from).collect::<Vec<_>>();
    walk.image.sort_by_key(key);
    walk.added.sort_by_key(key);
    let mut truncated = Vec::new();
    if walk.cut_entries {
        truncated.push(format!("stopped after {MAX_ENTRIES} entries"));
    }
    if walk.cut_depth > 0 {
        truncated.push(format!(
            "{} directories at depth {MAX_DEPTH} not walked",
            walk.cut_depth
        ));
    }
    Ok(Files {
        since: since.map(|t| humantime::format_rfc3339_nanos(t).to_string()),
        image: walk.image,
        added: walk.added,
        truncated: (!truncated.is_empty()).then(|| truncated.join(", ")),
    })
}

/// When the container was created: the birth of its state directory (claimed before the init
/// exists), or the oldest file in it (the generated /etc files, written before the clone).
fn reference_time(state_dir: &Path) -> Option<SystemTime> {
    let c = std::ffi::CString::new(state_dir.as_os_str().as_bytes()).ok()?;
    if let Ok(st) = statx(None, &c) {
        if let Some(b) = st.btime {
            return Some(b);
        }
    }
    std::fs::read_dir(state_dir)
        .ok()?
        .filter_map(|e| e.ok()?.metadata().ok()?.modified().ok())
        .min()
}

struct Walk<'a> {
    mounts: HashMap<String, &'a Mount>,
    since: Option<SystemTime>,
    image: Vec<FileEntry>,
    added: Vec<FileEntry>,
    seen: usize,
    cut_entries: bool,
    cut_depth: usize,
}

/// The added mount an entry lies in, if not the image's root.
type InMount<'a> = Option<&'a Mount>;

/// A directory still to list, by its components below the root (never a symlink on the way).
struct Pending<'a> {
    components: Vec<Vec<u8>>,
    path: String,
    depth: usize,
    in_mount: InMount<'a>,
    /// Compare with the image directory on disk (false inside an added mount).
    compare: bool,
}

impl<'a> Walk<'a> {
    /// Breadth first, so that a cut walk still shows every top-level entry.
    fn run(&mut self, root: &OwnedFd, disk: Option<&OwnedFd>) {
        let mut queue = std::collections::VecDeque::from([Pending {
            components: Vec::new(),
            path: String::new(),
            depth: 1,
            in_mount: None,
            compare: true,
        }]);
        while let Some(p) = queue.pop_front() {
            let Ok(view) = open_beneath(root, &p.components, OFlag::O_RDONLY) else {
                continue;
            };
            let disk = match disk {
                Some(d) if p.compare => open_beneath(d, &p.components, OFlag::O_PATH).ok(),
                _ => None,
            };
            let Ok(mut dir) = nix::dir::Dir::from_fd(view) else {
                continue;
            };
            let mut names: Vec<Vec<u8>> = dir
                .iter()
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_bytes().to_vec())
                .filter(|n| n != b"." && n != b"..")
                .collect();
            names.sort();
            for name in names {
                if self.seen >= MAX_ENTRIES {
                    self.cut_entries = true;
                    return;
                }
                self.seen += 1;
                let path = format!("{}/{}", p.path, String::from_utf8_lossy(&name));
                let Ok(cname) = std::ffi::CString::new(name.clone()) else {
                    continue;
                };
                let disk = disk.as_ref().map(|d| d.as_fd());
                if let Some((in_mount, compare)) = self.entry(dir.as_fd(), disk, &cname, &path, p.in_mount) {
                    if p.depth >= MAX_DEPTH {
                        self.cut_depth += 1;
                        continue;
                    }
                    let mut components = p.components.clone();
                    components.push(name);
                    queue.push_back(Pending {
                        components,
                        path,
                        depth: p.depth + 1,
                        in_mount,
                        compare,
                    });
                }
            }
        }
    }

    /// Sort one entry into the image's or the added ones; for a directory to walk, return the
    /// mount its entries are in and whether to compare them with the disk.
    fn entry(
        &mut self,
        view: BorrowedFd,
        disk: Option<BorrowedFd>,
        name: &CStr,
        path: &str,
        in_mount: InMount<'a>,
    ) -> Option<(InMount<'a>, bool)> {
        let path = path.to_string();
        let st = match statx(Some(view), name) {
            Ok(st) => st,
            Err(e) => {
                self.added.push(FileEntry {
                    why: Some(format!("unreadable: {e}")),
                    ..FileEntry::new(path, "unknown")
                });
                return None;
            }
        };
        let mut e = FileEntry::new(path.clone(), st.kind());
        match st.kind() {
            "symlink" => e.target = readlinkat(view, name).ok().map(|t| t.to_string_lossy().into_owned()),
            "char" | "block" => e.device = Some(format!("{}:{}", st.rdev.0, st.rdev.1)),
            "file" => e.size = Some(st.size),
            _ => {}
        }
        let disk_st = disk.and_then(|d| statx(Some(d), name).ok());
        let is_dir = st.kind() == "dir";
        let mount_here = self.mounts.get(&path).copied();
        let walk_into: Option<(InMount<'a>, bool)>; // (mount the children are in, compare with disk)
        if let Some(m) = mount_here {
            e.mount = Some(path.clone());
            e.fstype = Some(m.fstype.clone());
            e.why = m.why.clone();
            e.on_disk = Some(match &disk_st {
                None => "nothing".into(),
                Some(d) if self.is_new(d) => format!("an empty {} the runtime made to mount on", d.kind()),
                Some(d) if d.kind() == "file" && d.size == 0 => {
                    "an empty file, hidden by the mount (the runtime's mount point, left by an earlier container, or the image's)".into()
                }
                Some(d) => format!("a {} of the image directory, hidden by the mount", d.kind()),
            });
            // A directory mask: a tmpfs with room for its root inode only.
            let masked = m.fstype == "tmpfs" && m.super_options.split(',').any(|o| o == "nr_inodes=1");
            let pseudo = PSEUDO_FS.contains(&m.fstype.as_str()) || masked;
            let walkable = is_dir && m.fstype == "tmpfs" && !masked;
            if pseudo && is_dir {
                e.why = Some(match e.why.take() {
                    Some(w) => format!("{w} (not walked)"),
                    None => format!("{} mount (not walked)", m.fstype),
                });
            } else if is_dir && !walkable {
                e.why = Some(match e.why.take() {
                    Some(w) => format!("{w} (a {} mount, not walked)", m.fstype),
                    None => format!("{} mount (not walked)", m.fstype),
                });
            }
            walk_into = walkable.then_some((Some(m), false));
            self.added.push(e);
        } else if let Some(m) = in_mount {
            e.mount = Some(m.mount_point.clone());
            e.fstype = Some(m.fstype.clone());
            walk_into = is_dir.then_some((Some(m), false));
            self.added.push(e);
        } else {
            match &disk_st {
                None => {
                    e.why = Some("not in the image directory on disk".into());
                    walk_into = is_dir.then_some((None, false));
                    self.added.push(e);
                }
                Some(d) if self.is_new(d) => {
                    e.why = Some(if path == "/etc/mtab" && e.target.as_deref() == Some("/proc/mounts") {
                        "made by the runtime (a symlink to /proc/mounts)".into()
                    } else if d.btime.is_some() {
                        format!("a {} made in the image directory at create or since", d.kind())
                    } else {
                        format!("a {} changed in the image directory at create or since", d.kind())
                    });
                    walk_into = is_dir.then_some((None, true));
                    self.added.push(e);
                }
                Some(_) => {
                    walk_into = is_dir.then_some((None, true));
                    self.image.push(e);
                }
            }
        }
        walk_into
    }

    /// Born (or, without birth times, changed) at or after the container's creation.
    fn is_new(&self, st: &Stat) -> bool {
        match (self.since, st.btime.or(st.ctime)) {
            (Some(since), Some(t)) => t >= since,
            _ => false,
        }
    }
}

impl FileEntry {
    fn new(path: String, kind: &'static str) -> FileEntry {
        FileEntry {
            path,
            kind,
            target: None,
            device: None,
            size: None,
            mount: None,
            fstype: None,
            why: None,
            on_disk: None,
        }
    }
}

struct Stat {
    mode: u32,
    rdev: (u32, u32),
    size: u64,
    btime: Option<SystemTime>,
    ctime: Option<SystemTime>,
}

impl Stat {
    fn kind(&self) -> &'static str {
        match self.mode & libc::S_IFMT {
            libc::S_IFDIR => "dir",
            libc::S_IFREG => "file",
            libc::S_IFLNK => "symlink",
            libc::S_IFCHR => "char",
            libc::S_IFBLK => "block",
            libc::S_IFIFO => "fifo",
            libc::S_IFSOCK => "socket",
            _ => "unknown",
        }
    }
}

/// Open a directory below `root` one component at a time, refusing symlinks on the way: the
/// container controls these names and could swap a directory for a link at any moment.
fn open_beneath(root: &OwnedFd, components: &[Vec<u8>], last: OFlag) -> nix::Result<OwnedFd> {
    let base = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let Some((final_name, dirs)) = components.split_last() else {
        return openat(root, ".", last | base, Mode::empty());
    };
    let mut cur: Option<OwnedFd> = None;
    for c in dirs {
        let at = cur.as_ref().map_or(root.as_fd(), |f| f.as_fd());
        cur = Some(openat(at, c.as_slice(), OFlag::O_PATH | base, Mode::empty())?);
    }
    let at = cur.as_ref().map_or(root.as_fd(), |f| f.as_fd());
    openat(at, final_name.as_slice(), last | base, Mode::empty())
}

/// statx of `name` in `dir` (or of a path from the cwd), never following a symlink nor
/// triggering an automount.
fn statx(dir: Option<BorrowedFd>, name: &CStr) -> std::io::Result<Stat> {
    let mut buf: libc::statx = unsafe { std::mem::zeroed() };
    let dirfd = dir.map(|d| d.as_raw_fd()).unwrap_or(libc::AT_FDCWD);
    // SAFETY: a valid NUL-terminated name and a buffer of the right type.
    let r = unsafe {
        libc::statx(
            dirfd,
            name.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT,
            libc::STATX_BASIC_STATS | libc::STATX_BTIME,
            &mut buf,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let time = |t: libc::statx_timestamp| {
        (t.tv_sec >= 0).then(|| SystemTime::UNIX_EPOCH + Duration::new(t.tv_sec as u64, t.tv_nsec))
    };
    Ok(Stat {
        mode: buf.stx_mode as u32,
        rdev: (buf.stx_rdev_major, buf.stx_rdev_minor),
        size: buf.stx_size,
        btime: if buf.stx_mask & libc::STATX_BTIME != 0 {
            time(buf.stx_btime)
        } else {
            None
        },
        ctime: if buf.stx_mask & libc::STATX_CTIME != 0 {
            time(buf.stx_ctime)
        } else {
            None
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Text.

fn text(r: &Report) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(
        "container {} (pid {}, {}), bundle {}, image {}",
        r.id,
        r.pid,
        r.status,
        r.bundle.display(),
        r.rootfs.display()
    ));

    let ns = r.namespaces.list();
    let pick =
        |want: Option<bool>| -> Vec<&str> { ns.iter().filter(|(_, n)| n.own == want).map(|(k, _)| *k).collect() };
    let mut parts = Vec::new();
    for (label, want) in [
        ("own", Some(true)),
        ("shared with the host:", Some(false)),
        ("unreadable:", None),
    ] {
        let kinds = pick(want);
        if !kinds.is_empty() {
            parts.push(format!("{label} {}", kinds.join(" ")));
        }
    }
    line(format!("namespaces: {}", parts.join(" · ")));

    match r.process.get() {
        Err(e) => line(format!("process: unreadable: {e}")),
        Ok(p) => {
            let cmd = match p.cmdline.get() {
                Ok(args) => args.join(" "),
                Err(e) => format!("(cmdline unreadable: {e})"),
            };
            let id = |ids: &Ids| match (ids.real, ids.effective) {
                (Some(a), Some(b)) if a == b => a.to_string(),
                (Some(a), Some(b)) => format!("{a} (effective {b})"),
                _ => "?".into(),
            };
            let groups = if p.groups.is_empty() {
                "none".to_string()
            } else {
                p.groups.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
            };
            let nspid = match p.ns_pid {
                Some(n) if p.ns_pids.len() > 1 => format!("pid {n} in its pid namespace"),
                Some(n) => format!("pid {n} (the host's pid namespace)"),
                None => "pid in its namespace unknown".into(),
            };
            let ids = match &p.user_namespace {
                None => format!("uid {} gid {}", id(&p.uid), id(&p.gid)),
                Some(u) => format!(
                    "uid {} gid {} in its user namespace, uid {} gid {} on the host",
                    u.uid.map_or("unmapped".into(), |i| i.to_string()),
                    u.gid.map_or("unmapped".into(), |i| i.to_string()),
                    id(&p.uid),
                    id(&p.gid)
                ),
            };
            line(format!(
                "process: {cmd} · {nspid} · {ids} · groups {groups} · cwd {} · umask {}",
                show(&p.cwd),
                p.umask.as_deref().unwrap_or("?")
            ));
            if r.status == "created" {
                line(
                    "  (created: this is still the runtime's init, waiting for `scrun start` to exec process.args)"
                        .into(),
                );
            }
            line(format!("  caps: {}", caps_text(&p.capabilities)));
            line(format!(
                "  no_new_privs {} · seccomp {} · exe {} · state {}",
                p.no_new_privs.map_or("?", |b| if b { "yes" } else { "no" }),
                p.seccomp.as_deref().unwrap_or("?"),
                show(&p.exe),
                p.state.as_deref().unwrap_or("?")
            ));
        }
    }

    match r.cgroup.get() {
        Err(e) => line(format!("cgroup: unreadable: {e}")),
        Ok(c) => line(format!("cgroup: {}", c.lines.join(" · "))),
    }

    match r.limits.get() {
        Err(e) => line(format!("limits: unreadable: {e}")),
        Ok(l) => {
            let (set, unlimited): (Vec<&Limit>, Vec<&Limit>) = l
                .resources
                .iter()
                .partition(|x| !(x.soft == "unlimited" && x.hard == "unlimited"));
            let mut parts: Vec<String> = set
                .iter()
                .map(|x| format!("{} {}/{}", x.rlimit.as_deref().unwrap_or(&x.resource), x.soft, x.hard))
                .collect();
            if !unlimited.is_empty() {
                parts.push(format!("the other {} unlimited", unlimited.len()));
            }
            line(format!("limits (soft/hard): {}", parts.join(" · ")));
        }
    }

    match r.fds.get() {
        Err(e) => line(format!("fds: unreadable: {e}")),
        Ok(f) => line(format!(
            "fds: {}",
            f.entries
                .iter()
                .map(|e| {
                    let cloexec = if e.close_on_exec == Some(true) {
                        " (close-on-exec)"
                    } else {
                        ""
                    };
                    format!("{} → {}{cloexec}", e.fd, show(&e.target))
                })
                .collect::<Vec<_>>()
                .join(" · ")
        )),
    }

    match r.mounts.get() {
        Err(e) => line(format!("mounts: unreadable: {e}")),
        Ok(m) => {
            line(format!("mounts ({}):", m.entries.len()));
            for row in mount_rows(&m.entries) {
                line(format!("  {row}"));
            }
        }
    }

    match r.files.get() {
        Err(e) => line(format!("files: unreadable: {e}")),
        Ok(f) => {
            let image = summarize(&f.image);
            line(format!(
                "the image holds: {}",
                if image.is_empty() {
                    "nothing".into()
                } else {
                    image.join(" ")
                }
            ));
            line("the instance adds:".into());
            for row in added_rows(&f.added) {
                line(format!("  {row}"));
            }
            let made: Vec<&str> = f
                .added
                .iter()
                .filter(|e| e.on_disk.as_deref().is_some_and(|d| d.contains("the runtime made")))
                .map(|e| e.path.as_str())
                .collect();
            if !made.is_empty() {
                line(format!(
                    "mount points the runtime made in the image directory on disk (they stay after delete): {}",
                    made.join(" ")
                ));
            }
            let hidden: Vec<&str> = f
                .added
                .iter()
                .filter(|e| {
                    e.on_disk
                        .as_deref()
                        .is_some_and(|d| !d.contains("the runtime made") && d != "nothing")
                })
                .map(|e| e.path.as_str())
                .collect();
            if !hidden.is_empty() {
                line(format!(
                    "mounted over what the image directory on disk already holds (mount points left by an earlier container of this bundle, or the image's own): {}",
                    hidden.join(" ")
                ));
            }
            if let Some(t) = &f.truncated {
                line(format!("(walk cut short: {t})"));
            }
        }
    }
    out
}

fn show(s: &Section<String>) -> String {
    match s.get() {
        Ok(v) => v.clone(),
        Err(e) => format!("(unreadable: {e})"),
    }
}

fn caps_text(c: &Capabilities) -> String {
    let all = cap_set(caps::all().iter().fold(0u64, |m, c| m | (1 << c.index())));
    let names = |s: &CapSet| {
        if s.names.is_empty() {
            "none".to_string()
        } else if s.names.len() >= all.names.len() && all.names.iter().all(|n| s.names.contains(n)) {
            format!("all {}", s.names.len())
        } else {
            s.names.join(",")
        }
    };
    // Sets equal to the effective one are named with it, the usual case for a container.
    let sets = [
        ("prm", &c.permitted),
        ("inh", &c.inheritable),
        ("bnd", &c.bounding),
        ("amb", &c.ambient),
    ];
    let mut label = String::from("eff");
    for (name, set) in sets {
        if *set == c.effective {
            label.push('=');
            label.push_str(name);
        }
    }
    let mut parts = vec![format!("{label} {} ({})", names(&c.effective), c.effective.hex)];
    for (name, set) in sets {
        if *set != c.effective {
            parts.push(format!("{name} {}", names(set)));
        }
    }
    parts.join(" · ")
}

/// One line per mount, sorted by mount point; sibling mounts of one type, source and reason
/// share a line (`/sys/fs/cgroup/{cpu,memory,…}`).
fn mount_rows(mounts: &[Mount]) -> Vec<String> {
    let mut sorted: Vec<&Mount> = mounts.iter().collect();
    sorted.sort_by(|a, b| a.mount_point.cmp(&b.mount_point));
    let parent_dir = |p: &str| p.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default();
    let name = |p: &str| p.rsplit('/').next().unwrap_or("").to_string();
    let width = mounts.iter().map(|m| m.mount_point.len()).max().unwrap_or(0).min(24);
    let mut rows = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let m = sorted[i];
        let mut j = i + 1;
        while j < sorted.len()
            && m.mount_point != "/"
            && sorted[j].parent == m.parent
            && sorted[j].fstype == m.fstype
            && sorted[j].source == m.source
            && sorted[j].why == m.why
            && sorted[j].options == m.options
            && parent_dir(&sorted[j].mount_point) == parent_dir(&m.mount_point)
        {
            j += 1;
        }
        let group = &sorted[i..j];
        let point = if group.len() > 1 {
            let names: Vec<String> = group.iter().map(|x| name(&x.mount_point)).collect();
            format!("{}/{{{}}}", parent_dir(&m.mount_point), names.join(","))
        } else {
            m.mount_point.clone()
        };
        // The part of the source filesystem mounted: shown unless it is its root.
        let root = if group.iter().all(|x| x.root == m.root) {
            m.root.clone()
        } else if group
            .iter()
            .all(|x| name(&x.root) == name(&x.mount_point) && parent_dir(&x.root) == parent_dir(&m.root))
        {
            format!("{}/{{…}}", parent_dir(&m.root))
        } else {
            "…".into()
        };
        let source = if root == "/" {
            m.source.clone()
        } else {
            format!("{}:{root}", m.source)
        };
        let mut row = format!(
            "{point:<width$}  {:<7} {:<5} {source} {}",
            m.fstype, m.origin, m.options
        );
        if let Some(w) = &m.why {
            row.push_str(&format!(" — {w}"));
        }
        rows.push(row);
        i = j;
    }
    rows
}

/// The image's entries for a reader: a directory with many entries listed is one item
/// (`/usr/ (+1234)`), and the list stops at 40 items.
fn summarize(entries: &[FileEntry]) -> Vec<String> {
    const CROWDED: usize = 10;
    let mut out = Vec::new();
    let mut skip_under: Option<String> = None;
    for e in entries {
        if skip_under.as_ref().is_some_and(|p| e.path.starts_with(p.as_str())) {
            continue;
        }
        let prefix = format!("{}/", e.path);
        let inside = entries.iter().filter(|x| x.path.starts_with(&prefix)).count();
        if e.kind == "dir" && inside > CROWDED {
            out.push(format!("{prefix} (+{inside})"));
            skip_under = Some(prefix);
        } else {
            out.push(entry_name(e));
        }
    }
    cap_list(out, 40)
}

fn cap_list(mut items: Vec<String>, max: usize) -> Vec<String> {
    if items.len() > max {
        let more = items.len() - max;
        items.truncate(max);
        items.push(format!("… and {more} more (see --format json)"));
    }
    items
}

fn entry_name(e: &FileEntry) -> String {
    match (&e.target, e.kind) {
        (Some(t), _) => format!("{}→{t}", e.path),
        (None, "dir") => format!("{}/", e.path),
        _ => e.path.clone(),
    }
}

/// Added entries, grouped: a mount point, an entry with a reason of its own or one whose
/// parent the image holds gets a line; the other entries are listed on their nearest
/// ancestor's line (`/dev (tmpfs) with null zero …`).
fn added_rows(added: &[FileEntry]) -> Vec<String> {
    let paths: std::collections::HashSet<&str> = added.iter().map(|e| e.path.as_str()).collect();
    let parent = |p: &str| -> String {
        match p.rsplit_once('/') {
            Some(("", _)) | None => "/".into(),
            Some((d, _)) => d.into(),
        }
    };
    let own_line = |e: &FileEntry| {
        e.mount.as_deref() == Some(e.path.as_str()) || e.why.is_some() || !paths.contains(parent(&e.path).as_str())
    };
    let heads: Vec<&FileEntry> = added.iter().filter(|e| own_line(e)).collect();
    let mut rows = Vec::new();
    for h in heads {
        let prefix = format!("{}/", h.path);
        // Descendants of h without a line of their own under a nearer head; direct children
        // are all listed, like `ls`.
        let members: Vec<String> = added
            .iter()
            .filter(|e| e.path.starts_with(&prefix))
            .filter(|e| {
                let rel = &e.path[prefix.len()..];
                !rel.contains('/') || !own_line(e) && nearest_head(added, &e.path, &own_line) == Some(h.path.as_str())
            })
            .map(|e| {
                let rel = &e.path[prefix.len()..];
                match (&e.target, e.kind) {
                    (Some(t), _) => format!("{rel}→{t}"),
                    (None, "dir") => format!("{rel}/"),
                    _ => rel.to_string(),
                }
            })
            .collect();
        let members = cap_list(members, 40);
        let mut row = if h.mount.as_deref() == Some(h.path.as_str()) {
            format!("{} ({} mount)", h.path, h.fstype.as_deref().unwrap_or("?"))
        } else {
            format!("{} ({})", entry_name(h), h.kind)
        };
        if !members.is_empty() {
            row.push_str(&format!(" with {}", members.join(" ")));
        }
        if let Some(w) = &h.why {
            row.push_str(&format!(" — {w}"));
        }
        rows.push(row);
    }
    rows
}

fn nearest_head<'e>(added: &'e [FileEntry], path: &str, own_line: &dyn Fn(&FileEntry) -> bool) -> Option<&'e str> {
    added
        .iter()
        .filter(|h| own_line(h) && path.starts_with(&format!("{}/", h.path)))
        .max_by_key(|h| h.path.len())
        .map(|h| h.path.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_is_parsed_and_unescaped() {
        let text = "67 45 254:0 /tmp/b/rootfs / ro,relatime - ext4 /dev/vda rw\n\
                    43 67 254:0 /run/scrun/x/hosts /etc/hosts ro,nosuid shared:3 master:1 - ext4 /dev/vda rw\n\
                    68 67 0:40 / /my\\040dir rw - proc proc rw\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 3);
        assert_eq!((m[0].mount_point.as_str(), m[0].origin), ("/", "image"));
        assert_eq!(m[1].fstype, "ext4");
        assert_eq!(m[1].root, "/run/scrun/x/hosts");
        assert_eq!(m[1].origin, "added");
        assert_eq!(m[2].mount_point, "/my dir");
        let config = Config::default();
        let m = explain_mounts(&m, &config);
        assert_eq!(
            m[1].why.as_deref(),
            Some("generated by the runtime (a file of its state directory, read-only)")
        );
    }

    #[test]
    fn limits_are_parsed_by_column() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max cpu time              unlimited            unlimited            seconds   \n\
                    Max open files            1024                 4096                 files     \n";
        let l = parse_limits(text);
        assert_eq!(l.len(), 2);
        assert_eq!(
            l[1],
            Limit {
                rlimit: Some("RLIMIT_NOFILE".into()),
                resource: "Max open files".into(),
                soft: "1024".into(),
                hard: "4096".into(),
                units: "files".into(),
            }
        );
    }

    #[test]
    fn capabilities_are_named() {
        let s = cap_set(0x20000420);
        assert_eq!(s.hex, "0000000020000420");
        assert_eq!(s.names, ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]);
        assert_eq!(cap_set(1 << 63).names, ["CAP_63"]);
    }

    #[test]
    fn ids_are_mapped_into_the_user_namespace() {
        let map = ["0 100000 65536".to_string(), "65536 5000 1".to_string()];
        assert_eq!(map_in(&map, 100000), Some(0));
        assert_eq!(map_in(&map, 100007), Some(7));
        assert_eq!(map_in(&map, 5000), Some(65536));
        assert_eq!(map_in(&map, 0), None);
    }

    #[test]
    fn escapes() {
        assert_eq!(crate::mountinfo::unescape("a\\040b\\011c\\134d"), "a b\tc\\d");
        assert_eq!(crate::mountinfo::unescape("trailing\\04"), "trailing\\04");
    }
}
