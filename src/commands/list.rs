use crate::cli::{GlobalOpts, ListArgs, ListFormat};
use crate::state::{Listed, Store};
use anyhow::Result;
use std::io::Write;

pub fn list(global: &GlobalOpts, args: &ListArgs) -> Result<()> {
    let store = Store::open(&global.root)?;
    // One write for the whole listing, not one a line.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.quiet {
        let ids = store.list(|l| match l {
            Listed::Ok(s) => s.id.to_string(),
            Listed::Corrupt(w) => w.id.clone(),
        })?;
        for id in ids {
            writeln!(out, "{id}")?;
        }
        return Ok(out.flush()?);
    }
    if args.format == ListFormat::Json {
        // A corrupt container has no OCI state to give (its status is none of the spec's):
        // it is named on stderr, as runc does, and the JSON stays what parsers expect.
        let states = store.list(|l| match l {
            Listed::Ok(s) => Some(serde_json::to_string(&s)),
            Listed::Corrupt(w) => {
                crate::logging::warn(&format!("{:#}", w.error()));
                None
            }
        })?;
        let states = states.into_iter().flatten().collect::<Result<Vec<_>, _>>()?;
        writeln!(out, "[{}]", states.join(","))?;
        return Ok(out.flush()?);
    }
    let rows: Vec<[String; 6]> = store.list(|l| match l {
        Listed::Ok(s) => [
            s.id.into(),
            s.pid.to_string(),
            s.status.to_string(),
            s.bundle.display().to_string(),
            s.created.into(),
            s.owner.into(),
        ],
        Listed::Corrupt(w) => [
            w.id.clone(),
            w.made.as_ref().map_or(0, |m| m.init.pid).to_string(),
            "corrupt".into(),
            String::new(),
            String::new(),
            String::new(),
        ],
    })?;
    let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().chain([&header]).map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    for row in [&header].into_iter().chain(&rows) {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        writeln!(out, "{}", cells.join("   ").trim_end())?;
    }
    Ok(out.flush()?)
}
