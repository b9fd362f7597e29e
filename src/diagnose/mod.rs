//! Explains why the container's entrypoint could not be executed.
//!
//! The kernel reports a failed execve with one errno, and the classic one is
//! baffling: a FROM-scratch image holding a dynamically linked binary fails
//! with "no such file or directory" although the file is right there, because
//! the *ELF interpreter* (the dynamic loader named in the binary) is missing.
//! This module looks at the rootfs and says what is actually wrong.
//!
//! It runs inside the container after pivot_root, so every function takes
//! `root`, which is "/" in production and a temporary directory in tests, and
//! resolves paths the way the kernel would inside that root (see `resolve`).
//!
//! The ELF reader is hand-written: we need the ELF header, two program header
//! types and three dynamic tags. `goblin` or `object` would parse that too,
//! but they are large dependencies (section tables, symbols, relocations,
//! other object formats) for a ~100-line bounds-checked reader that this error
//! path needs.
//!
//! This file resolves paths in the root, explains ENOENT and looks up PATH; `access.rs`
//! explains EACCES, `format.rs` ENOEXEC, and `elf.rs` reads the ELF headers.

use nix::errno::Errno;
use nix::unistd::{getegid, geteuid, getgroups};
use std::fs::{self, File, Metadata};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// runc uses this when the process environment has no PATH.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Read at most this much of a binary: enough for any realistic dynamically
/// linked program while bounding memory in a possibly memory-limited
/// container. Truncation only loses the library list, never a panic.
const MAX_READ: u64 = 64 << 20;

/// binfmt_script lets an interpreter be a script again, at most this deep.
const MAX_SCRIPT_DEPTH: u32 = 4;

const STATIC_HINT: &str = "A FROM-scratch image needs a static binary: build it with \
gcc -static, CGO_ENABLED=0 (Go) or RUSTFLAGS=\"-C target-feature=+crt-static\" (Rust), \
or add the interpreter and libraries to the image";

const SCRIPT_HINT: &str = "a FROM-scratch image contains only the files you copy into it: \
add the interpreter to the image (for /bin/sh a static busybox works) or make the \
entrypoint a static binary";

mod access;
mod elf;
mod format;
mod ldcache;
mod needed;
#[cfg(test)]
mod tests;

use access::{permission_denied, Ids};
use elf::multiarch;
pub use elf::{read_elf, ElfInfo};
use format::format_error;
pub use ldcache::read_ld_cache;
pub use needed::{library_closure, Closure, Found, Library};

// ---------------------------------------------------------------------------
// Paths inside the root

/// Resolves the container path `path` to a host path under `root`, following
/// symlinks the way the kernel does after chroot: absolute link targets start
/// again at `root` and `..` stops at it, so nothing outside `root` is ever
/// looked at. Relative paths are taken from the root. None if any component
/// is missing, a non-directory is traversed, or links loop. The walk is the
/// crate's one in-rootfs walk (`rootfs::resolve`), by path.
fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    crate::rootfs::resolve::resolve_beneath(root, Path::new(path))
}

/// The container path of a host path produced by [`resolve`].
fn container_path(root: &Path, host: &Path) -> String {
    let rel = host.strip_prefix(root).unwrap_or(host);
    format!("/{}", rel.display())
}

fn exists(root: &Path, path: &str) -> bool {
    resolve(root, path).is_some()
}

/// The host path of `exe`'s directory.
fn parent_dir(root: &Path, exe: &str) -> Option<PathBuf> {
    resolve(root, Path::new(exe).parent()?.to_str()?)
}

/// Reads the head of a file, capped at [`MAX_READ`].
fn read_head(host: &Path) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    File::open(host).ok()?.take(MAX_READ).read_to_end(&mut data).ok()?;
    Some(data)
}

/// The interpreter named by a `#!` line, as the kernel parses it: up to the
/// first space or tab, within the first 256 bytes (BINPRM_BUF_SIZE). A
/// trailing '\r' is kept on purpose: the kernel keeps it too.
fn shebang(head: &[u8]) -> Option<String> {
    let line = head.strip_prefix(b"#!")?;
    let line = &line[..line.len().min(254)];
    let line = line.split(|&b| b == b'\n').next().unwrap_or_default();
    let interp = line.split(|&b| b == b' ' || b == b'\t').find(|word| !word.is_empty())?;
    Some(String::from_utf8_lossy(interp).into_owned())
}

