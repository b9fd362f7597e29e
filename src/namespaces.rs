//! Linux namespaces: the clone flag of each kind, and entering an existing one by path after
//! checking that the file really is a namespace of the kind config.json says.

use anyhow::{bail, Context, Result};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

pub fn flag(kind: &str) -> libc::c_int {
    match kind {
        "mount" => libc::CLONE_NEWNS,
        "cgroup" => libc::CLONE_NEWCGROUP,
        "uts" => libc::CLONE_NEWUTS,
        "ipc" => libc::CLONE_NEWIPC,
        "user" => libc::CLONE_NEWUSER,
        "pid" => libc::CLONE_NEWPID,
        "network" => libc::CLONE_NEWNET,
        "time" => libc::CLONE_NEWTIME,
        _ => 0,
    }
}

/// Open a namespace file and check its type (NS_GET_NSTYPE), so a bind-mounted file of the
/// wrong kind, or an ordinary file, is refused before anything is created.
pub fn open(kind: &str, path: &Path) -> Result<OwnedFd> {
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    let fd: OwnedFd = std::fs::File::open(path)
        .with_context(|| format!("open {kind} namespace {}", path.display()))?
        .into();
    // SAFETY: NS_GET_NSTYPE takes no argument and only returns an int.
    let actual = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) };
    if actual < 0 {
        bail!("{} is not a namespace file", path.display());
    }
    if actual != flag(kind) {
        let name = ["mount", "cgroup", "uts", "ipc", "user", "pid", "network", "time"]
            .into_iter()
            .find(|k| flag(k) == actual)
            .unwrap_or("unknown");
        bail!("{} is a {name} namespace, not a {kind} namespace", path.display());
    }
    Ok(fd)
}

pub fn enter(kind: &str, fd: &OwnedFd) -> Result<()> {
    nix::sched::setns(fd, nix::sched::CloneFlags::from_bits_truncate(flag(kind)))
        .with_context(|| format!("setns {kind}"))
}
