//! The names runtime-spec fields take (scheduling policies, I/O classes, memory policy modes,
//! personality domains), checked in the raw JSON before it becomes typed: serde's "unknown
//! variant" names no field. Also where runtime-spec and oci-spec 0.10 disagree: oci-spec
//! spells the scheduler flags its own way and refuses an empty execCPUAffinity list, which
//! runtime-spec allows (it means none).

use crate::process::{mempolicy, personality, scheduling};
use anyhow::{bail, Result};
use serde_json::Value;

/// config.json.
pub fn check(raw: &mut Value) -> Result<()> {
    if let Some(process) = raw.get_mut("process") {
        check_process(process, "process.")?;
    }
    if let Some(linux) = raw.get_mut("linux") {
        let domains = personality::DOMAINS.map(|(n, _)| n);
        one(
            linux,
            "/personality/domain",
            "linux.personality.domain",
            "domain",
            &domains,
        )?;
        let modes = mempolicy::MODES.map(|(n, _)| n);
        one(linux, "/memoryPolicy/mode", "linux.memoryPolicy.mode", "mode", &modes)?;
        let flags = mempolicy::FLAGS.map(|(n, _)| n);
        for i in 0..len(linux, "/memoryPolicy/flags") {
            let field = format!("linux.memoryPolicy.flags[{i}]");
            one(linux, &format!("/memoryPolicy/flags/{i}"), &field, "flag", &flags)?;
        }
    }
    Ok(())
}

/// A process object: config.json's `process` (`at` "process.") or an exec's process.json
/// (`at` "").
pub fn check_process(process: &mut Value, at: &str) -> Result<()> {
    let policies = scheduling::POLICIES.map(|(n, _)| n);
    one(
        process,
        "/scheduler/policy",
        &format!("{at}scheduler.policy"),
        "policy",
        &policies,
    )?;
    let flags = scheduling::FLAGS.map(|(n, _, _)| n);
    for i in 0..len(process, "/scheduler/flags") {
        let pointer = format!("/scheduler/flags/{i}");
        one(process, &pointer, &format!("{at}scheduler.flags[{i}]"), "flag", &flags)?;
        if let Some(flag) = process.pointer_mut(&pointer) {
            let (_, variant, _) = scheduling::FLAGS
                .into_iter()
                .find(|(n, _, _)| Some(*n) == flag.as_str())
                .expect("checked just above");
            *flag = serde_json::to_value(variant)?;
        }
    }
    let classes = scheduling::IO_CLASSES.map(|(n, _)| n);
    one(
        process,
        "/ioPriority/class",
        &format!("{at}ioPriority.class"),
        "class",
        &classes,
    )?;
    if let Some(Value::Object(affinity)) = process.get_mut("execCPUAffinity") {
        affinity.retain(|_, list| list.as_str() != Some(""));
    }
    Ok(())
}

fn len(v: &Value, pointer: &str) -> usize {
    v.pointer(pointer).and_then(Value::as_array).map_or(0, Vec::len)
}

/// The string at `pointer`, if there is one, must be one of `known`. Other types are left to
/// serde.
fn one(v: &Value, pointer: &str, field: &str, what: &str, known: &[&str]) -> Result<()> {
    match v.pointer(pointer).and_then(Value::as_str) {
        Some(name) if !known.contains(&name) => {
            bail!("{field}: unknown {what} {name:?} (known: {})", known.join(", "))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn checked(mut v: Value) -> Result<Value> {
        check(&mut v).map(|_| v)
    }

    #[test]
    fn unknown_names_are_refused_by_field() {
        let e = checked(json!({"process": {"scheduler": {"policy": "SCHED_FOO"}}})).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("process.scheduler.policy: unknown policy \"SCHED_FOO\" (known: SCHED_OTHER, "),
            "{e}"
        );
        let e =
            checked(json!({"process": {"scheduler": {"policy": "SCHED_IDLE", "flags": ["SCHED_FLAG_RECLAIM", "X"]}}}))
                .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("process.scheduler.flags[1]: unknown flag \"X\""),
            "{e}"
        );
        let e = checked(json!({"process": {"ioPriority": {"class": "IOPRIO_CLASS_NONE"}}})).unwrap_err();
        assert!(
            e.to_string().starts_with("process.ioPriority.class: unknown class"),
            "{e}"
        );
        let e = checked(json!({"linux": {"memoryPolicy": {"mode": "MPOL_BIND", "flags": ["MPOL_F_X"]}}})).unwrap_err();
        assert!(
            e.to_string().starts_with("linux.memoryPolicy.flags[0]: unknown flag"),
            "{e}"
        );
        let e = checked(json!({"linux": {"personality": {"domain": "LINUX64"}}})).unwrap_err();
        assert!(
            e.to_string().starts_with("linux.personality.domain: unknown domain"),
            "{e}"
        );
        let mut p = json!({"scheduler": {"policy": "SCHED_X"}});
        let e = check_process(&mut p, "").unwrap_err();
        assert!(e.to_string().starts_with("scheduler.policy: unknown policy"), "{e}");
    }

    #[test]
    fn spec_flag_names_become_oci_specs() {
        let v = checked(json!({"process": {"cwd": "/", "user": {"uid": 0, "gid": 0},
            "scheduler": {"policy": "SCHED_DEADLINE", "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_DL_OVERRUN"]},
            "execCPUAffinity": {"initial": "", "final": "1"}}}))
        .unwrap();
        let process: oci_spec::runtime::Process = serde_json::from_value(v["process"].clone()).unwrap();
        let s = scheduling::Scheduler::from_spec(process.scheduler().as_ref().unwrap()).unwrap();
        assert_eq!(s.flags, ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_DL_OVERRUN"]);
        let affinity = process.exec_cpu_affinity().as_ref().unwrap();
        assert_eq!(
            (affinity.initial(), affinity.cpu_affinity_final()),
            (&None, &Some("1".into()))
        );
    }
}
