//! Nothing in config.json is silently ignored. The fields come from oci-spec's own types, traced
//! by serde-reflection, so a field a newer oci-spec brings is refused until someone applies it:
//! each is either in src/spec/coverage.rs's list with the test that sees it applied, or `create`
//! refuses a config that sets it, naming it, and leaves nothing behind.

mod common;

use common::{create_fails, describe, unique_id, Bundle, Runtime, HOOK_KINDS};
use scrun::spec::coverage::{self, DECLARED, HONOURED};
use serde_json::{json, Value};
use serde_reflection::{ContainerFormat, Format, Registry, Samples, Tracer, TracerConfig};
use std::path::Path;
use std::time::{Duration, Instant};

/// oci-spec's config types, as serde sees them.
fn registry() -> Registry {
    // Capability's own Deserialize takes only capability names; every other string takes any.
    let config = TracerConfig::default()
        .record_samples_for_structs(true)
        .default_string_value("CAP_CHOWN".into());
    let mut tracer = Tracer::new(config);
    let mut samples = Samples::new();
    // These two cannot be traced from nothing: execCPUAffinity checks its CPU lists, and
    // windows.credentialSpec holds free JSON. Samples stand in (all of windows is refused).
    let affinity: oci_spec::runtime::ExecCPUAffinity =
        serde_json::from_value(json!({"initial": "0", "final": "0"})).unwrap();
    tracer.trace_value(&mut samples, &affinity).unwrap();
    tracer
        .trace_value(&mut samples, &oci_spec::runtime::Windows::default())
        .unwrap();
    tracer.trace_type::<oci_spec::runtime::Spec>(&samples).unwrap();
    tracer.registry_unchecked()
}

/// The struct a format names, if it names one with fields.
fn fields<'r>(reg: &'r Registry, format: &Format) -> Option<&'r [serde_reflection::Named<Format>]> {
    match format {
        Format::Option(inner) => fields(reg, inner),
        Format::TypeName(name) => match reg.get(name) {
            Some(ContainerFormat::Struct(f)) if !f.is_empty() => Some(f),
            _ => None,
        },
        _ => None,
    }
}

/// Every field as coverage.rs names them: `[]` into arrays of objects, `*` into maps of them;
/// an array or map of plain values is one field.
fn leaves(reg: &Registry, format: &Format, path: &str, out: &mut Vec<String>) {
    let inner = |f: &Format| match f {
        Format::Option(f) => (**f).clone(),
        f => f.clone(),
    };
    match inner(format) {
        Format::Seq(item) if fields(reg, &item).is_some() => leaves(reg, &item, &format!("{path}[]"), out),
        Format::Map { value, .. } if fields(reg, &value).is_some() => leaves(reg, &value, &format!("{path}.*"), out),
        f => match fields(reg, &f) {
            Some(named) => {
                for n in named {
                    let child = if path.is_empty() {
                        n.name.clone()
                    } else {
                        format!("{path}.{}", n.name)
                    };
                    leaves(reg, &n.value, &child, out);
                }
            }
            None => out.push(path.to_string()),
        },
    }
}

/// A value of this format: the first variant of an enum, a struct's required fields.
fn sample(reg: &Registry, format: &Format) -> Value {
    match format {
        Format::Option(f) => sample(reg, f),
        Format::Seq(f) => json!([sample(reg, f)]),
        Format::Map { value, .. } => json!({"x": sample(reg, value)}),
        Format::Bool => json!(true),
        Format::Str => json!("1"),
        Format::TypeName(name) => match &reg[name] {
            ContainerFormat::Struct(named) => Value::Object(
                named
                    .iter()
                    .filter(|n| !matches!(n.value, Format::Option(_)))
                    .map(|n| (n.name.clone(), sample(reg, &n.value)))
                    .collect(),
            ),
            ContainerFormat::Enum(variants) => json!(variants.values().next().expect("a traced variant").name),
            other => panic!("no sample for {name}: {other:?}"),
        },
        _ => json!(1),
    }
}

