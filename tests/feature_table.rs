//! README.md's feature table, scrun's column, against what `scrun features` reports and the
//! config fields scrun applies.
//!
//! A row may end in comments that say what its scrun cell rests on. In
//! `<!-- features: CLAIM ... -->` a CLAIM is a dotted path into the features JSON that must be
//! true there (`linux.cgroup.v1`), or `path=a,b` for names the list at that path must hold
//! (`linux.namespaces=time`). In `<!-- fields: FIELD ... -->` a FIELD is a config.json field,
//! in src/spec/coverage.rs's notation, that must be one scrun applies: that list, which
//! tests/field_coverage.rs holds to a test for each field. scrun's cell must be ✅ when every
//! claim of its row holds, ❌ when none, ◐ when some. So that a row cannot lose its comment
//! unnoticed, every namespace, hook kind, cgroup driver, LSM and seccomp notify that `features`
//! reports, and the mount options the table names (idmap, ridmap, tmpcopyup, rro, rshared),
//! must be claimed by some row. And each peer column must name the version it describes.

use scrun::spec::coverage;
use serde_json::Value;
use std::process::Command;

const SECTION: &str = "## Features compared";
const SYMBOLS: [char; 3] = ['✅', '◐', '❌'];
/// Mount options whose support a row of the table states.
const NAMED_MOUNT_OPTIONS: [&str; 5] = ["idmap", "ridmap", "tmpcopyup", "rro", "rshared"];

/// What a row's scrun cell rests on.
#[derive(Debug, Clone, PartialEq)]
enum Claim {
    /// `scrun features` reports `path` true, or the list at `path` holding `name`.
    Feature { path: String, name: Option<String> },
    /// scrun applies this config.json field (src/spec/coverage.rs).
    Field(String),
}

impl Claim {
    fn is(path: &str) -> Claim {
        Claim::Feature {
            path: path.into(),
            name: None,
        }
    }

    fn holds(path: &str, name: &str) -> Claim {
        Claim::Feature {
            path: path.into(),
            name: Some(name.into()),
        }
    }

    /// Whether it holds; an error when a features path is missing or of another type.
    fn holds_for(&self, features: &Value) -> Result<bool, String> {
        let (path, name) = match self {
            Claim::Field(field) => return Ok(coverage::is_honoured(field)),
            Claim::Feature { path, name } => (path, name),
        };
        let value = path
            .split('.')
            .try_fold(features, |v, key| v.get(key))
            .ok_or_else(|| format!("`scrun features` has no {path}"))?;
        match (name, value) {
            (None, Value::Bool(b)) => Ok(*b),
            (Some(name), Value::Array(list)) => Ok(list.iter().any(|v| v == name.as_str())),
            (None, _) => Err(format!("{path} is {value}, not true or false")),
            (Some(_), _) => Err(format!("{path} is {value}, not a list")),
        }
    }
}

impl std::fmt::Display for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Claim::Feature { path, name: Some(name) } => write!(f, "{path}={name}"),
            Claim::Feature { path, name: None } => write!(f, "{path}"),
            Claim::Field(field) => write!(f, "field {field}"),
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

/// The cells of a table line (without the comments that may end it).
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(|c| c.trim().to_string()).collect()
}

/// The claims of one comment's body: `features: ...` or `fields: ...`.
fn comment_claims(body: &str) -> Result<Vec<Claim>, String> {
    let (kind, list) = body
        .split_once(':')
        .ok_or("a comment that is neither `features:` nor `fields:`")?;
    let tokens = list.split_whitespace();
    let claims: Vec<Claim> = match kind.trim() {
        "features" => tokens
            .flat_map(|token| match token.split_once('=') {
                Some((path, names)) => names.split(',').map(|n| Claim::holds(path, n)).collect(),
                None => vec![Claim::is(token)],
            })
            .collect(),
        "fields" => tokens.map(|t| Claim::Field(t.into())).collect(),
        other => {
            return Err(format!(
                "a `{other}:` comment; the table knows `features:` and `fields:`"
            ))
        }
    };
    if claims.is_empty() {
        return Err(format!("a `{}:` comment that claims nothing", kind.trim()));
    }
    Ok(claims)
}

