//! The steps a plan is made of, one type per process that carries them out: a step of the
//! wrong side cannot reach the wrong executor, which matches its own type exhaustively.
//! A handle one step makes and another uses (a namespace fd, a detached bind) travels in a
//! `Slot` both steps name.

use super::{IdMap, IdmapUserns, Lsm, Maker, NotRaised};
use crate::hooks::Hook;
use crate::process::scheduling::{IdSet, IoPriority, Scheduler, Stage};
use crate::rootfs::dev::nodes::DeviceNode;
use crate::rootfs::mounts::MountStep;
use serde::Serialize;
use std::path::PathBuf;

/// A handle made by one step and used by another, as an index into the runtime's table of
/// handles (`launch::Handles`), which the init inherits with the fork. The builder hands out
/// one per handle; explain does not show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot(pub(super) usize);

impl Slot {
    pub fn index(self) -> usize {
        self.0
    }
}

/// What a step does, typed by who does it. Serialized as the inner step (its "action" tag
/// and fields), so that `explain --format json` does not show the wrapper.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Action {
    Runtime(RuntimeStep),
    Clone(CloneStep),
    AfterClone(AfterCloneStep),
    Place(PlaceStep),
    Init(InitStep),
    /// `exec`'s joiner, which only makes a process of the container's (see `ProcessStep`).
    Join(ProcessStep),
    /// Run by `start` once the program runs.
    AfterStart(LaterStep),
    /// Run by `delete` once the container has stopped.
    AfterDelete(LaterStep),
}

/// The runtime, before the clone, in its own namespaces or those it enters for the clone.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum RuntimeStep {
    /// Written into the state directory before the container exists.
    WriteFile { path: PathBuf, content: String },
    /// A mount point in the image made as host root: the init, root of a user namespace, may
    /// not write in an image owned by the host's root.
    MakeMountpoint { path: PathBuf },
    /// A symlink in the image itself (/etc/mtab), made as host root for the same reason.
    Symlink { link: PathBuf, target: PathBuf },
    /// A time namespace, which the clone syscall cannot make (see `Maker::Runtime`).
    CreateNamespace { kind: String, by: Maker },
    /// A pid or time namespace joined by path (see `namespaces::joined_by_runtime`): the one
    /// clone lands in it.
    JoinNamespace { kind: String, path: PathBuf },
    /// Written into the new time namespace before the clone: the offsets freeze once a
    /// process is in it.
    TimeOffset { clock: String, secs: i64, nanosecs: u32 },
    /// Open a namespace the init joins and check its type (NS_GET_NSTYPE), before anything
    /// is made; the init enters it from `fd`.
    OpenNamespace {
        kind: String,
        path: PathBuf,
        #[serde(skip)]
        fd: Slot,
    },
    /// Clone a bind's source into a detached mount in `tree` (see `mounts::open_source`), as
    /// host root, for the init to attach.
    OpenBindSource {
        source: String,
        #[serde(skip)]
        mount: Box<MountStep>,
        #[serde(skip)]
        tree: Slot,
    },
    /// Compile linux.seccomp (or find it in the cache in --root), for the init to install.
    CompileSeccomp {
        #[serde(skip)]
        profile: Box<oci_spec::runtime::LinuxSeccomp>,
    },
}

/// What the clone that makes the init does: the namespaces its flags make, and where it is made.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum CloneStep {
    CreateNamespace {
        kind: String,
        by: Maker,
    },
    /// A user namespace joined by path owns the namespaces the clone makes only if the clone
    /// is made inside it: a short-lived helper joins it (and a pid namespace joined by path)
    /// and clones the init with CLONE_PARENT, so that it is the runtime's child all the same.
    CloneInside {
        path: PathBuf,
    },
    /// A pid namespace joined by path, entered by that helper.
    JoinNamespace {
        kind: String,
        path: PathBuf,
    },
    /// Wherever cgroup2 is mounted (alone, or beside v1 hierarchies) the clone places the init
    /// in its cgroup2 cgroup (clone3 with CLONE_INTO_CGROUP, from an fd of the directory made
    /// just before; exec's process in the container's): it is charged there from its first
    /// page, and no pid is written to
    /// cgroup.procs, which would take the kernel's global cgroup lock (see `Cgroup::entry`).
    /// The init enters v1 hierarchies by itself, and systemd places a unit's processes itself.
    IntoCgroup,
}

