//! `--libs`: the ELF interpreter and every library the binary loads, copied from the host to
//! the same paths, found as the host's loader finds them (diagnose::library_closure). Each is a
//! regular file under the name the loader asks for, so no host symlink layout is needed.

use super::Rootfs;
use crate::diagnose::{library_closure, Found};
use anyhow::{Context, Result};
use std::path::Path;

pub(super) fn add(root: &mut Rootfs, binary: &Path, inside: &Path) -> Result<()> {
    let closure = library_closure(binary).context("--libs")?;
    let Some(interpreter) = &closure.interpreter else {
        root.added.push(format!(
            "{} is statically linked: --libs adds nothing",
            binary.display()
        ));
        return Ok(());
    };
    let host_name = binary.to_string_lossy();
    let shown = |object: &str| {
        if object == host_name {
            inside.display().to_string()
        } else {
            object.to_string()
        }
    };
    root.copy_file(
        Path::new(interpreter),
        Path::new(interpreter),
        &format!("ELF interpreter of {}", inside.display()),
    )?;
    for lib in &closure.libraries {
        let path = Path::new(&lib.path);
        let why = format!("{}, needed by {}, {}", lib.name, shown(&lib.needed_by), lib.found);
        root.copy_file(path, path, &why)?;
        // The container has no ld.so.cache: a library the cache found elsewhere is linked from
        // the first directory its loader searches.
        let parent = path
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if lib.found == Found::Cache && !closure.default_dirs.contains(&parent) {
            if let Some(dir) = closure.default_dirs.first() {
                let link = Path::new(dir).join(&lib.name);
                root.symlink(&link, &lib.path, "the container has no /etc/ld.so.cache")?;
            }
        }
    }
    Ok(())
}
