//! The process: identity, capabilities, limits and fds.

use super::proc::Proc;
use super::{section, Section};
use anyhow::{Context, Result};
use nix::fcntl::readlinkat;
use serde::Serialize;
use std::collections::HashMap;
use std::os::fd::AsFd;

#[derive(Serialize)]
pub(super) struct Process {
    pub(super) host_pid: i32,
    /// The pid in the container's own pid namespace (last field of NSpid).
    pub(super) ns_pid: Option<i64>,
    /// NSpid: the pid in each pid namespace, from the host's down to the container's.
    pub(super) ns_pids: Vec<i64>,
    pub(super) name: Option<String>,
    pub(super) state: Option<String>,
    /// As the host sees them.
    pub(super) uid: Ids,
    pub(super) gid: Ids,
    pub(super) groups: Vec<u32>,
    /// In a user namespace of its own: /proc/PID/uid_map and gid_map (inside outside count),
    /// and the effective ids as the container sees them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) user_namespace: Option<UserNs>,
    pub(super) capabilities: Capabilities,
    pub(super) no_new_privs: Option<bool>,
    /// disabled, strict or filter.
    pub(super) seccomp: Option<String>,
    pub(super) seccomp_filters: Option<u32>,
    pub(super) umask: Option<String>,
    pub(super) cwd: Section<String>,
    pub(super) exe: Section<String>,
    pub(super) cmdline: Section<Vec<String>>,
}

#[derive(Serialize)]
pub(super) struct UserNs {
    pub(super) uid_map: Vec<String>,
    pub(super) gid_map: Vec<String>,
    pub(super) uid: Option<u32>,
    pub(super) gid: Option<u32>,
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
pub(super) struct Ids {
    pub(super) real: Option<u32>,
    pub(super) effective: Option<u32>,
    pub(super) saved: Option<u32>,
    pub(super) fs: Option<u32>,
}

#[derive(Serialize)]
pub(super) struct Capabilities {
    pub(super) effective: CapSet,
    pub(super) permitted: CapSet,
    pub(super) inheritable: CapSet,
    pub(super) bounding: CapSet,
    pub(super) ambient: CapSet,
}

#[derive(Serialize, PartialEq, Eq, Clone)]
pub(super) struct CapSet {
    pub(super) hex: String,
    pub(super) names: Vec<String>,
}

#[derive(Serialize)]
pub(super) struct Cgroup {
    pub(super) lines: Vec<String>,
}

#[derive(Serialize)]
pub(super) struct Limits {
    pub(super) resources: Vec<Limit>,
}

#[derive(Serialize, Debug, PartialEq, Eq)]
pub(super) struct Limit {
    /// The name config.json's process.rlimits uses, e.g. RLIMIT_NOFILE.
    pub(super) rlimit: Option<String>,
    /// The kernel's name, e.g. "Max open files".
    pub(super) resource: String,
    pub(super) soft: String,
    pub(super) hard: String,
    pub(super) units: String,
}

#[derive(Serialize)]
pub(super) struct Fds {
    pub(super) entries: Vec<FdEntry>,
}

#[derive(Serialize)]
pub(super) struct FdEntry {
    pub(super) fd: i32,
    pub(super) target: Section<String>,
    /// O_CLOEXEC, from the flags of /proc/PID/fdinfo/N: the fd closes when the process execs.
    pub(super) close_on_exec: Option<bool>,
}

pub(super) fn process(proc: &Proc) -> Result<Process> {
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
pub(super) fn cap_set(mask: u64) -> CapSet {
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
pub(super) fn parse_limits(text: &str) -> Vec<Limit> {
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

pub(super) fn fds(proc: &Proc) -> Result<Fds> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
