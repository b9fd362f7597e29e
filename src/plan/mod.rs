//! From config.json to an ordered list of typed steps. The plan is data: the runtime and the
//! container's init execute it, `--debug` times each step, and nothing here touches the system
//! except reading the host files the plan depends on (bind sources, /etc/resolv.conf).

use crate::devices::{self, DeviceNode};
use crate::rootfs::mounts;
use crate::spec::Bundle;
use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxDeviceType, LinuxIdMapping, LinuxNamespaceType, Process, Spec};
use serde::Serialize;
use std::path::{Path, PathBuf};

mod action;
mod etc;
mod process;

pub use action::*;
use etc::etc_files;
pub use process::exec_env;
use process::{exec_step, process_steps, scheduling_steps};

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Where each phase begins, set by the builder as it goes (see `Phases`).
    #[serde(skip)]
    pub phases: Phases,
    /// Whether the container's stdio is a pty scrun makes (process.terminal).
    pub terminal: bool,
    /// process.consoleSize as (rows, columns).
    pub console_size: Option<(u16, u16)>,
}

/// Where `create --pause-at` stops the container's setup.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Namespaces made; nothing mounted yet
    Namespaces,
    /// Mounts and /dev made in the rootfs; before pivot_root
    Mounts,
    /// Inside the rootfs; before masked and read-only paths
    Pivot,
    /// Root filesystem finished; still root with every capability
    Identity,
    /// Everything done but the exec (what create always does)
    Exec,
}

/// Where each `Phase` begins: the number of steps planned before it. The builder marks every
/// phase in every plan, whatever the namespaces, so that a pause never depends on finding a
/// step that a configuration may not have.
#[derive(Debug, Clone, Copy, Default)]
pub struct Phases([usize; 5]);

impl Phases {
    fn mark(&mut self, phase: Phase, at: usize) {
        self.0[phase as usize] = at;
    }

    /// The index of the first step of `phase`.
    pub fn start(&self, phase: Phase) -> usize {
        self.0[phase as usize]
    }
}

