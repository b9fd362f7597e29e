//! The runtime's side of `create`: check the bundle, plan, claim the id, clone the init with its
//! namespaces, answer it over the sync channel, and record the container once it is ready.
//! On any failure the init is killed and the state directory removed, so nothing is left.

use crate::cgroups::Cgroup;
use crate::init::Init;
use crate::plan::{AfterCloneStep, CloneStep, IdmapUserns, Options, Phase, PlaceStep, Plan, RuntimeStep, Slot};
use crate::process::scheduling::set_affinity;
use crate::spec::Bundle;
use crate::state::{self, Saved, Store};
use crate::sync::{self, Msg};
use crate::{namespaces, tty};
use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// What `create`, `run` and `exec` ask of a launch beyond the plan: their command-line options.
#[derive(Debug, Default, Clone)]
pub struct LaunchOpts {
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// Pass this many extra fds (from 3 on) to the container process.
    pub preserve_fds: u32,
    pub no_pivot: bool,
    /// `create --pause-at`: where the init waits for `start` (Exec when None).
    pub pause_at: Option<Phase>,
    /// --init: the init stays as PID 1 and runs the program as its child (process::mini_init).
    pub mini_init: bool,
    /// `debug`: exec the program from this fd (a sealed memfd of a host tool), not from the image.
    pub program_fd: Option<i32>,
}

/// The handles steps pass on (see `plan::Slot`): filled by the runtime before the clone, so
/// that the init inherits them, and taken by the step that uses them.
pub struct Handles(Vec<Option<OwnedFd>>);

impl Handles {
    fn new(slots: usize) -> Handles {
        Handles((0..slots).map(|_| None).collect())
    }

    fn put(&mut self, slot: Slot, fd: Option<OwnedFd>) {
        self.0[slot.index()] = fd;
    }

    pub fn get(&self, slot: Slot) -> Result<&OwnedFd> {
        self.0[slot.index()]
            .as_ref()
            .context("a handle the plan needs is not open")
    }

    /// The handle, closing the runtime's copy of it in this process once used.
    pub fn take(&mut self, slot: Option<Slot>) -> Option<OwnedFd> {
        slot.and_then(|s| self.0[s.index()].take())
    }

    pub fn raw_fds(&self) -> impl Iterator<Item = i32> + '_ {
        self.0.iter().flatten().map(|f| f.as_raw_fd())
    }
}

pub struct Launched {
    pub pid: Pid,
    /// The pty master, when the container has a terminal and no console socket took it.
    pub pty: Option<OwnedFd>,
    /// Why the exec of a started `run` failed. The container is left as `start` leaves it
    /// then: stopped, for its deletion to run the poststop hooks.
    pub exec_failed: Option<String>,
}

