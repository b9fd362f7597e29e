//! The typed steps a plan is made of, who carries each out, and how each is described.

use crate::devices::DeviceNode;
use crate::rootfs::mounts::MountStep;
use oci_spec::runtime::LinuxIdMapping;
use serde::Serialize;
use std::path::{Path, PathBuf};

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
pub(super) fn ambient_split(
    ambient: &[String],
    permitted: &[String],
    inheritable: &[String],
) -> (Vec<String>, Vec<NotRaised>) {
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
    pub(super) fn enabled(self) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
