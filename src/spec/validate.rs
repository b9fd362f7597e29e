//! Every rule that rejects a config.json before anything is created. Pure: no syscalls, so each
//! rule is unit-tested without root. Errors name the config field, as a JSON path.

use crate::rootfs::mounts;
use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Mount, Spec};
use std::collections::HashSet;
use std::path::Path;

pub fn validate(spec: &Spec) -> Result<()> {
    let process = match spec.process() {
        Some(p) => p,
        None => bail!("process is missing"),
    };
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        bail!("process.args must name the program to run");
    }
    if !process.cwd().is_absolute() {
        bail!("process.cwd {:?} is not an absolute path", process.cwd());
    }
    if spec.root().as_ref().is_none_or(|r| r.path().as_os_str().is_empty()) {
        bail!("root.path is missing");
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !m.destination().is_absolute() {
            bail!("mounts[{i}].destination {:?} is not an absolute path", m.destination());
        }
        check_idmapped_mount(&format!("mounts[{i}]"), m)?;
        let fstype = m.typ().as_deref().unwrap_or_default();
        crate::procfs::check_mount_destination(m.destination(), fstype, mounts::is_bind(m))
            .with_context(|| format!("mounts[{i}]"))?;
    }
    if let Some(seccomp) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        check_seccomp_listener(seccomp)?;
    }
    let namespaces = namespaces(spec)?;
    let has = |t| namespaces.contains(&t);

    let uts_new = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Uts));
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !uts_new {
        bail!("hostname: setting a hostname requires a uts namespace in linux.namespaces");
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty()) && !uts_new {
        bail!("domainname: setting a domainname requires a uts namespace in linux.namespaces");
    }
    if let Some(linux) = spec.linux() {
        let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        if maps && !has(LinuxNamespaceType::User) {
            bail!("linux.uidMappings: id mappings require a user namespace in linux.namespaces");
        }
        check_id_mappings("linux.uidMappings", linux.uid_mappings().as_deref().unwrap_or_default())?;
        check_id_mappings("linux.gidMappings", linux.gid_mappings().as_deref().unwrap_or_default())?;
        for key in linux.sysctl().iter().flat_map(|s| s.keys()) {
            check_sysctl(key, &has)?;
        }
        check_time_offsets(linux)?;
        check_net_devices(linux, &has)?;
    }
    for (i, r) in process.rlimits().iter().flatten().enumerate() {
        if r.soft() > r.hard() {
            bail!(
                "process.rlimits[{i}]: soft limit {} is above hard limit {}",
                r.soft(),
                r.hard()
            );
        }
    }
    Ok(())
}

/// An idmapped mount is a bind mount (runc's rule: the kernel idmaps only a detached mount,
/// which for scrun is a cloned bind source) with both mappings or neither.
fn check_idmapped_mount(field: &str, m: &Mount) -> Result<()> {
    let inline = m
        .options()
        .iter()
        .flatten()
        .position(|o| o.starts_with("idmap=") || o.starts_with("ridmap="));
    if let Some(j) = inline {
        bail!("{field}.options[{j}]: mappings inside the idmap option (crun's form) are not supported: give uidMappings and gidMappings");
    }
    if !mounts::is_idmapped(m) {
        return Ok(());
    }
    if !mounts::is_bind(m) {
        bail!(
            "{field}: idmapped mounts (uidMappings, gidMappings, idmap, ridmap) must be bind mounts, not type {:?}",
            m.typ().as_deref().unwrap_or_default()
        );
    }
    match (m.uid_mappings(), m.gid_mappings()) {
        (Some(_), None) => bail!("{field}.gidMappings is missing: uidMappings needs it"),
        (None, Some(_)) => bail!("{field}.uidMappings is missing: gidMappings needs it"),
        (Some(uid), Some(gid)) => {
            for (name, maps) in [("uidMappings", uid), ("gidMappings", gid)] {
                if maps.is_empty() {
                    bail!("{field}.{name} is empty");
                }
                check_id_mappings(&format!("{field}.{name}"), maps)?;
            }
        }
        (None, None) => {}
    }
    Ok(())
}

