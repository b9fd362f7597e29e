//! `scrun inspect`: what a created or running container really has, read from the host the way
//! one explores it by hand (`ls -al /proc/$PID/root`, `cat /proc/$PID/status`, …): its
//! namespaces, its process's identity, capabilities and limits, its fds, its mounts, and the
//! files the instance has that the image on disk does not.
//!
//! Everything is read through one fd of /proc/PID, so a pid recycled during the inspection is
//! never mistaken for the container, and the container's files through an fd of its root, one
//! component at a time with `O_NOFOLLOW`: nothing the container controls can lead the walk out
//! of it. Nothing is written. A part that cannot be read says so instead of failing the whole.

mod files;
mod mounts;
mod namespaces;
mod proc;
mod process;
mod root;
mod text;

use crate::cli::{GlobalOpts, InspectArgs, TextOrJson};
use crate::plan::Recorded;
use crate::state::{Status, Store};
use anyhow::{bail, Context, Result};
use files::{files, Files};
use mounts::{explain_mounts, parse_mountinfo, Mounts};
use namespaces::{namespaces, Namespaces};
use proc::Proc;
use process::{fds, parse_limits, process, Cgroup, Fds, Limits, Process};
use root::container_root;
use serde::Serialize;
use std::path::PathBuf;
use text::text;

pub fn inspect(global: &GlobalOpts, args: &InspectArgs) -> Result<()> {
    let store = Store::open(&global.root)?;
    let container = store.load(&args.id)?;
    let status = container.status();
    if status == Status::Stopped {
        bail!("container {} is not running (stopped): nothing to inspect", args.id);
    }
    let saved = container.saved.clone();
    let state_dir = container.dir.clone();
    // The inspection only reads: do not keep `start`, `kill` or `delete` waiting on the lock.
    drop(container);

    let pid = saved.pid;
    let proc = Proc::open(pid, saved.pid_start_time)
        .with_context(|| format!("container {} exited before it could be inspected", args.id))?;
    let plan = read_plan(&state_dir);
    let steps = plan.as_deref().unwrap_or_default();
    let namespaces = namespaces(&proc);
    let root = container_root(&proc, &saved.rootfs);
    let before_pivot = root.as_ref().ok().and_then(|r| r.before_pivot.as_deref());
    let mounts = proc
        .read("mountinfo")
        .map(|t| explain_mounts(&parse_mountinfo(&t, before_pivot), steps));
    let files = match (&root, &mounts) {
        (Ok(root), Ok(list)) => files(root, &state_dir, list, steps, &namespaces),
        (Err(e), _) => Err(anyhow::anyhow!("no root: {e:#}")),
        (_, Err(e)) => Err(anyhow::anyhow!("no mount table: {e:#}")),
    };
    let report = Report {
        id: saved.id.clone(),
        pid,
        status: status.to_string(),
        bundle: saved.bundle.clone(),
        rootfs: saved.rootfs.clone(),
        container_root: section(root.map(|r| r.before_pivot.map_or("/".into(), |p| p.to_string_lossy().into_owned()))),
        namespaces,
        process: section(process(&proc)),
        cgroup: section(proc.read("cgroup").map(|t| Cgroup {
            lines: t.lines().map(String::from).collect(),
        })),
        limits: section(proc.read("limits").map(|t| Limits {
            resources: parse_limits(&t),
        })),
        fds: section(fds(&proc)),
        mounts: section(mounts.map(|entries| Mounts { entries })),
        files: section(files),
        plan: section(plan),
    };
    if !proc.alive() {
        bail!("container {} exited during the inspection", args.id);
    }
    match args.format {
        TextOrJson::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        TextOrJson::Text => print!("{}", text(&report)),
        TextOrJson::Html => print!("{}", crate::html::inspect::render(&serde_json::to_value(&report)?)),
    }
    Ok(())
}

/// The plan `create` saved in the state directory.
fn read_plan(state_dir: &std::path::Path) -> Result<Vec<Recorded>> {
    let path = state_dir.join(crate::state::PLAN_FILE);
    let text = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("parse {}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// The report, as `--format json` prints it. Every section is an object; one that could not be
// read is `{"unreadable": "why"}`.

#[derive(Serialize)]
struct Report {
    id: String,
    pid: i32,
    status: String,
    bundle: PathBuf,
    rootfs: PathBuf,
    /// Where the container's files and mounts are, in the init's mount namespace: "/" from
    /// pivot_root on, the rootfs directory before.
    container_root: Section<String>,
    namespaces: Namespaces,
    process: Section<Process>,
    cgroup: Section<Cgroup>,
    limits: Section<Limits>,
    fds: Section<Fds>,
    mounts: Section<Mounts>,
    files: Section<Files>,
    /// The steps `create` carried out, with the config field that asked for each: where the
    /// reasons above come from.
    plan: Section<Vec<Recorded>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Section<T> {
    Ok(T),
    Unreadable { unreadable: String },
}

fn section<T>(r: Result<T>) -> Section<T> {
    match r {
        Ok(v) => Section::Ok(v),
        Err(e) => Section::Unreadable {
            unreadable: format!("{e:#}"),
        },
    }
}

impl<T> Section<T> {
    fn get(&self) -> std::result::Result<&T, &str> {
        match self {
            Section::Ok(v) => Ok(v),
            Section::Unreadable { unreadable } => Err(unreadable),
        }
    }
}
