//! How a process comes to be in the container's cgroup: born there by the clone
//! (`clone_into`, in the cgroup2 directory `birthplace` makes), and entering each v1 hierarchy
//! by itself (`Entry`), so that no pid is written to a cgroup.procs file on the start path.

use super::{os_text, write, Cgroup};
use anyhow::{anyhow, bail, Context, Result};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

impl Cgroup {
    /// The cgroup's cgroup2 directory, made now and opened, for the clone that makes the init
    /// to place it there (`clone_into`, the plan's `CloneStep::IntoCgroup`, planned wherever
    /// cgroup2 is mounted, for a cgroup systemd does not make). Its v1 directories are made
    /// later, while the init works (`make_v1`).
    pub fn birthplace(&self) -> Result<OwnedFd> {
        let dir = match &self.saved.v2 {
            Some(dir) if self.saved.systemd_unit.is_none() => dir,
            _ => bail!("the init can be born only in a cgroup2 cgroup scrun makes"),
        };
        self.make_v2()?;
        open_dir(dir)
    }

    /// The existing cgroup2 directory, for an exec'd process to be born in.
    pub fn v2_dir(&self) -> Result<OwnedFd> {
        open_dir(
            self.saved
                .v2
                .as_deref()
                .context("the container has no cgroup2 cgroup")?,
        )
    }

    /// Puts `pid` in the cgroup, with its help: the `tasks` file of each v1 hierarchy, opened
    /// here for the process to write "0" into (`Entry::enter`), and, unless it was born there
    /// (`born`), its cgroup2 directory by pid.
    ///
    /// Why the process moves itself: a pid written to cgroup.procs takes the kernel's global
    /// cgroup_threadgroup_rwsem for writing, and the first writer after an idle spell waits
    /// out an RCU grace period (11 to 19 ms on this project's host, seen with `perf record -e
    /// sched:sched_switch -g` in rcu_sync_enter); a single thread that moves itself through
    /// `tasks` takes no such lock. Nor does a clone into a cgroup2 directory, while a thread
    /// cannot leave its cgroup2 domain that way: hence `born`.
    pub fn entry(&self, pid: i32, born: bool) -> Result<Entry> {
        if let (Some(dir), false) = (&self.saved.v2, born) {
            write(dir, "cgroup.procs", &pid.to_string())?;
        }
        let mut entry = Entry::default();
        for d in &self.saved.v1 {
            let path = d.dir.join("tasks");
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| anyhow!("open {}: {}", path.display(), os_text(&e)))?;
            entry.files.push(file.into());
            entry.dirs.push(d.dir.display().to_string());
        }
        Ok(entry)
    }
}

/// The kernel's struct clone_args, as far as CLONE_INTO_CGROUP needs (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// namespaces::clone, with the child born in the cgroup2 directory `dir` (clone3 with
/// CLONE_INTO_CGROUP, Linux 5.7). Returns as fork does: 0 in the child.
pub fn clone_into(flags: libc::c_int, dir: &OwnedFd) -> Result<nix::unistd::Pid> {
    let args = CloneArgs {
        flags: flags as u64 | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: dir.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    // SAFETY: without CLONE_VM and with no stack the child gets a copy of this single-threaded
    // process, as with fork; the kernel reads `args` (of the size given) and writes nothing.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if ret < 0 {
        return Err(std::io::Error::last_os_error()).context("clone3 into the container's cgroup");
    }
    Ok(nix::unistd::Pid::from_raw(ret as i32))
}

fn open_dir(dir: &Path) -> Result<OwnedFd> {
    nix::fcntl::open(
        dir,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .with_context(|| format!("open cgroup {}", dir.display()))
}

/// The v1 hierarchies a process enters by itself (`Cgroup::entry`): their directories, and
/// an fd of each one's `tasks` file, opened by the runtime.
#[derive(Debug, Default)]
pub struct Entry {
    pub dirs: Vec<String>,
    pub files: Vec<OwnedFd>,
}

impl Entry {
    /// Moves the calling thread, which must be its process's only one, into each hierarchy,
    /// and closes the files: they are the host's and must not reach the container.
    pub fn enter(self) -> Result<()> {
        if self.dirs.len() != self.files.len() {
            bail!(
                "{} cgroup directories came with {} tasks files",
                self.dirs.len(),
                self.files.len()
            );
        }
        for (dir, file) in self.dirs.iter().zip(self.files) {
            nix::unistd::write(&file, b"0")
                .with_context(|| format!("enter cgroup {dir}: write 0 to its tasks file"))?;
        }
        Ok(())
    }
}
