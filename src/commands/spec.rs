use crate::cli::SpecArgs;
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A missing bundle directory is made, with or without --scratch (runc and crun refuse one),
/// and removed again if the spec cannot be written.
pub fn spec(args: &SpecArgs) -> Result<()> {
    let dir = args.bundle.clone().unwrap_or_else(|| ".".into());
    let path = dir.join("config.json");
    if path.exists() {
        bail!("{} exists: remove it first", path.display());
    }
    let made = make_dir(&dir)?;
    let written = write(args, &dir, &path);
    if written.is_err() {
        // Innermost first; only what is still empty, so nothing another process put there.
        for d in made.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
    written
}

/// Make `dir` and its missing parents; returns those it made, outermost first.
fn make_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && std::fs::symlink_metadata(d).is_err())
        .map(Path::to_path_buf)
        .collect();
    missing.reverse();
    std::fs::create_dir_all(dir).with_context(|| format!("create the bundle directory {}", dir.display()))?;
    if !dir.is_dir() {
        bail!("bundle {} is not a directory", dir.display());
    }
    Ok(missing)
}

fn write(args: &SpecArgs, dir: &Path, path: &Path) -> Result<()> {
    let (config, added) = match &args.scratch {
        None => (crate::spec::defaults::default_config(args.rootless), Vec::new()),
        Some(binary) => {
            let options = crate::scratch::Options {
                binary,
                libs: args.libs,
                user: args.user.as_deref(),
                add: &args.add,
                rootless: args.rootless,
            };
            let built = crate::scratch::build(dir, &options)?;
            (built.config, built.added)
        }
    };
    let mut file = match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!("{} exists: remove it first", path.display()),
        Err(e) => return Err(e).with_context(|| format!("create {}", path.display())),
    };
    file.write_all(config.as_bytes())
        .with_context(|| format!("write {}", path.display()))?;
    for line in added {
        println!("{line}");
    }
    Ok(())
}