/// The runtime, once the init exists and before it lets it go on (`Msg::Go`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum AfterCloneStep {
    /// Written once the init exists in its new user namespace.
    IdMappings { uid: Vec<IdMap>, gid: Vec<IdMap> },
    /// Give the detached bind in `tree` its idmapping; the init's Mount step attaches the same
    /// tree. Done here, between the clone and the init's mounts: a mapping taken from the
    /// container's user namespace exists only once the runtime has written it.
    IdmapMount {
        source: String,
        recursive: bool,
        userns: IdmapUserns,
        #[serde(skip)]
        tree: Slot,
    },
    /// A linux.netDevices entry, moved once the network namespace exists (runc's order:
    /// before the prestart hooks): into the init's new one, or the one at `netns` the init is
    /// to join.
    MoveNetDevice {
        device: String,
        name: String,
        netns: Option<PathBuf>,
    },
    /// process.execCPUAffinity's initial stage, for an exec'd process.
    CpuAffinity { stage: Stage, cpus: IdSet },
    /// prestart and createRuntime hooks, in the runtime's namespaces.
    Hook { kind: String, hook: Hook },
}

/// The runtime, after `Msg::Go`, while the init works: making its cgroup, which the init
/// enters when `Msg::Placed` hands it the v1 hierarchies' `tasks` files.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum PlaceStep {
    /// Create the container's cgroup (linux.cgroupsPath), set linux.resources on it and put
    /// the init in it, before it runs anything of the container's.
    Cgroup {
        path: Option<String>,
        resources: Box<oci_spec::runtime::LinuxResources>,
        /// --systemd-cgroup: path is "slice:prefix:name" and systemd makes the cgroup.
        systemd: bool,
    },
    /// Put an exec'd process in the running container's cgroup.
    EnterCgroup { cgroup: crate::cgroups::SavedCgroup },
    /// process.execCPUAffinity's final stage: once the process is in the cgroup.
    CpuAffinity { stage: Stage, cpus: IdSet },
}

/// The container's init (or the process `scrun exec` starts, a fork made the same way), in
/// order, up to its exec.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum InitStep {
    /// A cgroup namespace, made once the init is in its cgroup.
    CreateNamespace {
        kind: String,
        by: Maker,
    },
    SetHostname {
        name: String,
    },
    SetDomainname {
        name: String,
    },
    LoopbackUp,
    /// Propagation of the container's "/" before anything is mounted (rootfsPropagation).
    RootPropagation {
        flags: String,
    },
    /// Propagation of the mount that holds the rootfs, before the rootfs is bound.
    RootfsParentPropagation {
        path: PathBuf,
        flags: String,
    },
    BindRootfs {
        path: PathBuf,
    },
    /// A mount; a bind whose source the runtime opened (open_tree) attaches the tree in
    /// `source` instead of looking the path up. Boxed, as in the cgroup steps: a MountStep is
    /// the largest payload of any step, and every step of the plan took its size.
    Mount {
        #[serde(flatten)]
        mount: Box<MountStep>,
        #[serde(skip)]
        source: Option<Slot>,
        /// The bind of a file the runtime wrote in its state directory (`RuntimeStep::WriteFile`).
        #[serde(skip)]
        generated: bool,
    },
    /// One hierarchy in the tmpfs of the `cgroup` mount on `mount.destination` (see
    /// `rootfs::cgroupfs`).
    CgroupHierarchy {
        name: String,
        #[serde(skip)]
        mount: Box<MountStep>,
    },
    /// The tmpfs of a read-only `cgroup` mount, remounted so once its hierarchies are in.
    CgroupReadonly {
        #[serde(skip)]
        mount: Box<MountStep>,
    },
    MakeDevice(DeviceNode),
    /// A device in a user namespace, where mknod is not allowed: the host's node is bound
    /// there instead (runc does the same).
    BindDevice(DeviceNode),
    /// A symlink in the init's fresh /dev.
    Symlink {
        link: PathBuf,
        target: PathBuf,
    },
    PivotRoot {
        no_pivot: bool,
    },
    /// For a container without a mount namespace of its own.
    Chroot {
        path: PathBuf,
    },
    Sysctl {
        key: String,
        value: String,
    },
    ReadonlyPath {
        path: PathBuf,
    },
    MaskPath {
        path: PathBuf,
    },
    ReadonlyRoot,
    OomScoreAdj {
        value: i32,
    },
    /// createContainer and startContainer hooks, in the container's namespaces.
    Hook {
        kind: String,
        hook: Hook,
    },
    /// A step `exec`'s joiner takes as well.
    #[serde(untagged)]
    Process(ProcessStep),
}

