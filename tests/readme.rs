//! The README's command examples, run as written and compared with the output it shows.
//!
//! Every ```console block of README.md is a transcript in trycmd's syntax: `$ ` starts a
//! command (a shell line, as the reader would type it), `> ` continues it, `? failed` or
//! `? N` gives its exit status (success when absent), and the lines after it are its output,
//! stdout and stderr together, where `...` alone on a line stands for any lines and `[..]`
//! for any text within one. A block marked ```console,ignore is not run.
//!
//! The blocks run in order in one `sh`, as a reader following the README in one terminal
//! would run them: in an empty directory holding a link to hack/, with the scrun under test
//! first on PATH, in a private mount namespace whose /run/scrun (scrun's default --root) is a
//! fresh tmpfs. Whatever they leave running is deleted at the end. trycmd itself runs each
//! command by registered binary in the Markdown file's own directory (or a `*.in/` beside
//! it); these need root, a shell, gcc, a scratch directory and a state root of their own.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;

struct Step {
    line: usize,
    command: String,
    status: Option<String>,
    expected: Vec<String>,
}

struct Block {
    steps: Vec<Step>,
}

fn blocks(readme: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for (i, raw) in readme.lines().enumerate() {
        let line = i + 1;
        let Some(block) = current.as_mut() else {
            if raw.trim_end() == "```console" {
                current = Some(Block { steps: Vec::new() });
            }
            continue;
        };
        if raw.starts_with("```") {
            blocks.extend(current.take());
        } else if let Some(cmd) = raw.strip_prefix("$ ") {
            block.steps.push(Step {
                line,
                command: cmd.to_string(),
                status: None,
                expected: Vec::new(),
            });
        } else if let Some(step) = block.steps.last_mut() {
            match (raw.strip_prefix("> "), raw.strip_prefix("? ")) {
                (Some(more), _) if step.expected.is_empty() => {
                    step.command.push('\n');
                    step.command.push_str(more);
                }
                (_, Some(status)) if step.expected.is_empty() => step.status = Some(status.trim().to_string()),
                _ => step.expected.push(raw.trim_end().to_string()),
            }
        } else {
            panic!("README.md:{line}: a console block must start with a `$ ` command");
        }
    }
    blocks
}

/// Whether `line` matches `pattern`, where `[..]` stands for any text.
fn line_matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split("[..]").collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == line;
    }
    if !line.starts_with(first) || !line[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &line[first.len()..line.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Whether `lines` match `patterns`, where a `...` pattern line stands for any lines.
fn lines_match(patterns: &[String], lines: &[&str]) -> bool {
    match patterns.split_first() {
        None => lines.is_empty(),
        Some((p, rest)) if p == "..." => (0..=lines.len()).any(|skip| lines_match(rest, &lines[skip..])),
        Some((p, rest)) => lines
            .split_first()
            .is_some_and(|(l, more)| line_matches(p, l) && lines_match(rest, more)),
    }
}

/// The scrun under test, as `scrun` on PATH.
fn bin_dir(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(common::runtime_bin(), bin.join("scrun")).unwrap();
    bin
}

const MARK: &str = "@@scrun-readme-step@@";

/// Runs every step in one shell; returns each one's output and exit status.
fn run_all(steps: &[&Step], repo: &Path) -> Vec<(String, i32)> {
    let dir = std::env::temp_dir().join(common::unique_id("readme"));
    fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(repo.join("hack"), dir.join("hack")).unwrap();
    let path = format!(
        "{}:{}",
        bin_dir(&dir).display(),
        std::env::var("PATH").unwrap_or_default()
    );
    fs::create_dir_all("/run/scrun").unwrap();
    let mut script = String::from("mount -t tmpfs tmpfs /run/scrun || exit 99\n");
    for step in steps {
        script.push_str(&format!(
            "{{\n{}\n}} 2>&1 </dev/null\nprintf '\\n{MARK} %d\\n' $?\n",
            step.command
        ));
    }
    script.push_str("for id in $(scrun list -q); do scrun delete --force \"$id\"; done\n");
    let mut sh = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh"])
        .current_dir(&dir)
        .env("PATH", path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run unshare");
    sh.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = sh.wait_with_output().unwrap();
    let _ = fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut results = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find(&format!("\n{MARK} ")) {
        let (output, after) = rest.split_at(at);
        let after = &after[MARK.len() + 2..];
        let end = after.find('\n').unwrap_or(after.len());
        results.push((output.to_string(), after[..end].trim().parse().unwrap_or(-1)));
        rest = &after[(end + 1).min(after.len())..];
    }
    assert_eq!(
        results.len(),
        steps.len(),
        "the README's shell stopped early:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    results
}

/// Without the blank lines at its end.
fn trimmed<S: AsRef<str>>(lines: &[S]) -> &[S] {
    &lines[..lines.iter().rposition(|l| !l.as_ref().is_empty()).map_or(0, |i| i + 1)]
}

fn status_ok(want: Option<&str>, got: i32) -> bool {
    match want {
        None | Some("success") => got == 0,
        Some("failed") => got != 0,
        Some(code) => code.parse() == Ok(got),
    }
}

#[test]
fn readme_examples_show_what_the_commands_print() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = fs::read_to_string(repo.join("README.md")).unwrap();
    let blocks = blocks(&readme);
    let steps: Vec<&Step> = blocks.iter().flat_map(|b| &b.steps).collect();
    assert!(!steps.is_empty(), "README.md has no console blocks");
    let mut wrong = Vec::new();
    for (step, (output, status)) in steps.iter().zip(run_all(&steps, repo)) {
        let lines: Vec<&str> = output.lines().map(str::trim_end).collect();
        let (lines, expected) = (trimmed(&lines), trimmed(&step.expected));
        if !status_ok(step.status.as_deref(), status) || !lines_match(expected, lines) {
            wrong.push(format!(
                "README.md:{}: $ {}\n--- the README shows (status {}) ---\n{}\n--- it printed (status {status}) ---\n{}",
                step.line,
                step.command,
                step.status.as_deref().unwrap_or("success"),
                expected.join("\n"),
                lines.join("\n")
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn the_matcher_follows_trycmd_syntax() {
    let p = |s: &[&str]| s.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    assert!(lines_match(&p(&["a [..] c", "...", "z"]), &["a b c", "x", "y", "z"]));
    assert!(lines_match(&p(&["...", "z"]), &["z"]));
    assert!(!lines_match(&p(&["a [..] c"]), &["a b d"]));
    assert!(!lines_match(&p(&["a"]), &["a", "b"]));
    assert!(line_matches("[..]µs ([..] µs)", "12 µs (3 µs)"));
}
