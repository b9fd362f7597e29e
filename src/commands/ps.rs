use crate::cli::{GlobalOpts, ListFormat, PsArgs};
use crate::state::Store;
use anyhow::{Context, Result};

/// The host pids of the container's processes, from its cgroup: a JSON array for containerd's
/// shim (`docker top`, `ctr task ps`), or a table with each command line.
pub fn ps(global: &GlobalOpts, args: &PsArgs) -> Result<()> {
    let store = Store::open(&global.root)?;
    let container = store.load(&args.id)?;
    let pids = match container.cgroup() {
        Some(cgroup) => cgroup.pids()?,
        None => vec![container.saved.pid],
    };
    if args.format == ListFormat::Json {
        println!("{}", serde_json::to_string(&pids).context("encode pids")?);
        return Ok(());
    }
    println!("{:>8}  CMD", "PID");
    for pid in pids {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        println!("{pid:>8}  {}", cmd.trim_end());
    }
    Ok(())
}