/// What makes a process the container's, from the init's prologue to its exec: the steps the
/// container's init and `exec`'s joiner both carry out, and all that the joiner does (see
/// `Action::Join`), so that an exec plan cannot hold a step on the rootfs.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ProcessStep {
    /// Unblock signals, and die with the runtime (parent-death signal) until it detaches us.
    DieWithRuntime,
    /// Nothing in the container may ptrace the init or open its /proc entries (its exe is the
    /// runtime's binary) until it has exec'd.
    NonDumpable,
    /// Setup makes files with exactly the modes asked for; process.user.umask comes with the
    /// identity.
    ClearUmask,
    /// Close every fd the runtime had open beyond stdio and --preserve-fds, but for what the
    /// init itself uses (close-on-exec): nothing of the host reaches the container.
    SealFds,
    /// Wait for the runtime's steps after the clone (id mappings, hooks): `Msg::Go`.
    AwaitGo,
    /// Born in its user namespace, new or joined (CloneInside), the init still has its host
    /// ids, which the namespace does not map: it becomes the namespace's root.
    BecomeUsernsRoot,
    /// Entered with setns, from the fd the runtime opened (and type-checked) in `fd`.
    JoinNamespace {
        kind: String,
        path: PathBuf,
        #[serde(skip)]
        fd: Slot,
    },
    /// A pty for the process; the init's (not an exec's) also becomes /dev/console.
    Console {
        dev_console: bool,
    },
    Rlimit {
        kind: String,
        soft: u64,
        hard: u64,
    },
    LimitBoundingSet {
        caps: Vec<String>,
    },
    Identity {
        uid: u32,
        gid: u32,
        additional_gids: Vec<u32>,
        umask: Option<u32>,
    },
    SetCapabilities {
        effective: Vec<String>,
        permitted: Vec<String>,
        inheritable: Vec<String>,
        /// The ambient capabilities that will really be raised.
        ambient: Vec<String>,
        /// Those of process.capabilities.ambient that will not be, and why.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        ambient_not_raised: Vec<NotRaised>,
    },
    NoNewPrivileges,
    /// The LSM label the program gets at its exec: an AppArmor profile or an SELinux label,
    /// written to the init's attr file while it is still privileged.
    ExecLabel {
        lsm: Lsm,
        label: String,
    },
    Chdir {
        path: PathBuf,
    },
    /// Install linux.seccomp. With no_new_privs it is the last step before exec; without, it
    /// must come while the init still has CAP_SYS_ADMIN, before the identity changes (runc's
    /// order), and what follows runs under it.
    Seccomp {
        profile: Box<oci_spec::runtime::LinuxSeccomp>,
    },
    /// process.scheduler, process.ioPriority, linux.personality and linux.memoryPolicy: set
    /// by the process for itself while it may (before it drops CAP_SYS_NICE) and before a
    /// seccomp filter could deny the calls (runc's order).
    Scheduler(Scheduler),
    IoPriority(IoPriority),
    Personality {
        domain: String,
    },
    MemoryPolicy(crate::process::mempolicy::MemoryPolicy),
    /// Resolve the program in the container's PATH and check that it can run there, before
    /// `create` returns: a missing program fails `create`, not `start`.
    FindProgram,
    Exec {
        args: Vec<String>,
        env: Vec<String>,
    },
}

/// What `start` and `delete` run, from the state the runtime saved.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum LaterStep {
    Hook { kind: String, hook: Hook },
}

impl Action {
    /// What the step does, in the words errors and traces use.
    pub fn describe(&self) -> String {
        match self {
            Action::Runtime(s) => s.describe(),
            Action::Clone(s) => s.describe(),
            Action::AfterClone(s) => s.describe(),
            Action::Place(s) => s.describe(),
            Action::Init(s) => s.describe(),
            Action::Join(s) => s.describe(),
            Action::AfterStart(s) | Action::AfterDelete(s) => s.describe(),
        }
    }

    /// Who carries it out, as explain says it.
    pub fn side(&self) -> &'static str {
        match self {
            Action::Runtime(_) | Action::Clone(_) | Action::AfterClone(_) | Action::Place(_) => "runtime",
            // The joiner is the init of the exec'd process, cloned the same way.
            Action::Init(_) | Action::Join(_) => "init",
            Action::AfterStart(_) => "start",
            Action::AfterDelete(_) => "delete",
        }
    }
}

fn create_text(kind: &str) -> String {
    format!("create {kind} namespace")
}