/// Create the container `id` from `bundle`. With `foreground` (`run`) the init stays tied to
/// this process (it dies with it), the pty master is returned instead of requiring a socket,
/// and the container is started: its process has been exec'd when this returns.
/// `systemd_cgroup` is the global --systemd-cgroup.
pub fn create(
    store: &Store,
    id: &str,
    bundle: &Path,
    opts: &LaunchOpts,
    foreground: bool,
    systemd_cgroup: bool,
) -> Result<Launched> {
    state::check_id(id)?;
    let span = tracing::debug_span!("step", message = "load and check config.json").entered();
    let bundle = Bundle::load(bundle)?;
    drop(span);
    let dir = store.dir(id);
    let span = tracing::debug_span!("step", message = "plan the steps").entered();
    let plan = Plan::build(
        &bundle,
        &Options {
            state_dir: &dir,
            no_pivot: opts.no_pivot,
            systemd_cgroup,
            rootless: crate::rootless::active(),
        },
    )?;
    crate::rootless::check(&plan, Some(&bundle))?;
    drop(span);
    check_console(&plan, opts, foreground)?;
    let pid_file = pid_file(opts)?;
    let (dir, lock) = store.claim(id)?;
    let request = Request {
        plan: &plan,
        id,
        opts,
        pid_file: pid_file.as_deref(),
        foreground,
        record: Some((&bundle, &dir)),
        cache_dir: &store.cache_dir(),
    };
    let result = request.run();
    drop(lock);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// Start a process in the running container `id` (`scrun exec`), from a plan made by
/// `Plan::for_exec`.
pub fn exec(store: &Store, id: &str, plan: &Plan, opts: &LaunchOpts, foreground: bool) -> Result<Launched> {
    check_console(plan, opts, foreground)?;
    let pid_file = pid_file(opts)?;
    Request {
        plan,
        id,
        opts,
        pid_file: pid_file.as_deref(),
        foreground,
        record: None,
        cache_dir: &store.cache_dir(),
    }
    .run()
}

fn check_console(plan: &Plan, opts: &LaunchOpts, foreground: bool) -> Result<()> {
    match (plan.terminal, &opts.console_socket) {
        (true, None) if !foreground => {
            bail!("process.terminal is true but no --console-socket was given: the terminal would have no reader")
        }
        (false, Some(_)) => bail!("--console-socket was given but process.terminal is false"),
        _ => Ok(()),
    }
}

/// --pid-file, made absolute against the caller's directory (the init changes its own).
fn pid_file(opts: &LaunchOpts) -> Result<Option<PathBuf>> {
    opts.pid_file
        .as_ref()
        .map(std::path::absolute)
        .transpose()
        .context("--pid-file")
}

/// Everything decided before the clone.
#[derive(Clone, Copy)]
struct Request<'a> {
    plan: &'a Plan,
    id: &'a str,
    opts: &'a LaunchOpts,
    pid_file: Option<&'a Path>,
    foreground: bool,
    /// For `create` and `run`: the bundle, and the state directory where the container is
    /// recorded and, for `create`, its start socket listens. None for `exec`. A `run` has no
    /// socket: `state` says running from its state.json on, its exec a few µs later.
    record: Option<(&'a Bundle, &'a Path)>,
    /// Where compiled seccomp filters are kept for the next container (in --root).
    cache_dir: &'a Path,
}