/// Sets the field `pattern` in `config` (adding an element to arrays, key "x" to maps, and the
/// required fields of every object it makes) and returns its path there.
fn set_field(reg: &Registry, config: &mut Value, pattern: &str) -> String {
    let steps: Vec<&str> = pattern
        .split('.')
        .flat_map(|s| match s.strip_suffix("[]") {
            Some(name) => vec![name, "[]"],
            None => vec![s],
        })
        .collect();
    set_in(reg, config, &Format::TypeName("Spec".into()), &steps, String::new())
}

fn set_in(reg: &Registry, node: &mut Value, format: &Format, steps: &[&str], path: String) -> String {
    let Some((step, rest)) = steps.split_first() else {
        return path;
    };
    let format = match format {
        Format::Option(inner) => inner,
        f => f,
    };
    match (*step, format) {
        ("[]", Format::Seq(item)) => {
            let items = node.as_array_mut().expect("an array");
            items.push(sample(reg, item));
            let path = format!("{path}[{}]", items.len() - 1);
            set_in(reg, items.last_mut().unwrap(), item, rest, path)
        }
        ("*", Format::Map { value, .. }) => {
            let entry = node
                .as_object_mut()
                .expect("a map")
                .entry("x")
                .or_insert_with(|| sample(reg, value));
            set_in(reg, entry, value, rest, format!("{path}.x"))
        }
        (name, _) => {
            let named = fields(reg, format).unwrap_or_else(|| panic!("{name} is not in a struct"));
            let field = &named.iter().find(|n| n.name == name).expect("a field").value;
            let entry = node
                .as_object_mut()
                .expect("an object")
                .entry(name)
                .or_insert(Value::Null);
            if rest.is_empty() || entry.is_null() {
                // An array on the way gets its element from the "[]" step.
                let on_the_way_seq = match field {
                    Format::Option(f) => matches!(**f, Format::Seq(_)),
                    f => matches!(f, Format::Seq(_)),
                };
                *entry = if on_the_way_seq && !rest.is_empty() {
                    json!([])
                } else {
                    sample(reg, field)
                };
            }
            let path = if path.is_empty() {
                name.to_string()
            } else {
                format!("{path}.{name}")
            };
            set_in(reg, entry, field, rest, path)
        }
    }
}

fn all_fields() -> (Registry, Vec<String>) {
    let reg = registry();
    let mut out = Vec::new();
    leaves(&reg, &Format::TypeName("Spec".into()), "", &mut out);
    (reg, out)
}

#[test]
fn the_list_names_real_fields_and_real_tests() {
    let (_, all) = all_fields();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (field, test) in HONOURED {
        assert!(
            all.iter().any(|f| f == field),
            "{field}: not a field of oci-spec's config types"
        );
        let (file, name) = test.split_once("::").expect("file::function");
        let src = std::fs::read_to_string(repo.join("tests").join(format!("{file}.rs")))
            .unwrap_or_else(|e| panic!("{field}: {test}: {e}"));
        assert!(src.contains(&format!("fn {name}()")), "{field}: no test {test}");
    }
}

#[test]
fn every_other_field_fails_create_naming_it() {
    let (reg, all) = all_fields();
    let refused: Vec<&String> = all.iter().filter(|f| !coverage::is_honoured(f)).collect();
    // The trace reached the sections scrun refuses as a whole, and beyond the top level.
    assert!(
        refused.iter().any(|f| *f == "windows") && refused.iter().any(|f| *f == "linux.resources.memory.kernel"),
        "{refused:?}"
    );
    for field in refused {
        let b = Bundle::new();
        let mut path = String::new();
        b.config_mut(|c| path = set_field(&reg, c, field));
        let err = create_fails(&b, &unique_id("field"));
        let line = err
            .lines()
            .find(|l| l.contains(": not supported by scrun"))
            .unwrap_or_else(|| panic!("{field} ({path}): {err}"));
        let named = line.rsplit_once(": not supported").unwrap().0;
        let named = named.rsplit(": ").next().unwrap();
        // The field itself, or the object it is in when scrun applies nothing of that object.
        assert!(
            named
                .split(", ")
                .any(|n| path == n || path.strip_prefix(n).is_some_and(|r| r.starts_with(['.', '[']))),
            "{field} ({path}): {err}"
        );
    }
}

