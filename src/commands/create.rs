use crate::cli::{CreateArgs, GlobalOpts};
use crate::launch;
use crate::state::Store;
use anyhow::{bail, Result};
use std::path::PathBuf;

pub fn create(global: &GlobalOpts, args: &CreateArgs) -> Result<()> {
    check_cgroup_manager(global)?;
    let store = Store::open(&global.root)?;
    let bundle = args.opts.bundle.clone().unwrap_or_else(|| PathBuf::from("."));
    launch::create(&store, &args.id, &bundle, &args.opts, false)?;
    Ok(())
}

/// `--systemd-cgroup` asks for cgroups managed through systemd; say plainly when that cannot be
/// done rather than silently using something else.
pub fn check_cgroup_manager(global: &GlobalOpts) -> Result<()> {
    if !global.systemd_cgroup {
        return Ok(());
    }
    if !std::path::Path::new("/run/systemd/system").exists() {
        bail!("--systemd-cgroup: systemd is not running on this host; use the cgroupfs driver (omit --systemd-cgroup)");
    }
    bail!("--systemd-cgroup: cgroups managed through systemd are not supported yet; use the cgroupfs driver (omit --systemd-cgroup)")
}
