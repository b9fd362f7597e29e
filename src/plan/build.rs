//! The plan builder: config.json (or `exec`'s process) to the ordered list of steps, in the
//! order each process carries its own out.

use super::builder::{Builder, Create, Exec};
use super::etc::etc_files;
use super::*;
use crate::process::scheduling::Stage;
use crate::rootfs::dev::{nodes, nodes::DeviceNode, symlinks};
use crate::rootfs::mounts::{self, MountStep};
use crate::spec::Bundle;
use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxDeviceType, LinuxIdMapping, LinuxNamespaceType, Process, Spec};
use std::path::{Path, PathBuf};

const SPEC_DEV: &str = "runtime: libcontainer SPEC, /dev";
const SPEC_ETC: &str = "runtime: scrun, files a container expects in /etc";

impl Plan {
    pub fn build(bundle: &Bundle, opts: &Options) -> Result<Plan> {
        let spec = &bundle.spec;
        let linux = spec.linux().clone().unwrap_or_default();
        let process = spec.process().clone().context("process is missing")?;
        let mount_label = mount_label(&linux)?;
        let mut b = Builder::<Create>::new(opts.rootless);

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
        let in_userns = namespaces.iter().any(|n| n.typ() == LinuxNamespaceType::User);
        let inside = namespaces
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_some());
        // The init's own namespace steps, which follow its prologue.
        let mut init_ns = Vec::new();
        for (i, ns) in &indexed {
            let kind = ns_name(ns.typ());
            match (ns.path(), ns.typ()) {
                (Some(path), LinuxNamespaceType::User) => {
                    b.add(ns_origin(*i), CloneStep::CloneInside { path: path.clone() })
                }
                (Some(path), _) => init_ns.extend(
                    b.join(ns_origin(*i), kind, path.clone(), inside)
                        .map(|(origin, step)| (origin, InitStep::Process(step))),
                ),
                (None, LinuxNamespaceType::Time) if opts.rootless && crate::rootless::unprivileged() => bail!(
                    "{}: a time namespace is made before the clone, which needs CAP_SYS_ADMIN on the host",
                    ns_origin(*i)
                ),
                (None, LinuxNamespaceType::Time) => b.add(
                    ns_origin(*i),
                    RuntimeStep::CreateNamespace {
                        kind,
                        by: Maker::Runtime,
                    },
                ),
                (None, LinuxNamespaceType::Cgroup) => {
                    init_ns.push((ns_origin(*i), InitStep::CreateNamespace { kind, by: Maker::Init }))
                }
                (None, _) => b.add(ns_origin(*i), CloneStep::CreateNamespace { kind, by: Maker::Clone }),
            }
        }
        let mut offsets: Vec<_> = linux.time_offsets().iter().flatten().collect();
        offsets.sort_by(|a, b| a.0.cmp(b.0));
        for (clock, offset) in offsets {
            b.add(
                format!("linux.timeOffsets.{clock}"),
                RuntimeStep::TimeOffset {
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
                AfterCloneStep::IdMappings {
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
                AfterCloneStep::MoveNetDevice {
                    device: device.clone(),
                    name: d.name().clone().unwrap_or_else(|| device.clone()),
                    netns: netns.and_then(|n| n.path().clone()),
                },
            );
        }
        if let Some(step) = crate::rootless::cgroup_step(cgroup_step(&linux, opts.systemd_cgroup), opts.rootless)? {
            let into = matches!(step, PlaceStep::Cgroup { systemd: false, .. })
                && !inside
                && !opts.rootless
                && crate::cgroups::host().v2.is_some();
            b.add("linux.cgroupsPath, linux.resources".into(), step);
            if into {
                b.add("linux.cgroupsPath".into(), CloneStep::IntoCgroup);
            }
        }
        let hooks = crate::hooks::by_kind(spec);
        let add_hooks = |b: &mut Builder<Create>, kinds: &[&str]| {
            for (kind, list) in hooks.iter().filter(|(k, _)| kinds.contains(k)) {
                for (i, hook) in list.iter().enumerate() {
                    b.add(format!("hooks.{kind}[{i}]"), hook_step(kind, hook.clone()));
                }
            }
        };
        add_hooks(&mut b, &["prestart", "createRuntime"]);
        b.prologue(in_userns, opts.rootless && new_ns(LinuxNamespaceType::User));
        for (origin, step) in init_ns {
            b.add(origin, step);
        }
        if let Some(name) = spec.hostname().clone().filter(|h| !h.is_empty()) {
            b.add("hostname".into(), InitStep::SetHostname { name });
        }
        if let Some(name) = spec.domainname().clone().filter(|h| !h.is_empty()) {
            b.add("domainname".into(), InitStep::SetDomainname { name });
        }
        if new_ns(LinuxNamespaceType::Network) {
            b.add(
                "runtime: a new network namespace gets lo up".into(),
                InitStep::LoopbackUp,
            );
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
                InitStep::Chroot {
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
            b.add(origin.into(), InitStep::RootPropagation { flags: flags.into() });
            if !matches!(flags, "rslave" | "rprivate") {
                b.add(
                    origin.into(),
                    InitStep::RootfsParentPropagation {
                        path: bundle.rootfs.clone(),
                        flags: if flags == "slave" { "slave" } else { "private" }.into(),
                    },
                );
            }
            b.add(
                "root.path".into(),
                InitStep::BindRootfs {
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
                if step.idmap.is_some() && opts.rootless {
                    bail!("mounts[{i}]: an idmapped mount needs CAP_SYS_ADMIN on the host, which a rootless runtime lacks");
                }
                if let Some(label) = &mount_label {
                    mounts::set_mount_label(&mut step, label);
                }
                let source = b.open_source(format!("mounts[{i}].source"), &step, in_userns);
                if let (Some(idmap), Some(tree)) = (&step.idmap, source) {
                    b.add(
                        format!("mounts[{i}]"),
                        AfterCloneStep::IdmapMount {
                            tree,
                            source: step.source.clone(),
                            recursive: idmap.recursive,
                            userns: idmap_userns(idmap, &linux).with_context(|| format!("mounts[{i}]"))?,
                        },
                    );
                }
                let cgroup = (step.fstype == "cgroup").then(|| Box::new(step.clone()));
                b.add(
                    format!("mounts[{i}]"),
                    InitStep::Mount {
                        mount: Box::new(step),
                        source,
                        generated: false,
                    },
                );
                if let Some(mount) = cgroup {
                    cgroup_hierarchies(&mut b, format!("mounts[{i}]"), mount);
                }
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
                    RuntimeStep::WriteFile {
                        path: path.clone(),
                        content,
                    },
                );
                b.add(SPEC_ETC.into(), RuntimeStep::MakeMountpoint { path: dest.clone() });
                let mount = mounts::generated_file(&path, &dest);
                let source = b.open_source(SPEC_ETC.into(), &mount, in_userns);
                b.add(
                    SPEC_ETC.into(),
                    InitStep::Mount {
                        mount: Box::new(mount),
                        source,
                        generated: true,
                    },
                );
            }
            b.add(
                SPEC_ETC.into(),
                RuntimeStep::Symlink {
                    link: "/etc/mtab".into(),
                    target: "/proc/mounts".into(),
                },
            );

            let dev_bound = config_mounts.iter().any(|m| {
                m.destination() == Path::new("/dev")
                    && m.options().iter().flatten().any(|o| o == "bind" || o == "rbind")
            });
            if !dev_bound {
                for node in nodes::defaults() {
                    b.add(SPEC_DEV.into(), device_step(node, in_userns || opts.rootless));
                }
                for (link, target) in symlinks::defaults() {
                    b.add(SPEC_DEV.into(), InitStep::Symlink { link, target });
                }
            }
            for (i, d) in linux.devices().iter().flatten().enumerate() {
                let node = DeviceNode::from_spec(d).with_context(|| format!("linux.devices[{i}]"))?;
                b.add(
                    format!("linux.devices[{i}]"),
                    device_step(node, in_userns || opts.rootless),
                );
            }

            add_hooks(&mut b, &["createContainer"]);
            b.mark(Phase::Mounts);
            b.add(
                "root.path".into(),
                InitStep::PivotRoot {
                    no_pivot: opts.no_pivot,
                },
            );
            b.mark(Phase::Pivot);
            // The container's own "/" (and its submounts, for an "r" flag) shared or unbindable,
            // as runc does after pivot_root; a private or slave one is already so, and doing it
            // again would undo the mounts' own "rshared".
            if let Some(flags) = root_flags.filter(|f| !f.contains("private") && !f.contains("slave")) {
                b.add("linux.rootfsPropagation".into(), InitStep::RootPropagation { flags });
            }
        }
        let terminal = process.terminal().unwrap_or(false);
        if terminal {
            b.add_process(
                "process.terminal".into(),
                ProcessStep::Console {
                    dev_console: own_mount_ns,
                },
            );
        }
        // Created if missing (as runc does), so before the root turns read-only and while the
        // init is still root.
        b.add_process(
            "process.cwd".into(),
            ProcessStep::Chdir {
                path: process.cwd().clone(),
            },
        );
        let mut sysctls: Vec<_> = linux.sysctl().clone().unwrap_or_default().into_iter().collect();
        sysctls.sort();
        for (key, value) in sysctls {
            b.add(format!("linux.sysctl[{key:?}]"), InitStep::Sysctl { key, value });
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
                InitStep::ReadonlyPath { path: p.into() },
            );
        }
        for (i, p) in linux
            .masked_paths()
            .iter()
            .flatten()
            .filter(|_| own_mount_ns)
            .enumerate()
        {
            b.add(format!("linux.maskedPaths[{i}]"), InitStep::MaskPath { path: p.into() });
        }
        let readonly = spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false);
        if readonly && !own_mount_ns {
            anyhow::bail!("root.readonly: a read-only root needs a mount namespace in linux.namespaces");
        }
        if readonly {
            b.add("root.readonly".into(), InitStep::ReadonlyRoot);
        }
        b.mark(Phase::Identity);

        if let Some(value) = process.oom_score_adj() {
            b.add("process.oomScoreAdj".into(), InitStep::OomScoreAdj { value });
        }
        // Not for the init (runtime-spec), but for each exec: a bad list fails `create`.
        crate::process::scheduling::exec_affinity(process.exec_cpu_affinity().as_ref())?;
        b.process_tail(&process, &linux, |b| add_hooks(b, &["startContainer"]))?;
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
        let rootless = crate::rootless::active();
        let mut b = Builder::<Exec>::new(rootless);
        let affinity = crate::process::scheduling::exec_affinity(process.exec_cpu_affinity().as_ref())?;
        let add_affinity = |b: &mut Builder<Exec>, when| {
            for (stage, cpus, field) in affinity.iter().filter(|(stage, _, _)| *stage == when) {
                let (stage, cpus) = (*stage, cpus.clone());
                match stage {
                    Stage::Initial => b.add(field.to_string(), AfterCloneStep::CpuAffinity { stage, cpus }),
                    Stage::Final => b.add(field.to_string(), PlaceStep::CpuAffinity { stage, cpus }),
                }
            }
        };
        add_affinity(&mut b, Stage::Initial);
        if let Some(cgroup) = cgroup {
            b.add(
                "the container's cgroup".into(),
                PlaceStep::EnterCgroup { cgroup: cgroup.clone() },
            );
            if cgroup.v2.is_some() && !rootless {
                b.add("the container's cgroup".into(), CloneStep::IntoCgroup);
            }
        }
        add_affinity(&mut b, Stage::Final);
        let differs = |kind: &str| {
            use std::os::unix::fs::MetadataExt;
            let file = crate::namespaces::file(kind);
            let theirs = std::fs::metadata(format!("/proc/{pid}/ns/{file}"));
            let ours = std::fs::metadata(format!("/proc/self/ns/{file}"));
            matches!((theirs, ours), (Ok(t), Ok(o)) if t.ino() != o.ino())
        };
        // Rootless, only setns from inside the container's user namespace may enter the
        // namespaces it owns, and entering a pid namespace takes CAP_SYS_ADMIN where the
        // runtime's own was made (to come back): the init is cloned inside the container's user
        // namespace (or the runtime's own) by a helper that joins the pid namespace.
        let inside = rootless && (differs("user") || differs("pid"));
        if inside {
            let path = match differs("user") {
                true => format!("/proc/{pid}/ns/user"),
                false => "/proc/self/ns/user".into(),
            };
            b.add(
                "the container's user namespace (rootless: cloned inside)".into(),
                CloneStep::CloneInside { path: path.into() },
            );
        }
        let mut init_ns = Vec::new();
        for kind in ["user", "cgroup", "ipc", "uts", "network", "pid", "time", "mount"] {
            if differs(kind) && !(inside && kind == "user") {
                let path = PathBuf::from(format!("/proc/{pid}/ns/{}", crate::namespaces::file(kind)));
                init_ns.extend(b.join(format!("the container's {kind} namespace"), kind.into(), path, inside));
            }
        }
        b.prologue(inside, false);
        for (origin, step) in init_ns {
            b.add_process(origin, step);
        }
        if process.terminal().unwrap_or(false) {
            b.add_process("process.terminal".into(), ProcessStep::Console { dev_console: false });
        }
        b.add_process(
            "process.cwd".into(),
            ProcessStep::Chdir {
                path: process.cwd().clone(),
            },
        );
        b.process_tail(process, &linux, |_| {})?;
        Ok(b.finish(process))
    }
}

