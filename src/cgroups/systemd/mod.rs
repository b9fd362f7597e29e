//! The systemd cgroup driver (`--systemd-cgroup`), as runc's: linux.cgroupsPath is
//! "slice:prefix:name", systemd is asked over D-Bus for a transient scope `<prefix>-<name>.scope`
//! in that slice holding the container's init, and once the job is done the scope's cgroup
//! directories are the container's cgroup, which the cgroupfs code completes (the v1 hierarchies
//! systemd leaves alone, such as freezer and cpuset) and fills in (limits). `delete` stops the unit.
//!
//! The limits systemd knows as unit properties (memory, tasks, CPU quota, devices) are passed
//! as properties too: systemd rewrites a unit's cgroup files from its properties whenever it
//! realizes the unit again (a daemon-reload does it), and would otherwise reset them, opening
//! every device to the container.

mod dbus;

use super::Cgroup;
use anyhow::{anyhow, bail, Context, Result};
use dbus::{CallError, Conn, Value};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};
use std::path::Path;
use std::time::Duration;

const DESTINATION: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
/// systemd's own socket for root (systemctl's way in; peer to peer, no bus daemon needed), then
/// the system bus.
const SOCKETS: [(&str, bool); 2] = [("/run/systemd/private", false), ("/run/dbus/system_bus_socket", true)];
/// How long systemd may take to answer or to finish a job (runc allows 30 s too).
const TIMEOUT: Duration = Duration::from_secs(30);

/// The unit a cgroupsPath names, and the slice it goes in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub name: String,
    pub slice: String,
}

impl Unit {
    /// "slice:prefix:name" (runc's form). An empty slice is system.slice; the unit is
    /// `<prefix>-<name>.scope` (`<name>.scope` with no prefix), or the slice `<name>` itself
    /// when it ends in ".slice". No cgroupsPath at all means "system.slice:scrun:<id>".
    pub fn parse(cgroups_path: Option<&str>, id: &str) -> Result<Unit> {
        let default = format!("system.slice:scrun:{id}");
        let path = cgroups_path.filter(|p| !p.is_empty()).unwrap_or(&default);
        let [slice, prefix, name] = path.split(':').collect::<Vec<_>>()[..] else {
            bail!("linux.cgroupsPath {path:?}: with --systemd-cgroup it must be \"slice:prefix:name\"");
        };
        if name.is_empty() {
            bail!("linux.cgroupsPath {path:?}: the name (after the second ':') is empty");
        }
        let slice = if slice.is_empty() { "system.slice" } else { slice };
        expand_slice(slice).with_context(|| format!("linux.cgroupsPath {path:?}"))?;
        let unit = match (name.ends_with(".slice"), prefix) {
            (true, _) => name.to_string(),
            (false, "") => format!("{name}.scope"),
            (false, _) => format!("{prefix}-{name}.scope"),
        };
        let valid = |c: char| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c);
        if unit.len() > 255 || !unit.chars().all(valid) {
            bail!("linux.cgroupsPath {path:?}: {unit:?} is not a valid systemd unit name");
        }
        Ok(Unit {
            name: unit,
            slice: slice.to_string(),
        })
    }

    fn is_slice(&self) -> bool {
        self.name.ends_with(".slice")
    }

    /// The unit's cgroup below systemd's root: a slice's place follows from its name alone.
    pub fn cgroup_path(&self) -> Result<String> {
        if self.is_slice() {
            return expand_slice(&self.name);
        }
        Ok(format!(
            "{}/{}",
            expand_slice(&self.slice)?.trim_end_matches('/'),
            self.name
        ))
    }
}

/// "a-b-c.slice" lives at /a.slice/a-b.slice/a-b-c.slice; "-.slice" is the root.
fn expand_slice(slice: &str) -> Result<String> {
    if slice == "-.slice" {
        return Ok("/".into());
    }
    let stem = slice
        .strip_suffix(".slice")
        .ok_or_else(|| anyhow!("{slice:?} is not a slice name (it must end in \".slice\")"))?;
    if stem.contains('/') || stem.split('-').any(str::is_empty) {
        bail!("{slice:?} is not a valid slice name");
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for part in stem.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push_str(&format!("/{prefix}.slice"));
    }
    Ok(path)
}

