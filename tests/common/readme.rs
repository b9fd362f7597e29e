//! README.md's registration snippets, for the engine tests to use as a user would: each test
//! takes the fenced block under a bullet of the README, puts in its own paths where the README
//! names the installed ones, and merges it into the engine's config the way the README says.
//! A README whose snippet breaks the engine breaks the test.

use std::fs;
use std::path::Path;

/// Where the README installs scrun; the tests put the binary under test in its place.
pub const INSTALLED_SCRUN: &str = "/usr/local/bin/scrun";
/// The README's bullets that register scrun with each engine (## Engines).
pub const DOCKERD_ITEM: &str = "- **dockerd**";
pub const CONTAINERD_ITEM: &str = "- **containerd**";
pub const PODMAN_ITEM: &str = "- **podman**";
/// The README's troubleshooting notes for a host without CAP_SYS_RESOURCE (### Troubleshooting).
pub const CONTAINERD_OOM_ITEM: &str = "- **containerd without CAP_SYS_RESOURCE**";
pub const PODMAN_ULIMITS_ITEM: &str = "- **podman without CAP_SYS_RESOURCE**";

/// The fenced ```` ```lang ```` block of the README item whose first line contains `marker`
/// (a bullet, e.g. `- **dockerd**`), without its fences and with the item's indentation taken
/// off. The item is its marker line and the lines after it that are blank or indented deeper.
/// Panics unless exactly one line holds `marker` and exactly one `lang` block is in its item.
pub fn readme_block(marker: &str, lang: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    block_in(&readme, marker, lang).unwrap_or_else(|e| panic!("README.md: {e}"))
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn block_in(text: &str, marker: &str, lang: &str) -> Result<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let starts: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].contains(marker)).collect();
    let [start] = starts[..] else {
        return Err(format!(
            "{} lines contain {marker:?} (lines {:?}), want one",
            starts.len(),
            starts.iter().map(|i| i + 1).collect::<Vec<_>>()
        ));
    };
    let depth = indent(lines[start]);
    let end = (start + 1..lines.len())
        .find(|&i| !lines[i].trim().is_empty() && indent(lines[i]) <= depth)
        .unwrap_or(lines.len());
    let mut blocks = Vec::new();
    let mut i = start + 1;
    while i < end {
        let fence = lines[i].trim_start();
        if !fence.starts_with("```") {
            i += 1;
            continue;
        }
        let open = i;
        let close = (open + 1..end)
            .find(|&j| lines[j].trim() == "```")
            .ok_or_else(|| format!("the ``` block at line {} under {marker:?} is not closed", open + 1))?;
        if fence[3..].trim() == lang {
            let pad = indent(lines[open]);
            let mut block = String::new();
            for (n, line) in lines.iter().enumerate().take(close).skip(open + 1) {
                if !line.trim().is_empty() && indent(line) < pad {
                    return Err(format!("line {} sticks out of its ```{lang} block", n + 1));
                }
                block.push_str(line.get(pad..).unwrap_or(""));
                block.push('\n');
            }
            blocks.push(block);
        }
        i = close + 1;
    }
    match blocks.len() {
        1 => Ok(blocks.pop().unwrap()),
        n => Err(format!(
            "{n} ```{lang} blocks under {marker:?} (line {}), want one",
            start + 1
        )),
    }
}

/// `text` with every `from` replaced by `to`; panics if `text` has no `from`, so that a README
/// naming another path cannot slip the test's own binary or directory out of the config.
pub fn replace_path(text: &str, from: &str, to: &Path) -> String {
    assert!(text.contains(from), "{from} is not in\n{text}");
    text.replace(from, &to.to_string_lossy())
}

/// The name of the TOML table `line` opens (`[a."b"]` gives `a."b"`), if it is a header.
fn header(line: &str) -> Option<&str> {
    let t = line.trim();
    if !t.starts_with('[') || t.starts_with("[[") {
        return None;
    }
    let end = t.rfind(']')?;
    let rest = t[end + 1..].trim_start();
    (rest.is_empty() || rest.starts_with('#')).then(|| t[1..end].trim())
}

/// `add` merged into the TOML text `base` as a user edits a file by hand: the keys of each table
/// of `add` go right under that table's header in `base` if it has one; the other tables are
/// appended. Panics if `add` has keys outside any table.
pub fn toml_merge(base: &str, add: &str) -> String {
    // (header, its lines) of each table of `add`.
    let mut tables: Vec<(&str, Vec<&str>)> = Vec::new();
    for line in add.lines() {
        match header(line) {
            Some(name) => tables.push((name, vec![line])),
            None if tables.is_empty() => {
                assert!(
                    line.trim().is_empty() || line.trim_start().starts_with('#'),
                    "{line:?} is outside any table in\n{add}"
                );
            }
            None => tables.last_mut().unwrap().1.push(line),
        }
    }
    let mut out = String::new();
    for line in base.lines() {
        out.push_str(line);
        out.push('\n');
        if let Some(at) = header(line).and_then(|name| tables.iter().position(|(n, _)| *n == name)) {
            for key in &tables.remove(at).1[1..] {
                out.push_str(key);
                out.push('\n');
            }
        }
    }
    for (_, lines) in tables {
        out.push('\n');
        for line in lines {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}
