use crate::cli::{DeleteArgs, GlobalOpts};
use crate::state::{Container, Identity, Loaded, Status, Store, Wreck};
use anyhow::{bail, Result};

pub fn delete(global: &GlobalOpts, args: &DeleteArgs) -> Result<()> {
    let store = Store::open(&global.root)?;
    let loaded = match store.load_any(&args.id) {
        Ok(l) => l,
        // containerd's shim always runs a second `delete --force` after the container is gone.
        Err(_) if args.force && crate::state::check_id(&args.id).is_ok() => return store.remove_abandoned(&args.id),
        Err(e) => return Err(e),
    };
    match loaded {
        Loaded::Ok(container) => remove(container, args.force),
        Loaded::Corrupt(wreck) if args.force => remove_wreck(wreck),
        Loaded::Corrupt(wreck) => Err(wreck.error()),
    }
}

/// Remove a container: a created one is killed first (as runc does), a running or paused one
/// only with `force`. Its cgroup goes too, with any process left in it.
pub fn remove(container: Container, force: bool) -> Result<()> {
    match container.status() {
        Status::Stopped => {}
        Status::Created => kill_and_wait(container.cgroup().as_ref(), Some(container.identity()))?,
        Status::Running | Status::Paused if force => {
            kill_and_wait(container.cgroup().as_ref(), Some(container.identity()))?
        }
        status => bail!(
            "cannot delete container {} that is not stopped: {status}",
            container.saved.id
        ),
    }
    if let Some(cgroup) = container.cgroup() {
        // A container in the caller's pid namespace may leave processes behind its init:
        // killed (and thawed) when the cgroup does not go at once (12 syscalls saved when it does).
        if !cgroup.remove_if_empty() {
            kill_all(&cgroup);
            cgroup.remove()?;
        }
    }
    super::start::run_hooks(&container, "poststop", &container.saved.poststop, "stopped");
    container.remove()
}

/// `delete --force` of a container whose state.json is gone or unreadable: what its create
/// recorded before making anything (see state::Made) finds its processes and cgroup. Its
/// poststop hooks are lost with state.json.
fn remove_wreck(wreck: Wreck) -> Result<()> {
    match &wreck.made {
        Some(made) => {
            let cgroup = wreck.cgroup();
            kill_and_wait(cgroup.as_ref(), made.init)?;
            if let Some(cgroup) = cgroup {
                kill_all(&cgroup);
                cgroup.remove()?;
            }
        }
        None => crate::logging::warn(&format!(
            "container {}: {}; nothing says what it made, only its state directory is removed",
            wreck.id, wreck.why
        )),
    }
    wreck.remove()
}

fn kill_and_wait(cgroup: Option<&crate::cgroups::Cgroup>, init: Option<Identity>) -> Result<()> {
    if let Some(cgroup) = cgroup {
        kill_all(cgroup);
    }
    init.map_or(Ok(()), |init| crate::state::wait_exit(init, Some(libc::SIGKILL)))
}

/// SIGKILL every process of the cgroup, and thaw it: a frozen process dies only once thawed.
fn kill_all(cgroup: &crate::cgroups::Cgroup) {
    for pid in cgroup.pids().unwrap_or_default() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    let _ = cgroup.thaw();
}
