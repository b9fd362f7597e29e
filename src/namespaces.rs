//! Linux namespaces: the clone flag of each kind, entering an existing one by path after
//! checking that the file really is a namespace of the kind config.json says, and the kinds
//! the runtime itself handles before the clone.

use crate::idmap::IdMap;
use anyhow::{bail, Context, Result};
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// Every kind scrun knows, as config.json names them.
pub const KINDS: [&str; 8] = ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"];

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

/// The name of the kind's file in /proc/PID/ns.
pub fn file(kind: &str) -> &str {
    match kind {
        "mount" => "mnt",
        "network" => "net",
        k => k,
    }
}

/// Kinds the runtime joins just before the clone, so that the one clone is born in them.
/// Entering a pid namespace only affects the caller's children. Entering a time namespace
/// needs CAP_SYS_ADMIN in the user namespace that owns it: the one scrun makes is owned by
/// the runtime's, where the init, once in the container's user namespace, has no rights.
pub fn joined_by_runtime(kind: &str) -> bool {
    kind == "pid" || kind == "time"
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
        let name = KINDS.into_iter().find(|k| flag(k) == actual).unwrap_or("unknown");
        bail!("{} is a {name} namespace, not a {kind} namespace", path.display());
    }
    Ok(fd)
}

// The flags are kept as they are: nix's CloneFlags has no CLONE_NEWTIME, which truncating
// would silently turn into 0 ("any kind" for setns, nothing for unshare).
pub fn enter(kind: &str, fd: &OwnedFd) -> Result<()> {
    nix::sched::setns(fd, nix::sched::CloneFlags::from_bits_retain(flag(kind))).with_context(|| format!("setns {kind}"))
}

pub fn unshare(kind: &str) -> Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(flag(kind))).map_err(|e| {
        // A kernel built without the kind has no /proc/self/ns file for it, and says EINVAL.
        let missing = e == nix::errno::Errno::EINVAL && !Path::new("/proc/self/ns").join(file(kind)).exists();
        let why = if missing {
            " (this kernel has no such namespaces)"
        } else {
            ""
        };
        anyhow::anyhow!("unshare {kind} namespace: {e}{why}")
    })
}

/// The runtime's own namespaces of the kinds it changes before the clone, to go back to once
/// the init exists: the hooks it runs after that (createRuntime, prestart) belong in the
/// runtime's namespaces, and an exec'd hook would otherwise land in the container's.
pub struct Own(Vec<(String, OwnedFd)>);

impl Own {
    pub fn save<'a>(kinds: impl IntoIterator<Item = &'a str>) -> Result<Own> {
        kinds
            .into_iter()
            .map(|kind| {
                let path = format!("/proc/self/ns/{}", file(kind));
                Ok((kind.to_string(), open(kind, Path::new(&path))?))
            })
            .collect::<Result<_>>()
            .map(Own)
    }

    pub fn restore(self) -> Result<()> {
        // One the runtime never left (a pid namespace handed to the helper of CloneInside)
        // needs no setns, which a rootless runtime could not make.
        for (kind, fd) in self.0.iter().filter(|(kind, fd)| !is_current(kind, fd)) {
            enter(kind, fd).with_context(|| format!("return to the runtime's own {kind} namespace"))?;
        }
        Ok(())
    }
}

/// Whether `fd` is the namespace this process is in, or for a pid or time namespace, the one
/// its children go to (entering one changes only that).
fn is_current(kind: &str, fd: &OwnedFd) -> bool {
    use std::os::unix::fs::MetadataExt;
    let children = if joined_by_runtime(kind) { "_for_children" } else { "" };
    let ours = std::fs::metadata(format!("/proc/self/ns/{}{children}", file(kind)));
    matches!((ours, nix::sys::stat::fstat(fd)), (Ok(o), Ok(s)) if o.ino() == s.st_ino && o.dev() == s.st_dev)
}