/// The unit and cgroup `create` will make, without making them: what a create records first.
pub fn plan(cgroups_path: Option<&str>, id: &str) -> Result<Cgroup> {
    let unit = Unit::parse(cgroups_path, id)?;
    let mut cgroup = Cgroup::plan(Some(&unit.cgroup_path()?), id)?;
    cgroup.saved.systemd_unit = Some(unit.name);
    Ok(cgroup)
}

/// Starts the unit with `pid` in it, then takes its cgroup directories as the container's
/// cgroup (making those of the hierarchies systemd leaves alone).
pub fn create(cgroups_path: Option<&str>, id: &str, pid: i32, resources: &LinuxResources) -> Result<Cgroup> {
    let unit = Unit::parse(cgroups_path, id)?;
    let path = unit.cgroup_path()?;
    let mut conn = connect()?;
    let props = properties(&unit, id, pid, resources)?;
    let args = [
        Value::str(&unit.name),
        Value::str("fail"),
        Value::Array("(sv)".into(), props),
        Value::Array("(sa(sv))".into(), Vec::new()),
    ];
    let reply = conn
        .call(DESTINATION, MANAGER_PATH, MANAGER, "StartTransientUnit", &args)
        .with_context(|| format!("--systemd-cgroup: start unit {}", unit.name))?;
    wait_job(&mut conn, &reply, &unit.name).with_context(|| format!("--systemd-cgroup: start unit {}", unit.name))?;
    let mut cgroup = match join(&path, id, pid) {
        Ok(c) => c,
        Err(e) => {
            let _ = stop(&unit.name);
            return Err(e);
        }
    };
    cgroup.saved.systemd_unit = Some(unit.name);
    Ok(cgroup)
}

/// Makes the unit's cgroup in every hierarchy and puts the init in it at once. Whenever systemd
/// realizes a unit it removes the unit's directories in the v1 hierarchies it knows but the
/// unit does not use (blkio, here), and a directory scrun made a moment before can go with them
/// (seen: the init's pid write found no blkio directory); one that holds a process cannot be
/// removed, so a directory gone before the init is in is made again.
fn join(path: &str, id: &str, pid: i32) -> Result<Cgroup> {
    let mut tries = 0;
    loop {
        let cgroup = Cgroup::create(Some(path), id)?;
        match cgroup.add_pid(pid) {
            Err(_) if tries < 10 && cgroup.dirs().any(|d| !d.exists()) => tries += 1,
            result => return result.map(|()| cgroup),
        }
    }
}

/// Stops the unit; systemd removes the cgroup directories it made. A unit already gone (its
/// processes all exited, so systemd collected it) is fine.
pub fn stop(unit: &str) -> Result<()> {
    let mut conn = connect()?;
    let reply = match conn.call(
        DESTINATION,
        MANAGER_PATH,
        MANAGER,
        "StopUnit",
        &[Value::str(unit), Value::str("replace")],
    ) {
        Err(e)
            if e.downcast_ref::<CallError>()
                .is_some_and(|c| c.name.ends_with(".NoSuchUnit")) =>
        {
            return Ok(())
        }
        other => other.with_context(|| format!("--systemd-cgroup: stop unit {unit}"))?,
    };
    wait_job(&mut conn, &reply, unit).with_context(|| format!("--systemd-cgroup: stop unit {unit}"))
}

/// The first of systemd's sockets that answers; when none does, say what was tried.
fn connect() -> Result<Conn> {
    let mut tried = Vec::new();
    for (socket, bus) in SOCKETS {
        match Conn::connect(Path::new(socket), bus, TIMEOUT) {
            Ok(mut conn) => {
                if bus {
                    // On a bus, systemd sends job signals only to subscribers that asked for them.
                    let rule = format!("type='signal',interface='{MANAGER}',member='JobRemoved'");
                    conn.call(
                        "org.freedesktop.DBus",
                        "/org/freedesktop/DBus",
                        "org.freedesktop.DBus",
                        "AddMatch",
                        &[Value::Str(rule)],
                    )?;
                    conn.call(DESTINATION, MANAGER_PATH, MANAGER, "Subscribe", &[])
                        .context("--systemd-cgroup: systemd does not answer on the system bus")?;
                }
                return Ok(conn);
            }
            Err(e) => tried.push(format!("{socket} ({e:#})")),
        }
    }
    bail!(
        "--systemd-cgroup: cannot reach systemd at {}: is it running? Omit --systemd-cgroup to use the cgroupfs driver",
        tried.join(" or ")
    )
}

