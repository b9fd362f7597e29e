//! The last step: find the program as the container will see it, check before `start` that the
//! kernel will be able to run it, and execve it with the container's environment only.

use crate::diagnose;
use anyhow::{bail, Result};
use std::ffi::CString;
use std::path::Path;

/// Resolve args[0] in the container's PATH (runc's rule: a name with a slash is used as is).
pub fn lookup(args: &[String], env: &[String]) -> Result<String> {
    let path_env = env.iter().find_map(|e| e.strip_prefix("PATH="));
    diagnose::lookup_path(Path::new("/"), &args[0], path_env).map_err(|e| anyhow::anyhow!(e))
}

/// The (device, inode) of the runtime's own binary, read before pivot_root.
pub type FileId = (u64, u64);

pub fn file_id(path: &str) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Fail `create`, not `start`, when the program cannot run: a FROM-scratch image with a
/// dynamically linked binary is the common case, and the user should hear why at once.
/// Called with the container's identity and capabilities already set, as runc checks.
pub fn preflight(exe: &str, runtime: Option<FileId>) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    // A path given with a slash is not looked up, so check here that it is there at all.
    let Ok(meta) = std::fs::metadata(exe) else {
        bail!(diagnose::exec_failure(Path::new("/"), exe, libc::ENOENT, None));
    };
    refuse_runtime_binary(exe, runtime, || Some((meta.dev(), meta.ino())))?;
    // The kernel's own exec permission check, with the effective ids, groups and capabilities:
    // directory search, mode bits, ACLs and noexec mounts (AT_EACCESS, unlike access(2), which
    // takes the real ids). A directory passes X_OK but cannot be executed.
    let allowed = nix::unistd::faccessat(
        nix::fcntl::AT_FDCWD,
        exe,
        nix::unistd::AccessFlags::X_OK,
        nix::fcntl::AtFlags::AT_EACCESS,
    );
    if allowed == Err(nix::errno::Errno::EACCES) || !meta.is_file() {
        bail!(diagnose::exec_failure(Path::new("/"), exe, libc::EACCES, None));
    }
    match diagnose::missing_interpreter(Path::new("/"), exe) {
        Some(message) => bail!(message),
        None => Ok(()),
    }
}

/// The init is a fork of the runtime: until it execs, /proc/self/exe is the scrun binary on
/// the host. A program path that leads there would run that binary inside the container,
/// which could then reopen it through /proc and overwrite it (CVE-2019-5736). Comparing the
/// file itself, rather than copying the binary to a sealed memfd as runc does, costs nothing
/// at start-up.
/// `id` gives the file's (device, inode), asked only if there is a runtime binary to compare.
fn refuse_runtime_binary(exe: &str, runtime: Option<FileId>, id: impl FnOnce() -> Option<FileId>) -> Result<()> {
    if runtime.is_some() && id() == runtime {
        bail!("exec {exe}: refusing to run the runtime's own binary inside the container");
    }
    Ok(())
}

fn cstrings(v: &[String]) -> Vec<CString> {
    v.iter()
        .map(|s| CString::new(s.as_bytes()).unwrap_or_default())
        .collect()
}

/// execve, returning only on failure, with a message that says why in the image's terms.
pub fn exec(exe: &str, args: &[String], env: &[String], runtime: Option<FileId>) -> String {
    if let Err(e) = refuse_runtime_binary(exe, runtime, || file_id(exe)) {
        return e.to_string();
    }
    let Ok(path) = CString::new(exe) else {
        return format!("exec {exe:?}: the path holds a NUL byte");
    };
    crate::startup::restore_sigpipe();
    let errno = match nix::unistd::execve(&path, &cstrings(args), &cstrings(env)) {
        Err(e) => e as i32,
        Ok(never) => match never {},
    };
    let ids = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
    diagnose::exec_failure(Path::new("/"), exe, errno, Some(ids))
}

/// execve of a program the runtime brought, not the image (`debug`'s sealed copy of a host
/// tool), returning only on failure.
pub fn exec_fd(fd: std::os::fd::RawFd, args: &[String], env: &[String]) -> String {
    let e = crate::sealed_exe::execveat(fd, &cstrings(args), &cstrings(env));
    format!(
        "exec {} (from the host): {e}",
        args.first().map(String::as_str).unwrap_or_default()
    )
}
