use crate::cli::{GlobalOpts, ListArgs, ListFormat};
use crate::state::{Listed, Store};
use anyhow::Result;
use std::fmt::Write as _;
use std::io::Write as _;

const HEADER: [&str; 6] = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"];

pub fn list(global: &GlobalOpts, args: &ListArgs) -> Result<()> {
    let store = Store::open(&global.root)?;
    let text = if args.quiet {
        let ids = store.list(|l| match l {
            Listed::Ok(s) => s.id.to_string(),
            Listed::Corrupt(w) => w.id.clone(),
        })?;
        ids.iter().fold(String::new(), |mut text, id| {
            text.push_str(id);
            text.push('\n');
            text
        })
    } else if args.format == ListFormat::Json {
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
        format!("[{}]\n", states.join(","))
    } else {
        table(&store.list(|l| {
            let mut row = Row::default();
            match l {
                Listed::Ok(s) => row.cells([&s.id, &s.pid, &s.status, &s.bundle.display(), &s.created, &s.owner]),
                Listed::Corrupt(w) => {
                    let pid = w.made.as_ref().and_then(|m| m.init).map_or(0, |i| i.pid);
                    row.cells([&w.id, &pid, &"corrupt", &"", &"", &""])
                }
            }
            row
        })?)
    };
    // One write for the whole listing, not one a line.
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    Ok(out.flush()?)
}

/// A row of the table: its cells one after the other in one string, one allocation a row
/// where a String a cell made six.
#[derive(Default)]
struct Row {
    text: String,
    ends: [usize; 6],
}

impl Row {
    fn cells(&mut self, cells: [&dyn std::fmt::Display; 6]) {
        for (cell, end) in cells.into_iter().zip(&mut self.ends) {
            // Writing to a String cannot fail.
            let _ = write!(self.text, "{cell}");
            *end = self.text.len();
        }
    }

    fn cell(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }
}

/// The table, runc's layout: each column as wide as its widest cell (in characters, as the
/// padding counts them), three spaces between columns, no trailing blanks.
fn table(rows: &[Row]) -> String {
    let header = {
        let mut row = Row::default();
        row.cells(HEADER.each_ref().map(|h| h as &dyn std::fmt::Display));
        row
    };
    let rows = || std::iter::once(&header).chain(rows);
    let widths: [usize; 6] = std::array::from_fn(|i| rows().map(|r| r.cell(i).len()).max().unwrap_or(0));
    let mut text = String::with_capacity(rows().map(|_| widths.iter().sum::<usize>() + 16).sum());
    for row in rows() {
        let start = text.len();
        for (i, width) in widths.iter().enumerate() {
            if i > 0 {
                text.push_str("   ");
            }
            let cell = row.cell(i);
            text.push_str(cell);
            let pad = width.saturating_sub(cell.chars().count());
            text.extend(std::iter::repeat_n(' ', pad));
        }
        let kept = text[start..].trim_end().len();
        text.truncate(start + kept);
        text.push('\n');
    }
    text
}
