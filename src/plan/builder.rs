//! What the builder adds steps with: slots for the handles steps pass on, phase marks, and
//! the step sequences `create` and `exec` share.

use super::process::{exec_step, process_steps, scheduling_steps};
use super::*;
use crate::rootfs::mounts::MountStep;
use anyhow::Result;
use oci_spec::runtime::Process;
use std::path::PathBuf;

/// The plan as it is built: the steps so far and where each phase begins. `S` is the plan's
/// kind, `Create` or `Exec`: an exec plan takes no step of the init's alone (`On`), so a step
/// on the rootfs in `exec` does not compile, and its process steps are the joiner's.
pub(super) struct Builder<S> {
    steps: Vec<Step>,
    phases: Phases,
    slots: usize,
    /// See `Options::rootless`.
    rootless: bool,
    kind: std::marker::PhantomData<S>,
}

/// The plan of `create`.
pub(super) struct Create;
/// The plan of `exec`.
pub(super) struct Exec;

/// A plan's kind: whose are its process steps.
pub(super) trait Kind {
    fn process(step: ProcessStep) -> Action;
}

impl Kind for Create {
    fn process(step: ProcessStep) -> Action {
        InitStep::Process(step).into()
    }
}

impl Kind for Exec {
    fn process(step: ProcessStep) -> Action {
        Action::Join(step)
    }
}

/// The steps a plan of kind `S` may take, beside its process steps: the runtime's in either,
/// the init's own and the hooks of later commands (`Action`) only in `create`'s.
pub(super) trait On<S>: Into<Action> {}
impl<S> On<S> for RuntimeStep {}
impl<S> On<S> for CloneStep {}
impl<S> On<S> for AfterCloneStep {}
impl<S> On<S> for PlaceStep {}
impl On<Create> for InitStep {}
impl On<Create> for Action {}

impl<S: Kind> Builder<S> {
    pub(super) fn new(rootless: bool) -> Builder<S> {
        Builder {
            steps: Vec::new(),
            phases: Phases::default(),
            slots: 0,
            rootless,
            kind: std::marker::PhantomData,
        }
    }

    pub(super) fn add(&mut self, origin: String, action: impl On<S>) {
        self.push(origin, action.into());
    }

    fn push(&mut self, origin: String, action: Action) {
        self.steps.push(Step { origin, action });
    }

    /// A step of the process: the init's in a create plan, the joiner's in an exec plan.
    pub(super) fn add_process(&mut self, origin: String, step: ProcessStep) {
        self.push(origin, S::process(step));
    }

    pub(super) fn slot(&mut self) -> Slot {
        self.slots += 1;
        Slot(self.slots - 1)
    }

    /// A namespace joined by path: pid and time by the runtime (see
    /// `namespaces::joined_by_runtime`), a pid one by the helper that clones `inside` a user
    /// namespace joined by path, the others by the init from an fd the runtime opens.
    /// Returns the init's step, which the caller adds after the init's prologue.
    pub(super) fn join(
        &mut self,
        origin: String,
        kind: String,
        path: PathBuf,
        inside: bool,
    ) -> Option<(String, ProcessStep)> {
        if kind == "pid" && inside {
            self.add(origin, CloneStep::JoinNamespace { kind, path });
        } else if crate::namespaces::joined_by_runtime(&kind) {
            self.add(origin, RuntimeStep::JoinNamespace { kind, path });
        } else {
            let fd = self.slot();
            let (k, p) = (kind.clone(), path.clone());
            self.add(origin.clone(), RuntimeStep::OpenNamespace { kind, path, fd });
            return Some((origin, ProcessStep::JoinNamespace { kind: k, path: p, fd }));
        }
        None
    }