/// A table line split into its table part and the claims of the comments that end it.
fn split_comments(line: &str) -> Result<(&str, Vec<Claim>), String> {
    let Some(start) = line.find("<!--") else {
        return Ok((line, vec![]));
    };
    let mut claims = vec![];
    let mut rest = line[start..].trim();
    while let Some(text) = rest.strip_prefix("<!--") {
        let end = text.find("-->").ok_or("a comment without its -->")?;
        claims.extend(comment_claims(&text[..end])?);
        rest = text[end + "-->".len()..].trim();
    }
    if !rest.is_empty() {
        return Err(format!("{rest:?} after the comments"));
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
        let (cells_text, claims) = split_comments(text).map_err(at)?;
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
    let named = |claim: &Claim, among: &[&str]| matches!(claim, Claim::Feature { name: Some(n), .. } if among.contains(&n.as_str()));
    let mut claims = names("linux.namespaces");
    claims.extend(names("hooks"));
    claims.extend(
        names("mountOptions")
            .into_iter()
            .filter(|c| named(c, &NAMED_MOUNT_OPTIONS)),
    );
    claims.extend(
        names("linux.seccomp.actions")
            .into_iter()
            .filter(|c| named(c, &["SCMP_ACT_NOTIFY"])),
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
        .filter(|c| c.holds_for(features) == Ok(true)),
    );
    claims
}

/// Every way the table disagrees with `features` and the applied fields, one line each.
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
            match claim.holds_for(features) {
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
            let held = match missing.len() {
                0 => "all its claims hold".to_string(),
                n => format!(
                    "{} of its {} claims hold (not: {})",
                    row.claims.len() - n,
                    row.claims.len(),
                    missing.join(", ")
                ),
            };
            errors.push(format!(
                "{at}: scrun's cell is {symbol}, but {held}, so it should be {want}"
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
    let (cells_text, comments) = text.split_at(cut);
    let mut parts: Vec<String> = cells_text.split('|').map(String::from).collect();
    // parts[0] is what precedes the first '|': the cells are parts[1..].
    let rest: String = parts[column + 1].trim().chars().skip(1).collect();
    parts[column + 1] = format!(" {symbol}{rest} ");
    lines[line - 1] = parts.join("|") + comments;
    lines.join("\n")
}

/// README.md without the comments that end `line`.
fn without_comments(readme: &str, line: usize) -> String {
    let lines = readme.lines().enumerate().map(|(i, l)| match l.find("<!--") {
        Some(cut) if i + 1 == line => l[..cut].trim_end(),
        _ => l,
    });
    lines.collect::<Vec<_>>().join("\n")
}

#[test]
fn scrun_column_agrees_with_features_and_the_applied_fields() {
    let readme = readme();
    let table = parse(&readme).unwrap_or_else(|e| panic!("{e}"));
    let checked = |field: bool| {
        table
            .rows
            .iter()
            .filter(|r| r.claims.iter().any(|c| matches!(c, Claim::Field(_)) == field))
            .count()
    };
    assert!(checked(false) >= 10, "only {} rows claim features", checked(false));
    assert!(checked(true) >= 10, "only {} rows claim fields", checked(true));
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
            let errors = check(&with_scrun_cell(&readme, row.line, symbol), &features);
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
    let mut caught = 0;
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
        let errors = check(&without_comments(&readme, row.line), &features);
        assert!(
            errors
                .iter()
                .any(|e| e.contains(&format!("reports {lost}, but no row"))),
            "{:?} without its comment went unnoticed: {errors:?}",
            row.name
        );
        caught += 1;
    }
    assert!(caught >= 10, "only {caught} rows hold a claim no other row makes");
}

#[test]
fn claims_are_read_as_written() {
    let readme = "# x\n\n## Features compared\n\n| | runc 1.1.5 | scrun |\n|---|---|---|\n\
                  | time | ❌ | ✅ (3) | <!-- features: linux.namespaces=time,pid linux.cgroup.v1 --> <!-- fields: domainname -->\n\
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
            Claim::is("linux.cgroup.v1"),
            Claim::Field("domainname".into()),
        ]
    );
    assert!(table.rows[1].claims.is_empty());

    let features: Value = serde_json::json!({"linux": {"namespaces": ["pid"], "cgroup": {"v1": true}}});
    let errors = check(readme, &features);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("README.md:7: \"time\": scrun's cell is ✅")
                && e.contains("3 of its 4 claims hold (not: linux.namespaces=time), so it should be ◐")),
        "{errors:?}"
    );
    let unapplied = readme.replace("fields: domainname", "fields: linux.intelRdt.closID");
    assert!(
        check(&unapplied, &features)
            .iter()
            .any(|e| e.contains("(not: linux.namespaces=time, field linux.intelRdt.closID)")),
        "{:?}",
        check(&unapplied, &features)
    );
    let unversioned = readme.replace("runc 1.1.5", "runc");
    assert!(check(&unversioned, &features).contains(&"README.md: the column \"runc\" names no version".to_string()));
    let typo = readme.replace("linux.cgroup.v1", "linux.cgroup.v9");
    assert!(check(&typo, &features)
        .iter()
        .any(|e| e.ends_with("`scrun features` has no linux.cgroup.v9")));
    let unknown = readme.replace("<!-- fields:", "<!-- field:");
    assert!(parse(&unknown).is_err_and(|e| e.contains("a `field:` comment")));
}