// ---------------------------------------------------------------------------
// execve failures

/// The message for a failed execve of `exe` (absolute, inside the container)
/// with `errno`. `ids` is the (uid, gid) the exec ran as, None for the
/// calling process's effective ids. The text keeps the lowercase errno
/// phrase ("no such file or directory", "permission denied", "exec format
/// error") because docker and containerd derive exit codes 127/126 from it.
pub fn exec_failure(root: &Path, exe: &str, errno: i32, ids: Option<(u32, u32)>) -> String {
    let detail = match errno {
        libc::ENOENT => not_found(root, exe),
        libc::EACCES => permission_denied(root, exe, &Ids::new(ids)),
        libc::ENOEXEC => format_error(root, exe),
        _ => errno_text(errno),
    };
    format!("exec {exe}: {detail}")
}

/// Checked before the container starts: the message execve would end in if
/// the program that loads `exe` (ELF interpreter or #! interpreter) is not
/// in the rootfs, so that `create` can fail with it. None when `exe` looks
/// runnable as far as loaders go.
pub fn missing_interpreter(root: &Path, exe: &str) -> Option<String> {
    let host = resolve(root, exe)?;
    let why = missing_loader(root, exe, &host, 0)?;
    Some(format!("exec {exe}: {NO_SUCH_FILE}: {why}"))
}

/// Go-style (lowercase) strerror text, matching what runc prints.
fn errno_text(errno: i32) -> String {
    let desc = Errno::from_raw(errno).desc();
    let mut chars = desc.chars();
    match (chars.next(), chars.next()) {
        // Keep acronyms such as "RPC struct is bad".
        (Some(_), Some(second)) if second.is_uppercase() => desc.to_string(),
        (Some(first), _) => first.to_lowercase().chain(desc.chars().skip(1)).collect(),
        _ => desc.to_string(),
    }
}

// ENOENT -------------------------------------------------------------------

const NO_SUCH_FILE: &str = "no such file or directory";

fn not_found(root: &Path, exe: &str) -> String {
    let Some(host) = resolve(root, exe) else {
        return match dangling_link(root, exe) {
            Some(target) => {
                format!("{NO_SUCH_FILE} ({exe} is a symlink to {target}, which is not in the container's rootfs)")
            }
            None => NO_SUCH_FILE.to_string(),
        };
    };
    match missing_loader(root, exe, &host, 0) {
        Some(why) => format!("{NO_SUCH_FILE}: {why}"),
        None => NO_SUCH_FILE.to_string(),
    }
}

/// The target of `exe` if it is itself a symlink whose target is missing.
fn dangling_link(root: &Path, exe: &str) -> Option<String> {
    let link = parent_dir(root, exe)?.join(Path::new(exe).file_name()?);
    let target = fs::read_link(link).ok()?;
    Some(target.display().to_string())
}

/// Why execve says ENOENT for a file that exists: the kernel could not find
/// the program that has to load it (ELF interpreter or #! interpreter).
fn missing_loader(root: &Path, path: &str, host: &Path, depth: u32) -> Option<String> {
    // This runs on every create. The #! line and the ELF program headers sit at the start of
    // the file, so one page settles the common cases (a static binary, a loader that is
    // there); the whole file is read only to list the libraries of a binary whose loader is
    // missing.
    let mut page = Vec::with_capacity(4096);
    File::open(host).ok()?.take(4096).read_to_end(&mut page).ok()?;
    if let Some(interp) = shebang(&page) {
        let why = missing_script_interpreter(root, &interp, depth)?;
        return Some(if depth == 0 {
            why
        } else {
            format!("{path} is a script and {why}")
        });
    }
    let interp = read_elf(&page)?.interpreter?;
    if exists(root, &interp) {
        return None;
    }
    let info = read_elf(&read_head(host)?)?;
    let why = missing_elf_interpreter(root, path, &info)?;
    let subject = if depth == 0 { "the binary" } else { path };
    Some(format!("{subject} {why}"))
}