/// A hook of config.json as the step of the process that runs it.
fn hook_step(kind: &str, hook: crate::hooks::Hook) -> Action {
    let kind = kind.to_string();
    match kind.as_str() {
        "prestart" | "createRuntime" => AfterCloneStep::Hook { kind, hook }.into(),
        "poststart" => Action::AfterStart(LaterStep::Hook { kind, hook }),
        "poststop" => Action::AfterDelete(LaterStep::Hook { kind, hook }),
        _ => InitStep::Hook { kind, hook }.into(),
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

/// A device node, or where mknod is not allowed (in a user namespace, or a rootless runtime's)
/// the host's node bound there.
fn device_step(node: DeviceNode, bind: bool) -> InitStep {
    if bind {
        InitStep::BindDevice(node)
    } else {
        InitStep::MakeDevice(node)
    }
}

/// The hierarchies a `cgroup` mount holds, each a step, and the read-only remount after them.
fn cgroup_hierarchies(b: &mut Builder<Create>, origin: String, mount: Box<MountStep>) {
    let Some(names) = crate::rootfs::cgroupfs::hierarchy_names() else {
        return; // cgroup2 itself, mounted by the Mount step
    };
    for name in names {
        let mount = mount.clone();
        b.add(origin.clone(), InitStep::CgroupHierarchy { name, mount });
    }
    if mount.flags & libc::MS_RDONLY != 0 {
        b.add(origin, InitStep::CgroupReadonly { mount });
    }
}

/// The cgroup step. Engines send device rules that deny everything; the devices every
/// container has (and linux.devices) are allowed after them, as runc does.
fn cgroup_step(linux: &oci_spec::runtime::Linux, systemd: bool) -> PlaceStep {
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
    PlaceStep::Cgroup {
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
