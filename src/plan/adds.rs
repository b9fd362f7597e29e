//! What each step adds to the instance, beside what it does: the one reading of the plan that
//! `explain`'s "image vs instance" and `inspect`'s reasons (from the plan `create` saves) share.

use super::{Action, InitStep, Plan, ProcessStep, RuntimeStep};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One thing the container sees that the image does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Added {
    pub path: PathBuf,
    pub kind: AddedKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddedKind {
    /// A mount on `path`, whose mount point is made if missing.
    Mount,
    /// A mask over what is at `path` (linux.maskedPaths): none if nothing is there.
    Masked,
    /// A read-only bind over what is at `path` (linux.readonlyPaths): none if nothing is there.
    ReadOnly,
    /// A device node (made, or bound from the host's, which is a `Mount` as well).
    Device,
    /// A symlink, unless the entry exists already (runc keeps it).
    Symlink,
    /// A file the runtime generates in its state directory, bound read-only (a `Mount` too).
    File,
    /// A mount point made in the image itself.
    MountPoint,
}

impl Action {
    pub fn adds(&self) -> Vec<Added> {
        match self {
            Action::Runtime(s) => s.adds(),
            Action::Init(s) => s.adds(),
            Action::Join(s) => s.adds(),
            Action::Clone(_)
            | Action::AfterClone(_)
            | Action::Place(_)
            | Action::AfterStart(_)
            | Action::AfterDelete(_) => {
                vec![]
            }
        }
    }
}

fn added(path: &std::path::Path, kinds: &[AddedKind]) -> Vec<Added> {
    kinds
        .iter()
        .map(|&kind| Added {
            path: path.to_path_buf(),
            kind,
        })
        .collect()
}

impl RuntimeStep {
    pub fn adds(&self) -> Vec<Added> {
        use AddedKind::*;
        match self {
            RuntimeStep::MakeMountpoint { path } => added(path, &[MountPoint]),
            RuntimeStep::Symlink { link, .. } => added(link, &[Symlink]),
            // The state directory's file is seen through the init's Mount of it.
            RuntimeStep::WriteFile { .. }
            | RuntimeStep::CreateNamespace { .. }
            | RuntimeStep::JoinNamespace { .. }
            | RuntimeStep::TimeOffset { .. }
            | RuntimeStep::OpenNamespace { .. }
            | RuntimeStep::OpenBindSource { .. }
            | RuntimeStep::CompileSeccomp { .. } => vec![],
        }
    }
}

impl InitStep {
    pub fn adds(&self) -> Vec<Added> {
        use AddedKind::*;
        match self {
            InitStep::Mount { mount, generated, .. } => {
                added(&mount.destination, if *generated { &[Mount, File] } else { &[Mount] })
            }
            InitStep::CgroupHierarchy { name, mount } => added(&mount.destination.join(name), &[Mount]),
            InitStep::MakeDevice(d) => added(&d.path, &[Device]),
            InitStep::BindDevice(d) => added(&d.path, &[Device, Mount]),
            InitStep::Symlink { link, .. } => added(link, &[Symlink]),
            InitStep::MaskPath { path } => added(path, &[Masked]),
            InitStep::ReadonlyPath { path } => added(path, &[ReadOnly]),
            InitStep::Process(s) => s.adds(),
            InitStep::CreateNamespace { .. }
            | InitStep::SetHostname { .. }
            | InitStep::SetDomainname { .. }
            | InitStep::LoopbackUp
            | InitStep::RootPropagation { .. }
            | InitStep::RootfsParentPropagation { .. }
            | InitStep::BindRootfs { .. }
            | InitStep::CgroupReadonly { .. }
            | InitStep::PivotRoot { .. }
            | InitStep::Chroot { .. }
            | InitStep::Sysctl { .. }
            | InitStep::ReadonlyRoot
            | InitStep::OomScoreAdj { .. }
            | InitStep::Hook { .. } => vec![],
        }
    }
}

impl ProcessStep {
    pub fn adds(&self) -> Vec<Added> {
        match self {
            // Without a mount namespace the pty is only the process's stdio.
            ProcessStep::Console { dev_console: true } => added("/dev/console".as_ref(), &[AddedKind::Mount]),
            ProcessStep::Console { dev_console: false }
            | ProcessStep::DieWithRuntime
            | ProcessStep::NonDumpable
            | ProcessStep::ClearUmask
            | ProcessStep::SealFds
            | ProcessStep::AwaitGo
            | ProcessStep::BecomeUsernsRoot
            | ProcessStep::JoinNamespace { .. }
            | ProcessStep::Chdir { .. }
            | ProcessStep::Rlimit { .. }
            | ProcessStep::LimitBoundingSet { .. }
            | ProcessStep::Identity { .. }
            | ProcessStep::SetCapabilities { .. }
            | ProcessStep::NoNewPrivileges
            | ProcessStep::ExecLabel { .. }
            | ProcessStep::Seccomp { .. }
            | ProcessStep::Scheduler(_)
            | ProcessStep::IoPriority(_)
            | ProcessStep::Personality { .. }
            | ProcessStep::MemoryPolicy(_)
            | ProcessStep::FindProgram
            | ProcessStep::Exec { .. } => vec![],
        }
    }
}

/// A step as `create` saves it in the state directory (`plan.json`) for `inspect`: who asked
/// for it, what it does and what it adds, without the step's own fields (a seccomp profile,
/// a file's content), which inspect does not need and the start path need not write.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recorded {
    pub origin: String,
    pub side: String,
    pub describe: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adds: Vec<Added>,
}

impl Plan {
    pub fn record(&self) -> Vec<Recorded> {
        self.steps
            .iter()
            .map(|s| Recorded {
                origin: s.origin.clone(),
                side: s.action.side().into(),
                describe: s.action.describe(),
                adds: s.action.adds(),
            })
            .collect()
    }
}