fn missing_script_interpreter(root: &Path, interp: &str, depth: u32) -> Option<String> {
    let subject = format!("its interpreter {interp} (from the #! line)");
    let Some(host) = resolve(root, interp) else {
        return Some(match interp.strip_suffix('\r') {
            Some(stripped) => format!(
                "its #! line ends with a carriage return, so the kernel looks for {interp:?} \
                 instead of {stripped}: the script has Windows (CRLF) line endings; convert it \
                 with dos2unix or sed -i 's/\\r$//'"
            ),
            None => format!("{subject} is not in the container's rootfs; {SCRIPT_HINT}"),
        });
    };
    if depth + 1 >= MAX_SCRIPT_DEPTH {
        return None;
    }
    let why = missing_loader(root, interp, &host, depth + 1)?;
    Some(format!("{subject}: {why}"))
}

/// "is dynamically linked, but ..." when the loader of an existing ELF file
/// is missing, naming the libraries that would be missing next.
fn missing_elf_interpreter(root: &Path, path: &str, info: &ElfInfo) -> Option<String> {
    let interp = info.interpreter.as_deref()?;
    if exists(root, interp) {
        return None;
    }
    let missing = missing_libraries(root, path, info);
    let libs = if missing.is_empty() {
        String::new()
    } else {
        format!("; it also needs {} (missing from the rootfs)", missing.join(", "))
    };
    Some(format!(
        "is dynamically linked, but its ELF interpreter {interp} is not in the \
         container's rootfs{libs}. {STATIC_HINT}"
    ))
}

fn missing_libraries(root: &Path, path: &str, info: &ElfInfo) -> Vec<String> {
    let dirs = library_dirs(path, info);
    let found = |lib: &str| {
        if lib.contains('/') {
            return exists(root, lib);
        }
        dirs.iter().any(|d| exists(root, &format!("{d}/{lib}")))
    };
    info.needed.iter().filter(|l| !found(l)).cloned().collect()
}

/// Where the loader would look: the binary's run path, then the default
/// directories of glibc/musl plus the multiarch directories for its machine.
/// /etc/ld.so.cache and LD_LIBRARY_PATH are not consulted; this is a hint.
fn library_dirs(path: &str, info: &ElfInfo) -> Vec<String> {
    let origin = Path::new(path).parent().map_or("/".into(), |p| p.display().to_string());
    let mut dirs: Vec<String> = info
        .rpath
        .iter()
        .chain(&info.runpath)
        .map(|d| d.replace("${ORIGIN}", &origin).replace("$ORIGIN", &origin))
        .collect();
    let standard = ["/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib"];
    dirs.extend(standard.map(String::from));
    for triplet in multiarch(info) {
        dirs.push(format!("/lib/{triplet}"));
        dirs.push(format!("/usr/lib/{triplet}"));
    }
    dirs
}

// ---------------------------------------------------------------------------
// PATH lookup

/// Resolves the process's `argv[0]` like runc (Go's exec.LookPath): a name
/// containing '/' is used as is (execve reports problems with it); otherwise
/// the first regular file with an execute bit in PATH wins. `path_env` is
/// the PATH from the process env, None if it has none (runc then uses
/// [`DEFAULT_PATH`]). Relative PATH entries are skipped, as Go >= 1.19
/// refuses executables found through them (exec.ErrDot).
pub fn lookup_path(root: &Path, name: &str, path_env: Option<&str>) -> Result<String, String> {
    if name.contains('/') {
        return Ok(name.to_string());
    }
    let search = path_env.unwrap_or(DEFAULT_PATH);
    let found = search
        .split(':')
        .filter(|dir| dir.starts_with('/') && !name.is_empty())
        .map(|dir| format!("{}/{name}", dir.trim_end_matches('/')))
        .find(|candidate| is_executable_file(root, candidate));
    found.ok_or_else(|| format!("exec: {name:?}: executable file not found in $PATH (searched {search})"))
}

fn is_executable_file(root: &Path, path: &str) -> bool {
    resolve(root, path)
        .and_then(|host| fs::metadata(host).ok())
        .is_some_and(|m| m.is_file() && m.mode() & 0o111 != 0)
}
