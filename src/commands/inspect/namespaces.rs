//! The namespaces of the container's process, against the host's.

use super::proc::Proc;
use serde::Serialize;

#[derive(Serialize)]
pub(super) struct Namespaces {
    pub(super) mnt: Ns,
    pub(super) pid: Ns,
    pub(super) net: Ns,
    pub(super) ipc: Ns,
    pub(super) uts: Ns,
    pub(super) user: Ns,
    pub(super) cgroup: Ns,
    pub(super) time: Ns,
}

/// One namespace: the inode of /proc/PID/ns/X and of /proc/self/ns/X (the host's, as scrun
/// runs in them); `own` when they differ.
#[derive(Serialize, Clone)]
pub(super) struct Ns {
    pub(super) inode: Option<u64>,
    pub(super) host_inode: Option<u64>,
    pub(super) own: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) unreadable: Option<String>,
}

pub(super) fn namespaces(proc: &Proc) -> Namespaces {
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
    pub(super) fn list(&self) -> [(&'static str, &Ns); 8] {
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
