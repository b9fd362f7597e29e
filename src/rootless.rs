//! Running as an ordinary user (rootless), as runc and crun do: the state root is the user's
//! ($XDG_RUNTIME_DIR/scrun), the init does in its own user and mount namespaces what the
//! runtime, unprivileged on the host, may not (open bind sources, make device nodes), id
//! mappings are written by the user for their own id or by newuidmap/newgidmap for ranges of
//! /etc/subuid and /etc/subgid, and a container gets a cgroup only where one is needed.
//! The plan builder does this when `Options::rootless` says so, so that `explain` shows the
//! steps exactly as they run; `check` then refuses what the caller may not do.

use crate::plan::{AfterCloneStep, CloneStep, IdMap, PlaceStep, Plan, ProcessStep};
use crate::spec::Bundle;
use anyhow::{bail, Context, Result};
use nix::unistd::{getegid, geteuid, Pid};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The state root of a runtime that is root on the host.
pub const SYSTEM_ROOT: &str = "/run/scrun";

static MODE: OnceLock<bool> = OnceLock::new();

/// The global --rootless (runc's values: true, false, auto; no value means true).
pub fn set_mode(flag: Option<&str>) -> Result<()> {
    let on = match flag.unwrap_or("auto") {
        "true" => true,
        "false" => false,
        "auto" => detect(),
        other => bail!("--rootless {other:?}: expected true, false or auto"),
    };
    let _ = MODE.set(on);
    Ok(())
}

/// Whether the runtime runs without privilege on the host (--rootless, or else detected): as
/// an ordinary user, or as root of a user namespace (rootless podman runs it so), where it may
/// not make device nodes nor a cgroup.
pub fn active() -> bool {
    *MODE.get_or_init(detect)
}

/// Whether the runtime is an ordinary user, who can make namespaces only along with a user
/// namespace of their own and map only ids they own.
pub fn unprivileged() -> bool {
    !geteuid().is_root()
}

fn detect() -> bool {
    unprivileged() || in_user_namespace()
}

/// The default state root: $XDG_RUNTIME_DIR/scrun where runc would use $XDG_RUNTIME_DIR/runc
/// (a caller that is not root, or root of a user namespace whose $USER is not "root"), else
/// /run/user/UID/scrun where logind made that directory (crun's fallback); for root,
/// /run/scrun.
pub fn state_root() -> Result<PathBuf> {
    let uid = geteuid();
    let honor_xdg = !uid.is_root() || (in_user_namespace() && std::env::var("USER").map_or(true, |u| u != "root"));
    if !honor_xdg {
        return Ok(SYSTEM_ROOT.into());
    }
    if let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR").filter(|x| !x.is_empty()) {
        return Ok(Path::new(&xdg).join("scrun"));
    }
    let run_user = PathBuf::from(format!("/run/user/{uid}"));
    if run_user.is_dir() {
        return Ok(run_user.join("scrun"));
    }
    if uid.is_root() {
        return Ok(SYSTEM_ROOT.into());
    }
    bail!(
        "no state root for uid {uid}: XDG_RUNTIME_DIR is not set and {} does not exist; \
         set XDG_RUNTIME_DIR to a directory you own, or give --root DIR",
        run_user.display()
    )
}

/// Whether this process is in a user namespace other than the host's.
fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
}

/// The cgroup step of a rootless runtime: the container's cgroup goes below the cgroup2 cgroup
/// delegated to the caller (see `cgroups::delegated`), with the limits its controllers allow;
/// without one there is no cgroup, and a config with limits is refused naming them, never run
/// silently unlimited. Unchanged for a privileged runtime (`rootless` false).
pub fn cgroup_step(step: PlaceStep, rootless: bool) -> Result<Option<PlaceStep>> {
    let PlaceStep::Cgroup {
        path,
        mut resources,
        systemd,
    } = step
    else {
        return Ok(Some(step));
    };
    if !rootless {
        return Ok(Some(PlaceStep::Cgroup {
            path,
            resources,
            systemd,
        }));
    }
    let limits = limits_asked(&resources);
    let delegated = crate::cgroups::delegated::find().filter(|d| !systemd && d.holds(path.as_deref()));
    match (delegated, limits.first()) {
        (Some(d), _) => {
            d.check_limits(&limits)?;
            // Device rules need a device cgroup (a BPF program on cgroup2), which takes
            // privilege; runc drops them rootless likewise.
            resources.set_devices(None);
            Ok(Some(PlaceStep::Cgroup {
                path,
                resources,
                systemd,
            }))
        }
        (None, None) => Ok(None),
        (None, Some(field)) => bail!("{field}: {}", no_cgroup(systemd, path.as_deref())),
    }
}

/// Check a plan built for a rootless runtime (`Options::rootless`) against what the caller may
/// do: a user namespace of its own mapping ids the caller has, the ids the process runs as
/// mapped, and a rootfs its root can own. `bundle` is the container's for `create`, None for
/// `exec`, which joins the container's namespaces as they are.
pub fn check(plan: &Plan, bundle: Option<&Bundle>) -> Result<()> {
    match bundle {
        Some(bundle) if active() && unprivileged() => check_user_namespace(plan, bundle),
        _ => Ok(()),
    }
}

