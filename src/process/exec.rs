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

/// Fail `create`, not `start`, when the program cannot run: a FROM-scratch image with a
/// dynamically linked binary is the common case, and the user should hear why at once.
pub fn preflight(exe: &str) -> Result<()> {
    match diagnose::missing_interpreter(Path::new("/"), exe) {
        Some(message) => bail!(message),
        None => Ok(()),
    }
}

/// execve, returning only on failure, with a message that says why in the image's terms.
pub fn exec(exe: &str, args: &[String], env: &[String]) -> String {
    let cstrings = |v: &[String]| {
        v.iter()
            .map(|s| CString::new(s.as_bytes()).unwrap_or_default())
            .collect::<Vec<_>>()
    };
    let Ok(path) = CString::new(exe) else {
        return format!("exec {exe:?}: the path holds a NUL byte");
    };
    let errno = match nix::unistd::execve(&path, &cstrings(args), &cstrings(env)) {
        Err(e) => e as i32,
        Ok(never) => match never {},
    };
    let ids = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
    diagnose::exec_failure(Path::new("/"), exe, errno, Some(ids))
}
