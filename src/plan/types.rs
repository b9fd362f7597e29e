//! The values steps carry: id mappings, the user namespace of an idmapped mount, LSMs, who
//! makes a namespace, and ambient capabilities that will not be raised.

use crate::idmap::IdMap;
use serde::Serialize;
use std::path::{Path, PathBuf};

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