/// Waits for JobRemoved of the job a Start/StopUnit call returned.
fn wait_job(conn: &mut Conn, reply: &[Value], unit: &str) -> Result<()> {
    let job = reply
        .first()
        .and_then(Value::as_str)
        .context("systemd's reply names no job")?
        .to_string();
    loop {
        let signal = conn.signal().with_context(|| format!("wait for systemd's job {job}"))?;
        if signal.member.as_deref() != Some("JobRemoved") || signal.interface.as_deref() != Some(MANAGER) {
            continue;
        }
        // (id, job, unit, result)
        let body = signal.body()?;
        if body.get(1).and_then(Value::as_str) != Some(&job) {
            continue;
        }
        return match body.get(3).and_then(Value::as_str) {
            Some("done") => Ok(()),
            result => Err(anyhow!(
                "systemd's job for {unit} ended with result {:?} (see `systemctl status {unit}`)",
                result.unwrap_or("")
            )),
        };
    }
}

/// The unit's properties, as runc sets them.
fn properties(unit: &Unit, id: &str, pid: i32, resources: &LinuxResources) -> Result<Vec<Value>> {
    let mut props = vec![
        Value::property("Description", Value::Str(format!("scrun container {id}"))),
        // No ordering against shutdown or basic.target: the unit is the container's, nothing more.
        Value::property("DefaultDependencies", Value::Bool(false)),
    ];
    if unit.is_slice() {
        // A slice holds no process itself; the init joins its cgroup by cgroupfs.
        props.push(Value::property(
            "Wants",
            Value::Array("s".into(), vec![Value::str(&unit.slice)]),
        ));
    } else {
        props.push(Value::property("Slice", Value::str(&unit.slice)));
        props.push(Value::property(
            "PIDs",
            Value::Array("u".into(), vec![Value::U32(pid as u32)]),
        ));
        // The container may make cgroups below its own; systemd leaves those alone.
        props.push(Value::property("Delegate", Value::Bool(true)));
    }
    props.extend(limit_properties(resources));
    props.extend(device_properties(resources.devices().as_deref().unwrap_or_default())?);
    Ok(props)
}

/// Tells systemd the new limits of a running container's unit, so that it does not put the
/// old ones back the next time it applies the unit's settings (a daemon-reload).
pub fn set_limits(unit: &str, resources: &LinuxResources) -> Result<()> {
    let props = limit_properties(resources);
    if props.is_empty() {
        return Ok(());
    }
    connect()?
        .call(
            DESTINATION,
            MANAGER_PATH,
            MANAGER,
            "SetUnitProperties",
            &[Value::str(unit), Value::Bool(true), Value::Array("(sv)".into(), props)],
        )
        .with_context(|| format!("--systemd-cgroup: set the limits of unit {unit}"))?;
    Ok(())
}

/// The limits systemd has unit properties for.
fn limit_properties(resources: &LinuxResources) -> Vec<Value> {
    let mut props = Vec::new();
    if let Some(limit) = resources.memory().as_ref().and_then(|m| m.limit()).filter(|l| *l > 0) {
        props.push(Value::property("MemoryMax", Value::U64(limit as u64)));
    }
    if let Some(limit) = resources.pids().as_ref().map(|p| p.limit()).filter(|l| *l > 0) {
        props.push(Value::property("TasksMax", Value::U64(limit as u64)));
    }
    if let Some(cpu) = resources.cpu() {
        let period = cpu.period().filter(|p| *p > 0);
        if let Some(quota) = cpu.quota().filter(|q| *q > 0) {
            // systemd keeps the quota as a whole percentage of a CPU: round up to 10 ms a
            // second so that the cfs_quota_us written after it is not above the parent's.
            let per_sec = (quota as u64 * 1_000_000 / period.unwrap_or(100_000)).next_multiple_of(10_000);
            props.push(Value::property("CPUQuotaPerSecUSec", Value::U64(per_sec)));
        }
        if let Some(period) = period {
            props.push(Value::property("CPUQuotaPeriodUSec", Value::U64(period)));
        }
        // Docker's 0 means unset. systemd takes v1 values where the controller is on v1, and
        // cgroup2's scale elsewhere (runc's conversion).
        if let Some(shares) = cpu.shares().filter(|s| *s > 0) {
            props.push(if super::host().v1_for("cpu").is_some() {
                Value::property("CPUShares", Value::U64(shares))
            } else {
                Value::property("CPUWeight", Value::U64(cpu_weight(shares)))
            });
        }
    }
    if let Some(weight) = resources
        .block_io()
        .as_ref()
        .and_then(|b| b.weight())
        .filter(|w| *w > 0)
    {
        let weight = u64::from(weight);
        props.push(if super::host().v1_for("blkio").is_some() {
            Value::property("BlockIOWeight", Value::U64(weight))
        } else {
            Value::property("IOWeight", Value::U64(io_weight(weight)))
        });
    }
    props
}

