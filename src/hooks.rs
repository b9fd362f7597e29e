//! OCI hooks: programs config.json asks for at points of the lifecycle, each given the
//! container's state as JSON on stdin. prestart and createRuntime run in the runtime's
//! namespaces once the container's exist (docker sets up networking here); createContainer in
//! the container's namespaces before pivot_root; startContainer in the container after `start`;
//! poststart after the program started and poststop after delete, where failures only warn.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hook {
    pub path: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub timeout: Option<i64>,
}

impl From<&oci_spec::runtime::Hook> for Hook {
    fn from(h: &oci_spec::runtime::Hook) -> Self {
        Hook {
            path: h.path().clone(),
            args: h.args().clone().unwrap_or_default(),
            env: h.env().clone().unwrap_or_default(),
            timeout: h.timeout(),
        }
    }
}

/// The hooks of config.json by lifecycle point, in the order they run.
pub fn by_kind(spec: &oci_spec::runtime::Spec) -> Vec<(&'static str, Vec<Hook>)> {
    let Some(h) = spec.hooks() else { return vec![] };
    let list = |v: &Option<Vec<oci_spec::runtime::Hook>>| v.iter().flatten().map(Hook::from).collect();
    vec![
        ("prestart", list(h.prestart())),
        ("createRuntime", list(h.create_runtime())),
        ("createContainer", list(h.create_container())),
        ("startContainer", list(h.start_container())),
        ("poststart", list(h.poststart())),
        ("poststop", list(h.poststop())),
    ]
}

/// The runtime spec's state object, which every hook reads on stdin.
pub fn state(
    id: &str,
    pid: i32,
    bundle: &std::path::Path,
    annotations: &std::collections::HashMap<String, String>,
    status: &str,
) -> String {
    serde_json::json!({
        "ociVersion": oci_spec::runtime::VERSION,
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
        "annotations": annotations,
    })
    .to_string()
}

/// Give a state JSON another status (the init gets it once and reuses it).
pub fn with_status(state: &str, status: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(state) {
        Ok(mut v) => {
            v["status"] = status.into();
            v.to_string()
        }
        Err(_) => state.to_string(),
    }
}

/// Run one hook to completion; an error carries its exit status and what it wrote on stderr.
pub fn run(hook: &Hook, state: &str) -> Result<()> {
    let mut cmd = Command::new(&hook.path);
    if let Some((argv0, rest)) = hook.args.split_first() {
        std::os::unix::process::CommandExt::arg0(&mut cmd, argv0);
        cmd.args(rest);
    }
    cmd.env_clear();
    for kv in &hook.env {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    // stderr goes to a memfd, not a pipe: a chatty hook cannot fill it and stall while we wait.
    let errors: std::fs::File = nix::sys::memfd::memfd_create(c"hook-stderr", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .context("memfd for the hook's stderr")?
        .into();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(errors.try_clone()?)
        .spawn()
        .with_context(|| format!("start {}", hook.path.display()))?;
    // A hook that does not read its stdin must not block us: the state is far below a pipe's
    // capacity, and a write error (it closed stdin) is its business.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(state.as_bytes());
    }
    let deadline = hook
        .timeout
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{}: timed out after {} s",
                hook.path.display(),
                hook.timeout.unwrap_or(0)
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    if !status.success() {
        let mut err = String::new();
        let mut errors = errors;
        let _ = std::io::Seek::seek(&mut errors, std::io::SeekFrom::Start(0));
        let _ = errors.take(4096).read_to_string(&mut err);
        bail!("{}: {status}: {}", hook.path.display(), err.trim());
    }
    Ok(())
}
