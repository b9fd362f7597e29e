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
    /// None: the environment of the process that runs the hook, as runc's hooks inherit it.
    pub env: Option<Vec<String>>,
    pub timeout: Option<i64>,
}

impl From<&oci_spec::runtime::Hook> for Hook {
    fn from(h: &oci_spec::runtime::Hook) -> Self {
        Hook {
            path: h.path().clone(),
            args: h.args().clone().unwrap_or_default(),
            env: h.env().clone(),
            timeout: h.timeout(),
        }
    }
}

/// The hooks of config.json by lifecycle point, in the order they run.
pub fn by_kind(spec: &oci_spec::runtime::Spec) -> Vec<(&'static str, Vec<Hook>)> {
    let Some(h) = spec.hooks() else { return vec![] };
    // A hook without `env` gets what runc 1.1.5's gets: the runtime's own environment when
    // the runtime runs it; when runc's init does, the init's, which is process.env, with HOME
    // added by the time of startContainer.
    let process = spec.process().as_ref();
    let process_env = process.and_then(|p| p.env().clone()).unwrap_or_default();
    let exec_env = process.map(crate::plan::exec_env).unwrap_or_default();
    let list = |v: &Option<Vec<oci_spec::runtime::Hook>>, env: Option<&Vec<String>>| {
        v.iter()
            .flatten()
            .map(|hook| {
                let mut hook = Hook::from(hook);
                hook.env = hook.env.or_else(|| env.cloned());
                hook
            })
            .collect()
    };
    vec![
        ("prestart", list(h.prestart(), None)),
        ("createRuntime", list(h.create_runtime(), None)),
        ("createContainer", list(h.create_container(), Some(&process_env))),
        ("startContainer", list(h.start_container(), Some(&exec_env))),
        ("poststart", list(h.poststart(), None)),
        ("poststop", list(h.poststop(), None)),
    ]
}

/// The runtime spec's state object, which every hook reads on stdin. Built before the init
/// exists, so that the init has it whatever its size; only the pid comes later.
#[derive(Debug, Clone, Default)]
pub struct State {
    fields: serde_json::Value,
    /// The container's init as the host sees it.
    pub pid: i32,
}

impl State {
    pub fn new(id: &str, bundle: &std::path::Path, annotations: &std::collections::HashMap<String, String>) -> State {
        let fields = serde_json::json!({
            "ociVersion": oci_spec::runtime::VERSION,
            "id": id,
            "bundle": bundle,
            "annotations": annotations,
        });
        State { fields, pid: 0 }
    }

    /// The JSON a hook reads at a point where the container has `status`.
    pub fn json(&self, status: &str) -> String {
        let mut v = self.fields.clone();
        v["status"] = status.into();
        v["pid"] = self.pid.into();
        v.to_string()
    }
}

/// Run one hook to completion; an error carries its exit status and what it wrote on stderr.
pub fn run(hook: &Hook, state: &str) -> Result<()> {
    let mut cmd = Command::new(&hook.path);
    if let Some((argv0, rest)) = hook.args.split_first() {
        std::os::unix::process::CommandExt::arg0(&mut cmd, argv0);
        cmd.args(rest);
    }
    if let Some(env) = &hook.env {
        cmd.env_clear();
        for kv in env {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
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
    // The state can outgrow the pipe (annotations have no bound), and a hook that does not
    // read it must not block us past its timeout: the pipe is fed as the hook drains it, a
    // write error (it closed stdin) being its business.
    let stdin = child.stdin.take().context("the hook's stdin")?;
    nix::fcntl::fcntl(&stdin, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK))
        .context("make the hook's stdin non-blocking")?;
    let mut unsent = Some((stdin, state.as_bytes()));
    let deadline = hook
        .timeout
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let status = loop {
        if let Some((pipe, rest)) = &mut unsent {
            match pipe.write(rest) {
                Ok(n) if n < rest.len() => *rest = &rest[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                // All sent (dropping the pipe is the hook's EOF), or the hook closed its end.
                _ => unsent = None,
            }
        }
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
