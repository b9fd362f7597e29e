//! The container's init: the child of the one clone. It carries out the plan's steps in order,
//! reports any failure over the sync channel, then waits for `start` and execs the program.
//! It is a fork of the runtime, never a re-exec, and single-threaded like it. With
//! `create --pause-at` it waits for `start` earlier, and failures after that point go back
//! over the start connection, as exec failures always do.

use crate::launch::Handles;
use crate::plan::{Action, InitStep, Phase, Plan, ProcessStep};
use crate::rootfs::dev;
use crate::sync::{Channel, Msg};
use crate::{namespaces, process, rootfs, tty};
use anyhow::{bail, Context, Result};
use nix::fcntl::OFlag;
use std::convert::Infallible;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

pub struct Init<'a> {
    pub plan: &'a Plan,
    pub channel: Channel,
    /// Bound and listening in the state directory; `start` connects to it. None for `exec`,
    /// whose process runs as soon as it is ready.
    pub start_listener: Option<OwnedFd>,
    /// What the runtime opened for the steps: namespaces to join (type-checked), bind sources.
    pub handles: Handles,
    /// The runtime's binary, which the container must never get to run.
    pub runtime_exe: Option<process::exec::FileId>,
    /// The host's /proc, opened by the runtime: every write to /proc and every read there the
    /// init decides on goes through it, never through the container's "/proc".
    pub proc: crate::procfs::Proc,
    pub preserve_fds: u32,
    /// The phase before which the init waits for `start`: Exec without --pause-at.
    pub pause_at: Phase,
    /// The program, once found.
    pub exe: Option<String>,
    /// linux.seccomp, compiled by the runtime.
    pub seccomp: Option<process::seccomp::Filter>,
    /// Whether the runtime said the init is in its cgroup.
    pub placed: bool,
    /// Whether the runtime said the cgroup's limits are set.
    pub limited: bool,
    /// `start`'s connection, once it came.
    pub started: Option<OwnedFd>,
    /// The container's state, for hooks; the pid comes with Go.
    pub hook_state: crate::hooks::State,
    /// --init: stay as PID 1 and run the program as a child (process::mini_init).
    pub mini_init: bool,
    /// `debug`: exec the program from this fd, not from the image (see LaunchOpts::program_fd).
    pub program_fd: Option<i32>,
}

