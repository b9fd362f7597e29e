//! `list`'s reading of the store: a created or stopped container from its state.json alone,
//! without its lock; the rest as `load_any` loads it.

use super::listeners::Listeners;
use super::{check_id, read_at, settled_status, Loaded, OciState, Status, Store, Wreck, START_SOCKET, STATE_FILE};
use anyhow::{Context, Result};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;

/// The part of state.json that `list` shows. Read without the container's lock: state.json is
/// written once, by rename, and never changed, so it reads whole or not at all; the fields it
/// skips (the cgroup, the hooks) are most of its bytes and of its parse.
#[derive(Deserialize)]
struct Summary {
    id: String,
    pid: i32,
    pid_start_time: u64,
    bundle: PathBuf,
    rootfs: PathBuf,
    created: String,
    #[serde(default)]
    annotations: HashMap<String, String>,
    owner: String,
}

/// A container as `list` shows it.
pub enum Listed<'a> {
    Ok(OciState<'a>),
    Corrupt(&'a Wreck),
}

impl Store {
    /// Every container, corrupt ones included, oldest first, as `view` sees it. A created or
    /// stopped container is shown from its state.json alone, read through the root without
    /// its lock: a reader of a whole state.json sees what one holding the lock would. Its
    /// status comes from the listener on its start socket (see `listeners`) or, without one,
    /// from its init's start time and the socket, as `Container::status` decides. The rest
    /// (no state.json yet, or corrupt; or started, where only the cgroup tells running from
    /// paused) is loaded as `load_any` does, under its lock, which goes before the next
    /// container is read: held to the end, a thousand containers would hold a thousand fds.
    pub fn list<T>(&self, view: impl Fn(Listed) -> T) -> Result<Vec<T>> {
        let read = || format!("read {}", self.root.display());
        let mut root = nix::dir::Dir::open(
            &self.root,
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .with_context(read)?;
        let mut ids = Vec::new();
        for entry in root.iter() {
            let entry = entry.with_context(read)?;
            if let Some(id) = entry.file_name().to_str().ok().filter(|id| check_id(id).is_ok()) {
                ids.push(id.to_string());
            }
        }
        // Sorted as (created, index) pairs rather than moving the views about.
        let mut order = Vec::with_capacity(ids.len());
        let mut views = Vec::with_capacity(ids.len());
        let mut add = |created: String, view: T| {
            order.push((created, views.len()));
            views.push(Some(view));
        };
        let (mut path, mut text) = (String::new(), Vec::new());
        // Dumped once, when the first container with a start socket needs it.
        let mut listeners = None;
        for id in ids {
            path.clear();
            path.push_str(&id);
            path.push('/');
            let dir_len = path.len();
            path.push_str(STATE_FILE);
            let summary = read_at(&root, &path, &mut text)
                .ok()
                .and_then(|len| serde_json::from_slice::<Summary>(&text[..len]).ok());
            if let Some(s) = summary {
                path.truncate(dir_len);
                path.push_str(START_SOCKET);
                let socket =
                    nix::sys::stat::fstatat(&root, path.as_str(), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW).ok();
                let listening = socket.as_ref().is_some_and(|st| {
                    let listeners = listeners.get_or_insert_with(Listeners::dump);
                    listeners.as_ref().is_some_and(|l| l.bound_at(st))
                });
                let status = match listening {
                    true => Some(Status::Created),
                    false => settled_status(s.pid, s.pid_start_time, || socket.is_some()),
                };
                if let Some(status) = status {
                    let state = OciState {
                        oci_version: oci_spec::runtime::VERSION,
                        id: &s.id,
                        pid: s.pid,
                        status,
                        bundle: &s.bundle,
                        rootfs: &s.rootfs,
                        created: &s.created,
                        annotations: &s.annotations,
                        owner: &s.owner,
                    };
                    let shown = view(Listed::Ok(state));
                    add(s.created, shown);
                    continue;
                }
            }
            match self.load_any(&id) {
                Ok(Loaded::Ok(c)) => {
                    let shown = view(Listed::Ok(c.oci_state()));
                    add(c.saved.created, shown)
                }
                Ok(Loaded::Corrupt(w)) => add(String::new(), view(Listed::Corrupt(&w))),
                Err(_) => {}
            }
        }
        order.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(order.into_iter().filter_map(|(_, i)| views[i].take()).collect())
    }
}
