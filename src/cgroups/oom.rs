//! OOM kills in a container's cgroup, for `events`, from the files runc 1.1.5 watches: on v1 an
//! eventfd registered on memory.oom_control through cgroup.event_control (the kernel signals it
//! too when the cgroup is removed); on v2 inotify on memory.events, whose oom_kill count grows
//! with each kill, and on cgroup.events, which says when no process is left.

use super::{read_opt, stats::keyed, Dir};
use anyhow::{Context, Result};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// The kernel's OOM killer acted in the cgroup.
    Oom,
    /// The cgroup is gone (v1) or has no process left (v2): nothing more will come.
    Gone,
}

/// A watch on one cgroup's OOM kills: poll `fd` for reading, then `read`.
pub struct Watch {
    fd: OwnedFd,
    files: Files,
}

enum Files {
    V1 {
        dir: PathBuf,
        /// Registered with the eventfd; kept open as long as the registration.
        _oom_control: std::fs::File,
    },
    V2 {
        dir: PathBuf,
        memory_events: i32,
        cgroup_events: i32,
        /// oom_kill of memory.events when last read: kills before the watch are not news.
        oom_kills: u64,
    },
}

impl Watch {
    /// The watch on the memory controller's directory (`memory`, as `Cgroup::locate` gives it).
    pub fn new(memory: Dir) -> Result<Watch> {
        match memory {
            Dir::V1(dir) => {
                let oom_control = std::fs::File::open(dir.join("memory.oom_control"))
                    .with_context(|| format!("open {}/memory.oom_control", dir.display()))?;
                let efd: OwnedFd = nix::sys::eventfd::EventFd::from_flags(nix::sys::eventfd::EfdFlags::EFD_CLOEXEC)
                    .context("eventfd")?
                    .into();
                let control = dir.join("cgroup.event_control");
                std::fs::write(&control, format!("{} {}", efd.as_raw_fd(), oom_control.as_raw_fd()))
                    .with_context(|| format!("write {}", control.display()))?;
                Ok(Watch {
                    fd: efd,
                    files: Files::V1 {
                        dir: dir.to_path_buf(),
                        _oom_control: oom_control,
                    },
                })
            }
            Dir::V2(dir) => {
                // SAFETY: inotify_init1 takes flags only and returns a new fd or -1.
                let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
                if fd < 0 {
                    return Err(std::io::Error::last_os_error()).context("inotify_init1");
                }
                // SAFETY: the kernel just returned this fd, owned by nothing else.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                let memory_events = add_watch(&fd, &dir.join("memory.events"))?;
                let cgroup_events = add_watch(&fd, &dir.join("cgroup.events"))?;
                Ok(Watch {
                    fd,
                    files: Files::V2 {
                        dir: dir.to_path_buf(),
                        memory_events,
                        cgroup_events,
                        oom_kills: count(dir, "memory.events", "oom_kill")?.unwrap_or(0),
                    },
                })
            }
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// What happened, once `fd` is readable.
    pub fn read(&mut self) -> Result<Vec<Event>> {
        let mut buf = [0u8; 4096];
        let n = nix::unistd::read(&self.fd, &mut buf).context("read the OOM watch")?;
        match &mut self.files {
            Files::V1 { dir, .. } => {
                // The eventfd counts every OOM since the last read; runc reports one event.
                let gone = !dir.join("cgroup.event_control").exists();
                Ok(vec![if gone { Event::Gone } else { Event::Oom }])
            }
            Files::V2 {
                dir,
                memory_events,
                cgroup_events,
                oom_kills,
            } => {
                let mut events = Vec::new();
                let mut at = 0;
                // struct inotify_event: wd, mask, cookie, len, then len bytes of name.
                while at + 16 <= n {
                    let field = |i: usize| u32::from_ne_bytes(buf[at + i..at + i + 4].try_into().unwrap());
                    let (wd, mask, len) = (field(0) as i32, field(4), field(12) as usize);
                    at += 16 + len;
                    if mask & libc::IN_IGNORED != 0 {
                        // The file went away with the cgroup.
                        events.push(Event::Gone);
                    } else if wd == *memory_events {
                        // Each kill, not each change: memory.events also counts reaching limits.
                        let now = count(dir, "memory.events", "oom_kill")?.unwrap_or(0);
                        if now > *oom_kills {
                            *oom_kills = now;
                            events.push(Event::Oom);
                        }
                    } else if wd == *cgroup_events && count(dir, "cgroup.events", "populated")? != Some(1) {
                        events.push(Event::Gone);
                    }
                }
                Ok(events)
            }
        }
    }
}

fn add_watch(inotify: &OwnedFd, file: &Path) -> Result<i32> {
    let path = std::ffi::CString::new(file.as_os_str().as_bytes()).context("path with a NUL byte")?;
    // SAFETY: a valid inotify fd and a NUL-terminated path that outlives the call.
    let wd = unsafe { libc::inotify_add_watch(inotify.as_raw_fd(), path.as_ptr(), libc::IN_MODIFY) };
    if wd < 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("inotify_add_watch {}", file.display()));
    }
    Ok(wd)
}

/// The value of `key` in a "key value" file of the cgroup.
fn count(dir: &Path, file: &str, key: &str) -> Result<Option<u64>> {
    Ok(read_opt(dir, file)?.and_then(|text| keyed(&text).get(key).and_then(|v| v.as_u64())))
}
