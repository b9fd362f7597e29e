use crate::cli::GlobalOpts;
use crate::state::{Status, Store};
use anyhow::{bail, Context, Result};

/// `pause` (freeze) or `resume` (thaw) every process of the container, through its cgroup.
pub fn pause(global: &GlobalOpts, id: &str, freeze: bool) -> Result<()> {
    let store = Store::open(&global.root)?;
    let container = store.load(id)?;
    let status = container.status();
    let cgroup = container.cgroup().context(if crate::rootless::active() {
        "the container has no cgroup to freeze: a rootless scrun makes one only below a cgroup2 cgroup delegated \
         to the user (cgroup.procs and cgroup.subtree_control theirs), e.g. run it under \
         `systemd-run --user --scope -p Delegate=yes`"
    } else {
        "the container has no cgroup to freeze"
    })?;
    match (freeze, status) {
        (true, Status::Running) => cgroup.freeze(),
        (false, Status::Paused) => cgroup.thaw(),
        (true, _) => bail!("container {id} is not running: {status}"),
        (false, _) => bail!("container {id} is not paused: {status}"),
    }
}
