//! The config.json that `scrun spec` writes: runc 1.1.5's default spec, the
//! same members in runc's key order. Only the layout differs: runc indents with
//! tabs and omits the final newline; we indent with two spaces and end with one.
//!
//! serde_json is built without `preserve_order`, so a `serde_json::Value` would
//! print keys alphabetically, and `oci_spec::runtime::Spec` prints its own field
//! order and defaults. Hence a text template. It is written as a diff so both
//! variants share one copy: in the first two columns, `-` lines exist only in the
//! normal spec, `+` lines only with `--rootless` (runc's `specconv.ToRootless`),
//! and `#` lines are comments. Dropping lines leaves commas wrong, so they are
//! recomputed from the line structure rather than carried by each variant.

use nix::unistd::{getegid, geteuid};

const TEMPLATE: &str = r##"
  {
    "ociVersion": "1.0.2-dev",
    "process": {
      "terminal": true,
      "user": {
        "uid": 0,
        "gid": 0
      },
      "args": [
        "sh"
      ],
      "env": [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "TERM=xterm"
      ],
      "cwd": "/",
      "capabilities": {
        "bounding": [
          "CAP_AUDIT_WRITE",
          "CAP_KILL",
          "CAP_NET_BIND_SERVICE"
        ],
        "effective": [
          "CAP_AUDIT_WRITE",
          "CAP_KILL",
          "CAP_NET_BIND_SERVICE"
        ],
        "permitted": [
          "CAP_AUDIT_WRITE",
          "CAP_KILL",
          "CAP_NET_BIND_SERVICE"
        ],
        "ambient": [
          "CAP_AUDIT_WRITE",
          "CAP_KILL",
          "CAP_NET_BIND_SERVICE"
        ]
      },
      "rlimits": [
        {
          "type": "RLIMIT_NOFILE",
          "hard": 1024,
          "soft": 1024
        }
      ],
      "noNewPrivileges": true
    },
    "root": {
      "path": "rootfs",
      "readonly": true
    },
    "hostname": "runc",
    "mounts": [
      {
        "destination": "/proc",
        "type": "proc",
        "source": "proc"
      },
      {
        "destination": "/dev",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": [
          "nosuid",
          "strictatime",
          "mode=755",
          "size=65536k"
        ]
      },
      {
        "destination": "/dev/pts",
        "type": "devpts",
        "source": "devpts",
        "options": [
          "nosuid",
          "noexec",
          "newinstance",
          "ptmxmode=0666",
          "mode=0620",
# Rootless: the user namespace maps a single gid, so gid=5 (tty) does not exist.
-         "gid=5"
        ]
      },
      {
        "destination": "/dev/shm",
        "type": "tmpfs",
        "source": "shm",
        "options": [
          "nosuid",
          "noexec",
          "nodev",
          "mode=1777",
          "size=65536k"
        ]
      },
      {
        "destination": "/dev/mqueue",
        "type": "mqueue",
        "source": "mqueue",
        "options": [
          "nosuid",
          "noexec",
          "nodev"
        ]
      },
      {
        "destination": "/sys",
# Rootless: sysfs cannot be mounted without owning a network namespace: bind the host's.
-       "type": "sysfs",
-       "source": "sysfs",
+       "type": "none",
+       "source": "/sys",
        "options": [
+         "rbind",
          "nosuid",
          "noexec",
          "nodev",
          "ro"
        ]
      },
      {
        "destination": "/sys/fs/cgroup",
        "type": "cgroup",
        "source": "cgroup",
        "options": [
          "nosuid",
          "noexec",
          "nodev",
          "relatime",
          "ro"
        ]
      }
    ],
    "linux": {
# Rootless: an unprivileged user cannot write cgroup device rules; map the caller to root instead.
-     "resources": {
-       "devices": [
-         {
-           "allow": false,
-           "access": "rwm"
-         }
-       ]
-     },
+     "uidMappings": [
+       {
+         "containerID": 0,
+         "hostID": @UID@,
+         "size": 1
+       }
+     ],
+     "gidMappings": [
+       {
+         "containerID": 0,
+         "hostID": @GID@,
+         "size": 1
+       }
+     ],
      "namespaces": [
        {
          "type": "pid"
        },
# Rootless: a fresh network namespace would have no usable interface; keep the host's.
-       {
-         "type": "network"
-       },
        {
          "type": "ipc"
        },
        {
          "type": "uts"
        },
        {
          "type": "mount"
        }
+       {
+         "type": "user"
+       }
      ],
      "maskedPaths": [
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/sys/firmware",
        "/proc/scsi"
      ],
      "readonlyPaths": [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger"
      ]
    }
  }
"##;

/// Returns the spec `runc spec` (or `runc spec --rootless`) would write. The
/// rootless variant maps the caller's effective uid/gid to root, as runc does.
pub fn default_config(rootless: bool) -> String {
    let ids = rootless.then(|| (geteuid().as_raw(), getegid().as_raw()));
    render(ids)
}

/// `rootless_ids` is `Some((uid, gid))` for the rootless variant.
fn render(rootless_ids: Option<(u32, u32)>) -> String {
    let rootless = rootless_ids.is_some();
    let lines: Vec<&str> = TEMPLATE
        .lines()
        .filter(|line| !line.is_empty())
        .filter_map(|line| {
            let (mark, text) = line.split_at(2.min(line.len()));
            match mark.trim() {
                "#" => None,
                "-" if rootless => None,
                "+" if !rootless => None,
                _ => Some(text.trim_end_matches(',')),
            }
        })
        .collect();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        out.push_str(line);
        if needs_comma(line, lines.get(i + 1).copied()) {
            out.push(',');
        }
        out.push('\n');
    }
    match rootless_ids {
        Some((uid, gid)) => out
            .replace("@UID@", &uid.to_string())
            .replace("@GID@", &gid.to_string()),
        None => out,
    }
}

