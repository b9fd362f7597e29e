use crate::cli::{CreateArgs, GlobalOpts};
use crate::launch;
use crate::state::Store;
use anyhow::Result;
use std::path::PathBuf;

pub fn create(global: &GlobalOpts, args: &CreateArgs) -> Result<()> {
    let store = Store::open(&global.root)?;
    let bundle = args.opts.bundle.clone().unwrap_or_else(|| PathBuf::from("."));
    launch::create(
        &store,
        &args.id,
        &bundle,
        &(&args.opts).into(),
        false,
        global.systemd_cgroup,
    )?;
    Ok(())
}
