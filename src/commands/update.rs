//! `update` and `events`: a running container's cgroup, changed or watched.

use crate::cli::{EventsArgs, GlobalOpts, UpdateArgs};
use crate::state::{Status, Store};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::io::Read;

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
    cgroup.update(&resources)
}

pub fn events(global: &GlobalOpts, args: &EventsArgs) -> Result<()> {
    let store = Store::open(&global.root)?;
    loop {
        let container = store.load(&args.id)?;
        if container.status() == Status::Stopped {
            bail!("container {} is not running", args.id);
        }
        let stats = container.cgroup().context("the container has no cgroup")?.stats()?;
        println!("{}", json!({"type": "stats", "id": args.id, "data": stats}));
        if args.stats {
            return Ok(());
        }
        drop(container); // not holding the lock while waiting
        std::thread::sleep(std::time::Duration::from_secs(args.interval.max(1)));
    }
}
