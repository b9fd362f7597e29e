use crate::cli::GlobalOpts;
use crate::launch::short_path;
use crate::state::{Status, Store, START_SOCKET};
use anyhow::{bail, Context, Result};
use std::io::Read;

pub fn start(global: &GlobalOpts, id: &str) -> Result<()> {
    let store = Store::open(&global.root)?;
    let container = store.load(id)?;
    match container.status() {
        Status::Created => {}
        Status::Running => bail!("cannot start an already running container"),
        Status::Stopped => bail!("cannot start a container that has stopped"),
        Status::Paused => bail!("cannot start a paused container"),
    }
    let dir = std::fs::File::open(&container.dir).with_context(|| format!("open {}", container.dir.display()))?;
    let mut conn =
        std::os::unix::net::UnixStream::connect(short_path(&dir)).context("connect to the container's init")?;
    // Once connected the init no longer needs the socket; its absence marks the container running.
    std::fs::remove_file(container.dir.join(START_SOCKET)).context("remove the start socket")?;
    // The connection closes on a successful exec (close-on-exec); otherwise the init writes why.
    let mut failure = String::new();
    conn.read_to_string(&mut failure).context("read the exec result")?;
    if !failure.is_empty() {
        // The init exits after saying why: report once it is gone, so the container is
        // stopped by the time `start` returns.
        crate::state::wait_exit(container.identity(), None)?;
        bail!(failure);
    }
    run_hooks(&container, "poststart", &container.saved.poststart, "running");
    Ok(())
}

/// poststart and poststop hooks: their failures are reported, not fatal (runtime spec).
pub fn run_hooks(container: &crate::state::Container, kind: &str, hooks: &[crate::hooks::Hook], status: &str) {
    let s = &container.saved;
    let mut state = crate::hooks::State::new(&s.id, &s.bundle, &s.annotations);
    state.pid = s.pid;
    let state = state.json(status);
    for (i, hook) in hooks.iter().enumerate() {
        if let Err(e) = crate::hooks::run(hook, &state) {
            crate::logging::warn(&format!("hooks.{kind}[{i}]: {e:#}"));
        }
    }
}
