//! The command line, spelled exactly as runc spells it: engines (containerd's shim, dockerd,
//! conmon) call scrun with runc's global flags before the subcommand and runc's flags after it.
//! argv.rs first rewrites what runc's parser accepts into the form clap reads.

use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// A subcommand's arguments, which clap builds only for the subcommand invoked
/// (`clap::Command::defer`): building every subcommand's took about 1.5 M instructions at each
/// call, three quarters of a `scrun state`.
#[derive(Debug)]
pub struct Lazy<T>(pub T);

impl<T> std::ops::Deref for Lazy<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Args> Args for Lazy<T> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(T::augment_args)
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(T::augment_args_for_update)
    }
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
}

impl<T: FromArgMatches> FromArgMatches for Lazy<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Lazy)
    }
    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Lazy)
    }
    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }
    fn update_from_arg_matches_mut(&mut self, matches: &mut ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "scrun",
    about = "A small, fast and secure OCI container runtime",
    disable_version_flag = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalOpts {
    /// Directory holding the containers' state [default: /run/scrun; for a user other than
    /// root $XDG_RUNTIME_DIR/scrun, or else /run/user/UID/scrun]
    #[arg(long = "root", value_name = "ROOT")]
    pub root_dir: Option<PathBuf>,
    /// The state root: --root, or the caller's default (filled in by main).
    #[arg(skip)]
    pub root: PathBuf,
    /// Append errors (and, with --debug, every step) to this file
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Format of the --log file
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log every setup step with its duration
    #[arg(long)]
    pub debug: bool,
    /// Manage cgroups through systemd (cgroupsPath as slice:prefix:name)
    #[arg(long)]
    pub systemd_cgroup: bool,
    /// Act as a runtime without privilege on the host: true, false or auto (the default: when
    /// not root, or root of a user namespace)
    #[arg(long = "rootless", id = "global_rootless", value_name = "VALUE", num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// Print the version
    #[arg(short = 'v', long)]
    pub version: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a default config.json into the bundle
    Spec(Lazy<SpecArgs>),
    /// Create a container: set it up and leave its process waiting for `start`
    Create(Lazy<CreateArgs>),
    /// Let a created container's process run its program
    Start(Lazy<IdArg>),
    /// Create and start a container, in the foreground unless --detach
    Run(Lazy<RunArgs>),
    /// Print a container's state as JSON
    State(Lazy<IdArg>),
    /// Send a signal to a container's process
    Kill(Lazy<KillArgs>),
    /// Remove a container and everything scrun made for it
    Delete(Lazy<DeleteArgs>),
    /// List containers
    #[command(alias = "ls")]
    List(Lazy<ListArgs>),
    /// Show, without creating anything, every step create would take for a bundle
    Explain(Lazy<ExplainArgs>),
    /// Run a new process in a running container
    Exec(Lazy<ExecArgs>),
    /// Run a static host tool (default: busybox) in every namespace of a running container,
    /// from a sealed in-memory copy: a shell for an image that has none
    Debug(Lazy<DebugArgs>),
    /// Freeze every process of a running container
    Pause(Lazy<IdArg>),
    /// Thaw a paused container
    Resume(Lazy<IdArg>),
    /// List the host pids of a container's processes
    Ps(Lazy<PsArgs>),
    /// Show what a created or running container really has, read from the host: namespaces,
    /// identity, capabilities, limits, fds, mounts, and the files the instance adds to the image
    Inspect(Lazy<InspectArgs>),
    /// Print what this build supports, as runtime-spec's features JSON
    Features,
    /// Change a running container's resource limits
    Update(Lazy<UpdateArgs>),
    /// Print the container's OOM kills as they happen and its cgroup statistics every
    /// --interval (or once, with --stats), as runc's JSON lines
    Events(Lazy<EventsArgs>),
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// LinuxResources JSON from this file, or "-" for stdin (what containerd's shim sends)
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    /// Memory limit in bytes
    #[arg(long)]
    pub memory: Option<i64>,
    /// Memory plus swap limit in bytes (-1: unlimited)
    #[arg(long)]
    pub memory_swap: Option<i64>,
    /// Memory soft limit in bytes
    #[arg(long)]
    pub memory_reservation: Option<i64>,
    #[arg(long)]
    pub cpu_shares: Option<u64>,
    #[arg(long)]
    pub cpu_quota: Option<i64>,
    #[arg(long)]
    pub cpu_period: Option<u64>,
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    #[arg(long)]
    pub pids_limit: Option<i64>,
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Print the statistics once and exit
    #[arg(long)]
    pub stats: bool,
    /// Time between two statistics reports, as a Go duration (5s, 1m30s, 250ms)
    #[arg(long, default_value = "5s", value_parser = go_duration)]
    pub interval: std::time::Duration,
    pub id: String,
}

/// Go's time.ParseDuration, as runc reads --interval: decimal numbers each with a unit (ns,
/// us, µs, ms, s, m, h); a number without one is refused, but for "0".
fn go_duration(text: &str) -> Result<std::time::Duration, String> {
    let invalid = || format!("invalid duration {text:?}");
    match text {
        "0" => return Ok(std::time::Duration::ZERO),
        "" => return Err(invalid()),
        _ => {}
    }
    let mut rest = text;
    let mut nanos = 0f64;
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let value: f64 = rest[..end].parse().map_err(|_| invalid())?;
        rest = &rest[end..];
        let end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        nanos += value
            * match &rest[..end] {
                "ns" => 1.0,
                "us" | "µs" | "μs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                "" => return Err(format!("missing unit in duration {text:?}")),
                unit => return Err(format!("unknown unit {unit:?} in duration {text:?}")),
            };
        rest = &rest[end..];
    }
    Ok(std::time::Duration::from_nanos(nanos as u64))
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    #[arg(short, long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    pub id: String,
    /// Options of ps(1) for the table (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// The process as runtime-spec JSON (what engines pass); otherwise the container's own
    /// process with COMMAND and the options below
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Return once the process runs instead of waiting for it
    #[arg(short, long)]
    pub detach: bool,
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Give the process a terminal
    #[arg(short, long)]
    pub tty: bool,
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Working directory inside the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (KEY=VALUE)
    #[arg(short, long)]
    pub env: Vec<String>,
    /// UID[:GID] to run as
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional gids
    #[arg(short = 'g', long)]
    pub additional_gids: Vec<u32>,
    /// Add a capability to the bounding, effective, permitted and inheritable sets
    #[arg(short, long)]
    pub cap: Vec<String>,
    #[arg(long)]
    pub no_new_privs: bool,
    /// AppArmor profile for the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// SELinux label for the process
    #[arg(long)]
    pub process_label: Option<String>,
    /// Print each setup step with its duration on stderr
    #[arg(long)]
    pub trace: bool,
    /// Exec into a paused container too (the process starts when it is resumed)
    #[arg(long)]
    pub ignore_paused: bool,
    pub id: String,
    /// The program and its arguments (without --process)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct DebugArgs {
    /// The static tool to run (its arguments are CMD ARGS)
    #[arg(long, default_value = "/bin/busybox")]
    pub tool: PathBuf,
    pub id: String,
    /// The tool's arguments (default on a terminal: sh)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// Bundle directory (default: the current directory)
    #[arg(short, long)]
    pub bundle: Option<PathBuf>,
    /// The bundle directory, as a positional argument
    #[arg(conflicts_with = "bundle")]
    pub dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
    /// With --format html: draw the setup steps of this trace as a waterfall (the stderr of
    /// `scrun run --trace`, or a --debug log)
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextOrJson {
    Text,
    Json,
    /// One self-contained page
    Html,
}

#[derive(Args, Debug)]
pub struct SpecArgs {
    /// Bundle directory (default: the current directory)
    #[arg(short, long)]
    pub bundle: Option<PathBuf>,
    /// Write a spec for a rootless container
    #[arg(long)]
    pub rootless: bool,
    /// Make a ready FROM-scratch bundle around this binary (rootfs and config.json)
    #[arg(long, value_name = "BINARY")]
    pub scratch: Option<PathBuf>,
    /// With --scratch: the user the program runs as; a name also gets /etc/passwd and
    /// /etc/group (uid and gid default to 10001), a number only sets process.user
    #[arg(long, value_name = "NAME[:UID[:GID]]|UID[:GID]", requires = "scratch")]
    pub user: Option<String>,
    /// With --scratch: copy the binary's ELF interpreter and libraries from the host
    #[arg(long, requires = "scratch")]
    pub libs: bool,
    /// With --scratch: copy a host file or directory into the rootfs (DST defaults to SRC)
    #[arg(long, value_name = "SRC[:DST]", requires = "scratch")]
    pub add: Vec<String>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct CreateOpts {
    /// Bundle directory (default: the current directory)
    #[arg(short, long)]
    pub bundle: Option<PathBuf>,
    /// Write the container process's host pid here
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the terminal's master fd
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Pass this many extra fds (from 3 on) to the container process
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Do not use pivot_root (for a rootfs on a ramdisk)
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted for runc compatibility; scrun never creates a session keyring
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Print each setup step with its duration on stderr
    #[arg(long)]
    pub trace: bool,
    /// Stop the setup at this phase (for inspect or nsenter); `start` goes on from there
    #[arg(long, value_enum)]
    pub pause_at: Option<crate::plan::Phase>,
    /// Run a minimal init of scrun's own as PID 1: it forwards signals to the program, reaps
    /// orphans and exits with the program's status (docker's --init)
    #[arg(long)]
    pub init: bool,
}

impl From<&CreateOpts> for crate::launch::LaunchOpts {
    fn from(o: &CreateOpts) -> Self {
        crate::launch::LaunchOpts {
            pid_file: o.pid_file.clone(),
            console_socket: o.console_socket.clone(),
            preserve_fds: o.preserve_fds,
            no_pivot: o.no_pivot,
            pause_at: o.pause_at,
            mini_init: o.init,
            program_fd: None,
        }
    }
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    #[command(flatten)]
    pub opts: CreateOpts,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub opts: CreateOpts,
    /// Return once the container runs, leaving it in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Do not delete the container after it exits
    #[arg(long)]
    pub keep: bool,
    /// Container id, or a bundle directory (the id is then derived from its name)
    pub id: String,
}

#[derive(Args, Debug)]
pub struct IdArg {
    pub id: String,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal every process of the container
    #[arg(short, long)]
    pub all: bool,
    pub id: String,
    /// Signal name or number
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// Kill the container if it runs; succeed if it does not exist
    #[arg(short, long)]
    pub force: bool,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Print only the ids
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    Table,
    Json,
}

#[cfg(test)]
mod tests {
    use super::go_duration;
    use std::time::Duration;

    #[test]
    fn durations_as_go_reads_them() {
        assert_eq!(go_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(go_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(go_duration("5"), Err("missing unit in duration \"5\"".into()));
        assert_eq!(go_duration("5d"), Err("unknown unit \"d\" in duration \"5d\"".into()));
        assert_eq!(go_duration("s"), Err("invalid duration \"s\"".into()));
    }
}
