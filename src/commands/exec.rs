//! `exec`: a new process in a running container. The process comes from `--process` (what
//! engines send) or from the container's own config.json with the command and options given;
//! it enters the container's namespaces and gets the same process setup as the init did.

use crate::cli::{ExecArgs, GlobalOpts};
use crate::launch::LaunchOpts;
use crate::plan::Plan;
use crate::state::{Status, Store};
use anyhow::{bail, Context, Result};
use oci_spec::runtime::Process;

pub fn exec(global: &GlobalOpts, args: &ExecArgs) -> Result<i32> {
    let store = Store::open(&global.root)?;
    let container = store.load(&args.id)?;
    match container.status() {
        Status::Stopped => bail!("cannot exec in a stopped container"),
        // The process joins the frozen cgroup and runs once the container is resumed.
        Status::Paused if args.ignore_paused => {}
        Status::Paused => bail!("cannot exec in a paused container (use --ignore-paused to override)"),
        Status::Created | Status::Running => {}
    }
    let config = crate::spec::Bundle::load(&container.saved.bundle)?;
    let process = process(args, &config)?;
    let plan = Plan::for_exec(
        container.saved.pid,
        &process,
        container.saved.cgroup.as_ref(),
        &config.spec,
    )?;
    drop(container); // the exec must not hold the container's lock while it runs
    let opts = LaunchOpts {
        pid_file: args.pid_file.clone(),
        console_socket: args.console_socket.clone(),
        preserve_fds: args.preserve_fds,
        ..Default::default()
    };
    if args.detach {
        crate::launch::exec(&store, &args.id, &plan, &opts, false)?;
        return Ok(0);
    }
    let sigfd = super::run::block_signals()?;
    let launched = crate::launch::exec(&store, &args.id, &plan, &opts, true)?;
    super::run::relay(&launched, &sigfd)
}

fn process(args: &ExecArgs, config: &crate::spec::Bundle) -> Result<Process> {
    let mut process = match &args.process {
        Some(path) => {
            let text = std::fs::read(path).with_context(|| format!("read --process {}", path.display()))?;
            crate::spec::parse_process(&text).with_context(|| format!("--process {}", path.display()))?
        }
        None => {
            if args.command.is_empty() {
                bail!("exec needs a command, or --process");
            }
            let mut p = config
                .spec
                .process()
                .clone()
                .context("the container's config.json has no process")?;
            p.set_args(Some(args.command.clone()));
            p.set_terminal(Some(false));
            p
        }
    };
    if args.tty {
        process.set_terminal(Some(true));
    }
    if let Some(cwd) = &args.cwd {
        process.set_cwd(cwd.clone());
    }
    if !args.env.is_empty() {
        let mut env = process.env().clone().unwrap_or_default();
        for kv in &args.env {
            let key = kv.split('=').next().unwrap_or_default();
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(kv.clone());
        }
        process.set_env(Some(env));
    }
    if let Some(user) = &args.user {
        let number = |s: &str| {
            s.parse::<u32>()
                .with_context(|| format!("--user {user:?}: {s:?} is not a number"))
        };
        let (uid, gid) = match user.split_once(':') {
            Some((u, g)) => (number(u)?, number(g)?),
            None => (number(user)?, 0),
        };
        let mut u = process.user().clone();
        u.set_uid(uid);
        u.set_gid(gid);
        process.set_user(u);
    }
    if !args.additional_gids.is_empty() {
        let mut u = process.user().clone();
        u.set_additional_gids(Some(args.additional_gids.clone()));
        process.set_user(u);
    }
    if !args.cap.is_empty() {
        let mut caps = process.capabilities().clone().unwrap_or_default();
        for name in &args.cap {
            let cap: oci_spec::runtime::Capability =
                serde_json::from_value(name.as_str().into()).with_context(|| format!("--cap {name:?}"))?;
            let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
            caps.set_inheritable(add(caps.inheritable()));
        }
        process.set_capabilities(Some(caps));
    }
    if args.no_new_privs {
        process.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = &args.apparmor {
        process.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &args.process_label {
        process.set_selinux_label(Some(label.clone()));
    }
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        bail!("process.args must name the program to run");
    }
    Ok(process)
}