/// One thing the runtime does, and the config field (or the spec section) that asked for it.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub origin: String,
    #[serde(flatten)]
    pub action: Action,
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
        let mut b = Builder::default();

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
                    b.add(ns_origin(*i), Action::CloneInside { path: path.clone() })
                }
                Some(path) => b.add(
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
                    b.add(ns_origin(*i), Action::CreateNamespace { kind, by })
                }
            }
        }
        let mut offsets: Vec<_> = linux.time_offsets().iter().flatten().collect();
        offsets.sort_by(|a, b| a.0.cmp(b.0));
        for (clock, offset) in offsets {
            b.add(
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
            b.add(
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
            b.add(
                format!("linux.netDevices[{device:?}]"),
                Action::MoveNetDevice {
                    device: device.clone(),
                    name: d.name().clone().unwrap_or_else(|| device.clone()),
                    netns: netns.and_then(|n| n.path().clone()),
                },
            );
        }
        b.add(
            "linux.cgroupsPath, linux.resources".into(),
            cgroup_step(&linux, opts.systemd_cgroup),
        );
        let hooks = crate::hooks::by_kind(spec);
        let add_hooks = |b: &mut Builder, kinds: &[&str]| {
            for (kind, list) in hooks.iter().filter(|(k, _)| kinds.contains(k)) {
                for (i, hook) in list.iter().enumerate() {
                    b.add(
                        format!("hooks.{kind}[{i}]"),
                        Action::Hook {
                            kind: kind.to_string(),
                            hook: hook.clone(),
                        },
                    );
                }
            }
        };
        add_hooks(&mut b, &["prestart", "createRuntime"]);
        if let Some(name) = spec.hostname().clone().filter(|h| !h.is_empty()) {
            b.add("hostname".into(), Action::SetHostname { name });
        }
        if let Some(name) = spec.domainname().clone().filter(|h| !h.is_empty()) {
            b.add("domainname".into(), Action::SetDomainname { name });
        }
        if new_ns(LinuxNamespaceType::Network) {
            b.add("runtime: a new network namespace gets lo up".into(), Action::LoopbackUp);
        }

        // Without a mount namespace of its own, anything mounted would land in the caller's: the
        // container then only gets chroot into its rootfs, as with runc.
        let own_mount_ns = namespaces.iter().any(|n| n.typ() == LinuxNamespaceType::Mount);
        b.mark(Phase::Namespaces);
        if !own_mount_ns {
            add_hooks(&mut b, &["createContainer"]);
            // Nothing to mount: the rootfs is entered where pivot_root would be.
            b.mark(Phase::Mounts);
            b.add(
                "root.path".into(),
                Action::Chroot {
                    path: bundle.rootfs.clone(),
                },
            );
            b.mark(Phase::Pivot);
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
            b.add(origin.into(), Action::RootPropagation { flags: flags.into() });
            if !matches!(flags, "rslave" | "rprivate") {
                b.add(
                    origin.into(),
                    Action::RootfsParentPropagation {
                        path: bundle.rootfs.clone(),
                        flags: if flags == "slave" { "slave" } else { "private" }.into(),
                    },
                );
            }
            b.add(
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
                    b.add(
                        format!("mounts[{i}]"),
                        Action::IdmapMount {
                            source: step.source.clone(),
                            recursive: idmap.recursive,
                            userns: idmap_userns(idmap, &linux).with_context(|| format!("mounts[{i}]"))?,
                        },
                    );
                }
                b.add(format!("mounts[{i}]"), Action::Mount(step));
            }
            let mounted = |dest: &str| config_mounts.iter().any(|m| m.destination() == Path::new(dest));

            for (name, content) in etc_files(spec, new_ns(LinuxNamespaceType::Network)) {
                let dest = PathBuf::from("/etc").join(name);
                if mounted(dest.to_str().unwrap_or_default()) {
                    continue;
                }
                let path = opts.state_dir.join(name);
                b.add(
                    SPEC_ETC.into(),
                    Action::WriteFile {
                        path: path.clone(),
                        content,
                    },
                );
                b.add(SPEC_ETC.into(), Action::MakeMountpoint { path: dest.clone() });
                b.add(SPEC_ETC.into(), Action::Mount(mounts::generated_file(&path, &dest)));
            }
            b.add(
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
                    b.add(SPEC_DEV.into(), Action::MakeDevice(node));
                }
                for (link, target) in devices::symlinks() {
                    b.add(SPEC_DEV.into(), Action::Symlink { link, target });
                }
            }
            for (i, d) in linux.devices().iter().flatten().enumerate() {
                let node = DeviceNode::from_spec(d).with_context(|| format!("linux.devices[{i}]"))?;
                b.add(format!("linux.devices[{i}]"), Action::MakeDevice(node));
            }

            add_hooks(&mut b, &["createContainer"]);
            b.mark(Phase::Mounts);
            b.add(
                "root.path".into(),
                Action::PivotRoot {
                    no_pivot: opts.no_pivot,
                },
            );
            b.mark(Phase::Pivot);
            // The container's own "/" (and its submounts, for an "r" flag) shared or unbindable,
            // as runc does after pivot_root; a private or slave one is already so, and doing it
            // again would undo the mounts' own "rshared".
            if let Some(flags) = root_flags.filter(|f| !f.contains("private") && !f.contains("slave")) {
                b.add("linux.rootfsPropagation".into(), Action::RootPropagation { flags });
            }
        }
        let terminal = process.terminal().unwrap_or(false);
        if terminal {
            b.add(
                "process.terminal".into(),
                Action::Console {
                    dev_console: own_mount_ns,
                },
            );
        }
        // Created if missing (as runc does), so before the root turns read-only and while the
        // init is still root.
        b.add(
            "process.cwd".into(),
            Action::Chdir {
                path: process.cwd().clone(),
            },
        );
        let mut sysctls: Vec<_> = linux.sysctl().clone().unwrap_or_default().into_iter().collect();
        sysctls.sort();
        for (key, value) in sysctls {
            b.add(format!("linux.sysctl[{key:?}]"), Action::Sysctl { key, value });
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
            b.add(
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
            b.add(format!("linux.maskedPaths[{i}]"), Action::MaskPath { path: p.into() });
        }
        let readonly = spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false);
        if readonly && !own_mount_ns {
            anyhow::bail!("root.readonly: a read-only root needs a mount namespace in linux.namespaces");
        }
        if readonly {
            b.add("root.readonly".into(), Action::ReadonlyRoot);
        }
        b.mark(Phase::Identity);

        if let Some(value) = process.oom_score_adj() {
            b.add("process.oomScoreAdj".into(), Action::OomScoreAdj { value });
        }
        // Not for the init (runtime-spec), but for each exec: a bad list fails `create`.
        crate::process::scheduling::exec_affinity(process.exec_cpu_affinity().as_ref())?;
        scheduling_steps(&process, &linux, &mut |o, a| b.add(o, a))?;
        let late_seccomp = process_steps(&process, linux.seccomp().as_ref(), &mut |o, a| b.add(o, a))?;
        b.finish_process(late_seccomp, |b| add_hooks(b, &["startContainer"]), &process);
        add_hooks(&mut b, &["poststart", "poststop"]);
        Ok(b.finish(&process))
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
        let mut b = Builder::default();
        let affinity = crate::process::scheduling::exec_affinity(process.exec_cpu_affinity().as_ref())?;
        let add_affinity = |b: &mut Builder, when| {
            for (stage, cpus, field) in affinity.iter().filter(|(stage, _, _)| *stage == when) {
                b.add(
                    field.to_string(),
                    Action::CpuAffinity {
                        stage: *stage,
                        cpus: cpus.clone(),
                    },
                );
            }
        };
        add_affinity(&mut b, crate::process::scheduling::Stage::Initial);
        if let Some(cgroup) = cgroup {
            b.add(
                "the container's cgroup".into(),
                Action::EnterCgroup { cgroup: cgroup.clone() },
            );
        }
        add_affinity(&mut b, crate::process::scheduling::Stage::Final);
        for kind in ["user", "cgroup", "ipc", "uts", "network", "pid", "time", "mount"] {
            let file = crate::namespaces::file(kind);
            let theirs = std::fs::metadata(format!("/proc/{pid}/ns/{file}"));
            let ours = std::fs::metadata(format!("/proc/self/ns/{file}"));
            use std::os::unix::fs::MetadataExt;
            if let (Ok(t), Ok(o)) = (theirs, ours) {
                if t.ino() != o.ino() {
                    let path = PathBuf::from(format!("/proc/{pid}/ns/{file}"));
                    b.add(
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
            b.add("process.terminal".into(), Action::Console { dev_console: false });
        }
        b.add(
            "process.cwd".into(),
            Action::Chdir {
                path: process.cwd().clone(),
            },
        );
        scheduling_steps(process, &linux, &mut |o, a| b.add(o, a))?;
        let late_seccomp = process_steps(process, linux.seccomp().as_ref(), &mut |o, a| b.add(o, a))?;
        b.finish_process(late_seccomp, |_| {}, process);
        Ok(b.finish(process))
    }
}

/// The plan as it is built: the steps so far and where each phase begins.
#[derive(Default)]
struct Builder {
    steps: Vec<Step>,
    phases: Phases,
}

impl Builder {
    fn add(&mut self, origin: String, action: Action) {
        self.steps.push(Step { origin, action });
    }

    /// The next step begins `phase`.
    fn mark(&mut self, phase: Phase) {
        self.phases.mark(phase, self.steps.len());
    }

    /// The last steps before the exec, those that wait for `start`: the startContainer hooks
    /// and a seccomp filter installed after no_new_privs (`late_seccomp`), then the exec. A
    /// filter with a notify listener is the exception: the listener goes to the agent through
    /// the runtime, which is there only until `create` returns (runc does the same), so it is
    /// installed before the pause, and the hooks then run under it.
    fn finish_process(&mut self, late_seccomp: Option<Action>, hooks: impl FnOnce(&mut Self), process: &Process) {
        match late_seccomp {
            Some(Action::Seccomp { profile }) if profile.listener_path().is_some() => {
                hooks(self);
                self.add("linux.seccomp".into(), Action::Seccomp { profile });
                self.mark(Phase::Exec);
            }
            seccomp => {
                self.mark(Phase::Exec);
                hooks(self);
                if let Some(step) = seccomp {
                    self.add("linux.seccomp".into(), step);
                }
            }
        }
        self.add("process.args".into(), exec_step(process));
    }

    fn finish(self, process: &Process) -> Plan {
        let console_size = process
            .console_size()
            .as_ref()
            .map(|b| (b.height() as u16, b.width() as u16));
        Plan {
            steps: self.steps,
            phases: self.phases,
            terminal: process.terminal().unwrap_or(false),
            console_size,
        }
    }
}

impl Plan {
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
