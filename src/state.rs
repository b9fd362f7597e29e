//! The state store: one directory per container under `--root`, holding `state.json` and the
//! files scrun generated for it. `mkdir` of that directory is the lock that makes exactly one of
//! two concurrent `create`s of an id win; an flock on it serialises later operations.

mod listeners;
mod listing;

pub use listing::Listed;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::io::ErrorKind;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The start socket: the created init blocks in accept() on it until `start` connects.
pub const START_SOCKET: &str = "start.sock";
const STATE_FILE: &str = "state.json";
/// The plan `create` carried out (`plan::Recorded`), written once for `inspect`.
pub const PLAN_FILE: &str = "plan.json";
/// The record of what a create makes on the host (see `Made`), apart from state.json.
const MADE_FILE: &str = "made.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What scrun keeps about a container. The status is never stored: it is derived from the
/// process (alive, same start time) and the start socket (present until `start`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub id: String,
    pub pid: i32,
    /// Field 22 of /proc/PID/stat, so a recycled pid is not mistaken for the container.
    pub pid_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    pub owner: String,
    /// The container's cgroup, once created.
    #[serde(default)]
    pub cgroup: Option<crate::cgroups::SavedCgroup>,
    /// hooks.poststart and hooks.poststop, run by `start` and `delete`.
    #[serde(default)]
    pub poststart: Vec<crate::hooks::Hook>,
    #[serde(default)]
    pub poststop: Vec<crate::hooks::Hook>,
    /// True when the container shares the caller's pid namespace, so `kill --all` cannot rely on
    /// the kernel killing the namespace with its init.
    #[serde(default)]
    pub shared_pid_ns: bool,
}

/// The runtime spec's state object, as `scrun state` prints it.
#[derive(Serialize)]
pub struct OciState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: Status,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: &'a HashMap<String, String>,
    pub owner: &'a str,
}

/// A process known by pid and start time: the pair names one process for the life of the host,
/// where the pid alone may have been reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub pid: i32,
    pub start_time: u64,
}

impl Identity {
    pub fn of(pid: i32) -> Result<Identity> {
        let start_time = start_time(pid).with_context(|| format!("process {pid} vanished"))?;
        Ok(Identity { pid, start_time })
    }
}

/// What a create makes outside its state directory, written there before it is made: the
/// cgroup it is about to make, then also the init's identity as soon as it exists (the init
/// may be born in its cgroup, made first: `CloneStep::IntoCgroup`). `delete --force`
/// reads it when state.json cannot be, so a create killed at any point, or a state.json lost,
/// leaves nothing it cannot find. Not fsync'd: what it names does not outlive the host either.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Made {
    #[serde(default)]
    pub init: Option<Identity>,
    #[serde(default)]
    pub cgroup: Option<crate::cgroups::SavedCgroup>,
}

impl Made {
    pub fn save(&self, dir: &Path) -> Result<()> {
        write_atomic(&dir.join(MADE_FILE), &serde_json::to_vec(self)?)
    }
}

pub struct Store {
    root: PathBuf,
}

/// A container directory whose state.json cannot be read: what is known of it, for `list` and
/// for `delete --force` to clean up.
pub struct Wreck {
    pub id: String,
    pub dir: PathBuf,
    /// What the create recorded, if it got that far and the record reads.
    pub made: Option<Made>,
    /// Why it is corrupt, naming the file.
    pub why: String,
    _lock: Lock,
}

pub enum Loaded {
    Ok(Container),
    Corrupt(Wreck),
}

pub struct Container {
    pub dir: PathBuf,
    pub saved: Saved,
    /// Held while this view of the container is in use; files are read through it.
    lock: Lock,
}