/// A rootless container needs its own user namespace, mapping the ids it runs as, onto ids the
/// user has; its rootfs must belong to an id it maps, or its root could not own its files.
fn check_user_namespace(plan: &Plan, bundle: &Bundle) -> Result<()> {
    let maps = plan.each(AfterCloneStep::of).find_map(|(_, _, s)| match s {
        AfterCloneStep::IdMappings { uid, gid } => Some((uid, gid)),
        _ => None,
    });
    let Some((uid_maps, gid_maps)) = maps else {
        if plan
            .each(CloneStep::of)
            .any(|(_, _, s)| matches!(s, CloneStep::CloneInside { .. }))
        {
            return Ok(());
        }
        bail!(
            "linux.namespaces: a rootless container needs a user namespace (scrun spec --rootless writes one), \
             running as uid {}",
            geteuid()
        );
    };
    check_maps("linux.uidMappings", uid_maps, geteuid().as_raw(), "/etc/subuid")?;
    check_maps("linux.gidMappings", gid_maps, getegid().as_raw(), "/etc/subgid")?;
    for step in plan.steps.iter().filter_map(|s| s.action.process()) {
        if let ProcessStep::Identity {
            uid,
            gid,
            additional_gids,
            ..
        } = step
        {
            let mapped = |maps: &[IdMap], id: u32| {
                maps.iter()
                    .any(|m| id >= m.container_id && id - m.container_id < m.size)
            };
            if !mapped(uid_maps, *uid) {
                bail!("process.user.uid: {uid} is not mapped by linux.uidMappings");
            }
            if !mapped(gid_maps, *gid) {
                bail!("process.user.gid: {gid} is not mapped by linux.gidMappings");
            }
            if let Some(g) = additional_gids.iter().find(|g| !mapped(gid_maps, **g)) {
                bail!("process.user.additionalGids: {g} is not mapped by linux.gidMappings");
            }
        }
    }
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(&bundle.rootfs)
        .with_context(|| format!("root.path: {}", bundle.rootfs.display()))?
        .uid();
    if !uid_maps
        .iter()
        .any(|m| owner >= m.host_id && owner - m.host_id < m.size)
    {
        bail!(
            "root.path: {} is owned by uid {owner}, which linux.uidMappings does not map: \
             the container's root could not own its files",
            bundle.rootfs.display()
        );
    }
    Ok(())
}

/// Each mapping is the caller's own id, or lies in a range `file` gives the caller.
fn check_maps(field: &str, maps: &[IdMap], own: u32, file: &str) -> Result<()> {
    if maps.is_empty() {
        bail!("{field}: a rootless container must map at least the caller's id {own}");
    }
    let mut ranges = None;
    for (i, m) in maps.iter().enumerate() {
        if m.size == 1 && m.host_id == own {
            continue;
        }
        let ranges = match &mut ranges {
            Some(r) => r,
            None => ranges.insert(subordinate_ids(file)?),
        };
        let end = u64::from(m.host_id) + u64::from(m.size);
        if !ranges
            .iter()
            .any(|(start, count)| u64::from(m.host_id) >= *start && end <= start + count)
        {
            bail!(
                "{field}[{i}]: host ids {}..{} are neither uid {own} nor in a range {file} gives {}",
                m.host_id,
                end,
                user_name().unwrap_or_else(|| own.to_string())
            );
        }
    }
    Ok(())
}

/// linux.uidMappings and linux.gidMappings of a rootless config whose process runs as `uid`
/// and `gid`: the caller's own ids as 0 (runc's `spec --rootless`) and, for a process that is
/// not root, the caller's first /etc/subuid and /etc/subgid ranges from 1 on, as rootless
/// podman maps them.
pub fn spec_mappings(uid: u32, gid: u32) -> Result<(serde_json::Value, serde_json::Value)> {
    let map = |wanted: u32, own: u32, file: &str, what: &str| -> Result<serde_json::Value> {
        let mut maps = vec![serde_json::json!({"containerID": 0, "hostID": own, "size": 1})];
        if wanted != 0 {
            let who = user_name().unwrap_or_else(|| own.to_string());
            let (start, count) = subordinate_ids(file)?.first().copied().with_context(|| {
                format!("--user: {what} {wanted} needs ids beyond your own, and {file} gives {who} none")
            })?;
            if u64::from(wanted) > count {
                bail!("--user: {what} {wanted} is beyond the {count} ids {file} gives {who}");
            }
            maps.push(serde_json::json!({"containerID": 1, "hostID": start, "size": count}));
        }
        Ok(maps.into())
    };
    Ok((
        map(uid, geteuid().as_raw(), "/etc/subuid", "uid")?,
        map(gid, getegid().as_raw(), "/etc/subgid", "gid")?,
    ))
}

