//! From config.json to an ordered list of typed steps. The plan is data: the runtime and the
//! container's init execute it, `--debug` times each step, and nothing here touches the system
//! except reading the host files the plan depends on (bind sources, /etc/resolv.conf).

use crate::cli::Phase;
use crate::devices::{self, DeviceNode};
use crate::rootfs::mounts::{self, MountStep};
use crate::spec::Bundle;
use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxDeviceType, LinuxIdMapping, LinuxNamespaceType, Process, Spec};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Whether the container's stdio is a pty scrun makes (process.terminal).
    pub terminal: bool,
    /// process.consoleSize as (rows, columns).
    pub console_size: Option<(u16, u16)>,
}

/// One thing the runtime does, and the config field (or the spec section) that asked for it.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub origin: String,
    #[serde(flatten)]
    pub action: Action,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Written by the runtime into the state directory before the container exists.
    WriteFile {
        path: PathBuf,
        content: String,
    },
    /// A mount point in the image made by the runtime as host root: the init, root of a user
    /// namespace, may not write in an image owned by the host's root.
    MakeMountpoint {
        path: PathBuf,
    },
    CreateNamespace {
        kind: String,
        by: Maker,
    },
    /// Entered with setns; pid and time namespaces by the runtime before the clone, others by
    /// the init.
    JoinNamespace {
        kind: String,
        path: PathBuf,
    },
    /// A user namespace joined by path owns the namespaces the clone makes only if the clone
    /// is made inside it: a short-lived helper joins it (and a pid namespace joined by path)
    /// and clones the init with CLONE_PARENT, so that it is the runtime's child all the same.
    CloneInside {
        path: PathBuf,
    },
    /// Written by the runtime into its new time namespace before the clone: the offsets freeze
    /// once a process is in it.
    TimeOffset {
        clock: String,
        secs: i64,
        nanosecs: u32,
    },
    /// Written by the runtime once the init exists in its new user namespace.
    IdMappings {
        uid: Vec<IdMap>,
        gid: Vec<IdMap>,
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
    /// Give the detached mount of the bind in the next step (a Mount) its idmapping. The
    /// runtime does it between the clone and the init's mounts: a mapping taken from the
    /// container's user namespace exists only once the runtime has written it.
    IdmapMount {
        source: String,
        recursive: bool,
        userns: IdmapUserns,
    },
    Mount(MountStep),
    MakeDevice(DeviceNode),
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
    /// A pty for the process; the init's (not an exec's) also becomes /dev/console.
    Console {
        dev_console: bool,
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
    /// Create the container's cgroup (linux.cgroupsPath), set linux.resources on it and put the
    /// init in it, before it runs anything of the container's.
    Cgroup {
        path: Option<String>,
        resources: Box<oci_spec::runtime::LinuxResources>,
        /// --systemd-cgroup: path is "slice:prefix:name" and systemd makes the cgroup.
        systemd: bool,
    },
    /// Put an exec'd process in the running container's cgroup.
    EnterCgroup {
        cgroup: crate::cgroups::SavedCgroup,
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
    Scheduler(crate::process::scheduling::Scheduler),
    IoPriority(crate::process::scheduling::IoPriority),
    Personality {
        domain: String,
    },
    MemoryPolicy(crate::process::mempolicy::MemoryPolicy),
    /// process.execCPUAffinity of an exec'd process, set on it by the runtime.
    CpuAffinity {
        stage: crate::process::scheduling::Stage,
        cpus: crate::process::scheduling::IdSet,
    },
    /// A linux.netDevices entry, moved by the runtime once the network namespace exists
    /// (runc's order: before the prestart hooks): into the init's new one, or the one at
    /// `netns` the init is to join.
    MoveNetDevice {
        device: String,
        name: String,
        netns: Option<PathBuf>,
    },
    /// hooks.KIND[index] of config.json.
    Hook {
        kind: String,
        hook: crate::hooks::Hook,
    },
    Exec {
        args: Vec<String>,
        env: Vec<String>,
    },
}

/// A capability of process.capabilities.ambient the kernel will not raise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotRaised {
    pub capability: String,
    pub why: &'static str,
}

/// The kernel raises an ambient capability only if it is both permitted and inheritable; runc
/// skips the others silently, and so does scrun (saying why in explain and --trace).
fn ambient_split(ambient: &[String], permitted: &[String], inheritable: &[String]) -> (Vec<String>, Vec<NotRaised>) {
    let mut raised = Vec::new();
    let mut not_raised = Vec::new();
    for cap in ambient {
        let why = match (permitted.contains(cap), inheritable.contains(cap)) {
            (true, true) => {
                raised.push(cap.clone());
                continue;
            }
            (true, false) => "not in process.capabilities.inheritable",
            (false, true) => "not in process.capabilities.permitted",
            (false, false) => "in neither process.capabilities.permitted nor inheritable",
        };
        not_raised.push(NotRaised {
            capability: cap.clone(),
            why,
        });
    }
    (raised, not_raised)
}

/// The user namespace whose mappings an idmapped mount takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IdmapUserns {
    /// The container's new one, once its mappings are written.
    Container,
    /// The one the container joins (linux.namespaces[].path).
    Joined { path: PathBuf },
    /// A user namespace made for the purpose (by a short-lived child), with these mappings.
    New { uid: Vec<IdMap>, gid: Vec<IdMap> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IdMap {
    pub container_id: u32,
    pub host_id: u32,
    pub size: u32,
}

impl From<&LinuxIdMapping> for IdMap {
    fn from(m: &LinuxIdMapping) -> Self {
        IdMap {
            container_id: m.container_id(),
            host_id: m.host_id(),
            size: m.size(),
        }
    }
}

/// A Linux security module that labels processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Lsm {
    AppArmor,
    SELinux,
}

impl Lsm {
    /// Whether the host runs it; read only when config.json asks for a label.
    fn enabled(self) -> bool {
        match self {
            Lsm::AppArmor => {
                std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y")
            }
            Lsm::SELinux => Path::new("/sys/fs/selinux/enforce").exists(),
        }
    }

    /// The attr file (below /proc) that labels the next exec and what to write there. AppArmor
    /// has its own directory since Linux 5.8 (so that it can stack with other LSMs); older
    /// kernels share the generic file.
    pub fn exec_attr(self, label: &str, has_apparmor_dir: bool) -> (&'static str, String) {
        match self {
            Lsm::AppArmor if has_apparmor_dir => ("thread-self/attr/apparmor/exec", format!("exec {label}")),
            Lsm::AppArmor => ("thread-self/attr/exec", format!("exec {label}")),
            Lsm::SELinux => ("thread-self/attr/exec", label.to_string()),
        }
    }
}

impl std::fmt::Display for Lsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Lsm::AppArmor => "AppArmor",
            Lsm::SELinux => "SELinux",
        })
    }
}