impl Store {
    pub fn open(root: &Path) -> Result<Store> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .with_context(|| format!("create state root {}", root.display()))?;
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    /// What scrun caches between containers (compiled seccomp filters). Its name is not a
    /// valid container id, so it never shows as one.
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join(".cache")
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Claim an id: the directory appears atomically or the id is taken.
    pub fn claim(&self, id: &str) -> Result<(PathBuf, Lock)> {
        check_id(id)?;
        let dir = self.dir(id);
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => bail!("container with id {id} already exists"),
            Err(e) => return Err(e).with_context(|| format!("create state directory {}", dir.display())),
        }
        let lock = lock(&dir)?;
        Ok((dir, lock))
    }

    /// Remove the state directory of `id` if it holds neither state.json nor the record of what
    /// was made (a create that died before making anything), deciding under its lock: a create
    /// that has just claimed the id is not wiped.
    pub fn remove_abandoned(&self, id: &str) -> Result<()> {
        check_id(id)?;
        let dir = self.dir(id);
        let Ok(lock) = lock(&dir) else {
            return Ok(());
        };
        let gone = |name: &str| read_in(&lock, name).is_err_and(|e| e.kind() == ErrorKind::NotFound);
        if gone(STATE_FILE) && gone(MADE_FILE) {
            std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))?;
        }
        Ok(())
    }

    pub fn load(&self, id: &str) -> Result<Container> {
        match self.load_any(id)? {
            Loaded::Ok(c) => Ok(c),
            Loaded::Corrupt(w) => Err(w.error()),
        }
    }

    /// The container, or what is known of it when its state.json is missing or unreadable.
    /// A directory with neither state.json nor the record of what was made holds nothing on
    /// the host: a create under way (its lock is taken before either is written) or one that
    /// died before making anything, so "does not exist".
    pub fn load_any(&self, id: &str) -> Result<Loaded> {
        check_id(id)?;
        let dir = self.dir(id);
        let missing = || anyhow::anyhow!("container {id} does not exist");
        let lock = match lock(&dir) {
            Ok(l) => l,
            Err(_) if !dir.exists() => return Err(missing()),
            Err(e) => return Err(e),
        };
        // Read through the locked directory, not by path: the directory at that path may by
        // now be another container's of the same id (this one deleted, a new one created).
        let read = |name: &str| read_in(&lock, name);
        let path = dir.join(STATE_FILE);
        let why = match read(STATE_FILE) {
            Ok(text) => match serde_json::from_slice(&text) {
                Ok(saved) => return Ok(Loaded::Ok(Container { dir, saved, lock })),
                Err(e) => format!("{}: {e}", path.display()),
            },
            Err(e) => format!("{}: {}", path.display(), io_why(&e)),
        };
        let made_path = dir.join(MADE_FILE);
        let (made, why) = match read(MADE_FILE) {
            Ok(text) => match serde_json::from_slice(&text) {
                Ok(made) => (Some(made), why),
                Err(e) => (None, format!("{why}; {}: {e}", made_path.display())),
            },
            Err(e)
                if e.kind() == ErrorKind::NotFound
                    && read(STATE_FILE).is_err_and(|e| e.kind() == ErrorKind::NotFound) =>
            {
                return Err(missing())
            }
            Err(e) => (None, format!("{why}; {}: {}", made_path.display(), io_why(&e))),
        };
        Ok(Loaded::Corrupt(Wreck {
            id: id.to_string(),
            dir,
            made,
            why,
            _lock: lock,
        }))
    }
}

/// Save the state of a container being created, atomically (temp file + rename).
pub fn save(dir: &Path, saved: &Saved) -> Result<()> {
    write_atomic(&dir.join(STATE_FILE), &serde_json::to_vec(saved)?)
}

impl Container {
    pub fn status(&self) -> Status {
        let frozen = || {
            self.cgroup()
                .is_some_and(|c| c.state().ok() == Some(crate::cgroups::FreezerState::Frozen))
        };
        let socket = || {
            nix::sys::stat::fstatat(
                self.lock.as_fd(),
                START_SOCKET,
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .is_ok()
        };
        match settled_status(self.saved.pid, self.saved.pid_start_time, socket) {
            Some(status) => status,
            None if frozen() => Status::Paused,
            None => Status::Running,
        }
    }

    pub fn cgroup(&self) -> Option<crate::cgroups::Cgroup> {
        self.saved
            .cgroup
            .as_ref()
            .and_then(|c| crate::cgroups::Cgroup::open(c).ok())
    }

    pub fn oci_state(&self) -> OciState<'_> {
        OciState {
            oci_version: oci_spec::runtime::VERSION,
            id: &self.saved.id,
            pid: self.saved.pid,
            status: self.status(),
            bundle: &self.saved.bundle,
            rootfs: &self.saved.rootfs,
            created: &self.saved.created,
            annotations: &self.saved.annotations,
            owner: &self.saved.owner,
        }
    }

