//! The steps that make the container's process what config.json's `process` says, last
//! before the exec: shared by `create` and `exec`.

use super::{ambient_split, Lsm, ProcessStep};
use anyhow::Result;
use oci_spec::runtime::Process;

/// The process's LSM labels as steps. A label asked for on a host without its LSM would be a
/// silent hole: refused, naming the field.
pub(super) fn label_steps(
    process: &Process,
    enabled: impl Fn(Lsm) -> bool,
    add: &mut dyn FnMut(String, ProcessStep),
) -> Result<()> {
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
            ProcessStep::ExecLabel {
                lsm,
                label: label.into(),
            },
        );
    }
    Ok(())
}

/// The scheduling steps (see ProcessStep::Scheduler), for `create` and `exec`.
pub(super) fn scheduling_steps(
    process: &Process,
    linux: &oci_spec::runtime::Linux,
    add: &mut dyn FnMut(String, ProcessStep),
) -> Result<()> {
    use crate::process::{mempolicy::MemoryPolicy, personality, scheduling};
    if let Some(s) = process.scheduler() {
        add(
            "process.scheduler".into(),
            ProcessStep::Scheduler(scheduling::Scheduler::from_spec(s)?),
        );
    }
    if let Some(p) = process.io_priority() {
        add(
            "process.ioPriority".into(),
            ProcessStep::IoPriority(scheduling::IoPriority::from_spec(p)?),
        );
    }
    if let Some(p) = linux.personality() {
        let domain = personality::from_spec(p)?;
        add("linux.personality".into(), ProcessStep::Personality { domain });
    }
    if let Some(m) = linux.memory_policy() {
        add(
            "linux.memoryPolicy".into(),
            ProcessStep::MemoryPolicy(MemoryPolicy::from_spec(m)?),
        );
    }
    Ok(())
}

/// The steps that make the container's process what config.json's `process` says, last before
/// the exec: shared by `create` and `exec`.
/// Returns the seccomp step when it has to wait until just before the exec.
pub(super) fn process_steps(
    process: &Process,
    seccomp: Option<&oci_spec::runtime::LinuxSeccomp>,
    add: &mut dyn FnMut(String, ProcessStep),
) -> Result<Option<ProcessStep>> {
    let step = seccomp.map(|s| ProcessStep::Seccomp {
        profile: Box::new(s.clone()),
    });
    let nnp = process.no_new_privileges().unwrap_or(false);
    for (i, r) in process.rlimits().iter().flatten().enumerate() {
        let kind = serde_json::to_value(r.typ())?.as_str().unwrap_or_default().to_string();
        add(
            format!("process.rlimits[{i}]"),
            ProcessStep::Rlimit {
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
        ProcessStep::LimitBoundingSet {
            caps: names(caps.bounding()),
        },
    );
    label_steps(process, Lsm::enabled, add)?;
    let user = process.user();
    add(
        "process.user".into(),
        ProcessStep::Identity {
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
        ProcessStep::SetCapabilities {
            effective: names(caps.effective()),
            permitted,
            inheritable,
            ambient,
            ambient_not_raised,
        },
    );
    if process.no_new_privileges().unwrap_or(false) {
        add("process.noNewPrivileges".into(), ProcessStep::NoNewPrivileges);
    }
    Ok(step.filter(|_| nnp))
}

pub(super) fn exec_step(process: &Process) -> ProcessStep {
    ProcessStep::Exec {
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

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::Process;

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
}
