//! `update` and `events`: a running container's cgroup, changed or watched.

use crate::cgroups::oom::{Event, Watch};
use crate::cli::{EventsArgs, GlobalOpts, UpdateArgs};
use crate::state::{Status, Store};
use anyhow::{bail, Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

pub fn update(global: &GlobalOpts, args: &UpdateArgs) -> Result<()> {
    let store = Store::open(&global.root)?;
    let container = store.load(&args.id)?;
    if container.status() == Status::Stopped {
        bail!("cannot update a stopped container");
    }
    let cgroup = container.cgroup().context("the container has no cgroup")?;
    let mut resources: Value = match &args.resources {
        None => json!({}),
        Some(path) => {
            let mut text = String::new();
            if path.as_os_str() == "-" {
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("read --resources from stdin")?;
            } else {
                text = std::fs::read_to_string(path).with_context(|| format!("read --resources {}", path.display()))?;
            }
            serde_json::from_str(&text).context("--resources")?
        }
    };
    // runc's single-value flags override what --resources says.
    let mut set = |section: &str, key: &str, value: Option<Value>| {
        if let Some(v) = value {
            resources[section][key] = v;
        }
    };
    set("memory", "limit", args.memory.map(Value::from));
    set("memory", "swap", args.memory_swap.map(Value::from));
    set("memory", "reservation", args.memory_reservation.map(Value::from));
    set("cpu", "shares", args.cpu_shares.map(Value::from));
    set("cpu", "quota", args.cpu_quota.map(Value::from));
    set("cpu", "period", args.cpu_period.map(Value::from));
    set("cpu", "cpus", args.cpuset_cpus.clone().map(Value::from));
    set("cpu", "mems", args.cpuset_mems.clone().map(Value::from));
    set("pids", "limit", args.pids_limit.map(Value::from));
    set("blockIO", "weight", args.blkio_weight.map(Value::from));
    let mut resources: oci_spec::runtime::LinuxResources =
        crate::spec::parse_part(resources, "linux.resources").context("--resources")?;
    // As runc: the device rules were settled at create, with the defaults every container gets
    // appended; a partial list here would take those away.
    if resources.devices().is_some() {
        tracing::warn!("devices in --resources are ignored: device rules cannot be changed by update");
        resources.set_devices(None);
    }
    if let Some(saved) = &container.saved.cgroup {
        crate::rootless::check_update(saved, &resources)?;
    }
    cgroup.update(&resources)
}

/// One line of `events`, its fields in runc's order.
#[derive(serde::Serialize)]
struct EventLine<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Value>,
}

/// runc's `events`: a JSON line `{"type":"oom","id":ID}` for each OOM kill in the container's
/// cgroup as it happens, and `{"type":"stats","id":ID,"data":{...}}` every --interval; it ends
/// when the cgroup does (v1) or has no process left (v2), as runc's.
pub fn events(global: &GlobalOpts, args: &EventsArgs) -> Result<()> {
    let store = Store::open(&global.root)?;
    let container = store.load(&args.id)?;
    if container.status() == Status::Stopped {
        bail!("container {} is not running", args.id);
    }
    let cgroup = container.cgroup().context("the container has no cgroup")?;
    drop(container); // not holding the lock while watching
    let print = |kind: &str, data: Option<Value>| {
        let event = serde_json::to_string(&EventLine {
            kind,
            id: &args.id,
            data,
        })?;
        writeln!(std::io::stdout(), "{event}").context("write the event")
    };
    if args.stats {
        return print("stats", Some(cgroup.stats()?));
    }
    let mut oom = match cgroup.locate("memory") {
        Some(memory) => Some(Watch::new(memory).context("watch the cgroup for OOM kills")?),
        None => None,
    };
    // As Go's time.Tick, which runc uses: the first statistics after one interval, none for 0.
    let mut next = (!args.interval.is_zero()).then(|| Instant::now() + args.interval);
    loop {
        let timeout = match next {
            Some(at) => PollTimeout::try_from(at.saturating_duration_since(Instant::now())).unwrap_or(PollTimeout::MAX),
            None => PollTimeout::NONE,
        };
        let ready = match &oom {
            Some(watch) => {
                let mut fds = [PollFd::new(watch.fd(), PollFlags::POLLIN)];
                match poll(&mut fds, timeout) {
                    Err(nix::errno::Errno::EINTR) => false,
                    other => other.context("poll the OOM watch")? > 0,
                }
            }
            None => {
                std::thread::sleep(timeout.try_into().unwrap_or(Duration::MAX));
                false
            }
        };
        if let (true, Some(watch)) = (ready, &mut oom) {
            for event in watch.read()? {
                match event {
                    Event::Oom => print("oom", None)?,
                    Event::Gone => return Ok(()),
                }
            }
        }
        if let Some(at) = next.as_mut().filter(|at| Instant::now() >= **at) {
            *at += args.interval;
            match cgroup.stats() {
                Ok(stats) => print("stats", Some(stats))?,
                // Without a memory controller to watch, the end shows here: the cgroup is gone.
                Err(_) if cgroup.dirs().all(|d| !d.exists()) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
}