impl Request<'_> {
    /// Launch, killing the init and removing its cgroup if anything fails once they exist.
    fn run(self) -> Result<Launched> {
        let mut made = Made::default();
        let result = self.launch(&mut made);
        if result.is_err() {
            if let Some(pid) = made.child {
                let _ = kill(pid, Signal::SIGKILL);
                let _ = waitpid(pid, None);
            }
            if let Some(cgroup) = made.cgroup {
                let _ = cgroup.remove();
            }
        }
        result
    }

    /// The clone and the conversation with the init; `made` records what exists so far.
    fn launch(self, made: &mut Made) -> Result<Launched> {
        let Request {
            plan,
            id,
            opts,
            pid_file,
            foreground,
            record,
            cache_dir,
        } = self;
        // Here, in the runtime's own mount namespace and before any join, "/proc" is the
        // host's: the init gets a handle on it (and the identity of this binary, which it
        // shares) rather than trusting the container's /proc later.
        let proc = crate::procfs::Proc::open().context("open /proc for the container's init")?;
        let runtime_exe = crate::process::exec::file_id("/proc/self/exe");
        let own = namespaces::Own::save(plan.each(RuntimeStep::of).filter_map(|(_, _, s)| match s {
            RuntimeStep::JoinNamespace { kind, .. } | RuntimeStep::CreateNamespace { kind, .. } => Some(kind.as_str()),
            _ => None,
        }))?;
        let rootfs = || -> Result<OwnedFd> {
            crate::rootfs::open_path(&record.context("only create changes the image")?.0.rootfs)
        };
        // What the init is handed: handles for its steps, the compiled seccomp filter.
        let mut handles = Handles::new(plan.slots);
        let mut seccomp = None;
        // The rootfs, opened for the first step that makes something in it, kept for the others.
        let mut image = None;
        for (_, step, s) in plan.each(RuntimeStep::of) {
            let _span = tracing::debug_span!("step", message = %s.describe()).entered();
            match s {
                RuntimeStep::MakeMountpoint { path } => {
                    crate::rootfs::resolve::open_in_root(
                        kept(&mut image, rootfs)?,
                        path,
                        crate::rootfs::resolve::Create::File,
                        true,
                    )
                    .with_context(|| s.describe())?;
                }
                RuntimeStep::Symlink { link, target } => {
                    crate::rootfs::symlink(kept(&mut image, rootfs)?, link, target).with_context(|| s.describe())?
                }
                RuntimeStep::WriteFile { path, content } => {
                    std::fs::write(path, content).with_context(|| format!("write {}", path.display()))?
                }
                // The one clone lands in it, and no second fork is needed.
                RuntimeStep::JoinNamespace { kind, path } => namespaces::open(kind, path)
                    .and_then(|fd| namespaces::enter(kind, &fd))
                    .with_context(|| step.origin.clone())?,
                RuntimeStep::CreateNamespace { kind, .. } => {
                    namespaces::unshare(kind).with_context(|| step.origin.clone())?
                }
                RuntimeStep::TimeOffset { clock, secs, nanosecs } => {
                    std::fs::write("/proc/self/timens_offsets", format!("{clock} {secs} {nanosecs}\n"))
                        .with_context(|| format!("{}: write /proc/self/timens_offsets", step.origin))?
                }
                RuntimeStep::OpenNamespace { kind, path, fd } => handles.put(
                    *fd,
                    Some(namespaces::open(kind, path).with_context(|| step.origin.clone())?),
                ),
                RuntimeStep::OpenBindSource { mount, tree, .. } => handles.put(
                    *tree,
                    crate::rootfs::mounts::open_source(mount).with_context(|| step.origin.clone())?,
                ),
                RuntimeStep::CompileSeccomp { profile } => {
                    seccomp = Some(crate::process::seccomp::compile_cached(
                        profile,
                        &cache_dir.join("seccomp"),
                    )?)
                }
            }
        }
        drop(image);
        // With a user namespace joined by path: it, and a pid namespace joined by path, for the
        // helper that clones the init inside them.
        let (mut inside, mut inside_pid, mut into_cgroup) = (None, None, false);
        for (_, step, s) in plan.each(CloneStep::of) {
            match s {
                CloneStep::CloneInside { path } => {
                    inside = Some(namespaces::open("user", path).with_context(|| step.origin.clone())?)
                }
                CloneStep::JoinNamespace { kind, path } => {
                    inside_pid = Some(namespaces::open(kind, path).with_context(|| step.origin.clone())?)
                }
                CloneStep::IntoCgroup => into_cgroup = true,
                CloneStep::CreateNamespace { .. } => {} // in clone_flags
            }
        }
        // Where the cgroup will be, known before anything is made so it can be recorded first.
        let planned = match (
            record,
            plan.each(PlaceStep::of).find_map(|(_, _, s)| match s {
                PlaceStep::Cgroup { path, systemd, .. } => Some((path.as_deref(), *systemd)),
                _ => None,
            }),
        ) {
            (Some(_), Some((path, true))) => Some(crate::cgroups::systemd::plan(path, id)?),
            (Some(_), Some((path, false))) => Some(Cgroup::plan(path, id).context("linux.cgroupsPath")?),
            _ => None,
        };
        // `run` starts the init itself (`Msg::Detach`): nothing would ever connect.
        let listener = record
            .filter(|_| !foreground)
            .map(|(_, dir)| start_listener(dir))
            .transpose()?;
        let mut hook_state = record
            .map(|(bundle, _)| {
                let annotations = bundle.spec.annotations().clone().unwrap_or_default();
                crate::hooks::State::new(id, &bundle.dir, &annotations)
            })
            .unwrap_or_default();
        let (ours, theirs) = sync::pair()?;
        // Born in its cgroup (CloneStep::IntoCgroup); kept in `made` from then on.
        let birthplace = match (&planned, into_cgroup) {
            (Some(c), true) => {
                // Recorded before it is made, as everything a create makes.
                if let Some((_, dir)) = record {
                    state::Made {
                        init: None,
                        cgroup: Some(c.saved()),
                    }
                    .save(dir)?;
                }
                Some(c.birthplace().context("linux.cgroupsPath")?)
            }
            // exec's process, born in the container's cgroup2 cgroup.
            (None, true) => plan
                .each(PlaceStep::of)
                .find_map(|(_, _, s)| match s {
                    PlaceStep::EnterCgroup { cgroup } => Some(Cgroup::open(cgroup).and_then(|c| c.v2_dir())),
                    _ => None,
                })
                .transpose()?,
            _ => None,
        };
        if birthplace.is_some() {
            made.cgroup = planned.as_ref().map(|c| Cgroup::open(&c.saved())).transpose()?;
        }
        crate::memory::release_before_fork();
        let pid = match (&inside, &birthplace) {
            (Some(userns), _) => namespaces::clone_inside(userns, inside_pid.as_ref(), plan.clone_flags()),
            (None, Some(dir)) => crate::cgroups::clone_into(plan.clone_flags(), dir),
            (None, None) => namespaces::clone(plan.clone_flags()),
        }
        .context("clone the container's init")?;
        if pid.as_raw() == 0 {
            drop((ours, own));
            Init {
                plan,
                channel: theirs,
                start_listener: listener,
                handles,
                runtime_exe,
                proc,
                preserve_fds: opts.preserve_fds,
                pause_at: opts.pause_at.unwrap_or(Phase::Exec),
                exe: None,
                seccomp,
                placed: false,
                limited: false,
                started: None,
                hook_state,
                mini_init: opts.mini_init,
                program_fd: opts.program_fd,
            }
            .run();
        }
        made.child = Some(pid);
        // Back in our own namespaces first: in a time namespace entered for the clone,
        // /proc/PID/stat gives the start time shifted by its boottime offset, and every later
        // reader compares it from the host's.
        own.restore()?;
        drop((theirs, listener, proc));

        hook_state.pid = pid.as_raw();
        let mut made_userns = Vec::new();
        // Before Go: what the init needs before its first step.
        for (_, step, s) in plan.each(AfterCloneStep::of) {
            let _span = tracing::debug_span!("step", message = %s.describe()).entered();
            match s {
                AfterCloneStep::IdMappings { uid, gid } => {
                    namespaces::write_id_maps(pid, uid, gid).with_context(|| step.origin.clone())?
                }
                // The init holds the same detached mount, from before the clone.
                AfterCloneStep::IdmapMount {
                    recursive,
                    userns,
                    tree,
                    ..
                } => {
                    let tree = handles.get(*tree).context("the idmapped bind source is not open")?;
                    let userns = userns_fd(pid, userns, &mut made_userns).with_context(|| step.origin.clone())?;
                    crate::rootfs::mount_api::set_idmap(tree, &userns, *recursive)
                        .with_context(|| format!("{}: {}", step.origin, s.describe()))?
                }
                AfterCloneStep::MoveNetDevice { device, name, netns } => {
                    let netns = match netns {
                        Some(path) => namespaces::open("network", path),
                        None => namespaces::open("network", Path::new(&format!("/proc/{pid}/ns/net"))),
                    };
                    netns
                        .and_then(|fd| crate::netdev::move_device(device, name, &fd))
                        .with_context(|| format!("{}: {}", step.origin, s.describe()))?
                }
                AfterCloneStep::CpuAffinity { cpus, .. } => {
                    set_affinity(pid.as_raw(), cpus).with_context(|| step.origin.clone())?
                }
                // runc and crun give prestart hooks "created" (runtime-tools checks it);
                // createRuntime hooks see the spec's "creating".
                AfterCloneStep::Hook { hook, kind } => {
                    let status = if kind == "prestart" { "created" } else { "creating" };
                    crate::hooks::run(hook, &hook_state.json(status)).with_context(|| step.origin.clone())?
                }
            }
        }
        drop(handles);
        // If the init already failed, the send fails but its error message is still queued.
        let _ = ours.send(&Msg::Go { pid: pid.as_raw() });
        // From Go on the init works by itself: should a step here fail, the init's own error,
        // if it has one, says why.
        let mut placed = || -> Result<Option<state::Identity>> {
            // The init and its cgroup, recorded so that `delete --force` finds them whenever this
            // process dies: the init dies with it until detached, but not its cgroup. The cgroup
            // is recorded before it is made: here, or before the clone when the init was born in
            // it, and then the init's identity can wait until it has its cgroup (it waits for
            // that, not for this record).
            let record_init = || -> Result<Option<state::Identity>> {
                let Some((_, dir)) = record else { return Ok(None) };
                let init = state::Identity::of(pid.as_raw()).context("the container's init vanished")?;
                let cgroup = planned.as_ref().map(Cgroup::saved);
                state::Made {
                    init: Some(init),
                    cgroup,
                }
                .save(dir)?;
                Ok(Some(init))
            };
            let mut init = None;
            if birthplace.is_none() {
                init = record_init()?;
            }
            // After Go, while the init works: its cgroup, which it waits for only before running
            // anything of the image.
            let mut entry = crate::cgroups::Entry::default();
            let mut limits = None;
            for (_, step, s) in plan.each(PlaceStep::of) {
                let _span = tracing::debug_span!("step", message = %s.describe()).entered();
                match s {
                    PlaceStep::Cgroup {
                        path,
                        resources,
                        systemd,
                    } => {
                        // systemd's errors name --systemd-cgroup, or linux.cgroupsPath when it is at fault.
                        let cgroup = if *systemd {
                            made.cgroup.insert(crate::cgroups::systemd::create(
                                path.as_deref(),
                                id,
                                pid.as_raw(),
                                resources,
                            )?)
                        } else {
                            // Kept before it is made, so that failing half-way removes what was.
                            let cgroup = made
                                .cgroup
                                .insert(Cgroup::plan(path.as_deref(), id).context("linux.cgroupsPath")?);
                            match birthplace {
                                Some(_) => cgroup.make_v1(),
                                None => cgroup.make(),
                            }
                            .context("linux.cgroupsPath")?;
                            entry = cgroup.entry(pid.as_raw(), birthplace.is_some())?;
                            cgroup
                        };
                        limits = Some((&*cgroup, resources));
                    }
                    PlaceStep::EnterCgroup { cgroup } => {
                        entry = Cgroup::open(cgroup)?.entry(pid.as_raw(), birthplace.is_some())?
                    }
                    PlaceStep::CpuAffinity { cpus, .. } => {
                        set_affinity(pid.as_raw(), cpus).with_context(|| step.origin.clone())?
                    }
                }
            }
            let files: Vec<_> = entry.files.iter().map(|f| f.as_raw_fd()).collect();
            let _ = ours.send_fds(&Msg::Placed { dirs: entry.dirs }, &files);
            // The limits once the init is in, as runc sets them after it has joined: the init
            // goes on meanwhile, and waits for them (`Msg::Limited`) only before what they
            // govern.
            if let Some((cgroup, resources)) = limits {
                let _span = tracing::debug_span!("step", message = "apply linux.resources to the cgroup").entered();
                cgroup.apply(resources).context("linux.resources")?;
            }
            let _ = ours.send(&Msg::Limited);
            if birthplace.is_some() {
                init = record_init()?;
            }
            Ok(init)
        };
        let init = placed().map_err(|e| ours.queued_error().map_or(e, |why| anyhow!(why)))?;
        if let Some((_, dir)) = record {
            record_plan(dir, plan)?;
        }
        let mut pty = None;
        let wait = tracing::debug_span!("step", message = "wait for the init to be ready").entered();
        loop {
            match ours.recv() {
                Ok((Msg::Pty, fd)) => pty = fd,
                Ok((Msg::SeccompListener, Some(fd))) => {
                    let state = hook_state.json("creating");
                    crate::process::seccomp_agent::hand_over(plan, &state, pid, fd)?
                }
                Ok((Msg::Ready, _)) => break,
                Ok((Msg::Error(e), _)) => bail!(e),
                Ok((other, _)) => bail!("unexpected message {other:?} from the container's init"),
                Err(_) => {
                    let status = waitpid(pid, None).map(|s| format!("{s:?}")).unwrap_or_default();
                    bail!("the container's init exited during setup ({status})");
                }
            }
        }

        drop(wait);
        if let (Some((bundle, dir)), Some(init)) = (record, init) {
            record_container(bundle, dir, id, init, plan, made.cgroup.as_ref())?;
        }
        if let Some(path) = pid_file {
            state::write_atomic(path, pid.as_raw().to_string().as_bytes()).context("--pid-file")?;
        }
        if let (Some(socket), Some(master)) = (&opts.console_socket, &pty) {
            tty::send_to_socket(socket, master.as_fd())?;
            pty = None;
        }
        // A foreground create is `run`'s, which would start the container at once: it is
        // started here, without `start`'s load of the state and connection to the init.
        ours.send(&Msg::Detach {
            keep_pdeathsig: foreground,
            start: foreground,
        })?;
        // The init closes the channel once detached (create) or by its execve (exec, run); a
        // message instead says why the exec failed.
        let started = foreground && record.is_some();
        let exec_failed = match ours.recv() {
            Err(_) => None,
            Ok((Msg::Error(e), _)) if started => Some(e),
            Ok((Msg::Error(e), _)) => bail!(e),
            Ok((other, _)) => bail!("unexpected message {other:?} from the container's init"),
        };
        Ok(Launched { pid, pty, exec_failed })
    }
}

