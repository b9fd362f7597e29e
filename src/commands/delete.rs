use crate::cli::{DeleteArgs, GlobalOpts};
use crate::state::{Container, Status, Store};
use anyhow::{bail, Result};

pub fn delete(global: &GlobalOpts, args: &DeleteArgs) -> Result<()> {
    let store = Store::open(&global.root)?;
    let container = match store.load(&args.id) {
        Ok(c) => c,
        // containerd's shim always runs a second `delete --force` after the container is gone.
        Err(_) if args.force && crate::state::check_id(&args.id).is_ok() => {
            let _ = std::fs::remove_dir_all(store.dir(&args.id));
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    remove(container, args.force)
}

/// Remove a container: a created one is killed first (as runc does), a running or paused one
/// only with `force`. Its cgroup goes too, with any process left in it.
pub fn remove(container: Container, force: bool) -> Result<()> {
    match container.status() {
        Status::Stopped => {}
        Status::Created => kill_and_wait(&container)?,
        Status::Running | Status::Paused if force => kill_and_wait(&container)?,
        status => bail!(
            "cannot delete container {} that is not stopped: {status}",
            container.saved.id
        ),
    }
    if let Some(cgroup) = container.cgroup() {
        // A container in the caller's pid namespace may leave processes behind its init.
        kill_all(&cgroup);
        cgroup.remove()?;
    }
    super::start::run_hooks(&container, "poststop", &container.saved.poststop, "stopped");
    container.remove()
}

fn kill_and_wait(container: &Container) -> Result<()> {
    if let Some(cgroup) = container.cgroup() {
        kill_all(&cgroup);
    }
    crate::state::wait_exit(&container.saved, Some(libc::SIGKILL))
}

/// SIGKILL every process of the cgroup, and thaw it: a frozen process dies only once thawed.
fn kill_all(cgroup: &crate::cgroups::Cgroup) {
    for pid in cgroup.pids().unwrap_or_default() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    let _ = cgroup.thaw();
}
