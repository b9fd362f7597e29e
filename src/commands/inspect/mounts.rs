//! The mount table as the container sees it, and why each mount is there.

use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

#[derive(Serialize)]
pub(super) struct Mounts {
    pub(super) entries: Vec<Mount>,
}

#[derive(Serialize, Clone, Debug)]
pub(super) struct Mount {
    pub(super) id: u32,
    pub(super) parent: u32,
    pub(super) mount_point: String,
    pub(super) fstype: String,
    pub(super) source: String,
    /// The directory or file of the source filesystem mounted here (a bind's source).
    pub(super) root: String,
    pub(super) options: String,
    pub(super) super_options: String,
    /// `image` for the rootfs itself, `added` for everything the runtime mounted.
    pub(super) origin: &'static str,
    pub(super) why: Option<String>,
}

/// Mount points are seen from the process's root: "/" is the image. Before pivot_root that
/// root is the host's: only the mounts at or below the rootfs (`before_pivot`) are the
/// container's, at their place below it.
pub(super) fn parse_mountinfo(text: &str, before_pivot: Option<&Path>) -> Vec<Mount> {
    crate::mountinfo::parse(text)
        .into_iter()
        .filter_map(|e| {
            let mount_point = match before_pivot {
                None => e.mount_point,
                Some(rootfs) => format!("/{}", Path::new(&e.mount_point).strip_prefix(rootfs).ok()?.to_str()?),
            };
            Some(Mount {
                id: e.id,
                parent: e.parent,
                root: e.root,
                origin: if mount_point == "/" { "image" } else { "added" },
                mount_point,
                options: e.options,
                fstype: e.fstype,
                source: e.source,
                super_options: e.super_options,
                why: None,
            })
        })
        .collect()
}

/// What config.json (as it is now in the bundle) asked for, to tell why a mount is there.
#[derive(Default)]
pub(super) struct Config {
    /// (index in `mounts`, destination, type)
    pub(super) mounts: Vec<(usize, String, String)>,
    pub(super) masked: Vec<String>,
    pub(super) readonly: Vec<String>,
    pub(super) root_readonly: bool,
}

pub(super) fn read_config(bundle: &Path) -> Config {
    let Ok(text) = std::fs::read(bundle.join("config.json")) else {
        return Config::default();
    };
    let Ok(v) = serde_json::from_slice::<Value>(&text) else {
        return Config::default();
    };
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(clean)).collect())
            .unwrap_or_default()
    };
    Config {
        mounts: v["mounts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .enumerate()
                    .filter_map(|(i, m)| {
                        Some((
                            i,
                            clean(m["destination"].as_str()?),
                            m["type"].as_str().unwrap_or("").to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        masked: strings(&v["linux"]["maskedPaths"]),
        readonly: strings(&v["linux"]["readonlyPaths"]),
        root_readonly: v["root"]["readonly"].as_bool().unwrap_or(false),
    }
}

/// "/dev/" and "/dev" are the same destination.
fn clean(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        "/".into()
    } else {
        t.into()
    }
}

const GENERATED: [&str; 3] = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"];

pub(super) fn explain_mounts(list: &[Mount], config: &Config) -> Vec<Mount> {
    let by_id: HashMap<u32, &Mount> = list.iter().map(|m| (m.id, m)).collect();
    list.iter()
        .map(|m| {
            let mut m = m.clone();
            m.why = mount_why(&m, by_id.get(&m.parent).copied(), config);
            m
        })
        .collect()
}

fn mount_why(m: &Mount, parent: Option<&Mount>, config: &Config) -> Option<String> {
    let mp = m.mount_point.as_str();
    if mp == "/" {
        let ro = m.options.split(',').any(|o| o == "ro");
        return Some(if ro && config.root_readonly {
            "the image directory (root.path), read-only (root.readonly)".into()
        } else {
            "the image directory (root.path)".into()
        });
    }
    if config.masked.iter().any(|p| p == mp) {
        return Some(if m.root.ends_with("/null") {
            "masked (linux.maskedPaths): /dev/null bound over it".into()
        } else {
            "masked (linux.maskedPaths): an empty read-only tmpfs over it".into()
        });
    }
    if config.readonly.iter().any(|p| p == mp) {
        return Some("read-only (linux.readonlyPaths)".into());
    }
    if let Some((i, _, typ)) = config.mounts.iter().rev().find(|(_, d, _)| d == mp) {
        let typ = if typ.is_empty() { m.fstype.as_str() } else { typ };
        let what = if typ == "cgroup" && m.fstype == "tmpfs" {
            "cgroups (a tmpfs holding one mount per hierarchy)".into()
        } else {
            fs_why(typ, mp)
        };
        return Some(format!("mounts[{i}] of config.json: {what}"));
    }
    if GENERATED.contains(&mp) && m.root.ends_with(&mp["/etc".len()..]) {
        return Some("generated by the runtime (a file of its state directory, read-only)".into());
    }
    if mp == "/dev/console" {
        return Some("the container's terminal (a pty)".into());
    }
    if let Some(p) = parent {
        if matches!(m.fstype.as_str(), "cgroup" | "cgroup2") && p.fstype == "tmpfs" {
            if let Some((i, _, _)) = config.mounts.iter().find(|(_, d, _)| *d == p.mount_point) {
                return Some(format!("mounts[{i}] of config.json: one cgroup hierarchy"));
            }
        }
    }
    None
}

fn fs_why(typ: &str, mp: &str) -> String {
    match (typ, mp) {
        ("proc", _) => "the container's own /proc".into(),
        ("sysfs", _) => "the kernel's /sys".into(),
        ("devpts", _) => "the container's own ptys".into(),
        ("mqueue", _) => "POSIX message queues".into(),
        ("tmpfs", "/dev") => "an empty /dev the runtime fills with device nodes".into(),
        ("tmpfs", "/dev/shm") => "POSIX shared memory".into(),
        ("cgroup" | "cgroup2", _) => "cgroups".into(),
        ("bind" | "none" | "", _) => "bind mount".into(),
        (t, _) => format!("{t} mount"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_is_parsed_and_unescaped() {
        let text = "67 45 254:0 /tmp/b/rootfs / ro,relatime - ext4 /dev/vda rw\n\
                    43 67 254:0 /run/scrun/x/hosts /etc/hosts ro,nosuid shared:3 master:1 - ext4 /dev/vda rw\n\
                    68 67 0:40 / /my\\040dir rw - proc proc rw\n";
        let m = parse_mountinfo(text, None);
        assert_eq!(m.len(), 3);
        assert_eq!((m[0].mount_point.as_str(), m[0].origin), ("/", "image"));
        assert_eq!(m[1].fstype, "ext4");
        assert_eq!(m[1].root, "/run/scrun/x/hosts");
        assert_eq!(m[1].origin, "added");
        assert_eq!(m[2].mount_point, "/my dir");
        let config = Config::default();
        let m = explain_mounts(&m, &config);
        assert_eq!(
            m[1].why.as_deref(),
            Some("generated by the runtime (a file of its state directory, read-only)")
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(crate::mountinfo::unescape("a\\040b\\011c\\134d"), "a b\tc\\d");
        assert_eq!(crate::mountinfo::unescape("trailing\\04"), "trailing\\04");
    }
}
