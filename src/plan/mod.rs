//! From config.json to an ordered list of typed steps. The plan is data: the runtime and the
//! container's init execute it, `--trace` times each step, and nothing here touches the system
//! except reading the host files the plan depends on (bind sources, /etc/resolv.conf).

use serde::Serialize;
use std::path::Path;

mod adds;
mod build;
mod builder;
mod etc;
mod process;
mod steps;
mod types;

pub use crate::idmap::IdMap;
pub use adds::{Added, AddedKind, Recorded};
pub use build::ns_name;
pub use process::exec_env;
pub use steps::*;
pub use types::*;

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Where each phase begins, set by the builder as it goes (see `Phases`).
    #[serde(skip)]
    pub phases: Phases,
    /// How many handles the steps pass on (see `Slot`).
    #[serde(skip)]
    pub slots: usize,
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
    pub(super) fn mark(&mut self, phase: Phase, at: usize) {
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
    /// The runtime has no privilege on the host (`rootless::active`): the init opens bind
    /// sources and binds device nodes itself, and the container gets a cgroup only for limits.
    pub rootless: bool,
}

impl Plan {
    /// The steps of one side, with their index in the plan: `plan.each(InitStep::of)`.
    pub fn each<'a, T: 'a>(
        &'a self,
        pick: impl Fn(&'a Action) -> Option<&'a T> + 'a,
    ) -> impl Iterator<Item = (usize, &'a Step, &'a T)> + 'a {
        self.steps
            .iter()
            .enumerate()
            .filter_map(move |(i, s)| pick(&s.action).map(|t| (i, s, t)))
    }

    /// The program and its environment, from the exec step.
    pub fn program(&self) -> Option<(&[String], &[String])> {
        self.steps.iter().find_map(|s| match s.action.process() {
            Some(ProcessStep::Exec { args, env }) => Some((args.as_slice(), env.as_slice())),
            _ => None,
        })
    }

    /// The clone flags for the namespaces the clone creates.
    pub fn clone_flags(&self) -> libc::c_int {
        self.each(CloneStep::of)
            .filter_map(|(_, _, s)| match s {
                CloneStep::CreateNamespace { kind, .. } => Some(crate::namespaces::flag(kind)),
                CloneStep::CloneInside { .. } | CloneStep::JoinNamespace { .. } | CloneStep::IntoCgroup => None,
            })
            .fold(0, |a, b| a | b)
    }

    /// The poststart (`Action::AfterStart`) or poststop (`Action::AfterDelete`) hooks, which the
    /// state keeps for later commands.
    pub fn later_hooks(&self, pick: fn(&Action) -> Option<&LaterStep>) -> Vec<crate::hooks::Hook> {
        self.each(pick)
            .map(|(_, _, LaterStep::Hook { hook, .. })| hook.clone())
            .collect()
    }

    /// Whether the container's processes are in the runtime's pid namespace.
    pub fn shares_pid_namespace(&self) -> bool {
        let pid = |kind: &str| kind == "pid";
        !self.steps.iter().any(|s| match &s.action {
            Action::Clone(CloneStep::CreateNamespace { kind, .. } | CloneStep::JoinNamespace { kind, .. }) => pid(kind),
            Action::Runtime(RuntimeStep::JoinNamespace { kind, .. }) => pid(kind),
            _ => false,
        })
    }
}