    /// What the init does before the plan's other steps are its business: made a process of
    /// its own (see each step), it waits for the runtime to be done with it. A rootless runtime
    /// writes the id maps of a new user namespace without privilege, which it may do only to a
    /// dumpable process (its /proc files are the caller's then): `maps_by_caller` keeps the init
    /// dumpable until Go, before which nothing of the container runs.
    pub(super) fn prologue(&mut self, born_in_userns: bool, maps_by_caller: bool) {
        const WHY: &str = "runtime: the init's prologue";
        let mut steps = vec![
            ProcessStep::DieWithRuntime,
            ProcessStep::NonDumpable,
            ProcessStep::ClearUmask,
            ProcessStep::SealFds,
            ProcessStep::AwaitGo,
        ];
        if maps_by_caller {
            steps.remove(1);
            steps.push(ProcessStep::NonDumpable);
        }
        for step in steps {
            self.add_process(WHY.into(), step);
        }
        if born_in_userns {
            self.add_process(WHY.into(), ProcessStep::BecomeUsernsRoot);
        }
    }

    /// The runtime opens the source of an idmapped bind, and of every bind in a user
    /// namespace, for the init (see `mounts::open_source`): the step that does, and the slot
    /// where the tree goes.
    /// Rootless, the runtime may not (open_tree needs CAP_SYS_ADMIN on the host): the init binds
    /// the source by path from inside its own user and mount namespaces.
    pub(super) fn open_source(&mut self, origin: String, m: &MountStep, in_userns: bool) -> Option<Slot> {
        if self.rootless || (m.idmap.is_none() && !(in_userns && m.fstype == "bind")) {
            return None;
        }
        let tree = self.slot();
        let step = RuntimeStep::OpenBindSource {
            source: m.source.clone(),
            mount: Box::new(m.clone()),
            tree,
        };
        self.add(origin, step);
        Some(tree)
    }

    /// The next step begins `phase`.
    pub(super) fn mark(&mut self, phase: Phase) {
        self.phases.mark(phase, self.steps.len());
    }

    /// The steps that make the process what config.json's `process` says, for `create` and
    /// `exec`: the seccomp filter the runtime compiles, scheduling, the process steps, and
    /// the last steps before the exec.
    pub(super) fn process_tail(
        &mut self,
        process: &Process,
        linux: &oci_spec::runtime::Linux,
        hooks: impl FnOnce(&mut Self),
    ) -> Result<()> {
        if let Some(profile) = linux.seccomp() {
            let profile = Box::new(profile.clone());
            self.add("linux.seccomp".into(), RuntimeStep::CompileSeccomp { profile });
        }
        scheduling_steps(process, linux, &mut |o, a| self.add_process(o, a))?;
        let late_seccomp = process_steps(process, linux.seccomp().as_ref(), &mut |o, a| self.add_process(o, a))?;
        self.finish_process(late_seccomp, hooks, process);
        Ok(())
    }

    /// The last steps before the exec, those that wait for `start`: the startContainer hooks
    /// and a seccomp filter installed after no_new_privs (`late_seccomp`), then the exec. A
    /// filter with a notify listener is the exception: the listener goes to the agent through
    /// the runtime, which is there only until `create` returns (runc does the same), so it is
    /// installed before the pause, and the hooks then run under it.
    pub(super) fn finish_process(
        &mut self,
        late_seccomp: Option<ProcessStep>,
        hooks: impl FnOnce(&mut Self),
        process: &Process,
    ) {
        self.add_process("process.args".into(), ProcessStep::FindProgram);
        match late_seccomp {
            Some(ProcessStep::Seccomp { profile }) if profile.listener_path().is_some() => {
                hooks(self);
                self.add_process("linux.seccomp".into(), ProcessStep::Seccomp { profile });
                self.mark(Phase::Exec);
            }
            seccomp => {
                self.mark(Phase::Exec);
                hooks(self);
                if let Some(step) = seccomp {
                    self.add_process("linux.seccomp".into(), step);
                }
            }
        }
        self.add_process("process.args".into(), exec_step(process));
    }

    pub(super) fn finish(mut self, process: &Process) -> Plan {
        // The vector's spare room (48 of 128 steps for a plain config) would be heap the
        // runtime and its init carry through the fork: shrinking in place gives it back.
        self.steps.shrink_to_fit();
        let console_size = process
            .console_size()
            .as_ref()
            .map(|b| (b.height() as u16, b.width() as u16));
        Plan {
            steps: self.steps,
            phases: self.phases,
            slots: self.slots,
            terminal: process.terminal().unwrap_or(false),
            console_size,
        }
    }
}
