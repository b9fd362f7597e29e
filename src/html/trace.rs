//! Reads the setup steps back from what `run --trace` prints on stderr, or from a `--debug`
//! log (`--log-format text` or `json`), for the page's waterfall.

use anyhow::{Context, Result};
use std::path::Path;
use std::time::SystemTime;

/// One line of the trace: a step that took `micros`, or (without) something said on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Timed {
    /// When it ended, from scrun's start (from the first step's start, in a log).
    pub end_micros: u64,
    pub micros: Option<u64>,
    /// runtime or init; empty in a log, which does not say.
    pub side: String,
    pub text: String,
    /// The config field the init's steps name.
    pub origin: Option<String>,
}

impl Timed {
    pub fn start_micros(&self) -> u64 {
        self.end_micros.saturating_sub(self.micros.unwrap_or(0))
    }
}

pub fn read(path: &Path) -> Result<Vec<Timed>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("--trace {}", path.display()))?;
    let lines = parse(&text);
    if lines.is_empty() {
        anyhow::bail!(
            "--trace {}: no step in it (expected the stderr of `scrun run --trace`, or a --debug log)",
            path.display()
        );
    }
    Ok(lines)
}

/// Lines that are neither a trace nor a debug log line (the program's output) are skipped.
pub fn parse(text: &str) -> Vec<Timed> {
    let mut logged: Vec<(SystemTime, String)> = Vec::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("trace ") {
            let Some((at, rest)) = rest.trim_start().split_once(" µs") else {
                continue;
            };
            let Ok(at) = at.parse::<u64>() else { continue };
            let rest = rest.trim_start();
            let (side, msg) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push(timed(at, side, msg.trim_start()));
        } else if let Some((time, msg)) = log_line(line) {
            logged.push((time, msg));
        }
    }
    // A log has wall-clock times: measured from the start of its first step.
    let Some(first) = logged
        .iter()
        .map(|(t, msg)| *t - std::time::Duration::from_micros(timed(0, "", msg).micros.unwrap_or(0)))
        .min()
    else {
        return out;
    };
    for (time, msg) in logged {
        let at = time.duration_since(first).unwrap_or_default().as_micros() as u64;
        out.push(timed(at, "", &msg));
    }
    out
}

/// "TEXT[ origin=FIELD][ (N µs)]", as logging's step layer writes it.
fn timed(end_micros: u64, side: &str, msg: &str) -> Timed {
    let (rest, micros) = match msg.strip_suffix(" µs)").and_then(|m| m.rsplit_once(" (")) {
        Some((rest, n)) if n.parse::<u64>().is_ok() => (rest, n.parse().ok()),
        _ => (msg, None),
    };
    let (text, origin) = match rest.split_once(" origin=") {
        Some((text, origin)) => (text, Some(origin.to_string())),
        None => (rest, None),
    };
    Timed {
        end_micros,
        micros,
        side: side.to_string(),
        text: text.to_string(),
        origin,
    }
}

/// A debug line of a `--log` file: `{"level":"debug","msg":…,"time":…}` or
/// `time="…" level=debug msg="…"` (msg quoted as Rust's `{:?}` does).
fn log_line(line: &str) -> Option<(SystemTime, String)> {
    if line.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        if v["level"] != "debug" {
            return None;
        }
        let time = humantime::parse_rfc3339(v["time"].as_str()?).ok()?;
        return Some((time, v["msg"].as_str()?.to_string()));
    }
    let rest = line.strip_prefix("time=\"")?;
    let (time, rest) = rest.split_once('"')?;
    let quoted = rest.strip_prefix(" level=debug msg=")?;
    Some((humantime::parse_rfc3339(time).ok()?, unquote(quoted)?))
}

/// The inverse of `{:?}` on a str, for the escapes it makes.
fn unquote(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            'u' => {
                let hex: String = chars.by_ref().skip(1).take_while(|&c| c != '}').collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            other => out.push(other),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_lines() {
        let t = parse(
            "hello\ntrace   37543 µs  runtime  load and check config.json (1001 µs)\n\
             trace   74944 µs  init     mount proc on /proc origin=mounts[0] (155 µs)\n\
             trace  102293 µs  init     ambient capability CAP_KILL not raised: why\n",
        );
        assert_eq!(t.len(), 3);
        assert_eq!(
            (
                t[0].end_micros,
                t[0].micros,
                t[0].side.as_str(),
                t[0].text.as_str(),
                &t[0].origin
            ),
            (37543, Some(1001), "runtime", "load and check config.json", &None)
        );
        assert_eq!(
            (t[1].text.as_str(), t[1].origin.as_deref()),
            ("mount proc on /proc", Some("mounts[0]"))
        );
        assert_eq!(t[1].start_micros(), 74944 - 155);
        assert_eq!((t[2].micros, t[2].side.as_str()), (None, "init"));
    }

    #[test]
    fn debug_logs_in_both_formats() {
        let text = "time=\"2026-12-02T01:59:20.000100000Z\" level=debug msg=\"load \\\"x\\\" (100 µs)\"\n\
                    {\"level\":\"debug\",\"msg\":\"set hostname origin=hostname (50 µs)\",\"time\":\"2026-12-02T01:59:20.000300000Z\"}\n\
                    {\"level\":\"error\",\"msg\":\"no\",\"time\":\"2026-12-02T01:59:20.000400000Z\"}\n";
        let t = parse(text);
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[0].text.as_str(), t[0].end_micros, t[0].micros),
            ("load \"x\"", 100, Some(100))
        );
        assert_eq!((t[1].origin.as_deref(), t[1].end_micros), (Some("hostname"), 300));
    }
}