/// cpu.shares (2 to 262144) on cgroup2's cpu.weight scale (1 to 10000).
fn cpu_weight(shares: u64) -> u64 {
    1 + (shares.clamp(2, 262144) - 2) * 9999 / 262142
}

/// blkio.weight (10 to 1000) on cgroup2's io.weight scale (1 to 10000).
fn io_weight(weight: u64) -> u64 {
    1 + (weight.clamp(10, 1000) - 10) * 9999 / 990
}

/// DevicePolicy and DeviceAllow for the effect of the device rules: "strict" with the devices
/// allowed after the last deny-all, or systemd's default (everything) after an allow-all.
fn device_properties(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Value>> {
    if rules.is_empty() {
        return Ok(Vec::new());
    }
    let proc_devices = std::fs::read_to_string("/proc/devices").unwrap_or_default();
    let mut allow_all = true;
    let mut allowed: Vec<(String, String)> = Vec::new();
    for rule in rules {
        let major = rule.major().filter(|n| *n >= 0);
        let minor = rule.minor().filter(|n| *n >= 0);
        let typ = rule.typ().unwrap_or(LinuxDeviceType::A);
        if typ == LinuxDeviceType::A && major.is_none() && minor.is_none() {
            allow_all = rule.allow();
            allowed.clear();
            continue;
        }
        let kinds: &[&str] = match typ {
            LinuxDeviceType::A => &["char", "block"],
            LinuxDeviceType::C | LinuxDeviceType::U => &["char"],
            LinuxDeviceType::B => &["block"],
            LinuxDeviceType::P => bail!("linux.resources.devices: type \"p\" (fifo) is not a device cgroup type"),
        };
        for kind in kinds {
            let Some(path) = device_path(kind, major, minor, &proc_devices) else {
                tracing::warn!("--systemd-cgroup: systemd cannot express device rule {kind} {major:?}:{minor:?}; only the cgroupfs rule applies");
                continue;
            };
            let access = rule
                .access()
                .clone()
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| "rwm".into());
            match (rule.allow(), allow_all) {
                (true, false) => allowed.push((path, access)),
                (false, false) => allowed.retain(|(p, _)| *p != path),
                (true, true) => {}
                (false, true) => tracing::warn!(
                    "--systemd-cgroup: systemd cannot deny one device after allowing all; only the cgroupfs rule applies"
                ),
            }
        }
    }
    if allow_all {
        return Ok(vec![Value::property("DevicePolicy", Value::str("auto"))]);
    }
    let entries = allowed
        .into_iter()
        .map(|(path, access)| Value::Struct(vec![Value::Str(path), Value::Str(access)]))
        .collect();
    Ok(vec![
        Value::property("DevicePolicy", Value::str("strict")),
        Value::property("DeviceAllow", Value::Array("(ss)".into(), entries)),
    ])
}

