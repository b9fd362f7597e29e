//! Reading a bundle: config.json into typed form, checked before anything is created.

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
        let text = std::fs::read(&config).with_context(|| format!("read {}", config.display()))?;
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
/// reported, because a typo such as "hostnme" otherwise silently does nothing.
pub fn parse(text: &[u8]) -> Result<Spec> {
    let mut raw: serde_json::Value = serde_json::from_slice(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    names::check(&mut raw)?;
    let spec: Spec = serde_json::from_value(raw.clone()).map_err(|e| {
        // serde_json::from_value loses positions; re-parse from the text to get line and column
        // (the text may fail first on what `names` rewrote, and then says something else).
        match serde_json::from_slice::<Spec>(text) {
            Err(with_pos) if with_pos.to_string().starts_with(&e.to_string()) => anyhow::anyhow!("{with_pos}"),
            _ => anyhow::anyhow!("{e}"),
        }
    })?;
    match spec.version().split('.').next() {
        Some("1") => {}
        _ if spec.version().is_empty() => bail!("ociVersion is missing"),
        _ => bail!(
            "ociVersion {:?} is not supported: scrun implements runtime-spec 1.x",
            spec.version()
        ),
    }
    let known = serde_json::to_value(&spec)?;
    let mut unknown = Vec::new();
    unknown_fields(&raw, &known, String::new(), &mut unknown);
    for field in unknown {
        crate::logging::warn(&format!("config.json: unknown field {field} ignored"));
    }
    Ok(spec)
}

/// An exec's process.json, read as config.json's process is.
pub fn parse_process(text: &[u8]) -> Result<oci_spec::runtime::Process> {
    let mut raw: serde_json::Value = serde_json::from_slice(text)?;
    names::check_process(&mut raw, "")?;
    Ok(serde_json::from_value(raw)?)
}

/// Fields present in the input but absent after a round trip through the typed config.
fn unknown_fields(raw: &serde_json::Value, known: &serde_json::Value, at: String, out: &mut Vec<String>) {
    use serde_json::Value;
    match (raw, known) {
        (Value::Object(r), Value::Object(k)) => {
            for (key, value) in r {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                match k.get(key) {
                    Some(known_value) => unknown_fields(value, known_value, path, out),
                    None if !value.is_null() => out.push(path),
                    None => {}
                }
            }
        }
        (Value::Array(r), Value::Array(k)) if r.len() == k.len() => {
            for (i, (rv, kv)) in r.iter().zip(k).enumerate() {
                unknown_fields(rv, kv, format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}