/// In pretty-printed JSON every member or element sits on its own line, so a
/// line needs a comma unless it opens a container, is the last in the file, or
/// the next line closes the container.
fn needs_comma(line: &str, next: Option<&str>) -> bool {
    let opens = line.ends_with('{') || line.ends_with('[');
    let next_closes = next.is_none_or(|n| {
        let n = n.trim_start();
        n.starts_with('}') || n.starts_with(']')
    });
    !opens && !next_closes
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxNamespaceType, Spec};
    use serde_json::Value;
    use std::process::Command;

    fn parse(text: &str) -> Spec {
        serde_json::from_str(text).expect("default config must parse as an OCI Spec")
    }

    #[test]
    fn both_variants_parse_as_spec() {
        for rootless in [false, true] {
            let text = default_config(rootless);
            assert!(text.ends_with("}\n"));
            assert!(text.starts_with("{\n  \"ociVersion\": \"1.0.2-dev\",\n"));
            parse(&text);
        }
    }

    #[test]
    fn normal_variant_has_network_ns_and_device_rule() {
        let spec = parse(&default_config(false));
        let linux = spec.linux().as_ref().unwrap();
        let types: Vec<_> = linux.namespaces().as_ref().unwrap().iter().map(|n| n.typ()).collect();
        assert!(types.contains(&LinuxNamespaceType::Network));
        assert!(!types.contains(&LinuxNamespaceType::User));
        assert!(linux.resources().is_some());
        assert!(linux.uid_mappings().is_none());
    }

    #[test]
    fn rootless_variant_matches_runc_to_rootless() {
        let spec = parse(&render(Some((1234, 5678))));
        let linux = spec.linux().as_ref().unwrap();
        let types: Vec<_> = linux.namespaces().as_ref().unwrap().iter().map(|n| n.typ()).collect();
        assert_eq!(types.last(), Some(&LinuxNamespaceType::User));
        assert!(!types.contains(&LinuxNamespaceType::Network));
        let uid = &linux.uid_mappings().as_ref().unwrap()[0];
        let gid = &linux.gid_mappings().as_ref().unwrap()[0];
        assert_eq!((uid.container_id(), uid.host_id(), uid.size()), (0, 1234, 1));
        assert_eq!((gid.container_id(), gid.host_id(), gid.size()), (0, 5678, 1));
        assert!(linux.resources().is_none());

        let mounts = spec.mounts().as_ref().unwrap();
        let sys = mounts
            .iter()
            .find(|m| m.destination().to_str() == Some("/sys"))
            .unwrap();
        assert_eq!(sys.typ().as_deref(), Some("none"));
        assert_eq!(sys.source().as_ref().and_then(|s| s.to_str()), Some("/sys"));
        assert_eq!(sys.options().as_ref().unwrap()[0], "rbind");
        let id_options = mounts
            .iter()
            .flat_map(|m| m.options().iter().flatten())
            .filter(|o| o.starts_with("gid=") || o.starts_with("uid="));
        assert_eq!(id_options.count(), 0);
    }

    #[test]
    fn current_ids_are_used_for_rootless() {
        let spec = parse(&default_config(true));
        let linux = spec.linux().as_ref().unwrap();
        let uid = linux.uid_mappings().as_ref().unwrap()[0].host_id();
        let gid = linux.gid_mappings().as_ref().unwrap()[0].host_id();
        assert_eq!((uid, gid), (geteuid().as_raw(), getegid().as_raw()));
    }

    /// Text of `runc spec [--rootless]` run in a fresh directory; None if runc
    /// is not installed.
    fn runc_spec(rootless: bool) -> Option<String> {
        let dir = std::env::temp_dir().join(format!("scrun-spec-{}-{rootless}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new("runc");
        cmd.arg("spec").current_dir(&dir);
        if rootless {
            cmd.arg("--rootless");
        }
        let ok = cmd.status().map(|s| s.success()).unwrap_or(false);
        let text = std::fs::read_to_string(dir.join("config.json")).ok();
        let _ = std::fs::remove_dir_all(&dir);
        if !ok {
            return None;
        }
        text
    }

    /// Both sides mapped the same caller, but normalise anyway so the test does
    /// not depend on who runs it.
    fn clear_host_ids(mut v: Value) -> Value {
        for key in ["uidMappings", "gidMappings"] {
            if let Some(maps) = v["linux"][key].as_array_mut() {
                maps.iter_mut().for_each(|m| m["hostID"] = Value::from(0));
            }
        }
        v
    }

    #[test]
    fn equals_runc_output_when_runc_is_installed() {
        for rootless in [false, true] {
            let Some(expected) = runc_spec(rootless) else {
                eprintln!("runc not on PATH; skipping comparison");
                return;
            };
            let ours = default_config(rootless);
            let theirs: Value = serde_json::from_str(&expected).unwrap();
            let mine: Value = serde_json::from_str(&ours).unwrap();
            assert_eq!(clear_host_ids(mine), clear_host_ids(theirs), "rootless={rootless}");
            // Same process, same euid: the text must match too, which also
            // checks key order (Value equality ignores it).
            assert_eq!(ours, expected.replace('\t', "  ") + "\n", "rootless={rootless}");
        }
    }
}
