//! Errors and debug output in runc's shape: containerd's shim decodes `--log` as a stream of JSON
//! objects and shows the `msg` of the last one whose `level` is exactly "error", so every line of
//! a JSON log must be a JSON object and errors must say `"level":"error"`.

use crate::cli::{GlobalOpts, LogFormat};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// Where log lines go: the `--log` file (opened append, close-on-exec so it never reaches a
/// container) or standard error.
struct Sink {
    file: Option<Mutex<File>>,
    format: LogFormat,
    /// `--trace`: steps go to stderr as a table, whatever --log says.
    trace: bool,
    /// `--debug`.
    debug: bool,
}

static SINK: std::sync::OnceLock<Sink> = std::sync::OnceLock::new();
static STARTED: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
/// Which process writes: the runtime, or the container's init (a fork of it).
static SIDE: Mutex<&str> = Mutex::new("runtime");

/// Where a re-executed scrun finds when the first one started (CLOCK_MONOTONIC, in ns).
const STARTED_ENV: &str = "_SCRUN_STARTED_NS";

/// Mark the very start of scrun, which `--trace` totals are measured from: for a scrun that
/// re-executed itself from a read-only copy (sealed_exe), the start of the first one.
pub fn mark_start() {
    let now = Instant::now();
    let inherited = std::env::var(STARTED_ENV).ok().and_then(|v| v.parse::<u64>().ok());
    // Not for hooks or anything else this scrun starts.
    std::env::remove_var(STARTED_ENV);
    let started = inherited
        .and_then(|ns| monotonic_ns().checked_sub(ns))
        .and_then(|ago| now.checked_sub(std::time::Duration::from_nanos(ago)));
    let _ = STARTED.set(started.unwrap_or(now));
}

/// The environment entry that hands this process's start to its re-executed self.
pub fn started_env() -> (String, String) {
    let ago = since_start().as_nanos() as u64;
    (STARTED_ENV.to_string(), monotonic_ns().saturating_sub(ago).to_string())
}

/// CLOCK_MONOTONIC, which `Instant` reads too.
fn monotonic_ns() -> u64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime fills the timespec; CLOCK_MONOTONIC cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

pub fn since_start() -> std::time::Duration {
    STARTED.get().map(|t| t.elapsed()).unwrap_or_default()
}

pub fn set_side(side: &'static str) {
    if let Ok(mut s) = SIDE.lock() {
        *s = side;
    }
}

pub fn init(opts: &GlobalOpts, trace: bool) -> anyhow::Result<()> {
    let file = match &opts.log {
        Some(path) => Some(Mutex::new(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| anyhow::anyhow!("open log file {}: {e}", path.display()))?,
        )),
        None => None,
    };
    let _ = SINK.set(Sink {
        file,
        format: opts.log_format,
        trace,
        debug: opts.debug,
    });
    if opts.debug || trace {
        let subscriber = tracing_subscriber::registry().with(StepLayer);
        tracing::subscriber::set_global_default(subscriber)?;
    }
    Ok(())
}

fn write_line(level: &str, msg: &str) {
    let Some(sink) = SINK.get() else {
        eprintln!("{msg}");
        return;
    };
    if sink.trace && level != "error" {
        let side = SIDE.lock().map(|s| *s).unwrap_or("runtime");
        let at = since_start().as_micros();
        let _ = std::io::stderr().write_all(format!("trace {at:>7} µs  {side:<7}  {msg}\n").as_bytes());
        return;
    }
    let time = humantime::format_rfc3339_nanos(SystemTime::now());
    let line = match sink.format {
        LogFormat::Json => format!(
            "{}\n",
            serde_json::json!({ "level": level, "msg": msg, "time": time.to_string() })
        ),
        LogFormat::Text => format!("time=\"{time}\" level={level} msg={msg:?}\n"),
    };
    match &sink.file {
        // One write call per line, so lines of concurrent writers (parent and container init)
        // do not interleave in the O_APPEND file.
        Some(f) => {
            let _ = f.lock().map(|mut f| f.write_all(line.as_bytes()));
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// Report a failure: one line on stderr (conmon shows it to podman users; runc prints it too) and,
/// with `--log`, one error line there (containerd and dockerd show that one).
/// The `--log` file's descriptor, which the container's init (a fork) keeps using.
pub fn file_fd() -> Option<std::os::fd::RawFd> {
    use std::os::fd::AsRawFd;
    let file = SINK.get()?.file.as_ref()?.lock().ok()?;
    Some(file.as_raw_fd())
}

pub fn error(msg: &str) {
    eprintln!("scrun: {msg}");
    if SINK.get().is_some_and(|s| s.file.is_some()) {
        write_line("error", msg);
    }
}

/// A warning only a person can act on: shown with --debug or when stderr is a terminal, and
/// dropped otherwise (engines capture every call's stderr and show it as if it were an error).
pub fn notice(msg: &str) {
    let debug = SINK.get().is_some_and(|s| s.debug);
    if debug || std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        warn(msg);
    }
}

pub fn warn(msg: &str) {
    match SINK.get() {
        Some(s) if s.file.is_some() => write_line("warning", msg),
        _ => eprintln!("scrun: warning: {msg}"),
    }
}

/// With --debug, each setup step is a span; closing it logs the step and how long it took, so a
/// user sees where start-up time goes.
struct StepLayer;

struct Started(Instant, String);

#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"))
        } else {
            self.record_debug(field, &value)
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            self.0.push_str(&format!("{value:?}"));
        } else {
            self.0.push_str(&format!("{}={value:?}", field.name()));
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for StepLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut msg = Message::default();
        attrs.record(&mut msg);
        if let Some(span) = ctx.span(id) {
            let text = if msg.0.is_empty() {
                span.name().to_string()
            } else {
                msg.0
            };
            span.extensions_mut().insert(Started(Instant::now(), text));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            if let Some(Started(t, text)) = span.extensions().get::<Started>() {
                write_line("debug", &format!("{text} ({} µs)", t.elapsed().as_micros()));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut msg = Message::default();
        event.record(&mut msg);
        let level = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "info",
            _ => "debug",
        };
        write_line(level, &msg.0);
    }
}