/// systemd's name for a device or group: /dev/char/M:m for one device, char-<group> (from
/// /proc/devices) for every minor of a major, char-* for all. A minor with no major it cannot say.
fn device_path(kind: &str, major: Option<i64>, minor: Option<i64>, proc_devices: &str) -> Option<String> {
    match (major, minor) {
        (Some(major), Some(minor)) => Some(format!("/dev/{kind}/{major}:{minor}")),
        (Some(major), None) => {
            let heading = if kind == "char" {
                "Character devices:"
            } else {
                "Block devices:"
            };
            let section = proc_devices
                .split("\n\n")
                .find(|s| s.trim_start().starts_with(heading))?;
            section.lines().skip(1).find_map(|l| {
                let (num, name) = l.trim().split_once(' ')?;
                (num.parse::<i64>().ok()? == major).then(|| format!("{kind}-{name}"))
            })
        }
        (None, None) => Some(format!("{kind}-*")),
        (None, Some(_)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::device_filter::rule;
    use super::*;

    #[test]
    fn v1_weights_on_cgroup2_scales() {
        assert_eq!((cpu_weight(2), cpu_weight(1024), cpu_weight(262144)), (1, 39, 10000));
        assert_eq!((io_weight(10), io_weight(500), io_weight(1000)), (1, 4950, 10000));
    }

    fn unit(path: &str) -> Result<Unit> {
        Unit::parse(Some(path), "c1")
    }

    #[test]
    fn cgroups_path_names_a_scope_in_a_slice() {
        let u = unit("machine-pods.slice:crio:abc").unwrap();
        assert_eq!(u.name, "crio-abc.scope");
        assert_eq!(
            u.cgroup_path().unwrap(),
            "/machine.slice/machine-pods.slice/crio-abc.scope"
        );
        let u = unit(":scrun:abc").unwrap();
        assert_eq!((u.name.as_str(), u.slice.as_str()), ("scrun-abc.scope", "system.slice"));
        assert_eq!(unit("system.slice::abc").unwrap().name, "abc.scope");
        assert_eq!(unit("-.slice:p:x").unwrap().cgroup_path().unwrap(), "/p-x.scope");
        let default = Unit::parse(None, "c1").unwrap();
        assert_eq!(default.cgroup_path().unwrap(), "/system.slice/scrun-c1.scope");
    }

    #[test]
    fn a_name_ending_in_slice_is_the_unit() {
        let u = unit("system.slice:ignored:kubepods-besteffort.slice").unwrap();
        assert_eq!(u.name, "kubepods-besteffort.slice");
        assert_eq!(u.cgroup_path().unwrap(), "/kubepods.slice/kubepods-besteffort.slice");
    }

    #[test]
    fn bad_cgroups_paths_name_the_field() {
        for (path, why) in [
            ("/docker/abc", "must be \"slice:prefix:name\""),
            ("a:b:c:d", "must be \"slice:prefix:name\""),
            ("system.slice:p:", "name (after the second ':') is empty"),
            ("system:p:n", "must end in \".slice\""),
            ("a--b.slice:p:n", "not a valid slice name"),
            ("a/b.slice:p:n", "not a valid slice name"),
            ("system.slice:p:n m", "not a valid systemd unit name"),
        ] {
            let err = format!("{:#}", unit(path).unwrap_err());
            assert!(err.contains("linux.cgroupsPath") && err.contains(why), "{path}: {err}");
        }
    }

    #[test]
    fn device_rules_become_a_strict_allow_list() {
        use LinuxDeviceType::{A, C};
        let mut rules = vec![rule(false, A, None, None, "rwm"), rule(true, C, Some(1), Some(7), "rw")];
        rules.extend(crate::cgroups::default_device_rules());
        rules.push(rule(false, C, Some(1), Some(7), "rwm"));
        let props = device_properties(&rules).unwrap();
        assert_eq!(props[0], Value::property("DevicePolicy", Value::str("strict")));
        let Value::Struct(pair) = &props[1] else { panic!() };
        let Value::Variant(list) = &pair[1] else { panic!() };
        let Value::Array(_, entries) = &**list else { panic!() };
        let paths: Vec<&str> = entries
            .iter()
            .map(|e| match e {
                Value::Struct(f) => f[0].as_str().unwrap(),
                _ => panic!(),
            })
            .collect();
        assert!(paths.contains(&"char-*") && paths.contains(&"block-*"), "{paths:?}");
        assert!(paths.contains(&"/dev/char/1:3"), "{paths:?}");
        // 1:7 was allowed, then denied again.
        assert!(!paths.contains(&"/dev/char/1:7"), "{paths:?}");
    }

    #[test]
    fn allow_all_leaves_systemds_default() {
        let rules = [rule(true, LinuxDeviceType::A, None, None, "rwm")];
        assert_eq!(
            device_properties(&rules).unwrap(),
            [Value::property("DevicePolicy", Value::str("auto"))]
        );
    }

    #[test]
    fn a_major_names_its_group_from_proc_devices() {
        let proc_devices = "Character devices:\n  1 mem\n136 pts\n\nBlock devices:\n  8 sd\n";
        assert_eq!(
            device_path("char", Some(136), None, proc_devices).as_deref(),
            Some("char-pts")
        );
        assert_eq!(
            device_path("block", Some(8), None, proc_devices).as_deref(),
            Some("block-sd")
        );
        assert_eq!(device_path("block", Some(136), None, proc_devices), None);
        assert_eq!(device_path("char", None, Some(3), proc_devices), None);
    }
}