    pub fn identity(&self) -> Identity {
        Identity {
            pid: self.saved.pid,
            start_time: self.saved.pid_start_time,
        }
    }

    pub fn remove(self) -> Result<()> {
        remove_dir(&self.dir)
    }
}

impl Wreck {
    pub fn error(&self) -> anyhow::Error {
        anyhow::anyhow!(
            "state of container {0} is corrupt: {1} (`scrun delete --force {0}` kills its processes and removes it)",
            self.id,
            self.why
        )
    }

    pub fn cgroup(&self) -> Option<crate::cgroups::Cgroup> {
        let saved = self.made.as_ref()?.cgroup.as_ref()?;
        crate::cgroups::Cgroup::open(saved).ok()
    }

    pub fn remove(self) -> Result<()> {
        remove_dir(&self.dir)
    }
}

fn io_why(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::NotFound => "missing".into(),
        _ => e.to_string(),
    }
}

fn remove_dir(dir: &Path) -> Result<()> {
    std::fs::remove_dir_all(dir).with_context(|| format!("remove {}", dir.display()))
}

/// An exclusive flock on a container's directory, held until dropped.
pub type Lock = nix::fcntl::Flock<File>;

/// The status of a container whose init is `pid` started at `start`, when it is settled
/// without the cgroup: stopped (the process is gone, or the pid is another's now) or created
/// (the start socket is still there, which `socket` says). None: running or paused.
fn settled_status(pid: i32, start: u64, socket: impl FnOnce() -> bool) -> Option<Status> {
    if start_time(pid) != Some(start) {
        Some(Status::Stopped)
    } else if socket() {
        Some(Status::Created)
    } else {
        None
    }
}

/// Read the file `name` of the directory `dir` holds.
fn read_in(dir: &Lock, name: &str) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    let len = read_at(dir.as_fd(), name, &mut data)?;
    data.truncate(len);
    Ok(data)
}

/// Read the file at `path` under `dir` into the start of `buf`, which grows as needed and is
/// not cleared (a list reuses one for every state.json), and return its length.
fn read_at(dir: impl AsFd, path: &str, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let fd = nix::fcntl::openat(
        dir,
        path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    // A state file is small and regular: a read short of the buffer is its end, with no stat
    // for a size hint and no read of nothing after it (a list reads one a container).
    let mut file = File::from(fd);
    if buf.len() < 4096 {
        buf.resize(4096, 0);
    }
    let mut len = 0;
    loop {
        match std::io::Read::read(&mut file, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        if len < buf.len() {
            break;
        }
        buf.resize(buf.len() * 2, 0);
    }
    Ok(len)
}

fn lock(dir: &Path) -> Result<Lock> {
    let f = File::open(dir).with_context(|| format!("open {}", dir.display()))?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow::anyhow!("lock {}: {e}", dir.display()))
}

/// Wait (up to 10 s) until the process is gone, even though it is not our child: a pidfd polls
/// readable when it exits. With `signal`, send it first through the same pidfd, so it cannot
/// reach a recycled pid (the start time, read once the pidfd is open, says it is the same one).
pub fn wait_exit(process: Identity, signal: Option<i32>) -> Result<()> {
    // SAFETY: pidfd_open returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, process.pid, 0) };
    if fd < 0 {
        return Ok(()); // already gone
    }
    // SAFETY: the fd was just returned to us.
    let pidfd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    if start_time(process.pid) != Some(process.start_time) {
        return Ok(());
    }
    if let Some(sig) = signal {
        use std::os::fd::AsRawFd;
        // SAFETY: pidfd_send_signal with a valid pidfd and no siginfo.
        if unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), sig, 0usize, 0) } < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ESRCH) {
                return Err(e).context("signal the container's process");
            }
        }
    }
    let mut pfd = [nix::poll::PollFd::new(
        std::os::fd::AsFd::as_fd(&pidfd),
        nix::poll::PollFlags::POLLIN,
    )];
    nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(10_000u16))
        .context("wait for the container's process to exit")?;
    Ok(())
}

