//! Reading `linux.seccomp` from config.json's raw JSON.

use anyhow::Result;
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};

/// Deserialize `linux.seccomp` from config.json's raw JSON with errors that name the field, e.g.
/// `linux.seccomp.syscalls[3].action: unknown variant `SCMP_ACT_FOO`, expected one of …`
/// (serde alone names only the line and column).
pub fn parse(value: &serde_json::Value) -> Result<LinuxSeccomp> {
    use oci_spec::runtime::LinuxSeccompArg;
    use serde_json::Value;
    fn check<T: serde::de::DeserializeOwned>(v: Option<&Value>, field: &str) -> Result<()> {
        match v {
            Some(v) if !v.is_null() => serde_json::from_value::<T>(v.clone())
                .map(|_| ())
                .map_err(|e| anyhow::anyhow!("{field}: {e}")),
            _ => Ok(()),
        }
    }
    let items = |key: &str| value.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    check::<LinuxSeccompAction>(value.get("defaultAction"), "linux.seccomp.defaultAction")?;
    check::<u32>(value.get("defaultErrnoRet"), "linux.seccomp.defaultErrnoRet")?;
    for (i, a) in items("architectures").iter().enumerate() {
        check::<Arch>(Some(a), &format!("linux.seccomp.architectures[{i}]"))?;
    }
    for (i, f) in items("flags").iter().enumerate() {
        check::<LinuxSeccompFilterFlag>(Some(f), &format!("linux.seccomp.flags[{i}]"))?;
    }
    for (i, call) in items("syscalls").iter().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        check::<Vec<String>>(call.get("names"), &format!("{field}.names"))?;
        check::<LinuxSeccompAction>(call.get("action"), &format!("{field}.action"))?;
        check::<u32>(call.get("errnoRet"), &format!("{field}.errnoRet"))?;
        let args = call.get("args").and_then(Value::as_array).cloned().unwrap_or_default();
        for (j, arg) in args.iter().enumerate() {
            check::<LinuxSeccompOperator>(arg.get("op"), &format!("{field}.args[{j}].op"))?;
            check::<LinuxSeccompArg>(Some(arg), &format!("{field}.args[{j}]"))?;
        }
        check::<oci_spec::runtime::LinuxSyscall>(Some(call), &field)?;
    }
    serde_json::from_value(value.clone()).map_err(|e| anyhow::anyhow!("linux.seccomp: {e}"))
}