#[test]
fn features_says_what_the_list_says() {
    let out = Runtime::new().run_ok(&["features"]);
    let features: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(features["ociVersionMax"], coverage::oci_version_max(), "{features}");
    // A refused field counts as applied for ociVersionMax only if features declares it off.
    for (prefix, pointer) in DECLARED {
        if !HONOURED.iter().any(|(f, _)| f.starts_with(prefix)) {
            assert_eq!(features.pointer(pointer), Some(&json!(false)), "{prefix}: {features}");
        }
    }
    let (_, all) = all_fields();
    let max = coverage::RELEASES
        .iter()
        .position(|r| *r == coverage::oci_version_max())
        .unwrap();
    for (version, field) in coverage::ADDED {
        let position = coverage::RELEASES.iter().position(|r| r == version).unwrap();
        let declared = DECLARED.iter().any(|(p, _)| field.starts_with(p));
        if position <= max && !declared {
            assert!(
                all.iter().any(|f| f == field),
                "{field} ({version}): oci-spec does not read it"
            );
        }
    }
}

/// SELinux is off on this host: labels that only SELinux could apply are refused, not dropped.
#[test]
fn selinux_labels_without_selinux_are_refused() {
    if Path::new("/sys/fs/selinux/enforce").exists() {
        return eprintln!("skipped: SELinux is enabled here");
    }
    for (patch, field) in [
        (
            json!({"process": {"selinuxLabel": "system_u:system_r:container_t:s0"}}),
            "process.selinuxLabel",
        ),
        (
            json!({"linux": {"mountLabel": "system_u:object_r:container_file_t:s0"}}),
            "linux.mountLabel",
        ),
    ] {
        let b = Bundle::new();
        b.config_mut(|c| {
            for (section, fields) in patch.as_object().unwrap() {
                c[section]
                    .as_object_mut()
                    .unwrap()
                    .extend(fields.as_object().unwrap().clone());
            }
        });
        let err = create_fails(&b, &unique_id("selinux"));
        assert!(
            err.contains(&format!("{field}: SELinux is not enabled on this host")),
            "{err}"
        );
    }
}

#[test]
fn console_size_is_the_ptys_window_size() {
    let b = Bundle::new();
    b.config_mut(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 33, "width": 101});
    });
    let rt = Runtime::new();
    let id = unique_id("winsize");
    let (_, report) = common::run_probe(&b, &rt, &id);
    assert_eq!(report["tty"]["winsize"], json!([33, 101]), "{report}");
    common::assert_nothing_left(&rt, &id, b.path());
}

