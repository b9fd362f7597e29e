//! The mount options of config.json's `mounts` (runtime-spec config-linux "Mount Options"
//! plus runc's extensions): flags, recursive attributes, propagation, filesystem data.

use super::Attrs;
use anyhow::{Context, Result};
use nix::mount::MsFlags;

pub(super) struct Parsed {
    pub(super) flags: u64,
    pub(super) propagation: Vec<u64>,
    pub(super) data: Vec<String>,
    pub(super) recursive: bool,
    pub(super) tmpcopyup: bool,
    /// `idmap` (false) or `ridmap` (true).
    pub(super) idmap: Option<bool>,
    pub(super) attrs: Attrs,
}

/// The recursive options (runc's names, runtime-spec "Mount Options"): (name, attribute, set
/// it or clear it). An access-time attribute replaces the whole access-time field.
pub const RECURSIVE_OPTIONS: &[(&str, u64, bool)] = &[
    ("rro", libc::MOUNT_ATTR_RDONLY, true),
    ("rrw", libc::MOUNT_ATTR_RDONLY, false),
    ("rnosuid", libc::MOUNT_ATTR_NOSUID, true),
    ("rsuid", libc::MOUNT_ATTR_NOSUID, false),
    ("rnodev", libc::MOUNT_ATTR_NODEV, true),
    ("rdev", libc::MOUNT_ATTR_NODEV, false),
    ("rnoexec", libc::MOUNT_ATTR_NOEXEC, true),
    ("rexec", libc::MOUNT_ATTR_NOEXEC, false),
    ("rnodiratime", libc::MOUNT_ATTR_NODIRATIME, true),
    ("rdiratime", libc::MOUNT_ATTR_NODIRATIME, false),
    ("rrelatime", libc::MOUNT_ATTR_RELATIME, true),
    ("rnorelatime", libc::MOUNT_ATTR_RELATIME, false),
    ("rnoatime", libc::MOUNT_ATTR_NOATIME, true),
    ("ratime", libc::MOUNT_ATTR_NOATIME, false),
    ("rstrictatime", libc::MOUNT_ATTR_STRICTATIME, true),
    ("rnostrictatime", libc::MOUNT_ATTR_STRICTATIME, false),
    ("rnosymfollow", libc::MOUNT_ATTR_NOSYMFOLLOW, true),
    ("rsymfollow", libc::MOUNT_ATTR_NOSYMFOLLOW, false),
];

const ATIME_ATTRS: [u64; 3] = [
    libc::MOUNT_ATTR_RELATIME,
    libc::MOUNT_ATTR_NOATIME,
    libc::MOUNT_ATTR_STRICTATIME,
];

/// The mount options that are flags: (name, flags set, flags cleared). runtime-spec's list
/// plus "defaults"; `scrun features` reports these.
pub const FLAG_OPTIONS: &[(&str, u64, u64)] = &[
    ("defaults", 0, 0),
    ("ro", libc::MS_RDONLY, 0),
    ("rw", 0, libc::MS_RDONLY),
    ("suid", 0, libc::MS_NOSUID),
    ("nosuid", libc::MS_NOSUID, 0),
    ("dev", 0, libc::MS_NODEV),
    ("nodev", libc::MS_NODEV, 0),
    ("exec", 0, libc::MS_NOEXEC),
    ("noexec", libc::MS_NOEXEC, 0),
    ("sync", libc::MS_SYNCHRONOUS, 0),
    ("async", 0, libc::MS_SYNCHRONOUS),
    ("dirsync", libc::MS_DIRSYNC, 0),
    ("remount", libc::MS_REMOUNT, 0),
    ("mand", libc::MS_MANDLOCK, 0),
    ("nomand", 0, libc::MS_MANDLOCK),
    ("atime", 0, libc::MS_NOATIME),
    ("noatime", libc::MS_NOATIME, 0),
    ("diratime", 0, libc::MS_NODIRATIME),
    ("nodiratime", libc::MS_NODIRATIME, 0),
    ("relatime", libc::MS_RELATIME, 0),
    ("norelatime", 0, libc::MS_RELATIME),
    ("strictatime", libc::MS_STRICTATIME, 0),
    ("nostrictatime", 0, libc::MS_STRICTATIME),
    ("lazytime", libc::MS_LAZYTIME, 0),
    ("nolazytime", 0, libc::MS_LAZYTIME),
    ("iversion", libc::MS_I_VERSION, 0),
    ("noiversion", 0, libc::MS_I_VERSION),
    ("silent", libc::MS_SILENT, 0),
    ("loud", 0, libc::MS_SILENT),
    ("nosymfollow", libc::MS_NOSYMFOLLOW, 0),
];