/// Who makes a new namespace. Its owner is the user namespace its maker is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Maker {
    /// The clone that creates the init.
    Clone,
    /// The runtime, with unshare just before the clone: a time namespace, which the clone
    /// syscall cannot make (CLONE_NEWTIME overlaps its exit signal bits); it applies to the
    /// children made next, which is the clone.
    Runtime,
    /// The init, with unshare: a cgroup namespace, once the init is in its cgroup.
    Init,
}

/// Who carries a step out: the runtime on the host side, or the container's init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    BeforeClone,
    Clone,
    AfterClone,
    Init,
    /// Run by `start` once the program runs.
    AfterStart,
    /// Run by `delete` once the container has stopped.
    AfterDelete,
}

impl Action {
    pub fn side(&self) -> Side {
        match self {
            Action::WriteFile { .. } | Action::MakeMountpoint { .. } => Side::BeforeClone,
            // A symlink in the image itself (/etc/mtab) is made by the runtime, as host root
            // (see MakeMountpoint); the /dev ones go in the init's fresh tmpfs.
            Action::Symlink { link, .. } if !link.starts_with("/dev") => Side::BeforeClone,
            Action::JoinNamespace { kind, .. } if crate::namespaces::joined_by_runtime(kind) => Side::BeforeClone,
            Action::CreateNamespace { by: Maker::Runtime, .. } | Action::TimeOffset { .. } => Side::BeforeClone,
            Action::CreateNamespace { by: Maker::Clone, .. } | Action::CloneInside { .. } => Side::Clone,
            Action::IdMappings { .. }
            | Action::IdmapMount { .. }
            | Action::Cgroup { .. }
            | Action::EnterCgroup { .. }
            | Action::CpuAffinity { .. }
            | Action::MoveNetDevice { .. } => Side::AfterClone,
            Action::Hook { kind, .. } => match kind.as_str() {
                "prestart" | "createRuntime" => Side::AfterClone,
                "poststart" => Side::AfterStart,
                "poststop" => Side::AfterDelete,
                _ => Side::Init,
            },
            _ => Side::Init,
        }
    }

    /// A seccomp filter with a notify listener is the exception: the listener goes to the agent
    /// through the runtime, which is there only until `create` returns (runc does the same).
    fn after_start(&self) -> bool {
        match self {
            Action::Seccomp { profile } => profile.listener_path().is_none(),
            Action::Hook { kind, .. } => kind == "startContainer",
            _ => false,
        }
    }