fn join_text(kind: &str, path: &std::path::Path) -> String {
    format!("join {kind} namespace {}", path.display())
}

fn symlink_text(link: &std::path::Path, target: &std::path::Path) -> String {
    format!("symlink {} -> {}", link.display(), target.display())
}

fn hook_text(kind: &str, hook: &Hook) -> String {
    format!("run {kind} hook {}", hook.path.display())
}

fn affinity_text(stage: &Stage, cpus: &IdSet) -> String {
    format!("set the {stage} CPU affinity to {cpus}")
}

impl RuntimeStep {
    pub fn describe(&self) -> String {
        match self {
            RuntimeStep::WriteFile { path, .. } => format!("write {}", path.display()),
            RuntimeStep::MakeMountpoint { path } => format!("make mount point {} in the image", path.display()),
            RuntimeStep::Symlink { link, target } => symlink_text(link, target),
            RuntimeStep::CreateNamespace { kind, .. } => create_text(kind),
            RuntimeStep::JoinNamespace { kind, path } => join_text(kind, path),
            RuntimeStep::TimeOffset { clock, secs, nanosecs } => {
                format!("offset the {clock} clock by {secs} s {nanosecs} ns")
            }
            RuntimeStep::OpenNamespace { kind, path, .. } => format!("open {kind} namespace {}", path.display()),
            RuntimeStep::OpenBindSource { source, .. } => format!("open bind source {source} (open_tree)"),
            RuntimeStep::CompileSeccomp { profile } => {
                format!("compile seccomp filter: {}", crate::process::seccomp::summary(profile))
            }
        }
    }
}

impl CloneStep {
    pub fn describe(&self) -> String {
        match self {
            CloneStep::CreateNamespace { kind, .. } => create_text(kind),
            CloneStep::CloneInside { path } => format!("clone the init inside user namespace {}", path.display()),
            CloneStep::JoinNamespace { kind, path } => join_text(kind, path),
            CloneStep::IntoCgroup => "clone the init into its cgroup (CLONE_INTO_CGROUP)".into(),
        }
    }
}

impl AfterCloneStep {
    pub fn describe(&self) -> String {
        match self {
            AfterCloneStep::IdMappings { .. } => "write uid and gid mappings".into(),
            AfterCloneStep::IdmapMount {
                source,
                recursive,
                userns,
                ..
            } => format!(
                "idmap the bind of {source}{} with {}",
                if *recursive { " and its submounts" } else { "" },
                match userns {
                    IdmapUserns::Container => "the container's user namespace".to_string(),
                    IdmapUserns::Joined { path } => format!("user namespace {}", path.display()),
                    IdmapUserns::New { .. } => "a user namespace made for it".to_string(),
                }
            ),
            AfterCloneStep::MoveNetDevice { device, name, .. } => {
                format!("move network device {device} into the container as {name}")
            }
            AfterCloneStep::CpuAffinity { stage, cpus } => affinity_text(stage, cpus),
            AfterCloneStep::Hook { kind, hook } => hook_text(kind, hook),
        }
    }
}

impl PlaceStep {
    pub fn describe(&self) -> String {
        match self {
            PlaceStep::Cgroup { path, systemd, .. } => format!(
                "create cgroup {}{} with its limits, and enter it",
                path.as_deref().unwrap_or("(default)"),
                if *systemd { " through systemd" } else { "" }
            ),
            PlaceStep::EnterCgroup { cgroup } => format!("enter cgroup {}", cgroup.path),
            PlaceStep::CpuAffinity { stage, cpus } => affinity_text(stage, cpus),
        }
    }
}

impl LaterStep {
    pub fn describe(&self) -> String {
        match self {
            LaterStep::Hook { kind, hook } => hook_text(kind, hook),
        }
    }
}