/// The start time of a live (not zombie) process, from /proc/PID/stat.
pub fn start_time(pid: i32) -> Option<u64> {
    // One read into the stack: the line is well under 4 KiB (52 numbers and a comm of at most
    // 64 bytes), and procfs hands all of it to the first read, so `list` pays one open, one
    // read and one close a container, and no allocation.
    let mut path = [0u8; 32];
    let mut cursor = std::io::Cursor::new(&mut path[..]);
    std::io::Write::write_fmt(&mut cursor, format_args!("/proc/{pid}/stat")).ok()?;
    let len = cursor.position() as usize;
    let path = std::ffi::OsStr::from_bytes(&path[..len]);
    let mut file = File::open(path).ok()?;
    let mut buf = [0u8; 4096];
    let len = loop {
        match std::io::Read::read(&mut file, &mut buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            read => break read.ok()?,
        }
    };
    parse_start_time(&buf[..len])
}

/// Field 22 of a /proc/PID/stat line, or None for a zombie (or dead) process.
fn parse_start_time(stat: &[u8]) -> Option<u64> {
    // comm may hold spaces and parentheses: the fields start after the last ')'.
    let close = stat.iter().rposition(|&b| b == b')')?;
    let mut fields = stat.get(close + 2..)?.split(|&b| b == b' ');
    if matches!(fields.next()?, b"Z" | b"X") {
        return None;
    }
    std::str::from_utf8(fields.nth(18)?).ok()?.parse().ok()
}

/// runc's rule for ids, stricter on what could escape `--root` or confuse a terminal.
pub fn check_id(id: &str) -> Result<()> {
    // A leading dot is refused too: the store keeps its own entries (".cache") beside ids.
    let ok = !id.is_empty()
        && !id.starts_with('.')
        && id.len() <= 1024
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
    if !ok {
        bail!("invalid container id {id:?}: use 1 to 1024 characters of A-Z a-z 0-9 _ + - . (not starting with \".\")");
    }
    Ok(())
}

/// Write a file so readers see the old content or the new, never a part: the pid file is read
/// by containerd's shim the moment `create` exits. The data is synced before the rename, so a
/// crash of the host cannot leave the name pointing at an empty or partial file on a `--root`
/// on disk (on tmpfs, the usual /run, fsync returns at once). The directory is not synced: a
/// rename lost that way loses a container whose processes did not survive the crash either.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let name = path.file_name().context("no file name")?.to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)?;
        // No fsync: what these files describe (the container's processes, its cgroup) does
        // not outlive a host crash either, a torn state.json after one is reported as corrupt
        // and `delete --force` still cleans up, and scrun's roots are on tmpfs (/run) anyway.
        // On a disk it cost ~0.3 ms per file at every create.
        std::io::Write::write_all(&mut f, data)?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::anyhow!("write {}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for good in ["a", "abc-1_2.3+x", &"f".repeat(64)] {
            check_id(good).unwrap();
        }
        for bad in ["", ".", "..", ".cache", "a/b", "../x", "a\nb", "a b", "é"] {
            assert!(check_id(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn start_time_is_field_22_whatever_the_comm() {
        let tail = b" 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4242 20 21\n";
        let line = |comm: &[u8], state: &[u8]| [b"7 (".as_slice(), comm, b") ", state, tail].concat();
        assert_eq!(parse_start_time(&line(b"sh", b"S")), Some(4242));
        // A process names itself: spaces, parentheses and bytes that are not UTF-8.
        assert_eq!(parse_start_time(&line(b"a) S 1 (b \xff", b"R")), Some(4242));
        assert_eq!(parse_start_time(&line(b"sh", b"Z")), None);
        assert_eq!(parse_start_time(b"7 (sh) S 1"), None);
    }

    #[test]
    fn own_start_time_is_read() {
        assert!(start_time(std::process::id() as i32).is_some());
        assert!(start_time(i32::MAX).is_none());
    }
}
