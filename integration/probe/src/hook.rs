//! `probe hook-dump PATH`: run as an OCI hook, it saves what the runtime gave it (environment,
//! working directory, and its stdin, which should be the container's state) for a test to
//! compare with what runc gives its hooks.

use serde_json::json;
use std::io::Read;
use std::os::fd::FromRawFd;

pub fn dump(path: &str) -> i32 {
    let mut stdin = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut stdin) {
        return super::fail(&e);
    }
    // SAFETY: fd 0 stays open; ManuallyDrop keeps the File from closing it.
    let fd0 = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(0) });
    let stdin_kind = fd0.metadata().ok().map(|md| super::kind(&md.file_type()));
    let dump = json!({
        "env": std::env::vars_os()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect::<Vec<_>>(),
        "cwd": std::env::current_dir().ok(),
        "stdin": String::from_utf8_lossy(&stdin),
        "stdin_kind": stdin_kind,
    });
    match std::fs::write(path, dump.to_string()) {
        Ok(()) => 0,
        Err(e) => super::fail(&e),
    }
}