/// What the kernel would refuse in a uid_map or gid_map, named by field: an empty range, one
/// past 2^32, overlapping ranges on either side, more than 340 lines.
fn check_id_mappings(field: &str, maps: &[LinuxIdMapping]) -> Result<()> {
    const MAX_LINES: usize = 340;
    if maps.len() > MAX_LINES {
        bail!("{field}: {} mappings, the kernel takes at most {MAX_LINES}", maps.len());
    }
    let end = |start: u32, size: u32| start as u64 + size as u64;
    for (j, m) in maps.iter().enumerate() {
        if m.size() == 0 {
            bail!("{field}[{j}].size is 0");
        }
        for (side, start) in [("containerID", m.container_id()), ("hostID", m.host_id())] {
            if end(start, m.size()) > 1 << 32 {
                bail!(
                    "{field}[{j}]: {side} {start} + size {} is past the last id 4294967295",
                    m.size()
                );
            }
        }
        for (k, other) in maps.iter().enumerate().take(j) {
            let overlap = |a: u32, b: u32| (a as u64) < end(b, other.size()) && (b as u64) < end(a, m.size());
            if overlap(m.container_id(), other.container_id()) || overlap(m.host_id(), other.host_id()) {
                bail!("{field}[{j}] overlaps {field}[{k}]");
            }
        }
    }
    Ok(())
}

/// The namespace types in the config, refusing duplicates.
fn namespaces(spec: &Spec) -> Result<HashSet<LinuxNamespaceType>> {
    let mut seen = HashSet::new();
    let list = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    for (i, ns) in list.iter().enumerate() {
        if !seen.insert(ns.typ()) {
            bail!("linux.namespaces[{i}]: namespace {} is listed twice", ns.typ());
        }
        if let Some(path) = ns.path() {
            if !Path::new(path).is_absolute() {
                bail!("linux.namespaces[{i}].path {path:?} is not an absolute path");
            }
        }
    }
    Ok(seen)
}

/// Offsets can only be set on a time namespace no process is in yet: one scrun makes (runc's
/// rule). The kernel offsets only these two clocks.
fn check_time_offsets(linux: &oci_spec::runtime::Linux) -> Result<()> {
    let Some(offsets) = linux.time_offsets().as_ref().filter(|o| !o.is_empty()) else {
        return Ok(());
    };
    let time_ns = linux
        .namespaces()
        .iter()
        .flatten()
        .enumerate()
        .find(|(_, n)| n.typ() == LinuxNamespaceType::Time);
    match time_ns {
        None => bail!("linux.timeOffsets: clock offsets require a time namespace in linux.namespaces"),
        Some((i, n)) if n.path().is_some() => bail!(
            "linux.timeOffsets: the time namespace is joined by path (linux.namespaces[{i}].path), and the \
             offsets of an existing one cannot change"
        ),
        Some(_) => {}
    }
    let mut clocks: Vec<_> = offsets.iter().collect();
    clocks.sort_by(|a, b| a.0.cmp(b.0));
    for (clock, offset) in clocks {
        if clock != "monotonic" && clock != "boottime" {
            bail!("linux.timeOffsets.{clock}: only the monotonic and boottime clocks can be offset");
        }
        if let Some(n) = offset.nanosecs().filter(|n| *n >= 1_000_000_000) {
            bail!("linux.timeOffsets.{clock}.nanosecs {n} is out of range: it must be below 1000000000");
        }
    }
    Ok(())
}

