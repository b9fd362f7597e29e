//! The libraries a dynamically linked binary loads, found on the host the way glibc's loader
//! finds them, without running the binary: for each DT_NEEDED name of each loaded object, the
//! DT_RPATH of the objects that led to it (when the object has no DT_RUNPATH), its DT_RUNPATH,
//! /etc/ld.so.cache, then the default directories. LD_LIBRARY_PATH is not consulted: a
//! container does not inherit the caller's environment.

use super::elf::{multiarch, read_elf, ElfInfo};
use super::ldcache::read_ld_cache;
use anyhow::{Context, Result};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::Read;
use std::path::Path;

/// Where the loader found a library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// In the DT_RPATH of this object.
    Rpath(String),
    /// In the DT_RUNPATH of this object.
    Runpath(String),
    Cache,
    Default,
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Found::Rpath(o) => write!(f, "found through the DT_RPATH of {o}"),
            Found::Runpath(o) => write!(f, "found through the DT_RUNPATH of {o}"),
            Found::Cache => f.write_str("found through /etc/ld.so.cache"),
            Found::Default => f.write_str("found in a default directory"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Library {
    /// The DT_NEEDED name.
    pub name: String,
    /// The path the loader opens (symlinks not resolved: the name the loader asks for).
    pub path: String,
    pub needed_by: String,
    pub found: Found,
}

#[derive(Debug, Default)]
pub struct Closure {
    /// PT_INTERP of the binary; None for a static binary.
    pub interpreter: Option<String>,
    /// In the loader's breadth-first order.
    pub libraries: Vec<Library>,
    /// The loader's default directories for the binary's machine.
    pub default_dirs: Vec<String>,
}

struct Object {
    path: String,
    info: ElfInfo,
    /// The object whose DT_NEEDED loaded this one.
    loader: Option<usize>,
}

/// The interpreter and every library `binary` needs, transitively. A library no search
/// finds is an error naming it and the object that needs it.
pub fn library_closure(binary: &Path) -> Result<Closure> {
    let path = binary.to_string_lossy().into_owned();
    let info = read_object(&path)?.with_context(|| format!("{path} is not an ELF file"))?;
    let mut closure = Closure {
        interpreter: info.interpreter.clone(),
        default_dirs: default_dirs(&info),
        ..Closure::default()
    };
    // The interpreter is loaded first, and libc's DT_NEEDED on it matches its soname.
    let mut loaded: HashSet<String> = closure.interpreter.iter().filter_map(|i| base_name(i)).collect();
    let cache = std::fs::read("/etc/ld.so.cache")
        .map(|data| read_ld_cache(&data, info.machine, info.is_64))
        .unwrap_or_default();
    let mut objects = vec![Object {
        path,
        info,
        loader: None,
    }];
    let mut next = 0;
    while next < objects.len() {
        for name in objects[next].info.needed.clone() {
            if !loaded.insert(name.clone()) {
                continue;
            }
            let (path, found) = search(&objects, next, &name, &cache, &closure.default_dirs).with_context(|| {
                format!(
                    "{name}, needed by {}, is in none of its run paths, /etc/ld.so.cache or {}",
                    objects[next].path,
                    closure.default_dirs.join(", ")
                )
            })?;
            let info = read_object(&path)?.with_context(|| format!("{path} is not an ELF file"))?;
            closure.libraries.push(Library {
                name,
                path: path.clone(),
                needed_by: objects[next].path.clone(),
                found,
            });
            objects.push(Object {
                path,
                info,
                loader: Some(next),
            });
        }
        next += 1;
    }
    Ok(closure)
}

/// glibc's _dl_map_object order for a name needed by `objects[by]`.
fn search(
    objects: &[Object],
    by: usize,
    name: &str,
    cache: &HashMap<String, String>,
    defaults: &[String],
) -> Option<(String, Found)> {
    let want = &objects[0].info;
    let usable = |path: &str| -> bool {
        matches!(read_object(path), Ok(Some(i)) if i.machine == want.machine && i.is_64 == want.is_64)
    };
    if name.contains('/') {
        return usable(name).then(|| (name.to_string(), Found::Default));
    }
    let in_dirs = |object: &Object, dirs: &[String]| {
        expand(object, dirs)
            .into_iter()
            .map(|d| format!("{}/{name}", d.trim_end_matches('/')))
            .find(|p| usable(p))
    };
    let me = &objects[by];
    if me.info.runpath.is_empty() {
        let mut chain = Some(by);
        while let Some(i) = chain {
            if let Some(p) = in_dirs(&objects[i], &objects[i].info.rpath) {
                return Some((p, Found::Rpath(objects[i].path.clone())));
            }
            chain = objects[i].loader;
        }
    } else if let Some(p) = in_dirs(me, &me.info.runpath) {
        return Some((p, Found::Runpath(me.path.clone())));
    }
    if let Some(p) = cache.get(name).filter(|p| usable(p)) {
        return Some((p.clone(), Found::Cache));
    }
    in_dirs(me, defaults).map(|p| (p, Found::Default))
}

/// Run-path entries with $ORIGIN (the directory of the object, symlinks resolved as the loader
/// does) replaced. Relative entries (taken from the caller's working directory) and other
/// dynamic string tokens are dropped: they mean nothing in a container.
fn expand(object: &Object, dirs: &[String]) -> Vec<String> {
    let origin = std::fs::canonicalize(&object.path)
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_string_lossy().into_owned()))
        .unwrap_or_default();
    dirs.iter()
        .map(|d| d.replace("${ORIGIN}", &origin).replace("$ORIGIN", &origin))
        .filter(|d| d.starts_with('/') && !d.contains('$'))
        .collect()
}

/// glibc's system directories: the multiarch ones (Debian), lib64 (64-bit distributions that
/// have no multiarch), then /lib and /usr/lib.
fn default_dirs(info: &ElfInfo) -> Vec<String> {
    let mut dirs = Vec::new();
    for triplet in multiarch(info) {
        dirs.push(format!("/lib/{triplet}"));
        dirs.push(format!("/usr/lib/{triplet}"));
    }
    if info.is_64 {
        dirs.extend(["/lib64".to_string(), "/usr/lib64".to_string()]);
    }
    dirs.extend(["/lib".to_string(), "/usr/lib".to_string()]);
    dirs
}

/// The ELF facts of a host file; None if it is missing or not ELF.
fn read_object(path: &str) -> Result<Option<ElfInfo>> {
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(None);
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    let mut data = Vec::new();
    file.take(super::MAX_READ)
        .read_to_end(&mut data)
        .with_context(|| format!("read {path}"))?;
    Ok(read_elf(&data))
}

fn base_name(path: &str) -> Option<String> {
    Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_echo_needs_libc_and_the_loader() {
        let Ok(closure) = library_closure(Path::new("/bin/echo")) else {
            return;
        };
        let Some(interp) = &closure.interpreter else { return };
        assert!(interp.contains("ld-"), "{interp}");
        let libc = closure.libraries.iter().find(|l| l.name == "libc.so.6").expect("libc");
        assert_eq!(libc.needed_by, "/bin/echo");
        assert!(Path::new(&libc.path).is_file());
        // The loader that libc needs is the interpreter, already loaded.
        assert!(closure.libraries.iter().all(|l| !l.name.starts_with("ld-")));
    }

    #[test]
    fn a_file_that_is_not_elf_is_an_error() {
        for path in ["/nonexistent/binary", "/etc/hostname"] {
            let err = library_closure(Path::new(path)).unwrap_err();
            assert!(err.to_string().contains("not an ELF file"), "{err}");
        }
    }
}