    /// What the step does, in the words errors and traces use.
    pub fn describe(&self) -> String {
        match self {
            Action::WriteFile { path, .. } => format!("write {}", path.display()),
            Action::MakeMountpoint { path } => format!("make mount point {} in the image", path.display()),
            Action::CreateNamespace { kind, .. } => format!("create {kind} namespace"),
            Action::JoinNamespace { kind, path } => format!("join {kind} namespace {}", path.display()),
            Action::CloneInside { path } => format!("clone the init inside user namespace {}", path.display()),
            Action::TimeOffset { clock, secs, nanosecs } => {
                format!("offset the {clock} clock by {secs} s {nanosecs} ns")
            }
            Action::IdMappings { .. } => "write uid and gid mappings".into(),
            Action::Cgroup { path, systemd, .. } => format!(
                "create cgroup {}{} with its limits, and enter it",
                path.as_deref().unwrap_or("(default)"),
                if *systemd { " through systemd" } else { "" }
            ),
            Action::EnterCgroup { cgroup } => format!("enter cgroup {}", cgroup.path),
            Action::SetHostname { name } => format!("set hostname {name:?}"),
            Action::SetDomainname { name } => format!("set domainname {name:?}"),
            Action::LoopbackUp => "bring up lo".into(),
            Action::RootPropagation { flags } => format!("make / {flags}"),
            Action::RootfsParentPropagation { path, flags } => {
                format!("make the mount holding {} {flags}", path.display())
            }
            Action::BindRootfs { path } => format!("bind rootfs {}", path.display()),
            Action::IdmapMount {
                source,
                recursive,
                userns,
            } => format!(
                "idmap the bind of {source}{} with {}",
                if *recursive { " and its submounts" } else { "" },
                match userns {
                    IdmapUserns::Container => "the container's user namespace".to_string(),
                    IdmapUserns::Joined { path } => format!("user namespace {}", path.display()),
                    IdmapUserns::New { .. } => "a user namespace made for it".to_string(),
                }
            ),
            Action::Mount(m) if m.idmap.is_some() => {
                format!("mount idmapped {} on {}", m.fstype, m.destination.display())
            }
            Action::Mount(m) => format!("mount {} on {}", m.fstype, m.destination.display()),
            Action::MakeDevice(d) => format!("make device {}", d.path.display()),
            Action::Symlink { link, target } => format!("symlink {} -> {}", link.display(), target.display()),
            Action::PivotRoot { no_pivot: false } => "pivot_root into the rootfs".into(),
            Action::PivotRoot { no_pivot: true } => "move the rootfs to / and chroot".into(),
            Action::Chroot { path } => format!("chroot into {} (no mount namespace)", path.display()),
            Action::Console { .. } => "set up the console".into(),
            Action::Sysctl { key, value } => format!("sysctl {key}={value}"),
            Action::ReadonlyPath { path } => format!("make {} read-only", path.display()),
            Action::MaskPath { path } => format!("mask {}", path.display()),
            Action::ReadonlyRoot => "remount / read-only".into(),
            Action::OomScoreAdj { value } => format!("set oom_score_adj {value}"),
            Action::Rlimit { kind, soft, hard } => format!("set {kind} {soft}/{hard}"),
            Action::LimitBoundingSet { .. } => "limit the capability bounding set".into(),
            Action::Identity { uid, gid, .. } => format!("set identity {uid}:{gid}"),
            Action::SetCapabilities { .. } => "set capabilities".into(),
            Action::NoNewPrivileges => "set no_new_privs".into(),
            Action::ExecLabel { lsm, label } => format!("label the program's exec with {lsm} {label:?}"),
            Action::Seccomp { profile } => {
                format!("install seccomp filter: {}", crate::process::seccomp::summary(profile))
            }
            Action::Scheduler(s) => format!("set scheduler {s}"),
            Action::IoPriority(p) => format!("set I/O priority {p}"),
            Action::Personality { domain } => format!("set personality {domain}"),
            Action::MemoryPolicy(m) => format!("set memory policy {m}"),
            Action::CpuAffinity { stage, cpus } => format!("set the {stage} CPU affinity to {cpus}"),
            Action::MoveNetDevice { device, name, .. } => {
                format!("move network device {device} into the container as {name}")
            }
            Action::Chdir { path } => format!("chdir to cwd {}", path.display()),
            Action::Hook { kind, hook } => format!("run {kind} hook {}", hook.path.display()),
            Action::Exec { args, .. } => format!("exec {}", args.first().map(String::as_str).unwrap_or("")),
        }
    }
}

/// Inputs that are not in config.json.
pub struct Options<'a> {
    pub state_dir: &'a Path,
    pub no_pivot: bool,
    pub systemd_cgroup: bool,
}

const SPEC_DEV: &str = "runtime: libcontainer SPEC, /dev";
const SPEC_ETC: &str = "runtime: scrun, files a container expects in /etc";

