//! `features`: what this build of scrun supports, in runtime-spec's features.md shape, worked
//! out from the code itself (the list of applied config fields, the mount option table, the
//! hook kinds of the plan, and for seccomp by compiling a one-rule profile with each action,
//! operator and architecture).

use crate::rootfs::mounts::{FLAG_OPTIONS, OTHER_OPTIONS, RECURSIVE_OPTIONS};
use anyhow::Result;
use serde_json::{json, Value};

const ACTIONS: &[&str] = &[
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];
const OPERATORS: &[&str] = &[
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];
const ARCHS: &[&str] = &[
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
];

fn compiles(profile: Value) -> bool {
    crate::process::seccomp::parse(&profile)
        .and_then(|p| crate::process::seccomp::compile(&p))
        .is_ok()
}

pub fn features() -> Result<()> {
    let rule = |action: &str, args: Value| json!({"names": ["getcwd"], "action": action, "args": args});
    let profile = |arch: &str, rule: Value| json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": [arch], "syscalls": [rule]});
    let native = "SCMP_ARCH_X86_64";
    let actions: Vec<&str> = ACTIONS
        .iter()
        .copied()
        .filter(|a| *a == "SCMP_ACT_ALLOW" || compiles(profile(native, rule(a, json!([])))))
        .collect();
    let operators: Vec<&str> = OPERATORS
        .iter()
        .copied()
        .filter(|op| {
            compiles(profile(
                native,
                rule("SCMP_ACT_ERRNO", json!([{"index": 0, "value": 1, "op": op}])),
            ))
        })
        .collect();
    let archs: Vec<&str> = ARCHS
        .iter()
        .copied()
        .filter(|arch| compiles(profile(arch, rule("SCMP_ACT_ERRNO", json!([])))))
        .collect();
    let mut mount_options: Vec<&str> = FLAG_OPTIONS
        .iter()
        .map(|(name, _, _)| *name)
        .chain(OTHER_OPTIONS.iter().copied())
        .chain(RECURSIVE_OPTIONS.iter().map(|(name, _, _)| *name))
        .collect();
    mount_options.sort();
    let mut capabilities: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    capabilities.sort();
    let features = json!({
        "ociVersionMin": "1.0.0",
        // Not oci-spec's VERSION (1.1.0, though its types hold 1.3.0's fields): the newest
        // release whose every added field scrun applies (src/spec/coverage.rs says which).
        "ociVersionMax": crate::spec::coverage::oci_version_max(),
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mount_options,
        "linux": {
            "namespaces": crate::namespaces::KINDS,
            "capabilities": capabilities,
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": false, "rdma": false},
            "seccomp": {
                "enabled": true,
                "actions": actions,
                "operators": operators,
                "archs": archs,
                "knownFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            },
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            "intelRdt": {"enabled": false},
            "memoryPolicy": {
                "modes": crate::process::mempolicy::MODES.map(|(name, _)| name),
                "flags": crate::process::mempolicy::FLAGS.map(|(name, _)| name),
            },
            "netDevices": {"enabled": true},
            "mountExtensions": {"idmap": {"enabled": true}},
        },
        "annotations": {"io.github.scrun.version": env!("CARGO_PKG_VERSION")},
    });
    println!("{}", serde_json::to_string_pretty(&features)?);
    Ok(())
}
