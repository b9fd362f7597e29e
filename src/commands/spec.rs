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
    let config = match &args.scratch {
        None => crate::spec::defaults::default_config(args.rootless),
        Some(binary) => scratch(dir, binary, args.user.as_deref(), args.rootless)?,
    };
    let mut file = match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!("{} exists: remove it first", path.display()),
        Err(e) => return Err(e).with_context(|| format!("create {}", path.display())),
    };
    file.write_all(config.as_bytes())
        .with_context(|| format!("write {}", path.display()))
}

/// A ready FROM-scratch bundle: rootfs/ holds only the binary, and the config runs it without a
/// terminal. A binary that could not run there is refused with the reason the runtime would
/// give, before anything is left behind.
fn scratch(dir: &Path, binary: &Path, user: Option<&str>, rootless: bool) -> Result<String> {
    let (uid, gid) = parse_user(user)?;
    let mappings = rootless.then(|| crate::rootless::spec_mappings(uid, gid)).transpose()?;
    let inside = if binary.is_absolute() {
        binary.to_path_buf()
    } else {
        PathBuf::from("/").join(binary.file_name().context("--scratch names no file")?)
    };
    let rootfs = dir.join("rootfs");
    if rootfs.exists() {
        bail!("{} exists: --scratch makes a new rootfs", rootfs.display());
    }
    let target = rootfs.join(inside.strip_prefix("/").unwrap_or(&inside));
    let made = || -> Result<()> {
        std::fs::create_dir_all(target.parent().unwrap_or(&rootfs))?;
        std::fs::copy(binary, &target).with_context(|| format!("copy {}", binary.display()))?;
        Ok(())
    };
    let checked =
        made().and_then(
            |()| match crate::diagnose::missing_interpreter(&rootfs, &inside.to_string_lossy()) {
                Some(why) => bail!("{}: {why}", binary.display()),
                None => Ok(()),
            },
        );
    if let Err(e) = checked {
        let _ = std::fs::remove_dir_all(&rootfs);
        return Err(e);
    }
    let mut config: serde_json::Value = serde_json::from_str(&crate::spec::defaults::default_config(rootless))?;
    config["process"]["args"] = serde_json::json!([inside]);
    config["process"]["terminal"] = false.into();
    config["process"]["user"]["uid"] = uid.into();
    config["process"]["user"]["gid"] = gid.into();
    if let Some((uid_maps, gid_maps)) = mappings {
        config["linux"]["uidMappings"] = uid_maps;
        config["linux"]["gidMappings"] = gid_maps;
    }
    Ok(serde_json::to_string_pretty(&config)? + "\n")
}

/// UID or UID:GID; the group defaults to the uid, as `docker run --user` does for numbers.
fn parse_user(user: Option<&str>) -> Result<(u32, u32)> {
    let Some(user) = user else { return Ok((0, 0)) };
    let number = |s: &str| {
        s.parse::<u32>()
            .with_context(|| format!("--user {user:?}: {s:?} is not a number"))
    };
    match user.split_once(':') {
        Some((u, g)) => Ok((number(u)?, number(g)?)),
        None => number(user).map(|u| (u, u)),
    }
}