impl Plan {
    pub fn build(bundle: &Bundle, opts: &Options) -> Result<Plan> {
        let spec = &bundle.spec;
        let linux = spec.linux().clone().unwrap_or_default();
        let process = spec.process().clone().context("process is missing")?;
        let mount_label = mount_label(&linux)?;
        let mut steps = Vec::new();
        let mut add = |origin: String, action: Action| steps.push(Step { origin, action });

        let namespaces = linux.namespaces().clone().unwrap_or_default();
        let ns_origin = |i: usize| format!("linux.namespaces[{i}]");
        // The user namespace comes first: it owns the others, and joining it decides what the
        // init may do in them.
        let order = |t: LinuxNamespaceType| {
            if t == LinuxNamespaceType::User {
                0
            } else if t == LinuxNamespaceType::Mount {
                2
            } else {
                1
            }
        };
        let mut indexed: Vec<_> = namespaces.iter().enumerate().collect();
        indexed.sort_by_key(|(_, n)| order(n.typ()));
        for (i, ns) in &indexed {
            let kind = ns_name(ns.typ());
            match ns.path() {
                Some(path) if ns.typ() == LinuxNamespaceType::User => {
                    add(ns_origin(*i), Action::CloneInside { path: path.clone() })
                }
                Some(path) => add(
                    ns_origin(*i),
                    Action::JoinNamespace {
                        kind,
                        path: path.clone(),
                    },
                ),
                None => {
                    let by = match ns.typ() {
                        LinuxNamespaceType::Time => Maker::Runtime,
                        LinuxNamespaceType::Cgroup => Maker::Init,
                        _ => Maker::Clone,
                    };
                    add(ns_origin(*i), Action::CreateNamespace { kind, by })
                }
            }
        }
        let mut offsets: Vec<_> = linux.time_offsets().iter().flatten().collect();
        offsets.sort_by(|a, b| a.0.cmp(b.0));
        for (clock, offset) in offsets {
            add(
                format!("linux.timeOffsets.{clock}"),
                Action::TimeOffset {
                    clock: clock.clone(),
                    secs: offset.secs().unwrap_or(0),
                    nanosecs: offset.nanosecs().unwrap_or(0),
                },
            );
        }
        let new_ns = |t| namespaces.iter().any(|n| n.typ() == t && n.path().is_none());
        if new_ns(LinuxNamespaceType::User) {
            let map = |m: &Option<Vec<LinuxIdMapping>>| m.iter().flatten().map(IdMap::from).collect();
            add(
                "linux.uidMappings, linux.gidMappings".into(),
                Action::IdMappings {
                    uid: map(linux.uid_mappings()),
                    gid: map(linux.gid_mappings()),
                },
            );
        }
        let netns = namespaces.iter().find(|n| n.typ() == LinuxNamespaceType::Network);
        let mut devices: Vec<_> = linux.net_devices().iter().flatten().collect();
        devices.sort_by(|a, b| a.0.cmp(b.0));
        for (device, d) in devices {
            add(
                format!("linux.netDevices[{device:?}]"),
                Action::MoveNetDevice {
                    device: device.clone(),
                    name: d.name().clone().unwrap_or_else(|| device.clone()),
                    netns: netns.and_then(|n| n.path().clone()),
                },
            );
        }
        add(
            "linux.cgroupsPath, linux.resources".into(),
            cgroup_step(&linux, opts.systemd_cgroup),
        );
        let hooks = crate::hooks::by_kind(spec);
        let add_hooks = |add: &mut dyn FnMut(String, Action), kinds: &[&str]| {
            for (kind, list) in hooks.iter().filter(|(k, _)| kinds.contains(k)) {
                for (i, hook) in list.iter().enumerate() {
                    add(
                        format!("hooks.{kind}[{i}]"),
                        Action::Hook {
                            kind: kind.to_string(),
                            hook: hook.clone(),
                        },
                    );
                }
            }
        };
        add_hooks(&mut add, &["prestart", "createRuntime"]);
        if let Some(name) = spec.hostname().clone().filter(|h| !h.is_empty()) {
            add("hostname".into(), Action::SetHostname { name });
        }
        if let Some(name) = spec.domainname().clone().filter(|h| !h.is_empty()) {
            add("domainname".into(), Action::SetDomainname { name });
        }
        if new_ns(LinuxNamespaceType::Network) {
            add("runtime: a new network namespace gets lo up".into(), Action::LoopbackUp);
        }

        // Without a mount namespace of its own, anything mounted would land in the caller's: the
        // container then only gets chroot into its rootfs, as with runc.
        let own_mount_ns = namespaces.iter().any(|n| n.typ() == LinuxNamespaceType::Mount);
        if !own_mount_ns {
            add_hooks(&mut add, &["createContainer"]);
            add(
                "root.path".into(),
                Action::Chroot {
                    path: bundle.rootfs.clone(),
                },
            );
        } else {
            // As runc: "/" and every mount below it get rootfsPropagation (rslave by default)
            // before anything is mounted, so that a volume bound from a shared host mount stays
            // in its peer group or becomes its slave. Unless that made every mount a slave or
            // private, the mount holding the rootfs may still be shared with the host: it is made
            // private (a slave for "slave") so that neither the rootfs bind nor what is mounted
            // on it reaches the host (and pivot_root refuses a shared parent).
            let root_flags = linux.rootfs_propagation().clone();
            let (origin, flags) = match &root_flags {
                Some(flags) => ("linux.rootfsPropagation", flags.as_str()),
                None => ("runtime: keep the container's mounts from reaching the host", "rslave"),
            };
            mounts::root_propagation(flags)?;
            add(origin.into(), Action::RootPropagation { flags: flags.into() });
            if !matches!(flags, "rslave" | "rprivate") {
                add(
                    origin.into(),
                    Action::RootfsParentPropagation {
                        path: bundle.rootfs.clone(),
                        flags: if flags == "slave" { "slave" } else { "private" }.into(),
                    },
                );
            }
            add(
                "root.path".into(),
                Action::BindRootfs {
                    path: bundle.rootfs.clone(),
                },
            );

            let config_mounts = spec.mounts().clone().unwrap_or_default();
            for (i, m) in config_mounts.iter().enumerate() {
                let mut step = mounts::plan_mount(m, &bundle.dir).with_context(|| format!("mounts[{i}]"))?;
                step.cgroupns =
                    step.fstype == "cgroup" && namespaces.iter().any(|n| n.typ() == LinuxNamespaceType::Cgroup);
                if step.fstype == "bind" {
                    crate::procfs::check_bind_on_proc(&step.destination, Path::new(&step.source))
                        .with_context(|| format!("mounts[{i}]"))?;
                }
                if let Some(label) = &mount_label {
                    mounts::set_mount_label(&mut step, label);
                }
                if let Some(idmap) = &step.idmap {
                    add(
                        format!("mounts[{i}]"),
                        Action::IdmapMount {
                            source: step.source.clone(),
                            recursive: idmap.recursive,
                            userns: idmap_userns(idmap, &linux).with_context(|| format!("mounts[{i}]"))?,
                        },
                    );
                }
                add(format!("mounts[{i}]"), Action::Mount(step));
            }
            let mounted = |dest: &str| config_mounts.iter().any(|m| m.destination() == Path::new(dest));

            for (name, content) in etc_files(spec, new_ns(LinuxNamespaceType::Network)) {
                let dest = PathBuf::from("/etc").join(name);
                if mounted(dest.to_str().unwrap_or_default()) {
                    continue;
                }
                let path = opts.state_dir.join(name);
                add(
                    SPEC_ETC.into(),
                    Action::WriteFile {
                        path: path.clone(),
                        content,
                    },
                );
                add(SPEC_ETC.into(), Action::MakeMountpoint { path: dest.clone() });
                add(SPEC_ETC.into(), Action::Mount(mounts::generated_file(&path, &dest)));
            }
            add(
                SPEC_ETC.into(),
                Action::Symlink {
                    link: "/etc/mtab".into(),
                    target: "/proc/mounts".into(),
                },
            );

            let dev_bound = config_mounts.iter().any(|m| {
                m.destination() == Path::new("/dev")
                    && m.options().iter().flatten().any(|o| o == "bind" || o == "rbind")
            });
            if !dev_bound {
                for node in devices::defaults() {
                    add(SPEC_DEV.into(), Action::MakeDevice(node));
                }
                for (link, target) in devices::symlinks() {
                    add(SPEC_DEV.into(), Action::Symlink { link, target });
                }
            }
            for (i, d) in linux.devices().iter().flatten().enumerate() {
                let node = DeviceNode::from_spec(d).with_context(|| format!("linux.devices[{i}]"))?;
                add(format!("linux.devices[{i}]"), Action::MakeDevice(node));
            }

            add_hooks(&mut add, &["createContainer"]);
            add(
                "root.path".into(),
                Action::PivotRoot {
                    no_pivot: opts.no_pivot,
                },
            );
            // The container's own "/" (and its submounts, for an "r" flag) shared or unbindable,
            // as runc does after pivot_root; a private or slave one is already so, and doing it
            // again would undo the mounts' own "rshared".
            if let Some(flags) = root_flags.filter(|f| !f.contains("private") && !f.contains("slave")) {
                add("linux.rootfsPropagation".into(), Action::RootPropagation { flags });
            }
        }
        let terminal = process.terminal().unwrap_or(false);
        if terminal {
            add(
                "process.terminal".into(),
                Action::Console {
                    dev_console: own_mount_ns,
                },
            );
        }
        // Created if missing (as runc does), so before the root turns read-only and while the
        // init is still root.
        add(
            "process.cwd".into(),
            Action::Chdir {
                path: process.cwd().clone(),
            },
        );
        let mut sysctls: Vec<_> = linux.sysctl().clone().unwrap_or_default().into_iter().collect();
        sysctls.sort();
        for (key, value) in sysctls {
            add(format!("linux.sysctl[{key:?}]"), Action::Sysctl { key, value });
        }
        let paths = linux.readonly_paths().iter().flatten().count() + linux.masked_paths().iter().flatten().count();
        if !own_mount_ns && paths > 0 {
            crate::logging::warn("linux.maskedPaths, linux.readonlyPaths: not applied without a mount namespace (they would change the host's mounts)");
        }
        for (i, p) in linux
            .readonly_paths()
            .iter()
            .flatten()
            .filter(|_| own_mount_ns)
            .enumerate()
        {
            add(
                format!("linux.readonlyPaths[{i}]"),
                Action::ReadonlyPath { path: p.into() },
            );
        }
        for (i, p) in linux
            .masked_paths()
            .iter()
            .flatten()
            .filter(|_| own_mount_ns)
            .enumerate()
        {
            add(format!("linux.maskedPaths[{i}]"), Action::MaskPath { path: p.into() });
        }
        let readonly = spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false);
        if readonly && !own_mount_ns {
            anyhow::bail!("root.readonly: a read-only root needs a mount namespace in linux.namespaces");
        }
        if readonly {
            add("root.readonly".into(), Action::ReadonlyRoot);
        }