/// The user namespace an idmapped mount takes its mappings from. One made for the purpose
/// is kept in `made` for the next mount with the same mappings.
fn userns_fd<'p>(pid: Pid, userns: &'p IdmapUserns, made: &mut Vec<(&'p IdmapUserns, OwnedFd)>) -> Result<OwnedFd> {
    match userns {
        IdmapUserns::Container => namespaces::open("user", Path::new(&format!("/proc/{pid}/ns/user"))),
        IdmapUserns::Joined { path } => namespaces::open("user", path),
        IdmapUserns::New { uid, gid } => {
            if let Some((_, fd)) = made.iter().find(|(u, _)| *u == userns) {
                return Ok(fd.try_clone()?);
            }
            let fd = namespaces::new_user_namespace(uid, gid)?;
            made.push((userns, fd.try_clone()?));
            Ok(fd)
        }
    }
}

/// What a launch has made so far, to undo on failure.
#[derive(Default)]
struct Made {
    child: Option<Pid>,
    cgroup: Option<Cgroup>,
}

fn record_container(
    bundle: &Bundle,
    dir: &Path,
    id: &str,
    init: state::Identity,
    plan: &Plan,
    cgroup: Option<&Cgroup>,
) -> Result<()> {
    let _span = tracing::debug_span!("step", message = "save the state").entered();
    let spec = &bundle.spec;
    let saved = Saved {
        id: id.to_string(),
        pid: init.pid,
        pid_start_time: init.start_time,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        owner: String::new(),
        cgroup: cgroup.map(Cgroup::saved),
        poststart: plan.later_hooks(|a| match a {
            crate::plan::Action::AfterStart(s) => Some(s),
            _ => None,
        }),
        poststop: plan.later_hooks(|a| match a {
            crate::plan::Action::AfterDelete(s) => Some(s),
            _ => None,
        }),
        shared_pid_ns: plan.shares_pid_namespace(),
    };
    state::save(dir, &saved)
}