/// Options that are not flags: bind mounts, propagation, runc's tmpcopyup.
pub const OTHER_OPTIONS: &[&str] = &[
    "bind",
    "rbind",
    "tmpcopyup",
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
    "idmap",
    "ridmap",
];

/// Translate mount options to flags. Unknown words are filesystem data, as runc does.
pub(super) fn parse_options(options: &[String]) -> Parsed {
    let mut p = Parsed {
        flags: 0,
        propagation: vec![],
        data: vec![],
        recursive: false,
        tmpcopyup: false,
        idmap: None,
        attrs: Attrs::default(),
    };
    for opt in options {
        if let Some((_, set, clear)) = FLAG_OPTIONS.iter().find(|(name, _, _)| name == opt) {
            p.flags = (p.flags | set) & !clear;
            continue;
        }
        if let Some(&(_, attr, set)) = RECURSIVE_OPTIONS.iter().find(|(name, _, _)| name == opt) {
            let a = &mut p.attrs;
            if ATIME_ATTRS.contains(&attr) {
                // The access-time attributes are values of one field (relatime is 0), changed
                // as a whole: clearing one leaves the kernel's default, relatime.
                a.clear |= libc::MOUNT_ATTR__ATIME;
                a.set = (a.set & !libc::MOUNT_ATTR__ATIME) | if set { attr } else { 0 };
            } else if set {
                a.set |= attr;
                a.clear &= !attr;
            } else {
                a.clear |= attr;
                a.set &= !attr;
            }
            continue;
        }
        match opt.as_str() {
            "bind" => {}
            "rbind" => p.recursive = true,
            "tmpcopyup" => p.tmpcopyup = true,
            "idmap" => p.idmap = Some(false),
            "ridmap" => p.idmap = Some(true),
            other => match propagation(other) {
                Some(flag) => p.propagation.push(flag.bits()),
                None => p.data.push(other.to_string()),
            },
        }
    }
    p
}

fn propagation(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// rootfsPropagation as flags.
pub fn root_propagation(name: &str) -> Result<MsFlags> {
    propagation(name).with_context(|| format!("linux.rootfsPropagation: unknown propagation {name:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(o: &[&str]) -> Parsed {
        parse_options(&o.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_and_data() {
        let p = opts(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(p.flags, libc::MS_NOSUID | libc::MS_STRICTATIME);
        assert_eq!(p.data, vec!["mode=755", "size=65536k"]);
        let p = opts(&["ro", "rw", "rbind", "rprivate"]);
        assert_eq!(p.flags, 0);
        assert!(p.recursive && p.idmap.is_none());
        assert_eq!(p.propagation, vec![libc::MS_PRIVATE | libc::MS_REC]);
    }

    #[test]
    fn recursive_options_are_attributes() {
        let p = opts(&["rbind", "rro", "rnosuid", "rsuid", "rnoexec", "rnoatime"]);
        assert!(p.data.is_empty());
        assert_eq!(p.flags, 0);
        assert_eq!(
            p.attrs,
            Attrs {
                set: libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOEXEC | libc::MOUNT_ATTR_NOATIME,
                clear: libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR__ATIME,
            }
        );
        let p = opts(&["rnoatime", "rrelatime"]);
        assert_eq!(
            (p.attrs.set, p.attrs.clear),
            (libc::MOUNT_ATTR_RELATIME, libc::MOUNT_ATTR__ATIME)
        );
    }

    #[test]
    fn idmap_options_are_not_filesystem_data() {
        let p = opts(&["rbind", "ridmap"]);
        assert_eq!(p.idmap, Some(true));
        assert!(p.data.is_empty());
        assert_eq!(opts(&["bind", "idmap"]).idmap, Some(false));
    }
}