        if let Some(value) = process.oom_score_adj() {
            add("process.oomScoreAdj".into(), Action::OomScoreAdj { value });
        }
        // Not for the init (runtime-spec), but for each exec: a bad list fails `create`.
        crate::process::scheduling::exec_affinity(process.exec_cpu_affinity().as_ref())?;
        scheduling_steps(&process, &linux, &mut add)?;
        let late_seccomp = process_steps(&process, linux.seccomp().as_ref(), &mut add)?;
        add_hooks(&mut add, &["startContainer"]);
        if let Some(step) = late_seccomp {
            add("linux.seccomp".into(), step);
        }
        add("process.args".into(), exec_step(&process));
        add_hooks(&mut add, &["poststart", "poststop"]);
        Ok(Plan::new(steps, &process))
    }

    /// The plan of `scrun exec`: enter each namespace of the running container that differs
    /// from ours (a user namespace first: it decides what may be done in the others), then
    /// the process steps. What the container's config.json says applies to the exec'd process
    /// too: linux.seccomp, linux.personality, linux.memoryPolicy, and as runc has it, the
    /// scheduling fields of its process that `process` leaves out.
    pub fn for_exec(
        pid: i32,
        process: &Process,
        cgroup: Option<&crate::cgroups::SavedCgroup>,
        container: &Spec,
    ) -> Result<Plan> {
        let linux = container.linux().clone().unwrap_or_default();
        let process = &crate::process::scheduling::inherit(process, container.process().as_ref());
        let mut steps = Vec::new();
        let mut add = |origin: String, action: Action| steps.push(Step { origin, action });
        let affinity = crate::process::scheduling::exec_affinity(process.exec_cpu_affinity().as_ref())?;
        let add_affinity = |add: &mut dyn FnMut(String, Action), when| {
            for (stage, cpus, field) in affinity.iter().filter(|(stage, _, _)| *stage == when) {
                add(
                    field.to_string(),
                    Action::CpuAffinity {
                        stage: *stage,
                        cpus: cpus.clone(),
                    },
                );
            }
        };
        add_affinity(&mut add, crate::process::scheduling::Stage::Initial);
        if let Some(cgroup) = cgroup {
            add(
                "the container's cgroup".into(),
                Action::EnterCgroup { cgroup: cgroup.clone() },
            );
        }
        add_affinity(&mut add, crate::process::scheduling::Stage::Final);
        for kind in ["user", "cgroup", "ipc", "uts", "network", "pid", "time", "mount"] {
            let file = crate::namespaces::file(kind);
            let theirs = std::fs::metadata(format!("/proc/{pid}/ns/{file}"));
            let ours = std::fs::metadata(format!("/proc/self/ns/{file}"));
            use std::os::unix::fs::MetadataExt;
            if let (Ok(t), Ok(o)) = (theirs, ours) {
                if t.ino() != o.ino() {
                    let path = PathBuf::from(format!("/proc/{pid}/ns/{file}"));
                    add(
                        format!("the container's {kind} namespace"),
                        Action::JoinNamespace {
                            kind: kind.into(),
                            path,
                        },
                    );
                }
            }
        }
        if process.terminal().unwrap_or(false) {
            add("process.terminal".into(), Action::Console { dev_console: false });
        }
        add(
            "process.cwd".into(),
            Action::Chdir {
                path: process.cwd().clone(),
            },
        );
        scheduling_steps(process, &linux, &mut add)?;
        if let Some(step) = process_steps(process, linux.seccomp().as_ref(), &mut add)? {
            add("linux.seccomp".into(), step);
        }
        add("process.args".into(), exec_step(process));
        Ok(Plan::new(steps, process))
    }

    fn new(steps: Vec<Step>, process: &Process) -> Plan {
        let console_size = process
            .console_size()
            .as_ref()
            .map(|b| (b.height() as u16, b.width() as u16));
        Plan {
            steps,
            terminal: process.terminal().unwrap_or(false),
            console_size,
        }
    }

    pub fn steps(&self, side: Side) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(move |s| s.action.side() == side)
    }

    /// The clone flags for the namespaces the clone creates.
    pub fn clone_flags(&self) -> libc::c_int {
        self.steps(Side::Clone)
            .filter_map(|s| match &s.action {
                Action::CreateNamespace { kind, .. } => Some(crate::namespaces::flag(kind)),
                _ => None,
            })
            .fold(0, |a, b| a | b)
    }

    /// Whether `a` is one of the steps after which nothing but the exec follows (a seccomp
    /// The index of the step before which `create --pause-at` stops.
    pub fn pause_index(&self, phase: Phase) -> usize {
        let index = |f: &dyn Fn(&Action) -> bool| self.steps.iter().position(|s| f(&s.action));
        match phase {
            Phase::Namespaces => index(&|a| matches!(a, Action::RootPropagation { .. })),
            Phase::Mounts => index(&|a| matches!(a, Action::PivotRoot { .. })),
            Phase::Pivot => index(&|a| matches!(a, Action::PivotRoot { .. })).map(|i| i + 1),
            Phase::Identity => index(&|a| {
                matches!(
                    a,
                    Action::OomScoreAdj { .. }
                        | Action::Scheduler(_)
                        | Action::IoPriority(_)
                        | Action::Personality { .. }
                        | Action::MemoryPolicy(_)
                        | Action::Rlimit { .. }
                        | Action::LimitBoundingSet { .. }
                )
            }),
            // The steps that must follow `start` sit right before the exec: startContainer
            // hooks and a seccomp filter installed after no_new_privs.
            Phase::Exec => index(&|a| matches!(a, Action::Exec { .. })).map(|mut i| {
                while i > 0 && self.steps[i - 1].action.after_start() {
                    i -= 1;
                }
                i
            }),
        }
        .unwrap_or(self.steps.len() - 1)
    }

    /// The hooks run on `side` (poststart, poststop), which the state keeps for later commands.
    pub fn hooks(&self, side: Side) -> Vec<crate::hooks::Hook> {
        self.steps(side)
            .filter_map(|s| match &s.action {
                Action::Hook { hook, .. } => Some(hook.clone()),
                _ => None,
            })
            .collect()
    }

    /// The init runs in a user namespace, new or joined: it cannot reach host paths only root
    /// may (the state directory), so the runtime opens bind sources for it.
    pub fn in_user_namespace(&self) -> bool {
        self.steps.iter().any(|s| match &s.action {
            Action::CreateNamespace { kind, .. } | Action::JoinNamespace { kind, .. } => kind == "user",
            Action::CloneInside { .. } => true,
            _ => false,
        })
    }

    pub fn creates_namespace(&self, kind: &str) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(&s.action, Action::CreateNamespace { kind: k, .. } if k == kind))
    }
}

