//! /proc/PID of the container's process, read through one fd.

use anyhow::{bail, Context, Result};
use nix::fcntl::{openat, readlinkat, OFlag};
use nix::sys::stat::Mode;
use std::io::Read;
use std::os::fd::OwnedFd;

pub(super) struct Proc {
    pub(super) pid: i32,
    pub(super) start_time: u64,
    pub(super) fd: OwnedFd,
}

impl Proc {
    pub(super) fn open(pid: i32, start_time: u64) -> Result<Proc> {
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
    pub(super) fn alive(&self) -> bool {
        let Ok(stat) = self.read("stat") else { return false };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            return false;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        !matches!(fields.first(), Some(&"Z") | Some(&"X") | None)
            && fields.get(19).and_then(|f| f.parse().ok()) == Some(self.start_time)
    }

    pub(super) fn read(&self, name: &str) -> Result<String> {
        let bytes = self.read_bytes(name)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    pub(super) fn read_bytes(&self, name: &str) -> Result<Vec<u8>> {
        let fd = openat(&self.fd, name, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| self.err("read", name, e))?;
        let mut out = Vec::new();
        std::fs::File::from(fd)
            .read_to_end(&mut out)
            .map_err(|e| anyhow::anyhow!("read /proc/{}/{name}: {e}", self.pid))?;
        Ok(out)
    }

    pub(super) fn readlink(&self, name: &str) -> Result<String> {
        readlinkat(&self.fd, name)
            .map(|t| t.to_string_lossy().into_owned())
            .map_err(|e| self.err("readlink", name, e))
    }

    pub(super) fn open_dir(&self, name: &str) -> Result<OwnedFd> {
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
