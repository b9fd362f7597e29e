//! `scrun explain`: the plan `create` would carry out for a bundle, step by step, each with the
//! config field (or spec section) that asked for it, and what the instance adds to the image.
//! It prints the very plan the runtime executes, so the explanation cannot drift from it.

use crate::cli::{ExplainArgs, TextOrJson};
use crate::plan::{
    Action, Added, AddedKind, AfterCloneStep, IdMap, IdmapUserns, InitStep, LaterStep, Options, Plan, ProcessStep,
    RuntimeStep, Step,
};
use crate::rootfs::resolve::{open_in_root, Create};
use crate::spec::Bundle;
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeSet;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// The format of `explain --format json`. 2: the init's prologue, the runtime's opening of
/// namespaces and bind sources, seccomp compilation, each hierarchy of a cgroup mount and the
/// program lookup are steps; the init's namespace steps follow its prologue.
const VERSION: u32 = 2;

#[derive(Serialize)]
pub struct Explanation<'a> {
    pub version: u32,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub steps: Vec<Explained<'a>>,
    pub exec: Program,
    /// The files of the rootfs on disk.
    pub image: Vec<PathBuf>,
    pub instance: Instance,
}

#[derive(Serialize)]
pub struct Explained<'a> {
    #[serde(flatten)]
    pub step: &'a Step,
    pub side: &'static str,
    pub describe: String,
    /// Directories or files this step makes for its mount point, and where.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub creates: Vec<String>,
    /// What the step adds to the instance (the same `create` saves for `inspect`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub adds: Vec<Added>,
}

/// args[0] as the container will find it, or why it cannot run.
#[derive(Serialize)]
pub struct Program {
    pub path: Option<String>,
    pub error: Option<String>,
}

/// What the running container sees that the image does not hold.
#[derive(Serialize, Default)]
pub struct Instance {
    pub mounts: BTreeSet<PathBuf>,
    pub devices: BTreeSet<PathBuf>,
    pub symlinks: BTreeSet<PathBuf>,
    pub files: BTreeSet<PathBuf>,
    /// Mount points scrun makes in the image's own directories.
    pub created_in_image: BTreeSet<PathBuf>,
}

pub fn explain(global: &crate::cli::GlobalOpts, args: &ExplainArgs) -> Result<()> {
    let dir = args
        .dir
        .clone()
        .or_else(|| args.bundle.clone())
        .unwrap_or_else(|| ".".into());
    if args.trace.is_some() && args.format != TextOrJson::Html {
        anyhow::bail!("--trace: only with --format html");
    }
    let bundle = Bundle::load(&dir)?;
    let state_dir = Path::new("/run/scrun/ID");
    let plan = Plan::build(
        &bundle,
        &Options {
            state_dir,
            no_pivot: false,
            systemd_cgroup: global.systemd_cgroup,
            rootless: crate::rootless::active(),
        },
    )?;
    crate::rootless::check(&plan, Some(&bundle))?;
    let explanation = Explanation::new(&bundle, &plan)?;
    match args.format {
        TextOrJson::Json => println!("{}", serde_json::to_string_pretty(&explanation)?),
        TextOrJson::Text => print!("{}", explanation.text()),
        TextOrJson::Html => {
            let trace = args.trace.as_deref().map(crate::html::trace::read).transpose()?;
            print!(
                "{}",
                crate::html::explain::render(&serde_json::to_value(&explanation)?, trace.as_deref())
            );
        }
    }
    Ok(())
}

