use crate::cli::{GlobalOpts, ListArgs, ListFormat};
use crate::state::Store;
use anyhow::Result;

pub fn list(global: &GlobalOpts, args: &ListArgs) -> Result<()> {
    let store = Store::open(&global.root)?;
    let containers = store.list()?;
    if args.quiet {
        for c in &containers {
            println!("{}", c.saved.id);
        }
        return Ok(());
    }
    if args.format == ListFormat::Json {
        let states: Vec<_> = containers.iter().map(|c| c.oci_state()).collect();
        println!("{}", serde_json::to_string(&states)?);
        return Ok(());
    }
    let rows: Vec<[String; 6]> = containers
        .iter()
        .map(|c| {
            let s = c.oci_state();
            [
                s.id.into(),
                s.pid.to_string(),
                s.status.to_string(),
                s.bundle.display().to_string(),
                s.created.into(),
                s.owner.into(),
            ]
        })
        .collect();
    let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().chain([&header]).map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    for row in [&header].into_iter().chain(&rows) {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", cells.join("   ").trim_end());
    }
    Ok(())
}
