//! Reading a bundle: config.json into typed form, checked before anything is created.

pub mod coverage;
pub mod defaults;
mod names;
mod validate;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::Spec;
use std::path::{Path, PathBuf};

pub use validate::validate;

/// A loaded bundle: absolute paths, the parsed config, and what the config did not understand.
pub struct Bundle {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub spec: Spec,
}

impl Bundle {
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = std::path::absolute(dir)
            .and_then(|d| d.canonicalize())
            .with_context(|| format!("bundle {}", dir.display()))?;
        let config = dir.join("config.json");
        let text = match std::fs::read(&config) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("bundle {}: there is no config.json in it", dir.display())
            }
            r => r.with_context(|| format!("read {}", config.display()))?,
        };
        let spec = parse(&text).with_context(|| format!("{}", config.display()))?;
        validate(&spec)?;
        let root = spec.root().as_ref().context("root.path is missing")?;
        let rootfs = dir.join(root.path());
        let rootfs = rootfs
            .canonicalize()
            .with_context(|| format!("root.path: rootfs {}", rootfs.display()))?;
        if !rootfs.is_dir() {
            bail!("root.path: rootfs {} is not a directory", rootfs.display());
        }
        Ok(Bundle { dir, rootfs, spec })
    }
}

/// Parse config.json. Unknown fields do not stop the container (runc ignores them too) but are
/// reported to a person reading (with --debug, or on a terminal), because a typo such as
/// "hostnme" otherwise silently does nothing; engines capture every call's stderr, where a
/// warning would only be noise.
pub fn parse(text: &[u8]) -> Result<Spec> {
    let mut raw: serde_json::Value = serde_json::from_slice(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    names::check(&mut raw)?;
    // The plain parse first: tracking the path of every field costs ~0.1 ms, worth it only to
    // name the one at fault.
    let (spec, unknown) = typed::<Spec>(&raw, "")
        .or_else(|_| tracked(&raw))
        .map_err(|e| positioned(&e, text))?;
    match spec.version().split('.').next() {
        Some("1") => {}
        _ if spec.version().is_empty() => bail!("ociVersion is missing"),
        _ => bail!(
            "ociVersion {:?} is not supported: scrun implements runtime-spec 1.x",
            spec.version()
        ),
    }
    for field in &unknown {
        crate::logging::notice(&format!("config.json: unknown field {field} ignored"));
    }
    coverage::refuse_unapplied(&raw, &unknown, "")?;
    Ok(spec)
}

/// The typed pass failed: `raw` read again tracking the path of every field, to name the one at
/// fault. Out of line: inlined, the Spec deserializers of this error path made every parse's
/// stack frame 28 KB, and a frame's pages are all touched on entry (stack probes), a page
/// fault each.
#[cold]
#[inline(never)]
fn tracked<T: serde::de::DeserializeOwned>(
    raw: &serde_json::Value,
) -> Result<(T, Vec<String>), serde_path_to_error::Error<serde_json::Error>> {
    serde_path_to_error::deserialize(raw).map(|value| (value, Vec::new()))
}

/// config.json's type error `e`, with the position in the text when it fails there at the same
/// field (a Value has none; the text may fail first on what `names` rewrote).
#[cold]
#[inline(never)]
fn positioned(e: &serde_path_to_error::Error<serde_json::Error>, text: &[u8]) -> anyhow::Error {
    let with_position = serde_path_to_error::deserialize::<_, Spec>(&mut serde_json::Deserializer::from_slice(text))
        .err()
        .filter(|t| t.path().to_string() == e.path().to_string());
    anyhow::anyhow!("{}", field_error(with_position.as_ref().unwrap_or(e), ""))
}

/// A part of a config given on its own (exec's --process, update's --resources) read as
/// config.json is: errors name the field by its path in a config (`at`, e.g. "process"), and
/// fields scrun does not apply are refused.
pub fn parse_part<T: serde::de::DeserializeOwned>(raw: serde_json::Value, at: &str) -> Result<T> {
    let (value, unknown) = typed::<T>(&raw, at)
        .or_else(|_| tracked(&raw))
        .map_err(|e| anyhow::anyhow!("{}", field_error(&e, at)))?;
    coverage::refuse_unapplied(&raw, &unknown, at)?;
    Ok(value)
}

/// `raw` (which sits at `at` in a config) in typed form, and the paths of the fields it sets
/// that the type does not know (null ones aside), found by the same pass: serde_ignored hands
/// over what the typed deserializer skips, where writing the typed value back out to compare
/// cost a second tree.
fn typed<T: serde::de::DeserializeOwned>(raw: &serde_json::Value, at: &str) -> serde_json::Result<(T, Vec<String>)> {
    let mut unknown = Vec::new();
    let value = serde_ignored::deserialize(raw, |field| {
        let mut path = at.to_string();
        if locate(raw, &field, &mut path).is_some_and(|v| !v.is_null()) {
            unknown.push(path);
        }
    })?;
    Ok((value, unknown))
}

/// The value at `path` in `raw`, with `path` appended to `out` in scrun's spelling
/// (`mounts[1].options`): one walk of serde_ignored's path for both.
fn locate<'v>(
    raw: &'v serde_json::Value,
    path: &serde_ignored::Path,
    out: &mut String,
) -> Option<&'v serde_json::Value> {
    use serde_ignored::Path;
    match path {
        Path::Root => Some(raw),
        Path::Seq { parent, index } => {
            let parent = locate(raw, parent, out);
            coverage::push_index(out, *index);
            parent?.get(index)
        }
        Path::Map { parent, key } => {
            let parent = locate(raw, parent, out);
            coverage::push_key(out, key);
            parent?.get(key)
        }
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => {
            locate(raw, parent, out)
        }
    }
}

/// A type error with the JSON path of the field at fault first: `process.user: missing
/// (required by the runtime spec)` rather than serde's `missing field user at line 1 column 82`.
fn field_error(e: &serde_path_to_error::Error<serde_json::Error>, part: &str) -> String {
    let path = match (part, e.path().to_string()) {
        ("", path) => path,
        (part, path) if path == "." => part.to_string(),
        (part, path) => format!("{part}.{path}"),
    };
    let inner = e.inner().to_string();
    let at = |p: &str| if p == "." { String::new() } else { format!("{p}.") };
    match inner.strip_prefix("missing field `").and_then(|r| r.split_once('`')) {
        Some((field, position)) => format!("{}{field}: missing (required by the runtime spec){position}", at(&path)),
        None if path == "." => inner,
        None => format!("{path}: {inner}"),
    }
}

/// An exec's process.json, read as config.json's process is.
pub fn parse_process(text: &[u8]) -> Result<oci_spec::runtime::Process> {
    let mut raw: serde_json::Value = serde_json::from_slice(text)?;
    names::check_process(&mut raw, "")?;
    parse_part(raw, "process")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    /// Unknown fields at any depth are named by their path in the config (after `at`), and
    /// a null one is not a field set.
    #[test]
    fn unknown_fields_are_named_by_their_path() {
        let raw = json!({
            "args": ["/x"], "cwd": "/", "userr": 1, "nulled": null,
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1, "softer": 2}],
            "user": {"uid": 0, "gid": 0, "name": "x"},
        });
        let (_, mut unknown) = super::typed::<oci_spec::runtime::Process>(&raw, "process").unwrap();
        unknown.sort();
        assert_eq!(
            unknown,
            ["process.rlimits[0].softer", "process.user.name", "process.userr"]
        );
    }
}