/// Each kind of hook gets exactly its own env, and is stopped at its own timeout: create,
/// start or delete fails (poststart and poststop only warn) well before the hook would end.
#[test]
fn every_hook_gets_its_env_and_timeout() {
    let out_dir = std::env::temp_dir().join(unique_id("hook-env"));
    std::fs::create_dir_all(&out_dir).unwrap();
    let hook = |kind: &str, act: &str| {
        // startContainer runs in the container, where only the probe exists.
        let (path, args) = match (kind, act) {
            ("startContainer", "env") => ("/probe", json!(["probe", "env", "/startContainer"])),
            ("startContainer", _) => ("/probe", json!(["probe", "sleep", "30"])),
            (_, "env") => (
                "/bin/sh",
                json!(["sh", "-c", format!("env > {}/{kind}", out_dir.display())]),
            ),
            _ => ("/bin/sleep", json!(["sleep", "30"])),
        };
        json!({"path": path, "args": args, "env": [format!("HOOK={kind}")], "timeout": 1})
    };
    let rt = Runtime::new();

    let b = Bundle::new();
    b.set_args(&["/probe", "sleep", "30"]);
    b.config_mut(|c| {
        c["root"]["readonly"] = json!(false);
        c["hooks"] = Value::Object(
            HOOK_KINDS
                .iter()
                .map(|k| (k.to_string(), json!([hook(k, "env")])))
                .collect(),
        );
    });
    let id = unique_id("hookenv");
    let bundle = b.path().to_str().unwrap();
    rt.run_bg_ok(&["create", "--bundle", bundle, &id]);
    rt.run_ok(&["start", &id]);
    rt.run_ok(&["delete", "--force", &id]);
    std::fs::rename(b.rootfs().join("startContainer"), out_dir.join("startContainer")).unwrap();
    for kind in HOOK_KINDS {
        let env = std::fs::read_to_string(out_dir.join(kind)).unwrap_or_else(|e| panic!("{kind}: {e}"));
        let mut lines: Vec<&str> = env.lines().filter(|l| !l.starts_with("PWD=")).collect();
        lines.sort();
        assert_eq!(lines, [format!("HOOK={kind}")], "{kind}");
    }
    std::fs::remove_dir_all(&out_dir).unwrap();

    for kind in HOOK_KINDS {
        let b = Bundle::new();
        b.set_args(&["/probe", "sleep", "30"]);
        b.config_mut(|c| c["hooks"] = json!({kind: [hook(kind, "sleep")]}));
        let id = unique_id("hooktimeout");
        let bundle = b.path().to_str().unwrap();
        let started = Instant::now();
        let (status, mut err) = rt.run_bg(&["create", "--bundle", bundle, &id]);
        if status.success() {
            let out = rt.run(&["start", &id]);
            err = describe(&out);
            if out.status.success() {
                let out = rt.run(&["delete", "--force", &id]);
                assert!(out.status.success(), "{kind}: {}", describe(&out));
                err += &describe(&out);
            }
        }
        let _ = rt.run(&["delete", "--force", &id]);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{kind}: the hook ran to its end"
        );
        assert!(
            err.contains(&format!("hooks.{kind}[0]")) && err.contains("timed out after 1 s"),
            "{kind}: {err}"
        );
        common::assert_nothing_left(&rt, &id, b.path());
    }
}

/// exec's --process and update's --resources are parts of a config: what scrun would not
/// apply there is refused the same way, by its path in a config.
#[test]
fn exec_and_update_refuse_what_they_would_not_apply() {
    let rt = Runtime::new();
    let b = Bundle::new();
    b.set_args(&["/probe", "sleep", "30"]);
    let id = unique_id("parts");
    rt.run_bg_ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    let process = rt.root.with_extension("process.json");
    std::fs::write(
        &process,
        json!({"args": ["/probe", "hello"], "cwd": "/", "user": {"uid": 0, "gid": 0},
               "commandLine": "probe hello"})
        .to_string(),
    )
    .unwrap();
    let out = rt.run(&["exec", "--process", process.to_str().unwrap(), &id]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("process.commandLine: not supported by scrun"),
        "{}",
        describe(&out)
    );
    let resources = rt.root.with_extension("resources.json");
    std::fs::write(
        &resources,
        json!({"pids": {"limit": 10}, "rdma": {"mlx5_0": {"hcaHandles": 1}}}).to_string(),
    )
    .unwrap();
    let out = rt.run(&["update", "--resources", resources.to_str().unwrap(), &id]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("linux.resources.rdma: not supported by scrun"),
        "{}",
        describe(&out)
    );
    rt.run_ok(&["delete", "--force", &id]);
    let _ = std::fs::remove_file(process);
    let _ = std::fs::remove_file(resources);
    common::assert_nothing_left(&rt, &id, b.path());
}
