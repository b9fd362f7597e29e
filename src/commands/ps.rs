use crate::cli::{GlobalOpts, ListFormat, PsArgs};
use crate::state::Store;
use anyhow::{bail, Context, Result};

/// The host pids of the container's processes, from its cgroup: a JSON array for containerd's
/// shim (`docker top`, `ctr task ps`), or as runc shows them, the lines of `ps ARGS` (by
/// default `ps -ef`) whose PID is one of them.
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
    let ps_args = match args.ps_args.is_empty() {
        true => vec!["-ef".to_string()],
        false => args.ps_args.clone(),
    };
    let out = std::process::Command::new("ps")
        .args(&ps_args)
        .stdin(std::process::Stdio::null())
        .output()
        .context("run ps")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "ps {}: {}: {}{}",
            ps_args.join(" "),
            out.status,
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let column = header
        .split_whitespace()
        .position(|f| f == "PID")
        .with_context(|| format!("ps {}: no PID column in its output", ps_args.join(" ")))?;
    println!("{header}");
    for line in lines {
        let pid = line.split_whitespace().nth(column).and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            println!("{line}");
        }
    }
    Ok(())
}
