//! config.json `mounts`: each entry planned into a [`MountStep`] (in the runtime, before the
//! clone), then mounted inside the rootfs through an fd from the in-root resolver.
//!
//! This file plans a mount; `options.rs` is the option table (runtime-spec config-linux "Mount
//! Options" plus runc's extensions), `apply.rs` mounts a planned entry. `MountStep` itself and
//! the bind remount are in `rootfs/mount_step.rs`, which `cgroupfs` uses too. The fd-based mount
//! syscalls (open_tree, move_mount, mount_setattr) are in `rootfs/mount_api.rs`.

use crate::idmap::IdMap;
use anyhow::{bail, Context, Result};
use oci_spec::runtime::Mount;
use options::parse_options;
use std::path::Path;

mod apply;
mod options;
pub use super::mount_step::{remount_bind, Attrs, Idmap, MountStep};
pub use apply::{mount, open_source};
pub use options::{root_propagation, FLAG_OPTIONS, OTHER_OPTIONS, RECURSIVE_OPTIONS};

/// A bind mount: `bind` or `rbind` among the options, or type "bind".
pub fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind") || m.options().iter().flatten().any(|o| o == "bind" || o == "rbind")
}

/// An idmapped mount: `idmap` or `ridmap` among the options, or mappings of its own (which
/// runc also takes without either option).
pub fn is_idmapped(m: &Mount) -> bool {
    m.uid_mappings().is_some()
        || m.gid_mappings().is_some()
        || m.options().iter().flatten().any(|o| o == "idmap" || o == "ridmap")
}

pub fn plan_mount(m: &Mount, bundle: &Path) -> Result<MountStep> {
    let options = m.options().clone().unwrap_or_default();
    let p = parse_options(&options);
    let mut fstype = m.typ().clone().unwrap_or_default();
    let bind = is_bind(m);
    let source = m.source().clone().unwrap_or_default();
    let (source, file_mountpoint) = if bind {
        fstype = "bind".into();
        // A relative bind source is relative to the bundle, as in runc.
        let host = bundle.join(&source);
        let meta = std::fs::metadata(&host).with_context(|| format!("bind source {}", host.display()))?;
        (host.to_string_lossy().into_owned(), !meta.is_dir())
    } else {
        if fstype.is_empty() {
            bail!("type is missing for a mount that is not a bind mount");
        }
        (source.to_string_lossy().into_owned(), false)
    };
    if p.tmpcopyup && fstype != "tmpfs" {
        bail!("option tmpcopyup applies to tmpfs mounts only, not {fstype}");
    }
    Ok(MountStep {
        fstype,
        source,
        destination: m.destination().clone(),
        options,
        flags: p.flags,
        propagation: p.propagation,
        data: p.data.join(","),
        recursive: p.recursive,
        tmpcopyup: p.tmpcopyup,
        file_mountpoint,
        idmap: is_idmapped(m).then(|| {
            let maps =
                |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| m.iter().flatten().map(IdMap::from).collect();
            Idmap {
                recursive: p.idmap == Some(true),
                uid: maps(m.uid_mappings()),
                gid: maps(m.gid_mappings()),
            }
        }),
        attrs: p.attrs,
        cgroupns: false,
    })
}

/// linux.mountLabel as the SELinux context of a mount the container gets a fresh filesystem
/// for (runc's rule: not binds, which keep the host file's label, nor the kernel's proc, sysfs
/// and cgroup views, nor mqueue, whose mount takes no context option).
pub fn set_mount_label(m: &mut MountStep, label: &str) {
    if matches!(
        m.fstype.as_str(),
        "bind" | "proc" | "sysfs" | "cgroup" | "cgroup2" | "mqueue"
    ) {
        return;
    }
    let context = format!("context=\"{label}\"");
    m.data = if m.data.is_empty() {
        context
    } else {
        format!("{},{context}", m.data)
    };
}

/// A read-only bind of a file the runtime generated in the state directory.
pub fn generated_file(host: &Path, dest: &Path) -> MountStep {
    let options: Vec<String> = ["bind", "ro", "nosuid", "nodev", "noexec"].map(String::from).to_vec();
    let p = parse_options(&options);
    MountStep {
        fstype: "bind".into(),
        source: host.to_string_lossy().into_owned(),
        destination: dest.to_path_buf(),
        options,
        flags: p.flags,
        propagation: vec![],
        data: String::new(),
        recursive: false,
        tmpcopyup: false,
        file_mountpoint: true,
        idmap: None,
        attrs: Attrs::default(),
        cgroupns: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_label_is_the_context_of_fresh_filesystems() {
        let mut tmpfs = plan_mount(
            &serde_json::from_value(serde_json::json!({"destination": "/t", "type": "tmpfs", "options": ["mode=755"]}))
                .unwrap(),
            Path::new("/"),
        )
        .unwrap();
        set_mount_label(&mut tmpfs, "system_u:object_r:container_file_t:s0");
        assert_eq!(tmpfs.data, "mode=755,context=\"system_u:object_r:container_file_t:s0\"");
        let mut proc = plan_mount(
            &serde_json::from_value(serde_json::json!({"destination": "/proc", "type": "proc", "source": "proc"}))
                .unwrap(),
            Path::new("/"),
        )
        .unwrap();
        set_mount_label(&mut proc, "l");
        assert_eq!(proc.data, "");
    }
}