/// Where an idmapped mount gets its mappings: its own, or else the container's user namespace
/// (runtime-spec: "the runtime MAY use the container's user namespace mapping"). Mappings
/// equal to those of the container's new user namespace reuse it rather than make another.
fn idmap_userns(idmap: &mounts::Idmap, linux: &oci_spec::runtime::Linux) -> Result<IdmapUserns> {
    let userns = linux
        .namespaces()
        .iter()
        .flatten()
        .find(|n| n.typ() == LinuxNamespaceType::User);
    let maps = |m: &Option<Vec<LinuxIdMapping>>| m.iter().flatten().map(IdMap::from).collect::<Vec<_>>();
    let own = !idmap.uid.is_empty();
    Ok(match userns.map(|n| n.path()) {
        Some(None) if !own || (idmap.uid == maps(linux.uid_mappings()) && idmap.gid == maps(linux.gid_mappings())) => {
            IdmapUserns::Container
        }
        Some(Some(path)) if !own => IdmapUserns::Joined { path: path.clone() },
        _ if own => IdmapUserns::New {
            uid: idmap.uid.clone(),
            gid: idmap.gid.clone(),
        },
        _ => bail!("option idmap without uidMappings and gidMappings needs a user namespace in linux.namespaces"),
    })
}

/// linux.mountLabel, refused where SELinux is off as process.selinuxLabel is: the author
/// asked for labelled mounts, and crun's silence there would leave them unlabelled unseen.
fn mount_label(linux: &oci_spec::runtime::Linux) -> Result<Option<String>> {
    let Some(label) = linux.mount_label().as_ref().filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    if !Lsm::SELinux.enabled() {
        anyhow::bail!("linux.mountLabel: SELinux is not enabled on this host");
    }
    Ok(Some(label.clone()))
}