/// Devices move into the container's own network namespace, under names the kernel takes.
fn check_net_devices(linux: &oci_spec::runtime::Linux, has: &dyn Fn(LinuxNamespaceType) -> bool) -> Result<()> {
    let Some(devices) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) else {
        return Ok(());
    };
    if !has(LinuxNamespaceType::Network) {
        bail!("linux.netDevices: moving network devices requires a network namespace in linux.namespaces");
    }
    let mut names: Vec<_> = devices.iter().collect();
    names.sort_by(|a, b| a.0.cmp(b.0));
    for (device, d) in names {
        if device.contains('%') {
            bail!("linux.netDevices[{device:?}]: a host device is named exactly, not by a template");
        }
        crate::netdev::check_name(device).with_context(|| format!("linux.netDevices[{device:?}]"))?;
        if let Some(name) = d.name() {
            crate::netdev::check_name(name).with_context(|| format!("linux.netDevices[{device:?}].name"))?;
        }
    }
    Ok(())
}

/// A sysctl is only safe to set when the namespace that scopes it is the container's own;
/// otherwise the write would change the host (runc's rule).
fn check_sysctl(key: &str, has: &dyn Fn(LinuxNamespaceType) -> bool) -> Result<()> {
    // Its dots become the slashes of a path below /proc/sys: a '/' of its own (sysctl(8)'s
    // other spelling, where dots stay dots) would name another file, and an empty name none.
    if key.contains('/') || key.split('.').any(str::is_empty) {
        bail!("linux.sysctl: {key:?} is not a sysctl name (names separated by dots, without '/')");
    }
    let ipc = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let needed = if ipc.contains(&key) || key.starts_with("fs.mqueue.") {
        LinuxNamespaceType::Ipc
    } else if key.starts_with("net.") {
        LinuxNamespaceType::Network
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        LinuxNamespaceType::Uts
    } else {
        bail!("linux.sysctl: {key:?} is not namespaced: setting it would change the host");
    };
    if !has(needed) {
        bail!("linux.sysctl: {key:?} requires a {needed} namespace in linux.namespaces");
    }
    Ok(())
}