impl<'a> Explanation<'a> {
    pub fn new(bundle: &'a Bundle, plan: &'a Plan) -> Result<Explanation<'a>> {
        let root: OwnedFd = std::fs::File::open(&bundle.rootfs)?.into();
        let mut instance = Instance::default();
        let mut made = Made::default();
        let mut steps = Vec::new();
        for step in &plan.steps {
            let mut creates = Vec::new();
            let adds = step.action.adds();
            for a in &adds {
                let path = &a.path;
                match a.kind {
                    AddedKind::Mount => {
                        mount_point(&root, path, &mut made, &mut creates, &mut instance);
                        instance.mounts.insert(path.clone());
                    }
                    AddedKind::Masked | AddedKind::ReadOnly if exists_in_container(&root, path) => {
                        instance.mounts.insert(path.clone());
                    }
                    AddedKind::Masked | AddedKind::ReadOnly => {}
                    AddedKind::Device => {
                        instance.devices.insert(path.clone());
                    }
                    // An existing entry is kept (runc's rule), so only a new one is added.
                    AddedKind::Symlink if !missing(&root, path).is_empty() => {
                        instance.symlinks.insert(path.clone());
                    }
                    AddedKind::Symlink => {}
                    AddedKind::File => {
                        instance.files.insert(path.clone());
                    }
                    AddedKind::MountPoint => instance.created_in_image.extend(missing(&root, path)),
                }
            }
            let side = step.action.side();
            steps.push(Explained {
                step,
                side,
                describe: step.action.describe(),
                creates,
                adds,
            });
        }
        Ok(Explanation {
            version: VERSION,
            bundle: &bundle.dir,
            rootfs: &bundle.rootfs,
            steps,
            exec: match resolve_exec(bundle, plan) {
                Ok(path) => Program {
                    path: Some(path),
                    error: None,
                },
                Err(why) => Program {
                    path: None,
                    error: Some(why),
                },
            },
            image: image_files(&bundle.rootfs),
            instance,
        })
    }

    pub fn text(&self) -> String {
        let mut out = format!("bundle {}\nrootfs {}\n\n", self.bundle.display(), self.rootfs.display());
        out += &format!("{:>3}  {:<7}  {:<52}  asked for by\n", "#", "who", "step");
        for (i, e) in self.steps.iter().enumerate() {
            out += &format!("{:>3}  {:<7}  {:<52}  {}\n", i + 1, e.side, e.describe, e.step.origin);
            for line in details(&e.step.action)
                .into_iter()
                .chain(e.creates.iter().map(|c| format!("creates {c}")))
            {
                out += &format!("{:>14}{line}\n", "");
            }
        }
        out += &match (&self.exec.path, &self.exec.error) {
            (Some(path), _) => format!("\nthe program: {path}\n"),
            (_, why) => format!("\nthe program cannot run: {}\n", why.as_deref().unwrap_or("")),
        };
        let list = |set: &mut dyn Iterator<Item = &PathBuf>| {
            set.map(|p| p.display().to_string()).collect::<Vec<_>>().join(" ")
        };
        out += "\nimage vs instance\n";
        out += &format!("  the image holds:       {}\n", list(&mut self.image.iter()));
        out += "  the instance adds:\n";
        out += &format!("    mounts:              {}\n", list(&mut self.instance.mounts.iter()));
        out += &format!("    devices:             {}\n", list(&mut self.instance.devices.iter()));
        out += &format!(
            "    symlinks:            {}\n",
            list(&mut self.instance.symlinks.iter())
        );
        out += &format!("    generated files:     {}\n", list(&mut self.instance.files.iter()));
        out += &format!(
            "    made in the image:   {}\n",
            list(&mut self.instance.created_in_image.iter())
        );
        out
    }
}

fn join(v: &[String]) -> String {
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(",")
    }
}

/// The lines under a step that say exactly what it will do.
fn details(action: &Action) -> Vec<String> {
    if let Some(step) = action.process() {
        return process_details(step);
    }
    match action {
        Action::Init(InitStep::Mount { mount: m, .. }) => vec![format!(
            "source {}, type {}, options {}",
            m.source,
            m.fstype,
            join(&m.options)
        )],
        Action::Runtime(RuntimeStep::WriteFile { content, .. }) => content.lines().map(|l| format!("| {l}")).collect(),
        Action::Init(InitStep::MakeDevice(d) | InitStep::BindDevice(d)) => vec![format!(
            "{} {}:{}, mode {:04o}, owner {}:{}",
            d.kind, d.major, d.minor, d.mode, d.uid, d.gid
        )],
        Action::AfterClone(
            AfterCloneStep::IdMappings { uid, gid }
            | AfterCloneStep::IdmapMount {
                userns: IdmapUserns::New { uid, gid },
                ..
            },
        ) => {
            let maps = |v: &[IdMap]| {
                let ranges: Vec<String> = v
                    .iter()
                    .map(|m| format!("{} -> host {} ({} ids)", m.container_id, m.host_id, m.size))
                    .collect();
                join(&ranges)
            };
            vec![format!("uid {}", maps(uid)), format!("gid {}", maps(gid))]
        }
        Action::AfterClone(AfterCloneStep::Hook { hook, .. })
        | Action::Init(InitStep::Hook { hook, .. })
        | Action::AfterStart(LaterStep::Hook { hook, .. })
        | Action::AfterDelete(LaterStep::Hook { hook, .. }) => {
            vec![format!("args {:?}, timeout {:?} s", hook.args, hook.timeout)]
        }
        _ => vec![],
    }
}

