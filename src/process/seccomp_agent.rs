//! The seccomp agent of `linux.seccomp.listenerPath`: a filter with SCMP_ACT_NOTIFY rules hands
//! each matching syscall of the container to a program outside it, which answers in its place
//! (Kubernetes' and podman's seccomp agents). The init loads the filter and sends its listener
//! fd to the runtime, which sends it on, with the container process state the runtime-spec
//! defines, to the agent's unix socket.

use crate::plan::{Plan, ProcessStep};
use anyhow::{Context, Result};
use nix::sys::socket::{
    connect, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};
use nix::unistd::Pid;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};

/// Send `listener` and the state (`state`, the container's state JSON) to the agent.
pub fn hand_over(plan: &Plan, state: &str, pid: Pid, listener: OwnedFd) -> Result<()> {
    let profile = plan
        .steps
        .iter()
        .find_map(|s| match s.action.process() {
            Some(ProcessStep::Seccomp { profile }) => Some(profile),
            _ => None,
        })
        .context("a seccomp listener without a seccomp step")?;
    let path = profile
        .listener_path()
        .as_ref()
        .context("linux.seccomp: SCMP_ACT_NOTIFY rules need linux.seccomp.listenerPath, the agent's socket")?;
    // runtime-spec's containerProcessState.
    let message = serde_json::json!({
        "ociVersion": oci_spec::runtime::VERSION,
        "fds": ["seccompFd"],
        "pid": pid.as_raw(),
        "metadata": profile.listener_metadata().clone().unwrap_or_default(),
        "state": serde_json::from_str::<serde_json::Value>(state).unwrap_or(serde_json::Value::Null),
    })
    .to_string();
    let field = || format!("linux.seccomp.listenerPath: the seccomp agent at {}", path.display());
    let sock = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).with_context(field)?;
    let addr = UnixAddr::new(path).with_context(field)?;
    connect(sock.as_raw_fd(), &addr).with_context(|| format!("{}: connect", field()))?;
    let fds = [listener.as_raw_fd()];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(message.as_bytes())],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .with_context(|| format!("{}: send the listener", field()))?;
    Ok(())
}