/// The caller's ranges in /etc/subuid or /etc/subgid (lines NAME_OR_ID:START:COUNT).
fn subordinate_ids(file: &str) -> Result<Vec<(u64, u64)>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("read {file}"))?;
    let uid = geteuid().as_raw().to_string();
    let name = user_name();
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut f = line.trim().split(':');
            let (who, start, count) = (f.next()?, f.next()?.parse().ok()?, f.next()?.parse().ok()?);
            (who == uid || Some(who) == name.as_deref()).then_some((start, count))
        })
        .collect())
}

fn user_name() -> Option<String> {
    nix::unistd::User::from_uid(geteuid()).ok().flatten().map(|u| u.name)
}

/// A rootless `update`: a limit whose controller the container's cgroup cannot have (a v1 one
/// on a hybrid host, one not delegated) is refused naming it, as at create.
pub fn check_update(cgroup: &crate::cgroups::SavedCgroup, resources: &oci_spec::runtime::LinuxResources) -> Result<()> {
    match crate::cgroups::delegated::Delegated::parent_of(cgroup).filter(|_| active()) {
        Some(parent) => parent.check_limits(&limits_asked(resources)),
        None => Ok(()),
    }
}

/// Why a rootless container gets no cgroup: what to say of a limit it asks for.
fn no_cgroup(systemd: bool, cgroups_path: Option<&str>) -> String {
    let uid = geteuid();
    if systemd {
        return "needs a cgroup the user owns, and --systemd-cgroup would need a user systemd, which a rootless \
                scrun does not use; remove linux.resources to run without limits"
            .into();
    }
    if let Some(d) = crate::cgroups::delegated::find() {
        return format!(
            "needs a cgroup the user owns, and linux.cgroupsPath {cgroups_path:?} is not below {}, \
             the cgroup2 cgroup delegated to uid {uid}",
            d.dir.display()
        );
    }
    format!(
        "needs a cgroup the user owns, and no cgroup2 cgroup is delegated to uid {uid} (neither the caller's \
         nor its parent has cgroup.procs and cgroup.subtree_control writable by it): run scrun in one, \
         e.g. under `systemd-run --user --scope -p Delegate=yes`, or remove linux.resources to run without limits"
    )
}

/// The fields of linux.resources that set a limit, as `linux.resources.memory.limit`.
/// Device rules are not limits: without privilege there is no device cgroup, and a user
/// namespace cannot make device nodes anyway (runc ignores them likewise).
fn limits_asked(resources: &oci_spec::runtime::LinuxResources) -> Vec<String> {
    fn collect(path: String, v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Null => {}
            serde_json::Value::Object(o) => o.iter().for_each(|(k, v)| collect(format!("{path}.{k}"), v, out)),
            serde_json::Value::Array(a) if a.is_empty() => {}
            _ => out.push(path),
        }
    }
    let mut out = Vec::new();
    if let Ok(mut value) = serde_json::to_value(resources) {
        if let Some(o) = value.as_object_mut() {
            o.remove("devices");
        }
        collect("linux.resources".into(), &value, &mut out);
    }
    out
}

/// Write the init's id maps as an unprivileged user: the caller's own id directly (gid after
/// denying setgroups, which the kernel requires), anything wider through the setuid helpers
/// newuidmap and newgidmap, which check /etc/subuid and /etc/subgid.
pub fn write_id_maps(pid: Pid, uid: &[IdMap], gid: &[IdMap]) -> Result<()> {
    let own = |maps: &[IdMap], id: u32| matches!(maps, [m] if m.host_id == id && m.size == 1);
    for (file, maps, helper, id) in [
        ("uid_map", uid, "newuidmap", geteuid().as_raw()),
        ("gid_map", gid, "newgidmap", getegid().as_raw()),
    ] {
        if own(maps, id) {
            let path = format!("/proc/{pid}/{file}");
            if file == "gid_map" {
                std::fs::write(format!("/proc/{pid}/setgroups"), "deny")
                    .with_context(|| format!("write /proc/{pid}/setgroups"))?;
            }
            let m = &maps[0];
            std::fs::write(&path, format!("{} {} 1\n", m.container_id, m.host_id))
                .with_context(|| format!("write {path}"))?;
            continue;
        }
        let mut cmd = std::process::Command::new(helper);
        cmd.arg(pid.to_string());
        for m in maps {
            cmd.args([m.container_id, m.host_id, m.size].map(|n| n.to_string()));
        }
        let out = cmd
            .stdin(std::process::Stdio::null())
            .output()
            .with_context(|| format!("run {helper} (Debian's package uidmap)"))?;
        if !out.status.success() {
            bail!(
                "{helper}: {} ({})",
                String::from_utf8_lossy(&out.stderr).trim(),
                out.status
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_named_devices_are_not() {
        let r: oci_spec::runtime::LinuxResources = serde_json::from_value(serde_json::json!({
            "devices": [{"allow": false, "access": "rwm"}],
            "memory": {"limit": 1000000}
        }))
        .unwrap();
        assert_eq!(
            limits_asked(&r).first().map(String::as_str),
            Some("linux.resources.memory.limit")
        );
        let r: oci_spec::runtime::LinuxResources =
            serde_json::from_value(serde_json::json!({"devices": [{"allow": false, "access": "rwm"}]})).unwrap();
        assert!(limits_asked(&r).is_empty());
    }
}
