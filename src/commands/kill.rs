use crate::cli::{GlobalOpts, KillArgs};
use crate::state::{Status, Store};
use anyhow::{bail, Context, Result};
use nix::sys::signal::Signal;
use std::str::FromStr;

pub fn kill(global: &GlobalOpts, args: &KillArgs) -> Result<()> {
    let signal = parse_signal(&args.signal)?;
    let store = Store::open(&global.root)?;
    let container = store.load(&args.id)?;
    if container.status() == Status::Stopped {
        // containerd's shim reads this exact text as "already exited".
        if args.all {
            return Ok(());
        }
        bail!("container not running");
    }
    let pid = nix::unistd::Pid::from_raw(container.saved.pid);
    // --all reaches every process of the cgroup (for a container in the caller's pid
    // namespace, the init's death does not end them).
    if args.all {
        for other in container.cgroup().map(|c| c.pids()).transpose()?.unwrap_or_default() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(other), signal);
        }
    }
    match nix::sys::signal::kill(pid, signal) {
        // Reaped since we looked (a shim reaps at once): the words containerd reads as
        // "already exited". With --all the cgroup's processes got the signal anyway.
        Err(nix::errno::Errno::ESRCH) if args.all => Ok(()),
        Err(nix::errno::Errno::ESRCH) => bail!("container not running"),
        r => r.with_context(|| format!("kill {pid} with {signal}")),
    }
}

/// A signal by name (SIGTERM, TERM, term) or number, as runc accepts it.
pub fn parse_signal(text: &str) -> Result<Signal> {
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| anyhow::anyhow!("unknown signal {text:?}"));
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).map_err(|_| anyhow::anyhow!("unknown signal {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("term").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("SIGUSR1").unwrap(), Signal::SIGUSR1);
        assert!(parse_signal("SIGFOO").is_err());
        assert!(parse_signal("99").is_err());
    }
}