/// Fork with namespace flags: the raw clone syscall with no new stack behaves like fork, so
/// the child runs on in this same code with its namespaces already made.
pub fn clone(flags: libc::c_int) -> Result<Pid> {
    // SAFETY: without CLONE_VM the child gets a copy of this single-threaded process, as with
    // fork; the arguments after flags (stack, tids, tls) are unused.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if ret < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(Pid::from_raw(ret as i32))
}

/// `clone(flags)` made inside `userns`, a user namespace joined by path, so that the namespaces
/// the clone makes belong to it (a namespace belongs to the user namespace of its maker), and
/// in `pid_ns` if one is joined by path. A short-lived helper joins them and clones with
/// CLONE_PARENT: the init is the runtime's child as from `clone`, and the helper, which stays
/// in the runtime's pid namespace, sees its pid as the runtime does. Returns as `clone` does.
pub fn clone_inside(userns: &OwnedFd, pid_ns: Option<&OwnedFd>, flags: libc::c_int) -> Result<Pid> {
    let (from_helper, to_runtime) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe")?;
    let helper = clone(0).context("fork the helper that clones the init")?;
    if helper.as_raw() == 0 {
        drop(from_helper);
        // The runtime's own user namespace (rootless, to join a pid namespace: see
        // crate::rootless) cannot be entered again, and needs not be.
        let joined = match is_current("user", userns) {
            true => Ok(()),
            false => enter("user", userns),
        };
        let cloned = joined
            .and_then(|()| pid_ns.map_or(Ok(()), |fd| enter("pid", fd)))
            .and_then(|()| clone(flags | libc::CLONE_PARENT));
        let answer = match cloned {
            Ok(pid) if pid.as_raw() == 0 => return Ok(pid),
            Ok(pid) => pid.to_string(),
            Err(e) => format!("{e:#}"),
        };
        let _ = nix::unistd::write(&to_runtime, answer.as_bytes());
        // SAFETY: leave this forked copy without running the runtime's exit handlers.
        unsafe { libc::_exit(0) }
    }
    drop(to_runtime);
    let mut buf = [0u8; 512];
    let n = nix::unistd::read(&from_helper, &mut buf).unwrap_or(0);
    let _ = nix::sys::wait::waitpid(helper, None);
    let answer = String::from_utf8_lossy(&buf[..n]);
    match answer.parse::<i32>() {
        Ok(pid) => Ok(Pid::from_raw(pid)),
        Err(_) if answer.is_empty() => bail!("the helper that clones the init died"),
        Err(_) => bail!("{answer}"),
    }
}

pub fn write_id_maps(pid: Pid, uid: &[IdMap], gid: &[IdMap]) -> Result<()> {
    if crate::rootless::unprivileged() {
        return crate::rootless::write_id_maps(pid, uid, gid);
    }
    let text = |maps: &[IdMap]| {
        maps.iter()
            .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
            .collect::<String>()
    };
    for (file, maps) in [("uid_map", uid), ("gid_map", gid)] {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, text(maps)).with_context(|| format!("write {path}"))?;
    }
    Ok(())
}

/// A user namespace with these mappings, held by an fd alone (for an idmapped mount): made by
/// a child that only waits to be killed, whose maps the runtime writes. The child is reaped
/// before this returns, whatever happens.
pub fn new_user_namespace(uid: &[IdMap], gid: &[IdMap]) -> Result<OwnedFd> {
    let parent = nix::unistd::getpid();
    let pid = clone(libc::CLONE_NEWUSER).context("clone a user namespace")?;
    if pid.as_raw() == 0 {
        // Dies with the runtime too, should the runtime die before it kills it.
        // SAFETY: prctl, getppid, pause and _exit are async-signal-safe and touch no memory
        // this forked copy shares.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != parent.as_raw() {
                libc::_exit(1);
            }
            loop {
                libc::pause();
            }
        }
    }
    struct Reap(Pid);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = nix::sys::signal::kill(self.0, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(self.0, None);
        }
    }
    let child = Reap(pid);
    write_id_maps(child.0, uid, gid)?;
    open("user", Path::new(&format!("/proc/{}/ns/user", child.0)))
}