/// The process's LSM labels as steps. A label asked for on a host without its LSM would be a
/// silent hole: refused, naming the field.
fn label_steps(process: &Process, enabled: impl Fn(Lsm) -> bool, add: &mut dyn FnMut(String, Action)) -> Result<()> {
    for (field, value, lsm) in [
        ("process.apparmorProfile", process.apparmor_profile(), Lsm::AppArmor),
        ("process.selinuxLabel", process.selinux_label(), Lsm::SELinux),
    ] {
        let Some(label) = value.as_deref().filter(|l| !l.is_empty()) else {
            continue;
        };
        if !enabled(lsm) {
            anyhow::bail!("{field}: {lsm} is not enabled on this host");
        }
        add(
            field.into(),
            Action::ExecLabel {
                lsm,
                label: label.into(),
            },
        );
    }
    Ok(())
}

/// The cgroup step. Engines send device rules that deny everything; the devices every
/// container has (and linux.devices) are allowed after them, as runc does.
fn cgroup_step(linux: &oci_spec::runtime::Linux, systemd: bool) -> Action {
    let mut resources = linux.resources().clone().unwrap_or_default();
    let mut rules = resources.devices().clone().unwrap_or_default();
    rules.extend(crate::cgroups::default_device_rules());
    // A fifo needs no device cgroup rule.
    for d in linux
        .devices()
        .iter()
        .flatten()
        .filter(|d| matches!(d.typ(), LinuxDeviceType::C | LinuxDeviceType::U | LinuxDeviceType::B))
    {
        let mut rule = oci_spec::runtime::LinuxDeviceCgroup::default();
        rule.set_allow(true)
            .set_typ(Some(d.typ()))
            .set_major(Some(d.major()))
            .set_minor(Some(d.minor()))
            .set_access(Some("rwm".into()));
        rules.push(rule);
    }
    resources.set_devices(Some(rules));
    Action::Cgroup {
        path: linux.cgroups_path().as_ref().map(|p| p.to_string_lossy().into_owned()),
        resources: Box::new(resources),
        systemd,
    }
}

/// The scheduling steps (see Action::Scheduler), for `create` and `exec`.
fn scheduling_steps(
    process: &Process,
    linux: &oci_spec::runtime::Linux,
    add: &mut dyn FnMut(String, Action),
) -> Result<()> {
    use crate::process::{mempolicy::MemoryPolicy, personality, scheduling};
    if let Some(s) = process.scheduler() {
        add(
            "process.scheduler".into(),
            Action::Scheduler(scheduling::Scheduler::from_spec(s)?),
        );
    }
    if let Some(p) = process.io_priority() {
        add(
            "process.ioPriority".into(),
            Action::IoPriority(scheduling::IoPriority::from_spec(p)?),
        );
    }
    if let Some(p) = linux.personality() {
        let domain = personality::from_spec(p)?;
        add("linux.personality".into(), Action::Personality { domain });
    }
    if let Some(m) = linux.memory_policy() {
        add(
            "linux.memoryPolicy".into(),
            Action::MemoryPolicy(MemoryPolicy::from_spec(m)?),
        );
    }
    Ok(())
}

/// The steps that make the container's process what config.json's `process` says, last before
/// the exec: shared by `create` and `exec`.
/// Returns the seccomp step when it has to wait until just before the exec.
fn process_steps(
    process: &Process,
    seccomp: Option<&oci_spec::runtime::LinuxSeccomp>,
    add: &mut dyn FnMut(String, Action),
) -> Result<Option<Action>> {
    let step = seccomp.map(|s| Action::Seccomp {
        profile: Box::new(s.clone()),
    });
    let nnp = process.no_new_privileges().unwrap_or(false);
    for (i, r) in process.rlimits().iter().flatten().enumerate() {
        let kind = serde_json::to_value(r.typ())?.as_str().unwrap_or_default().to_string();
        add(
            format!("process.rlimits[{i}]"),
            Action::Rlimit {
                kind,
                soft: r.soft(),
                hard: r.hard(),
            },
        );
    }
    if let Some(step) = step.clone().filter(|_| !nnp) {
        add("linux.seccomp".into(), step);
    }
    let caps = process.capabilities().clone().unwrap_or_default();
    let names = |set: &Option<oci_spec::runtime::Capabilities>| {
        let mut v: Vec<String> = set.iter().flatten().map(|c| format!("CAP_{c}")).collect();
        v.sort();
        v
    };
    add(
        "process.capabilities.bounding".into(),
        Action::LimitBoundingSet {
            caps: names(caps.bounding()),
        },
    );
    label_steps(process, Lsm::enabled, add)?;
    let user = process.user();
    add(
        "process.user".into(),
        Action::Identity {
            uid: user.uid(),
            gid: user.gid(),
            additional_gids: user.additional_gids().clone().unwrap_or_default(),
            umask: user.umask(),
        },
    );
    let (permitted, inheritable) = (names(caps.permitted()), names(caps.inheritable()));
    let (ambient, ambient_not_raised) = ambient_split(&names(caps.ambient()), &permitted, &inheritable);
    add(
        "process.capabilities".into(),
        Action::SetCapabilities {
            effective: names(caps.effective()),
            permitted,
            inheritable,
            ambient,
            ambient_not_raised,
        },
    );
    if process.no_new_privileges().unwrap_or(false) {
        add("process.noNewPrivileges".into(), Action::NoNewPrivileges);
    }
    Ok(step.filter(|_| nnp))
}

