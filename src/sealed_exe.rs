//! The runtime's own binary, out of the container's reach (CVE-2019-5736).
//!
//! The init and `exec`'s joiner are forks of the runtime: until they exec, their
//! /proc/PID/exe is the scrun binary. A container that gets them to execute it (an entrypoint
//! `#!/proc/self/exe`, an ELF whose interpreter is /proc/self/exe) or that reaches that link
//! from a process sharing the pid namespace can hold it open and, once the runtime exits,
//! write to it: the next `scrun` on the host runs the container's code as root. So before it
//! forks into a container, the runtime makes sure its exe is a file nobody can write through:
//!
//! - on a read-only mount already (scrun installed as the README says): nothing to do;
//! - otherwise it re-executes itself once from a read-only view of the same file, a detached
//!   bind mount made with open_tree and mount_setattr: no copy, and the mount is attached
//!   nowhere, so nothing in the container can find it and remount it;
//! - without the privilege for that (CAP_SYS_ADMIN over the runtime's mount namespace), from a
//!   copy in a sealed memfd, which no one can write to at all.
//!
//! Whether the binary is safe is decided on the fd of /proc/self/exe, never on its path.

use anyhow::{bail, Context, Result};
use nix::sys::statvfs::{fstatvfs, FsFlags};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// How a binary is protected from writes, as seen on its fd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// On a read-only mount.
    ReadOnlyMount,
    /// A memfd sealed against writes.
    SealedMemfd,
    /// Writable by whoever can reach it: the container must not.
    None,
}

const SEALS: libc::c_int = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// What protects the file `fd` holds.
pub fn protection(fd: &OwnedFd) -> Result<Protection> {
    if fstatvfs(fd).context("fstatvfs")?.flags().contains(FsFlags::ST_RDONLY) {
        return Ok(Protection::ReadOnlyMount);
    }
    // SAFETY: F_GET_SEALS takes no argument; EINVAL for a file that is not a memfd.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    if seals >= 0 && seals & SEALS == SEALS {
        return Ok(Protection::SealedMemfd);
    }
    Ok(Protection::None)
}

/// Return when this process runs from a binary no one can write through; otherwise re-execute
/// it, with the same arguments and environment, from one. Call it before anything is forked
/// into a container.
pub fn ensure() -> Result<()> {
    let exe = open_self_exe()?;
    if protection(&exe)? != Protection::None {
        return Ok(());
    }
    let view = match read_only_view(&exe) {
        Ok(view) => view,
        // No CAP_SYS_ADMIN over our mount namespace (an ordinary user): a sealed copy instead.
        Err(e) if e.downcast_ref::<nix::errno::Errno>() == Some(&nix::errno::Errno::EPERM) => sealed_copy(&exe)?,
        Err(e) => return Err(e),
    };
    // Checked before the exec, so that a view that is somehow writable fails here instead of
    // re-executing forever.
    if protection(&view)? == Protection::None {
        bail!("the read-only copy of the runtime binary is writable");
    }
    drop(exe);
    tracing::debug!("re-execute from a read-only view of the binary (scrun's own mount is writable)");
    Err(reexec(&view)).context("re-execute the runtime from a read-only copy of its binary")
}

fn open_self_exe() -> Result<OwnedFd> {
    Ok(std::fs::File::open("/proc/self/exe")
        .context("open /proc/self/exe")?
        .into())
}

/// A detached, read-only bind mount of the binary, whose root is the file itself.
fn read_only_view(exe: &OwnedFd) -> Result<OwnedFd> {
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as libc::c_uint;
    // SAFETY: open_tree on our own fd with an empty path; returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, exe.as_raw_fd(), c"".as_ptr(), flags) };
    if fd < 0 {
        return Err(anyhow::Error::new(nix::errno::Errno::last()).context("open_tree /proc/self/exe"));
    }
    // SAFETY: open_tree returned a new fd that we own.
    let view = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    crate::rootfs::mount_api::setattr(&view, &attr, false)
        .map_err(|e| anyhow::Error::new(e).context("make the view of /proc/self/exe read-only"))?;
    Ok(view)
}

/// A copy of the file `exe` holds in a memfd sealed against any change (close-on-exec; exec it
/// with [`execveat`]). `debug` runs its host tool from one too.
pub fn sealed_copy(exe: &OwnedFd) -> Result<OwnedFd> {
    let create = |flags| {
        // SAFETY: memfd_create with a static name; returns a new fd or -1.
        let fd = unsafe { libc::memfd_create(c"scrun".as_ptr(), flags) };
        (fd >= 0)
            .then(|| unsafe { OwnedFd::from_raw_fd(fd) })
            .ok_or_else(nix::errno::Errno::last)
    };
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // MFD_EXEC (Linux 6.3) keeps a vm.memfd_noexec sysctl from refusing the exec; older kernels
    // do not know the flag and make every memfd executable.
    let memfd = create(base | libc::MFD_EXEC)
        .or_else(|_| create(base))
        .context("memfd_create")?;
    let mut from = std::fs::File::from(exe.try_clone().context("dup /proc/self/exe")?);
    let mut to = std::fs::File::from(memfd);
    std::io::copy(&mut from, &mut to).context("copy the binary into a memfd")?;
    // SAFETY: F_ADD_SEALS with an int argument on our memfd.
    if unsafe { libc::fcntl(to.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } < 0 {
        return Err(std::io::Error::last_os_error()).context("seal the memfd");
    }
    Ok(to.into())
}

/// execveat the file `fd` holds with our own arguments and environment; returns only on failure.
fn reexec(fd: &OwnedFd) -> anyhow::Error {
    let started = crate::logging::started_env();
    let env = std::env::vars_os()
        .chain([(started.0.into(), started.1.into())])
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            kv
        });
    let cstrings = |v: Vec<std::ffi::OsString>| -> Vec<CString> {
        v.into_iter().filter_map(|s| CString::new(s.as_bytes()).ok()).collect()
    };
    anyhow::Error::new(execveat(
        fd.as_raw_fd(),
        &cstrings(std::env::args_os().collect()),
        &cstrings(env.collect()),
    ))
}

/// execve of the file `fd` holds (a memfd has no path to give); returns only on failure.
pub fn execveat(fd: std::os::fd::RawFd, args: &[CString], env: &[CString]) -> std::io::Error {
    let ptrs = |v: &[CString]| -> Vec<*const libc::c_char> {
        v.iter().map(|s| s.as_ptr()).chain([std::ptr::null()]).collect()
    };
    let (argv, envp) = (ptrs(args), ptrs(env));
    crate::startup::restore_sigpipe();
    // SAFETY: execveat with null-terminated argv/envp arrays whose strings outlive the call.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd,
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    std::io::Error::last_os_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_copy_cannot_be_written() {
        let copy = sealed_copy(&open_self_exe().unwrap()).unwrap();
        assert_eq!(protection(&copy).unwrap(), Protection::SealedMemfd);
        let reopened = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{}", copy.as_raw_fd()));
        let written = reopened.and_then(|mut f| std::io::Write::write(&mut f, b"x"));
        assert!(written.is_err(), "wrote to the sealed copy");
    }

    #[test]
    fn a_read_only_view_cannot_be_opened_for_writing() {
        // A file no process runs: for a running one, the write would fail with ETXTBSY first.
        let path = std::env::temp_dir().join(format!("scrun-view-{}", std::process::id()));
        std::fs::write(&path, "binary").unwrap();
        let view = read_only_view(&std::fs::File::open(&path).unwrap().into()).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(protection(&view).unwrap(), Protection::ReadOnlyMount);
        let err = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{}", view.as_raw_fd()))
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
    }
}
