//! README.md's feature table, scrun's column, against what `scrun features` reports.
//!
//! A row that ends in a `<!-- features: CLAIM ... -->` comment says what its scrun cell rests
//! on. A CLAIM is a dotted path into the features JSON that must be true there
//! (`linux.cgroup.v1`), or `path=a,b` for names the list at that path must hold
//! (`linux.namespaces=time`). scrun's cell must then be ✅ when `scrun features` reports every
//! claim of the row, ❌ when none, ◐ when some. So that a row cannot lose its comment unnoticed,
//! every namespace, hook kind, cgroup driver, LSM and seccomp notify that `features` reports,
//! and the mount options the table names (idmap, ridmap, tmpcopyup, rro, rshared), must be
//! claimed by some row. And each peer column must name the version it describes.

use serde_json::Value;
use std::process::Command;

const SECTION: &str = "## Features compared";
const SYMBOLS: [char; 3] = ['✅', '◐', '❌'];
/// Mount options whose support a row of the table states.
const NAMED_MOUNT_OPTIONS: [&str; 5] = ["idmap", "ridmap", "tmpcopyup", "rro", "rshared"];

/// What `scrun features` must report: `path` is true, or the list at `path` holds `name`.
#[derive(Debug, Clone, PartialEq)]
struct Claim {
    path: String,
    name: Option<String>,
}

impl Claim {
    fn is(path: &str) -> Claim {
        Claim {
            path: path.into(),
            name: None,
        }
    }

    fn holds(path: &str, name: &str) -> Claim {
        Claim {
            path: path.into(),
            name: Some(name.into()),
        }
    }

    /// Whether `features` reports it; an error when the path is missing or of another type.
    fn reported(&self, features: &Value) -> Result<bool, String> {
        let value = self
            .path
            .split('.')
            .try_fold(features, |v, key| v.get(key))
            .ok_or_else(|| format!("`scrun features` has no {}", self.path))?;
        match (&self.name, value) {
            (None, Value::Bool(b)) => Ok(*b),
            (Some(name), Value::Array(list)) => Ok(list.iter().any(|v| v == name.as_str())),
            (None, _) => Err(format!("{} is {value}, not true or false", self.path)),
            (Some(_), _) => Err(format!("{} is {value}, not a list", self.path)),
        }
    }
}

impl std::fmt::Display for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{}={name}", self.path),
            None => write!(f, "{}", self.path),
        }
    }
}

/// A row of the table: its README line, first cell, scrun's cell and its claims.
struct Row {
    line: usize,
    name: String,
    scrun: String,
    claims: Vec<Claim>,
}

struct Table {
    /// The header's cells after the first, scrun's included.
    columns: Vec<String>,
    rows: Vec<Row>,
}

/// The cells of a table line (without the comment that may end it).
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(|c| c.trim().to_string()).collect()
}

/// A table line split into its table part and the claims of its comment.
fn split_comment(line: &str) -> Result<(&str, Vec<Claim>), String> {
    let Some(start) = line.find("<!-- features:") else {
        return Ok((line, vec![]));
    };
    let text = &line[start + "<!-- features:".len()..];
    let end = text.find("-->").ok_or("a features comment without its -->")?;
    let mut claims = vec![];
    for token in text[..end].split_whitespace() {
        match token.split_once('=') {
            Some((path, names)) => claims.extend(names.split(',').map(|n| Claim::holds(path, n))),
            None => claims.push(Claim::is(token)),
        }
    }
    if claims.is_empty() {
        return Err("a features comment that claims nothing".into());
    }
    Ok((&line[..start], claims))
}

/// The table of README's "Features compared" section.
fn parse(readme: &str) -> Result<Table, String> {
    let lines: Vec<&str> = readme.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_end() == SECTION)
        .ok_or(format!("README.md has no {SECTION:?} section"))?;
    let section = lines[start + 1..]
        .iter()
        .take_while(|l| !l.starts_with("## "))
        .enumerate()
        .map(|(i, l)| (start + 2 + i, *l))
        .filter(|(_, l)| l.starts_with('|'));
    let mut table: Option<Table> = None;
    let mut scrun_column = 0;
    for (line, text) in section {
        let at = |e: String| format!("README.md:{line}: {e}");
        let (cells_text, claims) = split_comment(text).map_err(at)?;
        let cells = cells(cells_text);
        let Some(table) = table.as_mut() else {
            let columns: Vec<String> = cells.into_iter().skip(1).collect();
            scrun_column = columns
                .iter()
                .position(|c| c == "scrun")
                .ok_or_else(|| at("the table has no scrun column".into()))?;
            table = Some(Table { columns, rows: vec![] });
            continue;
        };
        if cells.iter().all(|c| c.chars().all(|ch| ch == '-' || ch == ':')) {
            continue;
        }
        let scrun = cells
            .get(1 + scrun_column)
            .ok_or_else(|| at("the row has no scrun cell".into()))?;
        table.rows.push(Row {
            line,
            name: cells[0].clone(),
            scrun: scrun.clone(),
            claims,
        });
    }
    table.ok_or(format!("README.md: no table in {SECTION:?}"))
}