/// A step this process carries out: one that makes the process (the init's, or all of
/// `exec`'s joiner's), or one of the init's alone.
enum Own<'a> {
    Process(&'a ProcessStep),
    Init(&'a InitStep),
}

/// State that steps hand on to later ones.
#[derive(Default)]
struct Progress {
    root: Option<OwnedFd>,
    /// "/" once it is the container's (after pivot_root or chroot, or for `exec` from the
    /// start), opened on first use.
    slash: Option<OwnedFd>,
    masks: rootfs::masks::Masks,
    /// The cgroup hierarchies the init is in, read once for the CgroupHierarchy steps.
    cgroups: Option<Vec<(String, crate::cgroups::Hierarchy, bool)>>,
    /// The tmpfs of the `cgroup` mount being filled, and where it is mounted.
    cgroup_tmpfs: Option<(PathBuf, OwnedFd)>,
    /// The directory of the last node or symlink made, while such steps follow one another.
    dev_dir: dev::ParentDir,
}

impl Init<'_> {
    pub fn run(mut self) -> ! {
        let error = match self.setup() {
            Err(e) => format!("{e:#}"),
            Ok(never) => match never {},
        };
        let delivered = match &self.started {
            Some(conn) => nix::unistd::write(conn, error.as_bytes()).is_ok(),
            None => self.channel.send(&Msg::Error(error.clone())).is_ok(),
        };
        // Between detaching and the start connection nobody listens: the log has it then.
        if !delivered {
            crate::logging::error(&error);
        }
        // SAFETY: leave without running the runtime's exit handlers or flushing its buffers,
        // which this forked copy shares.
        unsafe { libc::_exit(1) }
    }

    fn setup(&mut self) -> Result<Infallible> {
        crate::logging::set_side("init");
        let mut progress = Progress::default();
        let plan = self.plan;
        let last_in_slash = plan.steps.iter().rposition(|s| {
            matches!(
                s.action,
                Action::Init(InitStep::ReadonlyPath { .. } | InitStep::MaskPath { .. } | InitStep::ReadonlyRoot)
            ) || matches!(
                s.action.process(),
                Some(ProcessStep::Console { .. } | ProcessStep::Chdir { .. })
            )
        });
        let pause = plan.phases.start(self.pause_at);
        let mut waiting = true;
        for (i, step) in plan.steps.iter().enumerate() {
            let s = match &step.action {
                Action::Init(InitStep::Process(s)) | Action::Join(s) => Own::Process(s),
                Action::Init(s) => Own::Init(s),
                _ => continue,
            };
            // Before the first step of the phase: the exec is the init's last step, and every
            // phase begins at or before it.
            if waiting && i >= pause {
                waiting = false;
                self.wait_for_start()?;
            }
            let span = tracing::debug_span!("step", message = %step.action.describe(), origin = %step.origin).entered();
            let done = match s {
                Own::Process(ProcessStep::Exec { args, env }) => {
                    // Closed here: the exec does not come back to close it.
                    drop(span);
                    return self.exec(args, env);
                }
                Own::Process(s) => self.process_step(s, &mut progress),
                Own::Init(s) => {
                    match s {
                        InitStep::CreateNamespace { kind, .. } if kind == "cgroup" => self.wait_placed()?,
                        InitStep::Mount { mount, .. } if mount.fstype == "cgroup" => self.wait_placed()?,
                        // mknod is what the devices cgroup governs; a hook may read the limits.
                        InitStep::MakeDevice(_) | InitStep::BindDevice(_) | InitStep::Hook { .. } => {
                            self.wait_limited()?
                        }
                        _ => {}
                    }
                    self.step(s, &mut progress)
                }
            };
            match s {
                // A missing program fails in runc's own words (`exec: "x": executable file not
                // found in $PATH`), which engines match on: no step context around them.
                Own::Process(ProcessStep::FindProgram) => done?,
                _ => done.with_context(|| format!("{}: {}", step.origin, step.action.describe()))?,
            }
            if Some(i) == last_in_slash {
                // Closed as soon as done with: with a low RLIMIT_NOFILE, fds held until the
                // exec would leave the init none to open.
                (progress.slash, progress.masks) = Default::default();
            }
            drop(span);
        }
        bail!("the plan has no exec step")
    }

    /// Everything the runtime had open beyond stdio and the preserved fds is closed, but for
    /// what the init itself uses, which scrun always opens close-on-exec: nothing of the host
    /// reaches the container, and under a low RLIMIT_NOFILE the init still has a slot for the
    /// start connection.
    fn seal_fds(&self) -> Result<()> {
        let first = 3 + self.preserve_fds as i32;
        let mut own: Vec<i32> = self
            .handles
            .raw_fds()
            .chain([self.channel.fd().as_raw_fd(), self.proc.as_fd().as_raw_fd()])
            .chain(self.start_listener.as_ref().map(|l| l.as_raw_fd()))
            .chain(crate::logging::file_fd())
            .chain(self.program_fd)
            .collect();
        own.sort_unstable();
        let close_range = |from: i32, to: i32| {
            // SAFETY: close_range on fds this process no longer uses.
            if unsafe { libc::syscall(libc::SYS_close_range, from as u32, to as u32, 0) } != 0 {
                bail!("close fds {from}..={to}: {}", std::io::Error::last_os_error());
            }
            Ok(())
        };
        let mut from = first;
        for &fd in own.iter().filter(|fd| **fd >= first) {
            if fd > from {
                close_range(from, fd - 1)?;
            }
            from = fd + 1;
        }
        close_range(from, i32::MAX)?;
        // The preserved ones are the container's.
        for fd in (3..first).filter(|fd| !own.contains(fd)) {
            // SAFETY: clearing FD_CLOEXEC on an fd number; EBADF for a closed one is fine.
            unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        }
        Ok(())
    }

    fn step(&mut self, step: &InitStep, p: &mut Progress) -> Result<()> {
        if !matches!(step, InitStep::MakeDevice(_) | InitStep::Symlink { .. }) {
            p.dev_dir = Default::default();
        }
        let root = || p.root.as_ref().context("the rootfs is not bound yet");
        match step {
            InitStep::CreateNamespace { kind, .. } => namespaces::unshare(kind)?,
            InitStep::SetHostname { name } => nix::unistd::sethostname(name).context("sethostname")?,
            InitStep::SetDomainname { name } => {
                // SAFETY: setdomainname reads len bytes of name.
                if unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) } != 0 {
                    bail!("setdomainname: {}", std::io::Error::last_os_error());
                }
            }
            InitStep::LoopbackUp => loopback_up()?,
            InitStep::RootPropagation { flags } => rootfs::set_root_propagation(flags)?,
            InitStep::RootfsParentPropagation { path, flags } => rootfs::set_parent_propagation(path, flags)?,
            InitStep::BindRootfs { path } => p.root = Some(rootfs::bind_rootfs(path)?),
            // Closed once attached: with many binds and a low RLIMIT_NOFILE, fds held until
            // the exec would leave the init none to open.
            InitStep::Mount { mount, source, .. } => {
                rootfs::mounts::mount(root()?, mount, self.handles.take(*source).as_ref())?
            }
            InitStep::CgroupHierarchy { name, mount } => {
                let hierarchies = match &mut p.cgroups {
                    Some(h) => h,
                    slot => slot.insert(rootfs::cgroupfs::hierarchies()?),
                };
                let tmpfs = match &mut p.cgroup_tmpfs {
                    Some((at, fd)) if *at == mount.destination => fd,
                    slot => {
                        &slot
                            .insert((mount.destination.clone(), rootfs::cgroupfs::tmpfs(root()?, mount)?))
                            .1
                    }
                };
                rootfs::cgroupfs::hierarchy(tmpfs, mount, name, hierarchies)?
            }
            InitStep::CgroupReadonly { mount } => {
                let tmpfs = match p.cgroup_tmpfs.take() {
                    Some((at, fd)) if at == mount.destination => fd,
                    _ => rootfs::cgroupfs::tmpfs(root()?, mount)?,
                };
                rootfs::cgroupfs::remount_readonly(&tmpfs, mount)?
            }
            InitStep::MakeDevice(node) => dev::nodes::make(root()?, node, false, &mut p.dev_dir)?,
            InitStep::BindDevice(node) => dev::nodes::make(root()?, node, true, &mut p.dev_dir)?,
            InitStep::Symlink { link, target } => p.dev_dir.symlink(root()?, link, target)?,
            InitStep::PivotRoot { no_pivot } => {
                rootfs::pivot(root()?, *no_pivot)?;
                p.root = None;
            }
            InitStep::Chroot { path } => {
                nix::unistd::chroot(path).context("chroot")?;
                nix::unistd::chdir("/").context("chdir /")?
            }
            // The key was checked to be dot-separated names: it stays below sys/.
            InitStep::Sysctl { key, value } => self.proc.write(&format!("sys/{}", key.replace('.', "/")), value)?,
            InitStep::ReadonlyPath { path } => rootfs::masks::readonly_path(slash(&mut p.slash)?, path)?,
            InitStep::MaskPath { path } => {
                let root = slash(&mut p.slash)?;
                p.masks.mask(root, path)?
            }
            InitStep::ReadonlyRoot => rootfs::mount_api::set_readonly(slash(&mut p.slash)?)?,
            InitStep::OomScoreAdj { value } => set_oom_score_adj(&self.proc, *value)?,
            InitStep::Hook { kind, hook } => {
                let status = if kind == "startContainer" {
                    "created"
                } else {
                    "creating"
                };
                crate::hooks::run(hook, &self.hook_state.json(status))?
            }
            InitStep::Process(s) => self.process_step(s, p)?,
        }
        Ok(())
    }

    /// A step of the process, the init's or `exec`'s joiner's: the one executor of both.
    fn process_step(&mut self, step: &ProcessStep, p: &mut Progress) -> Result<()> {
        match step {
            ProcessStep::DieWithRuntime => {
                nix::sys::signal::SigSet::empty()
                    .thread_set_mask()
                    .context("unblock signals")?;
                // Should the runtime die before it detaches us, so do we. (Had it died before
                // this call, the wait for Go sees the channel closed.)
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).context("set parent death signal")?
            }
            ProcessStep::NonDumpable => nix::sys::prctl::set_dumpable(false).context("set non-dumpable")?,
            ProcessStep::ClearUmask => drop(nix::sys::stat::umask(nix::sys::stat::Mode::empty())),
            ProcessStep::SealFds => self.seal_fds()?,
            ProcessStep::AwaitGo => match self.channel.recv()?.0 {
                Msg::Go { pid } => self.hook_state.pid = pid,
                other => bail!("unexpected message {other:?} from the runtime"),
            },
            ProcessStep::BecomeUsernsRoot => become_userns_root()?,
            ProcessStep::FindProgram => self.find_program()?,
            ProcessStep::JoinNamespace { kind, fd, .. } => {
                let fd = self.handles.take(Some(*fd)).context("namespace fd missing")?;
                namespaces::enter(kind, &fd)?;
                if kind == "user" {
                    become_userns_root()?;
                }
            }
            ProcessStep::Console { dev_console } => self.console(*dev_console, slash(&mut p.slash)?)?,
            ProcessStep::Rlimit { kind, soft, hard } => process::rlimits::set(kind, *soft, *hard)?,
            ProcessStep::LimitBoundingSet { caps } => process::capabilities::limit_bounding(caps)?,
            ProcessStep::Identity {
                uid,
                gid,
                additional_gids,
                umask,
            } => process::identity::set(&self.proc, *uid, *gid, additional_gids, *umask)?,
            ProcessStep::SetCapabilities {
                effective,
                permitted,
                inheritable,
                ambient,
                ambient_not_raised,
            } => {
                for n in ambient_not_raised {
                    tracing::debug!("ambient capability {} not raised: {}", n.capability, n.why);
                }
                process::capabilities::set(effective, permitted, inheritable, ambient)?
            }
            ProcessStep::NoNewPrivileges => nix::sys::prctl::set_no_new_privs().context("prctl")?,
            ProcessStep::ExecLabel { lsm, label } => {
                let apparmor_dir = self
                    .proc
                    .open_at("thread-self/attr/apparmor", OFlag::O_PATH | OFlag::O_DIRECTORY);
                let (file, value) = lsm.exec_attr(label, apparmor_dir.is_ok());
                self.proc.write(file, &value)?
            }
            ProcessStep::Seccomp { .. } => {
                let filter = self.seccomp.as_ref().context("seccomp filter not compiled")?;
                // Its exec's one syscall besides execve, while the profile cannot deny it yet.
                crate::startup::restore_sigpipe();
                // The runtime hands the listener on to the agent (linux.seccomp.listenerPath).
                if let Some(listener) = process::seccomp::install(filter)? {
                    self.channel.send_fd(&Msg::SeccompListener, listener.as_fd())?;
                }
            }
            ProcessStep::Scheduler(s) => s.set()?,
            ProcessStep::IoPriority(priority) => priority.set()?,
            ProcessStep::Personality { domain } => process::personality::set(domain)?,
            ProcessStep::MemoryPolicy(policy) => policy.set()?,
            ProcessStep::Chdir { path } => chdir(slash(&mut p.slash)?, path)?,
            ProcessStep::Exec { args, env } => match self.exec(args, env)? {},
        }
        Ok(())
    }

    /// A pty from the container's devpts: the slave becomes stdio and /dev/console, the master
    /// goes to the runtime.
    fn console(&self, dev_console: bool, root: &OwnedFd) -> Result<()> {
        let (master, slave) = dev::pts::open_pty(root)?;
        if let Some(size) = self.plan.console_size {
            tty::set_size(&master, size.0, size.1)?;
        }
        if dev_console {
            dev::console::bind_console(root, &slave).context("bind the pty to /dev/console")?;
        }
        self.channel.send_fd(&Msg::Pty, master.as_fd())?;
        tty::become_console(&slave)
    }

    /// Wait until the runtime has made the cgroup (`Msg::Placed`), and enter what of it the
    /// init enters by itself, once.
    fn wait_placed(&mut self) -> Result<()> {
        if !self.placed {
            let _span = tracing::debug_span!("step", message = "wait to be in the cgroup").entered();
            match self.channel.recv_fds()? {
                (Msg::Placed { dirs }, files) => crate::cgroups::Entry { dirs, files }.enter()?,
                (other, _) => bail!("unexpected message {other:?} from the runtime"),
            }
            self.placed = true;
        }
        Ok(())
    }

    /// Wait until the runtime has set the cgroup's limits (`Msg::Limited`, which follows
    /// `Placed`), once.
    fn wait_limited(&mut self) -> Result<()> {
        self.wait_placed()?;
        if !self.limited {
            let _span = tracing::debug_span!("step", message = "wait for the cgroup's limits").entered();
            match self.channel.recv()?.0 {
                Msg::Limited => {}
                other => bail!("unexpected message {other:?} from the runtime"),
            }
            self.limited = true;
        }
        Ok(())
    }

    /// Resolve the program in the container's PATH and check it can run there.
    fn find_program(&mut self) -> Result<()> {
        let (args, env) = self.plan.program().context("the plan has no exec step")?;
        if self.program_fd.is_some() {
            self.exe = Some(args[0].clone());
            return Ok(());
        }
        let exe = process::exec::lookup(args, env)?;
        process::exec::preflight(&exe, self.runtime_exe)?;
        self.exe = Some(exe);
        Ok(())
    }

    fn exec(&mut self, args: &[String], env: &[String]) -> Result<Infallible> {
        let exe = self.exe.take().context("the program was not found before its exec")?;
        if self.mini_init {
            process::mini_init::fork_program()?;
        }
        tracing::info!(
            "exec {exe}: {} µs in all since scrun started",
            crate::logging::since_start().as_micros()
        );
        let message = match self.program_fd {
            Some(fd) => process::exec::exec_fd(fd, args, env),
            None => process::exec::exec(&exe, args, env, self.runtime_exe),
        };
        match &self.started {
            Some(conn) => drop(nix::unistd::write(conn, message.as_bytes())),
            None => drop(self.channel.send(&Msg::Error(message))),
        }
        // SAFETY: as in run(): a forked copy leaves without the runtime's exit handlers.
        unsafe { libc::_exit(127) }
    }

    /// Tell the runtime the container is created, let it go, and block until `start`.
    /// Failures after `start` connected are written to that connection, so `start` reports
    /// them.
    fn wait_for_start(&mut self) -> Result<()> {
        self.wait_limited()?;
        self.channel.send(&Msg::Ready)?;
        let (detached, start) = match self.channel.recv()?.0 {
            Msg::Detach { keep_pdeathsig, start } => {
                if !keep_pdeathsig {
                    nix::sys::prctl::set_pdeathsig(None).context("clear parent death signal")?;
                }
                (!keep_pdeathsig, start)
            }
            other => bail!("unexpected message {other:?} from the runtime"),
        };
        // `exec`, or a `run` that starts at once: the runtime waits for the channel to close,
        // which our execve does (it is close-on-exec), or for the reason it failed.
        let Some(listener) = self.start_listener.as_ref().filter(|_| !start) else {
            return Ok(());
        };
        // Before the runtime is let go: a created container is lean by the time create returns.
        if detached {
            crate::memory::release_before_start();
        }
        // The runtime exits once it sees the channel close, not before: its exit would
        // otherwise kill us through the parent-death signal just cleared.
        nix::sys::socket::shutdown(self.channel.fd().as_raw_fd(), nix::sys::socket::Shutdown::Both)
            .context("close the channel")?;
        let _span = tracing::debug_span!("step", message = "wait for start").entered();
        loop {
            match nix::sys::socket::accept4(listener.as_raw_fd(), nix::sys::socket::SockFlag::SOCK_CLOEXEC) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => bail!("wait for start: {e}"),
                Ok(fd) => {
                    // SAFETY: accept4 returned a new fd that this process owns.
                    self.started = Some(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
                    return Ok(());
                }
            }
        }
    }
}