fn exec_step(process: &Process) -> Action {
    Action::Exec {
        args: process.args().clone().unwrap_or_default(),
        env: exec_env(process),
    }
}

/// The environment the user's program gets (and a startContainer hook without `env`).
pub fn exec_env(process: &Process) -> Vec<String> {
    let mut env = process.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        // runc gives a process without HOME the home of its user, "/" when there is no passwd.
        env.push("HOME=/".into());
    }
    env
}

pub fn ns_name(t: LinuxNamespaceType) -> String {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
    .to_string()
}

/// /etc/hostname, /etc/hosts and /etc/resolv.conf, which a FROM-scratch image lacks and
/// name resolution in the container needs.
fn etc_files(spec: &Spec, new_netns: bool) -> Vec<(&'static str, String)> {
    let hostname = spec.hostname().clone().unwrap_or_default();
    let mut hosts = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    if !hostname.is_empty() {
        hosts.push_str(&format!("127.0.1.1\t{hostname}\n"));
    }
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    vec![
        ("hostname", format!("{hostname}\n")),
        ("hosts", hosts),
        ("resolv.conf", resolv_conf(&host_resolv, new_netns)),
    ]
}

/// The host's resolv.conf; a loopback nameserver (a local cache) is unreachable from a new
/// network namespace, so it is dropped there.
fn resolv_conf(host: &str, new_netns: bool) -> String {
    host.lines()
        .filter(|l| {
            let mut words = l.split_whitespace();
            !(new_netns
                && words.next() == Some("nameserver")
                && words
                    .next()
                    .and_then(|a| a.parse::<std::net::IpAddr>().ok())
                    .is_some_and(|a| a.is_loopback()))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsm_labels_become_steps_or_a_refusal() {
        let process: Process = serde_json::from_value(serde_json::json!({
            "cwd": "/", "user": {"uid": 0, "gid": 0},
            "apparmorProfile": "docker-default", "selinuxLabel": "system_u:system_r:container_t:s0"
        }))
        .unwrap();
        let mut steps = Vec::new();
        label_steps(&process, |_| true, &mut |origin, action| steps.push((origin, action))).unwrap();
        let described: Vec<_> = steps.iter().map(|(o, a)| format!("{o}: {}", a.describe())).collect();
        assert_eq!(
            described,
            [
                "process.apparmorProfile: label the program's exec with AppArmor \"docker-default\"",
                "process.selinuxLabel: label the program's exec with SELinux \"system_u:system_r:container_t:s0\""
            ]
        );
        let err = label_steps(&process, |l| l == Lsm::SELinux, &mut |_, _| {}).unwrap_err();
        assert_eq!(
            err.to_string(),
            "process.apparmorProfile: AppArmor is not enabled on this host"
        );
    }

    #[test]
    fn exec_attr_files() {
        assert_eq!(
            Lsm::AppArmor.exec_attr("p", true),
            ("thread-self/attr/apparmor/exec", "exec p".to_string())
        );
        assert_eq!(
            Lsm::AppArmor.exec_attr("p", false),
            ("thread-self/attr/exec", "exec p".to_string())
        );
        assert_eq!(
            Lsm::SELinux.exec_attr("l", true),
            ("thread-self/attr/exec", "l".to_string())
        );
    }

    #[test]
    fn only_permitted_and_inheritable_ambient_capabilities_are_raised() {
        let v = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let (raised, not_raised) = ambient_split(
            &v(&["CAP_A", "CAP_B", "CAP_C", "CAP_D"]),
            &v(&["CAP_A", "CAP_B"]),
            &v(&["CAP_A", "CAP_C"]),
        );
        assert_eq!(raised, ["CAP_A"]);
        let why: Vec<_> = not_raised.iter().map(|n| (n.capability.as_str(), n.why)).collect();
        assert_eq!(
            why,
            [
                ("CAP_B", "not in process.capabilities.inheritable"),
                ("CAP_C", "not in process.capabilities.permitted"),
                ("CAP_D", "in neither process.capabilities.permitted nor inheritable")
            ]
        );
    }

    #[test]
    fn loopback_nameservers_dropped_only_in_new_netns() {
        let host = "search example\nnameserver 127.0.0.53\nnameserver 10.0.0.1\nnameserver ::1\n";
        assert_eq!(resolv_conf(host, true), "search example\nnameserver 10.0.0.1\n");
        assert_eq!(resolv_conf(host, false), host);
    }
}