/// What in `features` some row must claim.
fn must_be_claimed(features: &Value) -> Vec<Claim> {
    let names = |path: &str| -> Vec<Claim> {
        let list = path.split('.').try_fold(features, |v, k| v.get(k));
        let list = list.and_then(Value::as_array).cloned().unwrap_or_default();
        list.iter()
            .filter_map(Value::as_str)
            .map(|n| Claim::holds(path, n))
            .collect()
    };
    let mut claims = names("linux.namespaces");
    claims.extend(names("hooks"));
    claims.extend(
        names("mountOptions")
            .into_iter()
            .filter(|c| NAMED_MOUNT_OPTIONS.contains(&c.name.as_deref().unwrap_or_default())),
    );
    claims.extend(
        names("linux.seccomp.actions")
            .into_iter()
            .filter(|c| c.name.as_deref() == Some("SCMP_ACT_NOTIFY")),
    );
    claims.extend(
        [
            "linux.cgroup.v1",
            "linux.cgroup.v2",
            "linux.cgroup.systemd",
            "linux.seccomp.enabled",
            "linux.apparmor.enabled",
            "linux.selinux.enabled",
            "linux.mountExtensions.idmap.enabled",
        ]
        .into_iter()
        .map(Claim::is)
        .filter(|c| c.reported(features) == Ok(true)),
    );
    claims
}

/// Every way the table disagrees with `features`, one line each.
fn check(readme: &str, features: &Value) -> Vec<String> {
    let table = match parse(readme) {
        Ok(table) => table,
        Err(e) => return vec![e],
    };
    let mut errors = vec![];
    for column in table.columns.iter().filter(|c| *c != "scrun") {
        let versioned = column
            .split_whitespace()
            .any(|w| w.contains('.') && w.chars().all(|c| c.is_ascii_digit() || c == '.'));
        if !versioned {
            errors.push(format!("README.md: the column {column:?} names no version"));
        }
    }
    for row in table.rows.iter().filter(|r| !r.claims.is_empty()) {
        let at = format!("README.md:{}: {:?}", row.line, row.name);
        let Some(symbol) = row.scrun.chars().next().filter(|c| SYMBOLS.contains(c)) else {
            errors.push(format!(
                "{at}: scrun's cell {:?} starts with none of ✅ ◐ ❌",
                row.scrun
            ));
            continue;
        };
        let mut missing = vec![];
        for claim in &row.claims {
            match claim.reported(features) {
                Ok(true) => {}
                Ok(false) => missing.push(claim.to_string()),
                Err(e) => errors.push(format!("{at}: {e}")),
            }
        }
        let want = match missing.len() {
            0 => '✅',
            n if n == row.claims.len() => '❌',
            _ => '◐',
        };
        if symbol != want {
            let reported = match missing.len() {
                0 => "all its claims".to_string(),
                n => format!(
                    "{} of its {} claims (not: {})",
                    row.claims.len() - n,
                    row.claims.len(),
                    missing.join(" ")
                ),
            };
            errors.push(format!(
                "{at}: scrun's cell is {symbol}, but `scrun features` reports {reported}, so it should be {want}"
            ));
        }
    }
    let claimed: Vec<&Claim> = table.rows.iter().flat_map(|r| &r.claims).collect();
    for claim in must_be_claimed(features) {
        if !claimed.contains(&&claim) {
            errors.push(format!(
                "README.md: `scrun features` reports {claim}, but no row of the feature table claims it \
                 (a `<!-- features: {claim} -->` comment at the end of its row)"
            ));
        }
    }
    errors
}

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("read README.md")
}

fn features() -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_scrun"))
        .arg("features")
        .output()
        .expect("run scrun features");
    assert!(
        out.status.success(),
        "scrun features: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("scrun features prints JSON")
}