/// SCMP_ACT_NOTIFY rules and linux.seccomp.listenerPath come together: a rule without an agent
/// would leave its syscalls waiting for nobody, an agent without a rule would never hear.
fn check_seccomp_listener(seccomp: &oci_spec::runtime::LinuxSeccomp) -> Result<()> {
    use oci_spec::runtime::LinuxSeccompAction::ScmpActNotify;
    let notify = seccomp
        .syscalls()
        .iter()
        .flatten()
        .position(|c| c.action() == ScmpActNotify);
    match (notify, seccomp.listener_path()) {
        (Some(i), None) => bail!(
            "linux.seccomp.syscalls[{i}].action: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath, the seccomp agent's socket"
        ),
        (None, Some(_)) => bail!("linux.seccomp.listenerPath: no SCMP_ACT_NOTIFY rule would ever reach the agent"),
        (_, Some(path)) if !path.is_absolute() => {
            bail!("linux.seccomp.listenerPath {path:?} is not an absolute path")
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(patch: serde_json::Value) -> Spec {
        let mut base: serde_json::Value = serde_json::from_str(&crate::spec::defaults::default_config(false)).unwrap();
        json_patch(&mut base, patch);
        serde_json::from_value(base).unwrap()
    }

    fn json_patch(base: &mut serde_json::Value, patch: serde_json::Value) {
        match (base, patch) {
            (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
                for (k, v) in p {
                    json_patch(b.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
            (b, p) => *b = p,
        }
    }

    fn err(patch: serde_json::Value) -> String {
        format!("{:#}", validate(&spec(patch)).unwrap_err())
    }

    #[test]
    fn default_config_is_valid() {
        validate(&spec(serde_json::json!({}))).unwrap();
    }

    #[test]
    fn empty_args_rejected() {
        assert!(err(serde_json::json!({"process": {"args": []}})).contains("process.args"));
    }

    #[test]
    fn relative_cwd_rejected() {
        assert!(err(serde_json::json!({"process": {"cwd": "tmp"}})).contains("process.cwd"));
    }

    #[test]
    fn relative_mount_destination_rejected() {
        let e = err(serde_json::json!({"mounts": [{"destination": "proc", "type": "proc", "source": "proc"}]}));
        assert!(
            e.contains("mounts[0].destination \"proc\" is not an absolute path"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_namespace_rejected() {
        let e =
            err(serde_json::json!({"linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}, {"type": "pid"}]}}));
        assert!(e.contains("linux.namespaces[2]"), "{e}");
    }

    #[test]
    fn time_offsets_need_a_new_time_namespace() {
        let offsets = serde_json::json!({"monotonic": {"secs": 1}});
        let e = err(serde_json::json!({"linux": {"timeOffsets": offsets}}));
        assert!(
            e.contains("linux.timeOffsets: clock offsets require a time namespace"),
            "{e}"
        );
        let joined = serde_json::json!([{"type": "uts"}, {"type": "time", "path": "/proc/1/ns/time"}]);
        let e = err(serde_json::json!({"linux": {"namespaces": joined, "timeOffsets": offsets}}));
        assert!(
            e.contains("linux.timeOffsets: the time namespace is joined by path (linux.namespaces[1].path)"),
            "{e}"
        );
        let new = serde_json::json!([{"type": "uts"}, {"type": "time"}]);
        validate(&spec(
            serde_json::json!({"linux": {"namespaces": new, "timeOffsets": offsets}}),
        ))
        .unwrap();
    }

    #[test]
    fn bad_time_offsets_rejected() {
        let ns = serde_json::json!([{"type": "uts"}, {"type": "time"}]);
        let e = err(
            serde_json::json!({"linux": {"namespaces": ns, "timeOffsets": {"boottime": {"secs": 1, "nanosecs": 1_000_000_000}}}}),
        );
        assert!(
            e.contains("linux.timeOffsets.boottime.nanosecs 1000000000 is out of range"),
            "{e}"
        );
        let e = err(serde_json::json!({"linux": {"namespaces": ns, "timeOffsets": {"realtime": {"secs": 1}}}}));
        assert!(
            e.contains("linux.timeOffsets.realtime: only the monotonic and boottime"),
            "{e}"
        );
    }

    #[test]
    fn hostname_needs_uts() {
        let e = err(serde_json::json!({"linux": {"namespaces": [{"type": "mount"}]}}));
        assert!(e.contains("hostname"), "{e}");
    }

    #[test]
    fn host_sysctl_rejected() {
        let e = err(serde_json::json!({"linux": {"sysctl": {"vm.swappiness": "1"}}}));
        assert!(e.contains("not namespaced"), "{e}");
        let e = err(
            serde_json::json!({"linux": {"sysctl": {"net.ipv4.ip_forward": "1"}, "namespaces": [{"type": "mount"}, {"type": "uts"}]}}),
        );
        assert!(e.contains("requires a net namespace"), "{e}");
    }

    #[test]
    fn sysctl_keys_are_dotted_names() {
        let ns = serde_json::json!([{"type": "mount"}, {"type": "network"}, {"type": "uts"}]);
        for key in [
            "net/ipv4/ip_forward",
            "net.ipv4..ip_forward",
            "net.",
            "net.ipv4.conf.eth0/100.forwarding",
        ] {
            let e = err(serde_json::json!({"linux": {"namespaces": ns, "sysctl": {key: "1"}}}));
            assert_eq!(
                e,
                format!("linux.sysctl: {key:?} is not a sysctl name (names separated by dots, without '/')")
            );
        }
    }

    #[test]
    fn mounts_inside_proc_rejected() {
        let bind = |dest: &str| serde_json::json!({"destination": dest, "type": "bind", "source": "/tmp/f", "options": ["bind"]});
        let e = with_mount(bind("/proc/self/attr/exec"));
        assert!(
            e.starts_with("M: \"/proc/self/attr/exec\" cannot be mounted because it is inside /proc"),
            "{e}"
        );
        assert!(with_mount(bind("/proc/sys/kernel/../net/ipv4/ip_forward")).starts_with("M: "));
        assert_eq!(with_mount(bind("/proc/uptime")), "ok");
        assert_eq!(with_mount(bind("/proc/sys/kernel/ns_last_pid")), "ok");
        let tmpfs = serde_json::json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"});
        assert_eq!(
            with_mount(tmpfs),
            "M: \"/proc\" cannot be mounted because it is not of type proc"
        );
    }

    fn idmapped(extra: serde_json::Value) -> String {
        let mut m = serde_json::json!({"destination": "/v", "type": "bind", "source": "/tmp", "options": ["bind", "idmap"],
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 10}],
            "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 10}]});
        json_patch(&mut m, extra);
        with_mount(m)
    }

    /// validate's verdict on the default spec plus mount `m`, its index in the error as "M".
    fn with_mount(m: serde_json::Value) -> String {
        let mut base = spec(serde_json::json!({}));
        let mut mounts = base.mounts().clone().unwrap_or_default();
        mounts.push(serde_json::from_value(m).unwrap());
        let index = mounts.len() - 1;
        base.set_mounts(Some(mounts));
        validate(&base)
            .map_or_else(|e| format!("{e:#}"), |_| "ok".into())
            .replace(&format!("mounts[{index}]"), "M")
    }

    #[test]
    fn idmapped_mounts_checked() {
        assert_eq!(idmapped(serde_json::json!({})), "ok");
        let e = idmapped(serde_json::json!({"type": "tmpfs", "options": ["idmap"]}));
        assert!(e.starts_with("M: idmapped mounts") && e.contains("\"tmpfs\""), "{e}");
        assert!(idmapped(serde_json::json!({"gidMappings": null})).starts_with("M.gidMappings is missing"));
        assert_eq!(
            idmapped(serde_json::json!({"uidMappings": []})),
            "M.uidMappings is empty"
        );
        let e = idmapped(serde_json::json!({"uidMappings": [{"containerID": 0, "hostID": 1, "size": 0}]}));
        assert_eq!(e, "M.uidMappings[0].size is 0");
        let e = idmapped(serde_json::json!({"gidMappings": [{"containerID": 0, "hostID": 4294967295u32, "size": 2}]}));
        assert!(e.starts_with("M.gidMappings[0]: hostID 4294967295 + size 2"), "{e}");
        let e = idmapped(serde_json::json!({"uidMappings": [
            {"containerID": 0, "hostID": 1000, "size": 10}, {"containerID": 100, "hostID": 1005, "size": 1}]}));
        assert_eq!(e, "M.uidMappings[1] overlaps M.uidMappings[0]");
        let e = idmapped(serde_json::json!({"options": ["bind", "idmap=uids=0-1-10"]}));
        assert!(e.starts_with("M.options[1]: mappings inside the idmap option"), "{e}");
    }

    #[test]
    fn net_devices_need_a_network_namespace_and_kernel_names() {
        let e = err(
            serde_json::json!({"linux": {"netDevices": {"eth1": {}}, "namespaces": [{"type": "mount"}, {"type": "uts"}]}}),
        );
        assert!(
            e.starts_with("linux.netDevices: moving network devices requires a network namespace"),
            "{e}"
        );
        let e = err(serde_json::json!({"linux": {"netDevices": {"eth1": {"name": "a/b"}}}}));
        assert!(
            e.starts_with("linux.netDevices[\"eth1\"].name: \"a/b\" is not a network device name"),
            "{e}"
        );
        let e = err(serde_json::json!({"linux": {"netDevices": {"eth%d": {}}}}));
        assert!(
            e.starts_with("linux.netDevices[\"eth%d\"]: a host device is named exactly"),
            "{e}"
        );
        validate(&spec(
            serde_json::json!({"linux": {"netDevices": {"eth1": {"name": "ctr%d"}, "eth2": {}}}}),
        ))
        .unwrap();
    }

    #[test]
    fn soft_above_hard_rejected() {
        let e = err(serde_json::json!({"process": {"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}]}}));
        assert!(e.contains("process.rlimits[0]"), "{e}");
    }
}
