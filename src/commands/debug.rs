//! `debug ID [--tool PATH] [-- CMD ARGS...]`: the inspection article's debugging container
//! (`docker run --pid container:ID busybox`) for a FROM-scratch image that has no shell, done
//! by the runtime. A static tool from the host runs as `exec` runs a program: in every
//! namespace of the running container, in its cgroup, with its root and its process settings
//! (user, capabilities, seccomp), so it sees what the container sees and can do no more than
//! the container's own process. Nothing is added to the rootfs: the tool is exec'd from a
//! sealed memfd copy, so its /proc/PID/exe, which the container can reach, leads to a file no
//! one can write, never to the host's.

use crate::cli::{DebugArgs, GlobalOpts};
use crate::launch::LaunchOpts;
use crate::plan::Plan;
use crate::state::{Status, Store};
use anyhow::{bail, Context, Result};
use std::io::{IsTerminal, Read, Seek};
use std::os::fd::{AsRawFd, OwnedFd};

pub fn debug(global: &GlobalOpts, args: &DebugArgs) -> Result<i32> {
    let store = Store::open(&global.root)?;
    let container = store.load(&args.id)?;
    if container.status() != Status::Running {
        bail!("cannot debug a {} container: it must be running", container.status());
    }
    let tool = sealed_tool(&args.tool)?;
    let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let command = match (args.command.is_empty(), terminal) {
        (false, _) => args.command.clone(),
        (true, true) => vec!["sh".to_string()],
        (true, false) => bail!("without a terminal, debug needs a command: scrun debug ID -- CMD ARGS"),
    };
    let name = args
        .tool
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let config = crate::spec::Bundle::load(&container.saved.bundle)?;
    let mut process = config
        .spec
        .process()
        .clone()
        .context("the container's config.json has no process")?;
    // argv[0] is the tool's own name: busybox picks its applet from the first argument then.
    process.set_args(Some([name].into_iter().chain(command).collect()));
    process.set_terminal(Some(terminal));
    process.set_cwd("/".into());
    let plan = Plan::for_exec(
        container.saved.pid,
        &process,
        container.saved.cgroup.as_ref(),
        &config.spec,
    )?;
    drop(container); // as exec: the tool must not hold the container's lock while it runs
    let opts = LaunchOpts {
        program_fd: Some(tool.as_raw_fd()),
        ..Default::default()
    };
    let sigfd = super::run::block_signals()?;
    let launched = crate::launch::exec(&store, &args.id, &plan, &opts, true)?;
    drop(tool);
    super::run::relay(&launched, &sigfd)
}

/// The tool in a sealed memfd. A dynamically linked one is refused: its libraries are the
/// host's, and the container's root has none of them.
fn sealed_tool(path: &std::path::Path) -> Result<OwnedFd> {
    let mut file = std::fs::File::open(path).with_context(|| {
        format!(
            "--tool {}: give a static binary (Debian's busybox-static installs /bin/busybox)",
            path.display()
        )
    })?;
    let mut head = Vec::new();
    (&mut file)
        .take(1 << 20)
        .read_to_end(&mut head)
        .with_context(|| format!("read {}", path.display()))?;
    match crate::diagnose::read_elf(&head) {
        None => bail!("--tool {}: not an ELF binary", path.display()),
        Some(info) if info.interpreter.is_some() => bail!(
            "--tool {} is dynamically linked: in the container's root its libraries are missing; use a static tool (Debian: busybox-static)",
            path.display()
        ),
        Some(_) => {}
    }
    file.rewind().with_context(|| format!("read {}", path.display()))?;
    crate::sealed_exe::sealed_copy(&file.into()).with_context(|| format!("copy {} into a sealed memfd", path.display()))
}