/// README.md with scrun's cell on `line` starting with `symbol` instead.
fn with_scrun_cell(readme: &str, line: usize, symbol: char) -> String {
    let table = parse(readme).unwrap();
    let column = 1 + table.columns.iter().position(|c| c == "scrun").unwrap();
    let mut lines: Vec<String> = readme.lines().map(String::from).collect();
    let text = &lines[line - 1];
    let cut = text.find("<!--").unwrap_or(text.len());
    let (cells_text, comment) = text.split_at(cut);
    let mut parts: Vec<String> = cells_text.split('|').map(String::from).collect();
    // parts[0] is what precedes the first '|': the cells are parts[1..].
    let cell = parts[column + 1].trim().to_string();
    let rest: String = cell.chars().skip(1).collect();
    parts[column + 1] = format!(" {symbol}{rest} ");
    lines[line - 1] = parts.join("|") + comment;
    lines.join("\n")
}

#[test]
fn scrun_column_agrees_with_scrun_features() {
    let readme = readme();
    let table = parse(&readme).unwrap_or_else(|e| panic!("{e}"));
    let checked = table.rows.iter().filter(|r| !r.claims.is_empty()).count();
    assert!(checked >= 10, "only {checked} rows carry a features comment");
    let errors = check(&readme, &features());
    assert!(errors.is_empty(), "\n{}", errors.join("\n"));
}

#[test]
fn a_flipped_scrun_cell_is_caught() {
    let (readme, features) = (readme(), features());
    let table = parse(&readme).unwrap();
    for row in table.rows.iter().filter(|r| !r.claims.is_empty()) {
        let current = row.scrun.chars().next().unwrap();
        for symbol in SYMBOLS.into_iter().filter(|s| *s != current) {
            let flipped = with_scrun_cell(&readme, row.line, symbol);
            let errors = check(&flipped, &features);
            let at = format!("README.md:{}:", row.line);
            assert!(
                errors
                    .iter()
                    .any(|e| e.starts_with(&at) && e.contains(&format!("cell is {symbol}"))),
                "{:?} flipped to {symbol} went unnoticed: {errors:?}",
                row.name
            );
        }
    }
}

#[test]
fn a_row_that_loses_its_comment_is_caught() {
    let (readme, features) = (readme(), features());
    let table = parse(&readme).unwrap();
    let required = must_be_claimed(&features);
    for row in table.rows.iter().filter(|r| !r.claims.is_empty()) {
        let others: Vec<&Claim> = table
            .rows
            .iter()
            .filter(|r| r.line != row.line)
            .flat_map(|r| &r.claims)
            .collect();
        let Some(lost) = row.claims.iter().find(|c| required.contains(c) && !others.contains(c)) else {
            continue;
        };
        let stripped: String = readme
            .lines()
            .enumerate()
            .map(|(i, l)| match (i + 1 == row.line, l.find("<!--")) {
                (true, Some(cut)) => l[..cut].trim_end().to_string(),
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let errors = check(&stripped, &features);
        assert!(
            errors
                .iter()
                .any(|e| e.contains(&format!("reports {lost}, but no row"))),
            "{:?} without its comment went unnoticed: {errors:?}",
            row.name
        );
    }
}

#[test]
fn claims_are_read_as_written() {
    let readme = "# x\n\n## Features compared\n\n| | runc 1.1.5 | scrun |\n|---|---|---|\n\
                  | time | ❌ | ✅ (3) | <!-- features: linux.namespaces=time,pid linux.cgroup.v1 -->\n\
                  | plain | ✅ | ❌ |\n\n## Next\n| not | in | it |\n";
    let table = parse(readme).unwrap();
    assert_eq!(table.columns, ["runc 1.1.5", "scrun"]);
    assert_eq!(table.rows.len(), 2);
    let time = &table.rows[0];
    assert_eq!(
        (time.line, time.name.as_str(), time.scrun.as_str()),
        (7, "time", "✅ (3)")
    );
    assert_eq!(
        time.claims,
        [
            Claim::holds("linux.namespaces", "time"),
            Claim::holds("linux.namespaces", "pid"),
            Claim::is("linux.cgroup.v1")
        ]
    );
    assert!(table.rows[1].claims.is_empty());

    let features: Value = serde_json::json!({"linux": {"namespaces": ["pid"], "cgroup": {"v1": true}}});
    let errors = check(readme, &features);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("README.md:7: \"time\": scrun's cell is ✅")
                && e.contains("reports 2 of its 3 claims (not: linux.namespaces=time), so it should be ◐")),
        "{errors:?}"
    );
    let unversioned = readme.replace("runc 1.1.5", "runc");
    assert!(check(&unversioned, &features).contains(&"README.md: the column \"runc\" names no version".to_string()));
    let typo = readme.replace("linux.cgroup.v1", "linux.cgroup.v9");
    assert!(check(&typo, &features)
        .iter()
        .any(|e| e.ends_with("`scrun features` has no linux.cgroup.v9")));
}