/// Note the components of a mount point missing on disk, each once (by the first step that
/// needs it): made in an earlier mount, or in the image.
fn mount_point(root: &OwnedFd, path: &Path, made: &mut Made, creates: &mut Vec<String>, instance: &mut Instance) {
    for missing in missing(root, path) {
        if made.made.contains(&missing) {
            continue;
        }
        match made.mounted.iter().rev().find(|m| missing.starts_with(m)) {
            Some(m) => creates.push(format!("{} (in the mount on {})", missing.display(), m.display())),
            None => {
                creates.push(format!("{} (in the image)", missing.display()));
                instance.created_in_image.insert(missing.clone());
            }
        }
        made.made.push(missing);
    }
    made.mounted.push(path.to_path_buf());
}

/// What the steps so far have mounted, and the mount points they made for it.
#[derive(Default)]
struct Made {
    mounted: Vec<PathBuf>,
    made: Vec<PathBuf>,
}

/// The lines under a step of the process.
fn process_details(step: &ProcessStep) -> Vec<String> {
    match step {
        ProcessStep::Identity {
            uid,
            gid,
            additional_gids,
            umask,
        } => vec![format!(
            "uid {uid}, gid {gid}, groups {additional_gids:?}, umask {:04o}",
            umask.unwrap_or(0o022)
        )],
        ProcessStep::LimitBoundingSet { caps } => vec![format!("keep {}", join(caps))],
        ProcessStep::SetCapabilities {
            effective,
            permitted,
            inheritable,
            ambient,
            ambient_not_raised,
        } => {
            let mut lines = vec![
                format!("effective {}", join(effective)),
                format!("permitted {}", join(permitted)),
                format!("inheritable {}", join(inheritable)),
                format!("ambient {}", join(ambient)),
            ];
            // One line per reason, in the order the reasons first appear.
            let mut reasons: Vec<&str> = Vec::new();
            for n in ambient_not_raised {
                if !reasons.contains(&n.why) {
                    reasons.push(n.why);
                }
            }
            for why in reasons {
                let caps: Vec<&str> = ambient_not_raised
                    .iter()
                    .filter(|n| n.why == why)
                    .map(|n| n.capability.as_str())
                    .collect();
                lines.push(format!(
                    "ambient {} not raised: {why} (the kernel raises only permitted and inheritable ones)",
                    caps.join(",")
                ));
            }
            lines
        }
        ProcessStep::Exec { args, env } => vec![format!("args {args:?}"), format!("env {env:?}")],
        _ => vec![],
    }
}

/// The components of `path` missing in the rootfs on disk, outermost first.
fn missing(root: &OwnedFd, path: &Path) -> Vec<PathBuf> {
    let mut prefix = PathBuf::from("/");
    let mut out = Vec::new();
    for c in path.components().skip(1) {
        prefix.push(c);
        if !out.is_empty() || open_in_root(root, &prefix, Create::No, false).is_err() {
            out.push(prefix.clone());
        }
    }
    out
}

/// Whether a masked or read-only path will exist in the container: /proc and /sys show the
/// kernel's own entries, which the host's mounts show too; other paths come from the image.
fn exists_in_container(root: &OwnedFd, path: &Path) -> bool {
    if path.starts_with("/proc") || path.starts_with("/sys") {
        return path.exists();
    }
    open_in_root(root, path, Create::No, true).is_ok()
}

fn resolve_exec(bundle: &Bundle, plan: &Plan) -> Result<String, String> {
    let Some((args, env)) = plan.program() else {
        return Err("no program".into());
    };
    let path_env = env.iter().find_map(|e| e.strip_prefix("PATH="));
    let exe = crate::diagnose::lookup_path(&bundle.rootfs, &args[0], path_env)?;
    match crate::diagnose::missing_interpreter(&bundle.rootfs, &exe) {
        Some(why) => Err(why),
        None => Ok(exe),
    }
}

/// The image's files as the container will see them (paths from its "/"), bounded.
fn image_files(rootfs: &Path) -> Vec<PathBuf> {
    const MAX: usize = 200;
    let mut out = Vec::new();
    let mut todo = vec![PathBuf::from("/")];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(rootfs.join(dir.strip_prefix("/").unwrap_or(&dir))) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = dir.join(entry.file_name());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(path.clone());
            }
            out.push(path);
        }
        if out.len() >= MAX {
            break;
        }
    }
    out.sort();
    out.truncate(MAX);
    out
}