/// Lowering oom_score_adj below what the runtime inherited takes CAP_SYS_RESOURCE, and engines
/// do ask for negative values (containerd's CRI plugin gives every pod's pause process -998): on a
/// host without that capability the kernel's bare EACCES would not say what is missing.
fn set_oom_score_adj(proc: &crate::procfs::Proc, value: i32) -> Result<()> {
    proc.write("self/oom_score_adj", &value.to_string()).map_err(|e| {
        match e.downcast_ref::<std::io::Error>().map(std::io::Error::kind) {
            Some(std::io::ErrorKind::PermissionDenied) => {
                anyhow::anyhow!("{e:#}: lowering it needs CAP_SYS_RESOURCE, which the runtime lacks")
            }
            _ => e,
        }
    })
}

/// In a user namespace the init still has its host ids, which the namespace does not map:
/// files it creates would have no owner (EOVERFLOW). Becoming the namespace's root fixes that
/// and, relative to that namespace, keeps every capability.
fn become_userns_root() -> Result<()> {
    let root = (nix::unistd::Gid::from_raw(0), nix::unistd::Uid::from_raw(0));
    nix::unistd::setresgid(root.0, root.0, root.0).context("setgid 0 in the user namespace")?;
    nix::unistd::setresuid(root.1, root.1, root.1).context("setuid 0 in the user namespace")?;
    Ok(())
}

fn slash(slot: &mut Option<OwnedFd>) -> Result<&OwnedFd> {
    match slot {
        Some(fd) => Ok(fd),
        None => Ok(slot.insert(rootfs::open_path(Path::new("/"))?)),
    }
}

/// Enter the cwd, created if missing, through the in-root resolver: a cwd that is a symlink
/// leading above "/" is an error, not silently clamped.
fn chdir(root: &OwnedFd, path: &Path) -> Result<()> {
    let dir = rootfs::resolve::open_in_root(root, path, rootfs::resolve::Create::Dir, true)?;
    nix::unistd::fchdir(&dir).map_err(|e| anyhow::anyhow!("{}", e.desc().to_lowercase()))
}

/// A new network namespace starts with lo down; programs expect 127.0.0.1 to work.
fn loopback_up() -> Result<()> {
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .context("socket")?;
    // SAFETY: ifreq is plain data; SIOCGIFFLAGS/SIOCSIFFLAGS read and write it.
    unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            bail!("get lo flags: {}", std::io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            bail!("set lo up: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}
