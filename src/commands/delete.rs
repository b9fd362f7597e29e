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

/// Remove a container: a created one is killed first (as runc does), a running one only with
/// `force`.
pub fn remove(container: Container, force: bool) -> Result<()> {
    match container.status() {
        Status::Stopped => {}
        Status::Created => kill_and_wait(&container)?,
        Status::Running if force => kill_and_wait(&container)?,
        Status::Running => bail!(
            "cannot delete container {} that is not stopped: running",
            container.saved.id
        ),
    }
    super::start::run_hooks(&container, "poststop", &container.saved.poststop, "stopped");
    container.remove()
}

fn kill_and_wait(container: &Container) -> Result<()> {
    crate::state::wait_exit(&container.saved, Some(libc::SIGKILL))
}