/// plan.json, for `inspect`: written plainly, once, while the init sets up (the runtime only
/// waits then: about 0.2 ms off a start), and before state.json, since inspect reads it only
/// once that exists.
fn record_plan(dir: &Path, plan: &Plan) -> Result<()> {
    let _span = tracing::debug_span!("step", message = "save the plan").entered();
    let path = dir.join(state::PLAN_FILE);
    std::fs::write(&path, serde_json::to_vec(&plan.record())?).with_context(|| format!("write {}", path.display()))
}

/// The socket `start` connects to. Addressed through /proc/self/fd so that a long --root (the
/// engines' are long) never hits the 108-byte limit of a socket path.
fn start_listener(dir: &Path) -> Result<OwnedFd> {
    use nix::sys::socket::{bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr};
    let dirfd = std::fs::File::open(dir).with_context(|| format!("open {}", dir.display()))?;
    let sock = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).context("socket")?;
    let addr = UnixAddr::new(&short_path(&dirfd)).context("start socket path")?;
    bind(sock.as_raw_fd(), &addr)
        .with_context(|| format!("bind the start socket {}", dir.join(state::START_SOCKET).display()))?;
    listen(&sock, Backlog::new(1).expect("valid backlog")).context("listen on the start socket")?;
    Ok(sock)
}

pub fn short_path(dirfd: &std::fs::File) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}/{}", dirfd.as_raw_fd(), state::START_SOCKET))
}

/// The fd in `slot`, opened by `open` on first use.
fn kept(slot: &mut Option<OwnedFd>, open: impl FnOnce() -> Result<OwnedFd>) -> Result<&OwnedFd> {
    match slot {
        Some(fd) => Ok(fd),
        None => Ok(slot.insert(open()?)),
    }
}
