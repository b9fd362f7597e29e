//! `--add SRC[:DST]`: a host file or directory copied into the rootfs with its modes (a config
//! file, a CA bundle, zoneinfo), for what the program reads besides its libraries.

use super::Rootfs;
use crate::rootfs::copy::copy_tree;
use anyhow::{bail, Context, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

pub(super) struct Add {
    arg: String,
    src: PathBuf,
    dst: PathBuf,
}

/// DST defaults to SRC when that is absolute, else to /NAME.
pub(super) fn parse(arg: &str) -> Result<Add> {
    let (src, dst) = match arg.split_once(':') {
        Some((s, d)) => (PathBuf::from(s), PathBuf::from(d)),
        None => {
            let src = PathBuf::from(arg);
            let dst = if src.is_absolute() {
                src.clone()
            } else {
                Path::new("/").join(
                    src.file_name()
                        .with_context(|| format!("--add {arg:?} names no file"))?,
                )
            };
            (src, dst)
        }
    };
    let climbs = dst.components().any(|c| c == Component::ParentDir);
    if !dst.is_absolute() || climbs || dst == Path::new("/") {
        bail!("--add {arg:?}: the destination must be an absolute path below / without '..'");
    }
    Ok(Add {
        arg: arg.to_string(),
        src,
        dst,
    })
}

pub(super) fn add(root: &mut Rootfs, add: &Add) -> Result<()> {
    let why = format!("--add {}", add.arg);
    let meta = std::fs::metadata(&add.src).with_context(|| format!("--add: {}", add.src.display()))?;
    if !meta.is_dir() {
        return root.copy_file(&add.src, &add.dst, &why);
    }
    let to = root.dir(&add.dst)?;
    let from = std::fs::File::open(&add.src).with_context(|| format!("open {}", add.src.display()))?;
    copy_tree(&from, &to).with_context(|| format!("copy {} to {}", add.src.display(), add.dst.display()))?;
    let fd_path = crate::rootfs::resolve::fd_path(&to);
    std::fs::set_permissions(
        &fd_path,
        std::fs::Permissions::from_mode(meta.permissions().mode() & 0o7777),
    )?;
    let count = entries(&add.src);
    root.note(&add.dst, &format!("a directory of {count} entries, {why}"));
    Ok(())
}

fn entries(dir: &Path) -> usize {
    let Ok(list) = std::fs::read_dir(dir) else { return 0 };
    list.flatten()
        .map(|e| {
            1 + if e.file_type().is_ok_and(|t| t.is_dir()) {
                entries(&e.path())
            } else {
                0
            }
        })
        .sum()
}