impl InitStep {
    pub fn describe(&self) -> String {
        match self {
            InitStep::CreateNamespace { kind, .. } => create_text(kind),
            InitStep::SetHostname { name } => format!("set hostname {name:?}"),
            InitStep::SetDomainname { name } => format!("set domainname {name:?}"),
            InitStep::LoopbackUp => "bring up lo".into(),
            InitStep::RootPropagation { flags } => format!("make / {flags}"),
            InitStep::RootfsParentPropagation { path, flags } => {
                format!("make the mount holding {} {flags}", path.display())
            }
            InitStep::BindRootfs { path } => format!("bind rootfs {}", path.display()),
            InitStep::Mount { mount: m, .. } if m.idmap.is_some() => {
                format!("mount idmapped {} on {}", m.fstype, m.destination.display())
            }
            InitStep::Mount { mount: m, .. } => format!("mount {} on {}", m.fstype, m.destination.display()),
            InitStep::CgroupHierarchy { name, mount } => {
                let how = if mount.cgroupns { "mount" } else { "bind" };
                format!("{how} cgroup hierarchy {}", mount.destination.join(name).display())
            }
            InitStep::CgroupReadonly { mount } => format!("remount {} read-only", mount.destination.display()),
            InitStep::MakeDevice(d) => format!("make device {}", d.path.display()),
            InitStep::BindDevice(d) => format!("bind host device {}", d.path.display()),
            InitStep::Symlink { link, target } => symlink_text(link, target),
            InitStep::PivotRoot { no_pivot: false } => "pivot_root into the rootfs".into(),
            InitStep::PivotRoot { no_pivot: true } => "move the rootfs to / and chroot".into(),
            InitStep::Chroot { path } => format!("chroot into {} (no mount namespace)", path.display()),
            InitStep::Sysctl { key, value } => format!("sysctl {key}={value}"),
            InitStep::ReadonlyPath { path } => format!("make {} read-only", path.display()),
            InitStep::MaskPath { path } => format!("mask {}", path.display()),
            InitStep::ReadonlyRoot => "remount / read-only".into(),
            InitStep::OomScoreAdj { value } => format!("set oom_score_adj {value}"),
            InitStep::Hook { kind, hook } => hook_text(kind, hook),
            InitStep::Process(p) => p.describe(),
        }
    }
}

impl ProcessStep {
    pub fn describe(&self) -> String {
        match self {
            ProcessStep::DieWithRuntime => "unblock signals, die with the runtime".into(),
            ProcessStep::NonDumpable => "set non-dumpable".into(),
            ProcessStep::ClearUmask => "clear the umask".into(),
            ProcessStep::SealFds => "close the runtime's fds".into(),
            ProcessStep::AwaitGo => "wait for the runtime's go".into(),
            ProcessStep::BecomeUsernsRoot => "become root in the user namespace".into(),
            ProcessStep::FindProgram => "find the program".into(),
            ProcessStep::JoinNamespace { kind, path, .. } => join_text(kind, path),
            ProcessStep::Console { .. } => "set up the console".into(),
            ProcessStep::Rlimit { kind, soft, hard } => format!("set {kind} {soft}/{hard}"),
            ProcessStep::LimitBoundingSet { .. } => "limit the capability bounding set".into(),
            ProcessStep::Identity { uid, gid, .. } => format!("set identity {uid}:{gid}"),
            ProcessStep::SetCapabilities { .. } => "set capabilities".into(),
            ProcessStep::NoNewPrivileges => "set no_new_privs".into(),
            ProcessStep::ExecLabel { lsm, label } => format!("label the program's exec with {lsm} {label:?}"),
            ProcessStep::Seccomp { profile } => {
                format!("install seccomp filter: {}", crate::process::seccomp::summary(profile))
            }
            ProcessStep::Scheduler(s) => format!("set scheduler {s}"),
            ProcessStep::IoPriority(p) => format!("set I/O priority {p}"),
            ProcessStep::Personality { domain } => format!("set personality {domain}"),
            ProcessStep::MemoryPolicy(m) => format!("set memory policy {m}"),
            ProcessStep::Chdir { path } => format!("chdir to cwd {}", path.display()),
            ProcessStep::Exec { args, .. } => format!("exec {}", args.first().map(String::as_str).unwrap_or("")),
        }
    }
}

macro_rules! side {
    ($($step:ident => $variant:ident),*) => {$(
        impl From<$step> for Action {
            fn from(s: $step) -> Action {
                Action::$variant(s)
            }
        }

        impl $step {
            /// The step if `action` is one of this side's, for `Plan::each`.
            pub fn of(action: &Action) -> Option<&$step> {
                match action {
                    Action::$variant(s) => Some(s),
                    _ => None,
                }
            }
        }
    )*};
}
side!(RuntimeStep => Runtime, CloneStep => Clone, AfterCloneStep => AfterClone, PlaceStep => Place, InitStep => Init);

impl Action {
    /// A step that makes the process, the init's or the joiner's.
    pub fn process(&self) -> Option<&ProcessStep> {
        match self {
            Action::Init(InitStep::Process(s)) | Action::Join(s) => Some(s),
            _ => None,
        }
    }
}
