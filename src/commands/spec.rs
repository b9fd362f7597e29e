use crate::cli::SpecArgs;
use anyhow::{bail, Context, Result};
use std::io::Write;

pub fn spec(args: &SpecArgs) -> Result<()> {
    let dir = args.bundle.clone().unwrap_or_else(|| ".".into());
    let path = dir.join("config.json");
    let mut file = match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!("{} exists: remove it first", path.display()),
        Err(e) => return Err(e).with_context(|| format!("create {}", path.display())),
    };
    file.write_all(crate::spec::defaults::default_config(args.rootless).as_bytes())
        .with_context(|| format!("write {}", path.display()))
}
