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

use nix::errno::Errno;
use nix::unistd::{getegid, geteuid, getgroups};
use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

/// runc uses this when the process environment has no PATH.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Read at most this much of a binary: enough for any realistic dynamically
/// linked program while bounding memory in a possibly memory-limited
/// container. Truncation only loses the library list, never a panic.
const MAX_READ: u64 = 64 << 20;

/// Linux follows at most 40 symlinks per lookup (MAXSYMLINKS).
const MAX_SYMLINKS: u32 = 40;

/// binfmt_script lets an interpreter be a script again, at most this deep.
const MAX_SCRIPT_DEPTH: u32 = 4;

const STATIC_HINT: &str = "A FROM-scratch image needs a static binary: build it with \
gcc -static, CGO_ENABLED=0 (Go) or RUSTFLAGS=\"-C target-feature=+crt-static\" (Rust), \
or add the interpreter and libraries to the image";

const SCRIPT_HINT: &str = "a FROM-scratch image contains only the files you copy into it: \
add the interpreter to the image (for /bin/sh a static busybox works) or make the \
entrypoint a static binary";

// ---------------------------------------------------------------------------
// ELF

/// What the dynamic loader would need to start a binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    /// PT_INTERP: the dynamic loader; None for static binaries.
    pub interpreter: Option<String>,
    /// DT_NEEDED sonames, in order.
    pub needed: Vec<String>,
    /// DT_RUNPATH and DT_RPATH entries, split at ':'.
    pub runpath: Vec<String>,
    /// e_machine (62 = x86-64, 183 = AArch64, ...).
    pub machine: u16,
    /// e_type (1 = relocatable, 2 = executable, 3 = shared/PIE, 4 = core).
    pub elf_type: u16,
    pub is_64: bool,
    pub big_endian: bool,
}

const PT_LOAD: u64 = 1;
const PT_DYNAMIC: u64 = 2;
const PT_INTERP: u64 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_STRSZ: u64 = 10;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;
const ET_REL: u16 = 1;
const ET_CORE: u16 = 4;

/// Bounds-checked view of an ELF image; every read returns None when out of
/// range, so corrupt input degrades to "unknown" instead of panicking.
struct Elf<'a> {
    data: &'a [u8],
    is_64: bool,
    big_endian: bool,
}

#[derive(Clone, Copy)]
struct Segment {
    kind: u64,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

impl<'a> Elf<'a> {
    fn new(data: &'a [u8]) -> Option<Self> {
        if data.get(..4)? != b"\x7fELF" {
            return None;
        }
        let is_64 = match data.get(4)? {
            1 => false,
            2 => true,
            _ => return None,
        };
        let big_endian = match data.get(5)? {
            1 => false,
            2 => true,
            _ => return None,
        };
        Some(Elf {
            data,
            is_64,
            big_endian,
        })
    }

    fn bytes(&self, offset: u64, len: u64) -> Option<&'a [u8]> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        self.data.get(start..end)
    }

    fn uint(&self, offset: u64, size: u64) -> Option<u64> {
        let b = self.bytes(offset, size)?;
        let fold = |acc: u64, byte: &u8| (acc << 8) | u64::from(*byte);
        Some(if self.big_endian {
            b.iter().fold(0, fold)
        } else {
            b.iter().rev().fold(0, fold)
        })
    }

    /// An address- or offset-sized field (Elf32_Addr / Elf64_Addr).
    fn word(&self, offset: u64) -> Option<u64> {
        self.uint(offset, if self.is_64 { 8 } else { 4 })
    }

    fn half(&self, offset: u64) -> Option<u16> {
        self.uint(offset, 2).map(|v| v as u16)
    }

    /// Program headers that lie inside the data; a truncated table yields the
    /// readable prefix because PT_INTERP usually comes first.
    fn segments(&self) -> Option<Vec<Segment>> {
        let (phoff, entsize, num, min_size) = if self.is_64 {
            (self.word(32)?, self.half(54)?, self.half(56)?, 56)
        } else {
            (self.word(28)?, self.half(42)?, self.half(44)?, 32)
        };
        if entsize < min_size {
            return None;
        }
        let read = |i: u16| {
            let base = phoff.checked_add(u64::from(i) * u64::from(entsize))?;
            self.segment(base)
        };
        Some((0..num).map_while(read).collect())
    }

    fn segment(&self, base: u64) -> Option<Segment> {
        let at = |off: u64| base.checked_add(off);
        let (offset, vaddr, filesz) = if self.is_64 {
            (at(8)?, at(16)?, at(32)?)
        } else {
            (at(4)?, at(8)?, at(16)?)
        };
        Some(Segment {
            kind: self.uint(base, 4)?,
            offset: self.word(offset)?,
            vaddr: self.word(vaddr)?,
            filesz: self.word(filesz)?,
        })
    }

    /// NUL-terminated string at `offset`, not reading past `limit`.
    fn c_string(&self, offset: u64, limit: u64) -> Option<String> {
        let len = limit.checked_sub(offset)?;
        let avail = self.data.len() as u64;
        let len = len.min(avail.saturating_sub(offset));
        let raw = self.bytes(offset, len)?;
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        Some(String::from_utf8_lossy(&raw[..end]).into_owned())
    }
}

/// File offset of virtual address `addr`: DT_STRTAB holds an address, and
/// only the PT_LOAD segments say where that lives in the file.
fn vaddr_to_offset(segments: &[Segment], addr: u64) -> Option<u64> {
    segments
        .iter()
        .filter(|s| s.kind == PT_LOAD)
        .find(|s| addr >= s.vaddr && addr - s.vaddr < s.filesz)
        .and_then(|s| s.offset.checked_add(addr - s.vaddr))
}

/// Parses an ELF image (32/64-bit, either byte order). Returns None when the
/// bytes are not ELF or the header is unreadable; damaged parts further in
/// are skipped.
pub fn read_elf(bytes: &[u8]) -> Option<ElfInfo> {
    let elf = Elf::new(bytes)?;
    let segments = elf.segments()?;
    let mut info = ElfInfo {
        interpreter: None,
        needed: Vec::new(),
        runpath: Vec::new(),
        machine: elf.half(18)?,
        elf_type: elf.half(16)?,
        is_64: elf.is_64,
        big_endian: elf.big_endian,
    };
    if let Some(interp) = segments.iter().find(|s| s.kind == PT_INTERP) {
        let end = interp.offset.saturating_add(interp.filesz);
        info.interpreter = elf.c_string(interp.offset, end).filter(|s| !s.is_empty());
    }
    if let Some(dynamic) = segments.iter().find(|s| s.kind == PT_DYNAMIC) {
        read_dynamic(&elf, &segments, dynamic, &mut info);
    }
    Some(info)
}

fn read_dynamic(elf: &Elf, segments: &[Segment], dynamic: &Segment, info: &mut ElfInfo) {
    let entsize: u64 = if elf.is_64 { 16 } else { 8 };
    let (mut strtab, mut strsz) = (None, u64::MAX);
    let mut names = Vec::new(); // (tag, string offset), resolved once STRTAB is known
    let entry = |i: u64| {
        let at = dynamic.offset.checked_add(i * entsize)?;
        Some((elf.word(at)?, elf.word(at.checked_add(entsize / 2)?)?))
    };
    for i in 0..dynamic.filesz / entsize {
        let Some((tag, val)) = entry(i) else { break };
        match tag {
            DT_NULL => break,
            DT_STRTAB => strtab = vaddr_to_offset(segments, val),
            DT_STRSZ => strsz = val,
            DT_NEEDED | DT_RPATH | DT_RUNPATH => names.push((tag, val)),
            _ => {}
        }
    }
    let Some(strtab) = strtab else { return };
    let limit = strtab.saturating_add(strsz);
    for (tag, offset) in names {
        let Some(s) = strtab.checked_add(offset).and_then(|o| elf.c_string(o, limit)) else {
            continue;
        };
        if tag == DT_NEEDED {
            info.needed.push(s);
        } else {
            let dirs = s.split(':').filter(|d| !d.is_empty()).map(String::from);
            info.runpath.extend(dirs);
        }
    }
}

/// Debian multiarch triplets, which name the library directories the
/// binary's loader searches (e.g. /usr/lib/x86_64-linux-gnu).
fn multiarch(info: &ElfInfo) -> &'static [&'static str] {
    match (info.machine, info.is_64, info.big_endian) {
        (62, true, _) => &["x86_64-linux-gnu"],
        (62, false, _) => &["x86_64-linux-gnux32"],
        (3, _, _) => &["i386-linux-gnu"],
        (183, _, _) => &["aarch64-linux-gnu"],
        (40, _, _) => &["arm-linux-gnueabihf", "arm-linux-gnueabi"],
        (243, true, _) => &["riscv64-linux-gnu"],
        (21, _, false) => &["powerpc64le-linux-gnu"],
        (21, _, true) => &["powerpc64-linux-gnu"],
        (20, _, _) => &["powerpc-linux-gnu"],
        (22, _, _) => &["s390x-linux-gnu"],
        (8, true, false) => &["mips64el-linux-gnuabi64"],
        (8, true, true) => &["mips64-linux-gnuabi64"],
        (8, false, false) => &["mipsel-linux-gnu"],
        (8, false, true) => &["mips-linux-gnu"],
        (258, _, _) => &["loongarch64-linux-gnu"],
        _ => &[],
    }
}

fn machine_name(machine: u16) -> &'static str {
    match machine {
        3 => "x86 (i386)",
        8 => "MIPS",
        20 => "PowerPC",
        21 => "PowerPC64",
        22 => "s390x",
        40 => "ARM (32-bit)",
        62 => "x86-64 (amd64)",
        183 => "AArch64 (arm64)",
        243 => "RISC-V",
        258 => "LoongArch",
        _ => "unknown",
    }
}

/// e_machine of the binaries this build of scrun runs next to.
fn host_machine() -> u16 {
    match std::env::consts::ARCH {
        "x86" => 3,
        "mips" | "mips64" => 8,
        "powerpc" => 20,
        "powerpc64" => 21,
        "s390x" => 22,
        "arm" => 40,
        "x86_64" => 62,
        "aarch64" => 183,
        "riscv64" | "riscv32" => 243,
        "loongarch64" => 258,
        _ => 0,
    }
}

// ---------------------------------------------------------------------------
// Paths inside the root

/// Resolves the container path `path` to a host path under `root`, following
/// symlinks the way the kernel does after chroot: absolute link targets start
/// again at `root` and `..` stops at it, so nothing outside `root` is ever
/// looked at. Relative paths are taken from the root. None if any component
/// is missing, a non-directory is traversed, or links loop.
fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let mut done: Vec<OsString> = Vec::new();
    let mut todo: Vec<OsString> = components(Path::new(path)); // reversed: pop() is next
    let mut links = 0;
    while let Some(name) = todo.pop() {
        if name == ".." {
            done.pop();
            continue;
        }
        let here = join(root, &done).join(&name);
        let meta = fs::symlink_metadata(&here).ok()?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > MAX_SYMLINKS {
                return None;
            }
            let target = fs::read_link(&here).ok()?;
            if target.is_absolute() {
                done.clear();
            }
            todo.extend(components(&target));
        } else if !meta.is_dir() && !todo.is_empty() {
            return None;
        } else {
            done.push(name);
        }
    }
    Some(join(root, &done))
}

/// Normal and `..` components of `path`, reversed for use as a stack.
fn components(path: &Path) -> Vec<OsString> {
    let mut parts: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    parts.reverse();
    parts
}

fn join(root: &Path, parts: &[OsString]) -> PathBuf {
    let mut p = root.to_path_buf();
    p.extend(parts);
    p
}

/// The container path of a host path produced by [`resolve`].
fn container_path(root: &Path, host: &Path) -> String {
    let rel = host.strip_prefix(root).unwrap_or(host);
    format!("/{}", rel.display())
}

fn exists(root: &Path, path: &str) -> bool {
    resolve(root, path).is_some()
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

/// Credentials the exec is checked against for EACCES.
struct Ids {
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
}

impl Ids {
    /// Supplementary groups always come from the calling process: it is the
    /// one whose execve failed, so its groups are what the kernel checked.
    fn new(ids: Option<(u32, u32)>) -> Self {
        let (uid, gid) = ids.unwrap_or_else(|| (geteuid().as_raw(), getegid().as_raw()));
        let groups = getgroups().unwrap_or_default();
        Ids {
            uid,
            gid,
            groups: groups.into_iter().map(|g| g.as_raw()).collect(),
        }
    }
}

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
        .runpath
        .iter()
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

// EACCES -------------------------------------------------------------------

fn permission_denied(root: &Path, exe: &str, ids: &Ids) -> String {
    let mut reasons = match resolve(root, exe) {
        Some(host) => access_problems(root, &host, ids),
        // Unprivileged we may not even stat the file: check its directories.
        None => parent_dir(root, exe)
            .map(|dir| unsearchable_dirs(root, &dir, ids))
            .unwrap_or_default(),
    };
    if reasons.is_empty() {
        reasons.extend(interpreter_access_problem(root, exe, ids));
    }
    if reasons.is_empty() {
        "permission denied".to_string()
    } else {
        format!("permission denied: {}", reasons.join("; "))
    }
}

/// A script runs only if its interpreter is executable too.
fn interpreter_access_problem(root: &Path, exe: &str, ids: &Ids) -> Option<String> {
    let head = read_head(&resolve(root, exe)?)?;
    let interp = shebang(&head)?;
    let host = resolve(root, &interp)?;
    let problems = access_problems(root, &host, ids);
    if problems.is_empty() {
        return None;
    }
    Some(format!(
        "its interpreter {interp} (from the #! line) cannot be executed: {}",
        problems.join("; ")
    ))
}

/// Every reason the kernel could refuse to execute `host`, in the order
/// it checks them: path search permission, file type, noexec mount, mode bits.
fn access_problems(root: &Path, host: &Path, ids: &Ids) -> Vec<String> {
    let mut problems = host
        .parent()
        .map(|dir| unsearchable_dirs(root, dir, ids))
        .unwrap_or_default();
    let Ok(meta) = fs::metadata(host) else {
        return problems;
    };
    let path = container_path(root, host);
    if !meta.is_file() {
        problems.push(format!("{path} is {}, not a regular file", kind(&meta)));
        return problems;
    }
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if let Some(mount) = noexec_mount(&mountinfo, host) {
        problems.push(format!(
            "{path} is on a filesystem mounted noexec (mount point {mount})"
        ));
    }
    if !may_execute(&meta, ids) {
        problems.push(format!(
            "{path} has no execute permission for uid {} gid {} ({}); add it in the image \
             with chmod +x (or COPY --chmod=755)",
            ids.uid,
            ids.gid,
            mode_owner(&meta)
        ));
    }
    problems
}

fn parent_dir(root: &Path, exe: &str) -> Option<PathBuf> {
    resolve(root, Path::new(exe).parent()?.to_str()?)
}

/// `dir` and its ancestors up to `root` that the ids may not search.
fn unsearchable_dirs(root: &Path, dir: &Path, ids: &Ids) -> Vec<String> {
    dir.ancestors()
        .take_while(|dir| dir.starts_with(root))
        .filter_map(|dir| {
            let meta = fs::metadata(dir).ok()?;
            if may_execute(&meta, ids) {
                return None;
            }
            Some(format!(
                "directory {} is not searchable by uid {} gid {} ({})",
                container_path(root, dir),
                ids.uid,
                ids.gid,
                mode_owner(&meta)
            ))
        })
        .collect()
}

/// Whether the ids may execute a file or search a directory, as the
/// kernel's generic_permission decides it. Root passes, except that a file
/// needs some x bit. POSIX ACLs are ignored.
fn may_execute(meta: &Metadata, ids: &Ids) -> bool {
    let mode = meta.mode();
    if ids.uid == 0 {
        return meta.is_dir() || mode & 0o111 != 0;
    }
    let shift = if meta.uid() == ids.uid {
        6
    } else if meta.gid() == ids.gid || ids.groups.contains(&meta.gid()) {
        3
    } else {
        0
    };
    (mode >> shift) & 0o1 != 0
}

fn mode_owner(meta: &Metadata) -> String {
    format!("mode {:04o}, owner {}:{}", meta.mode() & 0o7777, meta.uid(), meta.gid())
}

fn kind(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a named pipe"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// The mount point covering `path` if that mount is noexec. The last and
/// longest matching entry wins, as later mounts cover earlier ones.
fn noexec_mount(mountinfo: &str, path: &Path) -> Option<String> {
    let mut best: Option<(String, bool)> = None;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(point), Some(options)) = (fields.get(4), fields.get(5)) else {
            continue;
        };
        let point = unescape_mountinfo(point);
        let longer = best.as_ref().is_none_or(|(b, _)| point.len() >= b.len());
        if longer && path.starts_with(&point) {
            let noexec = options.split(',').any(|o| o == "noexec");
            best = Some((point, noexec));
        }
    }
    best.filter(|(_, noexec)| *noexec).map(|(point, _)| point)
}

/// mountinfo writes space, tab, newline and backslash as \ooo octal.
fn unescape_mountinfo(field: &str) -> String {
    let mut out = String::new();
    let mut rest = field;
    while let Some(pos) = rest.find('\\') {
        out.push_str(&rest[..pos]);
        let code = rest.get(pos + 1..pos + 4);
        match code.and_then(|c| u8::from_str_radix(c, 8).ok()) {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[pos + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[pos + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

// ENOEXEC ------------------------------------------------------------------

fn format_error(root: &Path, exe: &str) -> String {
    let reason = resolve(root, exe)
        .and_then(|host| read_head(&host))
        .and_then(|head| format_problem(root, &head, 0));
    match reason {
        Some(reason) => format!("exec format error: {reason}"),
        None => "exec format error".to_string(),
    }
}

fn format_problem(root: &Path, head: &[u8], depth: u32) -> Option<String> {
    if head.is_empty() {
        return Some("the file is empty".into());
    }
    if let Some(interp) = shebang(head) {
        return interpreter_format_problem(root, &interp, depth);
    }
    if head.starts_with(b"\x7fELF") {
        return Some(match read_elf(head) {
            Some(info) => elf_format_problem(&info)?,
            None => "the ELF header is truncated or corrupt".into(),
        });
    }
    Some(foreign_format(head).into())
}

fn interpreter_format_problem(root: &Path, interp: &str, depth: u32) -> Option<String> {
    if depth + 1 >= MAX_SCRIPT_DEPTH {
        return None;
    }
    let head = read_head(&resolve(root, interp)?)?;
    let why = format_problem(root, &head, depth + 1)?;
    Some(format!(
        "its interpreter {interp} (from the #! line) cannot be executed: {why}"
    ))
}

fn elf_format_problem(info: &ElfInfo) -> Option<String> {
    match info.elf_type {
        ET_REL => return Some("it is an ELF object file (.o), not a linked program".into()),
        ET_CORE => return Some("it is a core dump, not a program".into()),
        _ => {}
    }
    let host = host_machine();
    if info.machine != host {
        return Some(format!(
            "not an executable for this machine (ELF machine {}, {}; this machine is {}): \
             build the image for this platform, or install qemu-user-static binfmt handlers",
            info.machine,
            machine_name(info.machine),
            machine_name(host)
        ));
    }
    let host_is_64 = cfg!(target_pointer_width = "64");
    (host_is_64 && !info.is_64).then(|| {
        "it is a 32-bit program and this kernel cannot run 32-bit programs \
         (no compat support)"
            .into()
    })
}

/// Names the common non-Linux or non-program files people copy into images.
fn foreign_format(head: &[u8]) -> &'static str {
    const MACH_O: [&[u8]; 5] = [
        b"\xfe\xed\xfa\xce",
        b"\xfe\xed\xfa\xcf",
        b"\xce\xfa\xed\xfe",
        b"\xcf\xfa\xed\xfe",
        b"\xca\xfe\xba\xbe",
    ];
    if head.starts_with(b"MZ") {
        "it is a Windows (PE) executable, not a Linux one"
    } else if MACH_O.iter().any(|m| head.starts_with(m)) {
        "it is a macOS (Mach-O) executable, not a Linux one (build with GOOS=linux or for a linux target)"
    } else if head.starts_with(b"\xef\xbb\xbf#!") {
        "it starts with a UTF-8 byte order mark before #!, so the kernel does not see the #! line; save the script without BOM"
    } else if looks_like_text(head) {
        "it is a text file without a #! line; add one (e.g. #!/bin/sh) as its first line"
    } else {
        "it is neither an ELF binary nor a script starting with #!"
    }
}

fn looks_like_text(head: &[u8]) -> bool {
    let sample = &head[..head.len().min(512)];
    std::str::from_utf8(sample).is_ok_and(|s| !s.contains('\0'))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::process::Command;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A temporary container root, removed on drop.
    struct Root(PathBuf);

    impl Root {
        fn new() -> Self {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("scrun-diag-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Root(dir)
        }

        fn path(&self, rel: &str) -> PathBuf {
            self.0.join(rel.trim_start_matches('/'))
        }

        fn write(&self, rel: &str, data: &[u8], mode: u32) {
            let p = self.path(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, data).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        }

        fn link(&self, rel: &str, target: &str) {
            let p = self.path(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            symlink(target, p).unwrap();
        }

        fn fail(&self, exe: &str, errno: i32) -> String {
            let msg = exec_failure(&self.0, exe, errno, Some(USER));
            eprintln!("{msg}");
            msg
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// An unprivileged user that owns none of the test files, whoever runs
    /// the tests.
    const USER: (u32, u32) = (54321, 54321);

    fn host_true() -> Vec<u8> {
        fs::read("/bin/true").expect("/bin/true")
    }

    // ELF parsing --------------------------------------------------------

    /// A minimal dynamically linked ELF in any class/byte order: PT_INTERP,
    /// one PT_LOAD covering the file at vaddr 0x10000, and PT_DYNAMIC.
    fn build_elf(is_64: bool, big: bool, machine: u16) -> Vec<u8> {
        let mut b = vec![0u8; 0x500];
        let put = |b: &mut Vec<u8>, off: usize, val: u64, size: usize| {
            let bytes = val.to_be_bytes();
            let mut v = bytes[8 - size..].to_vec();
            if !big {
                v.reverse();
            }
            b[off..off + size].copy_from_slice(&v);
        };
        let w = if is_64 { 8 } else { 4 };
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = if is_64 { 2 } else { 1 };
        b[5] = if big { 2 } else { 1 };
        b[6] = 1;
        put(&mut b, 16, 3, 2);
        put(&mut b, 18, machine.into(), 2);
        let (phoff_at, entsize_at, entsize) = if is_64 { (32, 54, 56) } else { (28, 42, 32) };
        put(&mut b, phoff_at, 0x40, w);
        put(&mut b, entsize_at, entsize, 2);
        put(&mut b, entsize_at + 2, 3, 2);
        let phdrs = [
            (PT_INTERP, 0x200, 0x10200, 0x20),
            (PT_LOAD, 0, 0x10000, 0x500),
            (PT_DYNAMIC, 0x400, 0x10400, 0x100),
        ];
        for (i, (kind, offset, vaddr, size)) in phdrs.into_iter().enumerate() {
            let base = 0x40 + i * entsize as usize;
            put(&mut b, base, kind, 4);
            let (o, v, f) = if is_64 { (8, 16, 32) } else { (4, 8, 16) };
            put(&mut b, base + o, offset, w);
            put(&mut b, base + v, vaddr, w);
            put(&mut b, base + f, size, w);
        }
        let interp = b"/lib/ld-test.so.1\0";
        b[0x200..0x200 + interp.len()].copy_from_slice(interp);
        let strtab = b"\0libfoo.so.1\0libbar.so\0$ORIGIN/lib:/opt/lib\0";
        b[0x300..0x300 + strtab.len()].copy_from_slice(strtab);
        let dyns = [
            (DT_NEEDED, 1),
            (DT_NEEDED, 13),
            (DT_RUNPATH, 23),
            (DT_STRTAB, 0x10300),
            (DT_STRSZ, strtab.len() as u64),
            (DT_NULL, 0),
        ];
        for (i, (tag, val)) in dyns.into_iter().enumerate() {
            let base = 0x400 + i * 2 * w;
            put(&mut b, base, tag, w);
            put(&mut b, base + w, val, w);
        }
        b
    }

    #[test]
    fn parses_all_classes_and_byte_orders() {
        for is_64 in [false, true] {
            for big in [false, true] {
                let info = read_elf(&build_elf(is_64, big, 183)).unwrap();
                assert_eq!(info.interpreter.as_deref(), Some("/lib/ld-test.so.1"));
                assert_eq!(info.needed, ["libfoo.so.1", "libbar.so"]);
                assert_eq!(info.runpath, ["$ORIGIN/lib", "/opt/lib"]);
                assert_eq!((info.machine, info.is_64, info.big_endian), (183, is_64, big));
            }
        }
    }

    #[test]
    fn parses_host_dynamic_binary() {
        let info = read_elf(&host_true()).unwrap();
        assert!(info.interpreter.is_some());
        assert!(info.needed.iter().any(|l| l.starts_with("libc.so")));
        assert_eq!(info.machine, host_machine());
        #[cfg(target_arch = "x86_64")]
        assert_eq!(info.interpreter.as_deref(), Some("/lib64/ld-linux-x86-64.so.2"));
    }

    /// Compiles a tiny static C program; None if gcc or static libc is missing.
    fn static_binary(dir: &Path) -> Option<Vec<u8>> {
        let src = dir.join("s.c");
        let out = dir.join("s");
        fs::write(&src, "int main(void) { return 0; }\n").ok()?;
        let ok = Command::new("gcc")
            .arg("-static")
            .arg("-o")
            .arg(&out)
            .arg(&src)
            .status()
            .ok()?
            .success();
        ok.then(|| fs::read(&out).ok()).flatten()
    }

    #[test]
    fn static_binary_has_no_interpreter() {
        let root = Root::new();
        let Some(bin) = static_binary(&root.0) else {
            eprintln!("gcc -static unavailable; skipping");
            return;
        };
        let info = read_elf(&bin).unwrap();
        assert_eq!(info.interpreter, None);
        assert!(info.needed.is_empty());
        root.write("/hello", &bin, 0o755);
        assert_eq!(
            root.fail("/hello", libc::ENOENT),
            "exec /hello: no such file or directory"
        );
    }

    const FUZZ_ROUNDS: usize = 3000;

    #[test]
    fn garbage_never_panics() {
        assert_eq!(read_elf(b""), None);
        assert_eq!(read_elf(b"\x7fEL"), None);
        assert_eq!(read_elf(b"\x7fELF\x03\x01"), None);
        assert_eq!(read_elf(b"#!/bin/sh\n"), None);
        let samples = [build_elf(true, false, 62), build_elf(false, true, 8), host_true()];
        for sample in &samples {
            for len in (0..sample.len().min(0x600)).chain([sample.len() / 2]) {
                let _ = read_elf(&sample[..len]);
            }
        }
        // Deterministic random corruption, biased to the headers and tables.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for sample in &samples {
            for _ in 0..FUZZ_ROUNDS {
                let mut data = sample.clone();
                for _ in 0..1 + next() % 8 {
                    // Whole fields too: overflow bugs need values like u64::MAX.
                    let at = ((next() % 0x500) as usize % data.len()) & !7;
                    let value = match next() % 4 {
                        0 => u64::MAX,
                        1 => u64::MAX - next() % 64,
                        2 => next() % 0x600,
                        _ => next(),
                    };
                    let width = [1, 2, 4, 8][(next() % 4) as usize].min(data.len() - at);
                    data[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
                }
                let _ = read_elf(&data);
            }
        }
    }

    #[test]
    fn absurd_offsets_are_rejected_quietly() {
        let mut elf = build_elf(true, false, 62);
        elf[32..40].copy_from_slice(&u64::MAX.to_le_bytes()); // e_phoff
        assert_eq!(read_elf(&elf).unwrap().interpreter, None);
        let mut elf = build_elf(true, false, 62);
        elf[0x40 + 56 * 2 + 8..0x40 + 56 * 2 + 16].copy_from_slice(&(u64::MAX - 4).to_le_bytes());
        assert!(read_elf(&elf).unwrap().needed.is_empty()); // PT_DYNAMIC offset
        let mut elf = build_elf(false, true, 62);
        elf[42..44].copy_from_slice(&[0, 4]); // e_phentsize too small
        assert_eq!(read_elf(&elf), None);
    }

    // ENOENT ---------------------------------------------------------------

    #[test]
    fn dynamic_binary_without_loader() {
        let root = Root::new();
        let info = read_elf(&host_true()).unwrap();
        root.write("/hello", &host_true(), 0o755);
        let msg = root.fail("/hello", libc::ENOENT);
        let interp = info.interpreter.unwrap();
        assert!(msg.starts_with("exec /hello: no such file or directory: the binary is dynamically linked"));
        assert!(msg.contains(&format!(
            "its ELF interpreter {interp} is not in the container's rootfs"
        )));
        assert!(msg.contains("it also needs libc.so.6 (missing from the rootfs)"));
        assert!(msg.contains("gcc -static, CGO_ENABLED=0 (Go)"));
        #[cfg(target_arch = "x86_64")]
        assert!(msg.contains("/lib64/ld-linux-x86-64.so.2"));
    }

    #[test]
    fn libraries_found_in_multiarch_or_runpath_are_not_listed() {
        let root = Root::new();
        let info = read_elf(&host_true()).unwrap();
        root.write("/hello", &host_true(), 0o755);
        for (lib, triplet) in info.needed.iter().zip(multiarch(&info).iter().cycle()) {
            root.write(&format!("/usr/lib/{triplet}/{lib}"), b"", 0o644);
        }
        let msg = root.fail("/hello", libc::ENOENT);
        assert!(msg.contains("is not in the container's rootfs. A FROM-scratch image"));
        assert!(!msg.contains("also needs"));

        let root = Root::new();
        root.write("/app/bin/x", &build_elf(true, false, 183), 0o755);
        root.write("/app/bin/lib/libfoo.so.1", b"", 0o644);
        let msg = root.fail("/app/bin/x", libc::ENOENT);
        assert!(msg.contains("it also needs libbar.so (missing"), "{msg}");
    }

    #[test]
    fn present_loader_means_plain_enoent() {
        let root = Root::new();
        let interp = read_elf(&host_true()).unwrap().interpreter.unwrap();
        root.write("/hello", &host_true(), 0o755);
        root.write("/real-ld.so", b"", 0o755);
        root.link(&interp, "/real-ld.so"); // an absolute link, resolved in the root
        assert_eq!(
            root.fail("/hello", libc::ENOENT),
            "exec /hello: no such file or directory"
        );
    }

    #[test]
    fn script_without_interpreter() {
        let root = Root::new();
        root.write("/run.sh", b"#!/bin/sh -e\necho hi\n", 0o755);
        let msg = root.fail("/run.sh", libc::ENOENT);
        assert_eq!(
            msg,
            format!("exec /run.sh: no such file or directory: its interpreter /bin/sh (from the #! line) is not in the container's rootfs; {SCRIPT_HINT}")
        );
    }

    #[test]
    fn script_with_crlf_line_endings() {
        let root = Root::new();
        root.write("/run.sh", b"#!/bin/sh\r\necho hi\r\n", 0o755);
        root.write("/bin/sh", b"", 0o755);
        let msg = root.fail("/run.sh", libc::ENOENT);
        assert!(msg.contains("carriage return"), "{msg}");
        assert!(msg.contains("\"/bin/sh\\r\""), "{msg}");
    }

    #[test]
    fn script_whose_interpreter_is_dynamic() {
        let root = Root::new();
        root.write("/run.sh", b"#!/bin/sh\n", 0o755);
        root.write("/bin/sh", &host_true(), 0o755);
        let msg = root.fail("/run.sh", libc::ENOENT);
        let expected = "exec /run.sh: no such file or directory: its interpreter /bin/sh \
                        (from the #! line): /bin/sh is dynamically linked, but its ELF interpreter";
        assert!(msg.starts_with(expected), "{msg}");
        assert!(msg.contains("it also needs libc.so.6"), "{msg}");
    }

    #[test]
    fn preflight_reports_only_missing_loaders() {
        let root = Root::new();
        root.write("/hello", &host_true(), 0o755);
        root.write("/run.sh", b"#!/bin/sh\n", 0o755);
        root.write("/plain", b"#!/hello\n", 0o755);
        for exe in ["/hello", "/run.sh", "/plain"] {
            let early = missing_interpreter(&root.0, exe);
            assert_eq!(early, Some(root.fail(exe, libc::ENOENT)));
        }
        assert_eq!(missing_interpreter(&root.0, "/missing"), None);
        if let Some(bin) = static_binary(&root.0) {
            root.write("/static", &bin, 0o755);
            assert_eq!(missing_interpreter(&root.0, "/static"), None);
        }
        let interp = read_elf(&host_true()).unwrap().interpreter.unwrap();
        root.write(&interp, b"", 0o755);
        assert_eq!(missing_interpreter(&root.0, "/hello"), None);
        assert_eq!(missing_interpreter(&root.0, "/plain"), None);
        root.write("/bin/sh", b"", 0o755);
        assert_eq!(missing_interpreter(&root.0, "/run.sh"), None);
    }

    #[test]
    fn missing_file() {
        let root = Root::new();
        assert_eq!(root.fail("/x", libc::ENOENT), "exec /x: no such file or directory");
        root.link("/y", "/nowhere");
        assert_eq!(
            root.fail("/y", libc::ENOENT),
            "exec /y: no such file or directory (/y is a symlink to /nowhere, which is not in the container's rootfs)"
        );
    }

    #[test]
    fn symlinks_cannot_escape_the_root() {
        let root = Root::new();
        root.link("/evil", "/../../etc/passwd");
        root.link("/sub/rel", "../../../../../../etc/passwd");
        for link in ["/evil", "/sub/rel", "/../../../etc/passwd"] {
            assert_eq!(resolve(&root.0, link), None, "{link} must not reach the host");
            assert!(root.fail(link, libc::ENOENT).contains("no such file or directory"));
        }
        root.write("/etc/passwd", b"root:x:0:0::/:/bin/sh\n", 0o644);
        for link in ["/evil", "/sub/rel", "/../../../etc/passwd"] {
            assert_eq!(resolve(&root.0, link), Some(root.path("/etc/passwd")));
        }
        root.link("/loop", "/loop");
        assert_eq!(resolve(&root.0, "/loop"), None);
    }

    // EACCES ---------------------------------------------------------------

    #[test]
    fn permission_denied_reasons() {
        let root = Root::new();
        root.write("/app/tool", b"\x7fELF", 0o644);
        let msg = root.fail("/app/tool", libc::EACCES);
        assert!(msg.starts_with("exec /app/tool: permission denied: /app/tool has no execute permission for uid 54321 gid 54321 (mode 0644, owner "), "{msg}");

        fs::create_dir(root.path("/dir")).unwrap();
        let msg = root.fail("/dir", libc::EACCES);
        assert!(msg.contains("/dir is a directory, not a regular file"), "{msg}");

        root.write("/secret/tool", b"", 0o755);
        fs::set_permissions(root.path("/secret"), fs::Permissions::from_mode(0o700)).unwrap();
        let msg = root.fail("/secret/tool", libc::EACCES);
        assert!(
            msg.contains("directory /secret is not searchable by uid 54321"),
            "{msg}"
        );

        root.write("/run.sh", b"#!/bin/sh\n", 0o755);
        root.write("/bin/sh", b"", 0o600);
        let msg = root.fail("/run.sh", libc::EACCES);
        assert!(
            msg.contains(
                "its interpreter /bin/sh (from the #! line) cannot be executed: /bin/sh has no execute permission"
            ),
            "{msg}"
        );

        // Root ignores permission bits, except that some x bit must be set.
        let as_root = Some((0, 0));
        let msg = exec_failure(&root.0, "/secret/tool", libc::EACCES, as_root);
        assert_eq!(msg, "exec /secret/tool: permission denied");
        let msg = exec_failure(&root.0, "/app/tool", libc::EACCES, as_root);
        assert!(msg.contains("no execute permission for uid 0"), "{msg}");
    }

    #[test]
    fn noexec_mount_lookup() {
        let info = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
                    30 22 0:5 / /mnt/my\\040data rw,nosuid,noexec - tmpfs tmpfs rw\n\
                    31 30 0:6 / /mnt/my\\040data/exec rw - tmpfs tmpfs rw\n\
                    garbage\n";
        assert_eq!(
            noexec_mount(info, Path::new("/mnt/my data/x")),
            Some("/mnt/my data".into())
        );
        assert_eq!(noexec_mount(info, Path::new("/mnt/my data/exec/x")), None);
        assert_eq!(noexec_mount(info, Path::new("/mnt/my datax")), None);
        assert_eq!(noexec_mount(info, Path::new("/bin/sh")), None);
    }

    // ENOEXEC and others ---------------------------------------------------

    #[test]
    fn exec_format_errors() {
        let root = Root::new();
        let foreign = if host_machine() == 183 { 62 } else { 183 };
        root.write("/arm", &build_elf(true, false, foreign), 0o755);
        let msg = root.fail("/arm", libc::ENOEXEC);
        assert!(
            msg.starts_with(&format!(
                "exec /arm: exec format error: not an executable for this machine (ELF machine {foreign}, "
            )),
            "{msg}"
        );

        root.write("/notes.txt", b"echo hello\n", 0o755);
        assert!(root
            .fail("/notes.txt", libc::ENOEXEC)
            .contains("text file without a #! line"));
        root.write("/empty", b"", 0o755);
        assert_eq!(
            root.fail("/empty", libc::ENOEXEC),
            "exec /empty: exec format error: the file is empty"
        );
        root.write("/app.exe", b"MZ\x90\0", 0o755);
        assert!(root.fail("/app.exe", libc::ENOEXEC).contains("Windows (PE)"));
        root.write("/bom.sh", b"\xef\xbb\xbf#!/bin/sh\n", 0o755);
        assert!(root.fail("/bom.sh", libc::ENOEXEC).contains("byte order mark"));
        root.write("/blob", b"\0\x01\x02\x03", 0o755);
        assert!(root
            .fail("/blob", libc::ENOEXEC)
            .contains("neither an ELF binary nor a script"));
    }

    #[test]
    fn other_errno_uses_lowercase_strerror() {
        let root = Root::new();
        assert_eq!(root.fail("/x", libc::E2BIG), "exec /x: argument list too long");
        assert_eq!(root.fail("/x", libc::ETXTBSY), "exec /x: text file busy");
    }

    // PATH lookup ----------------------------------------------------------

    #[test]
    fn path_lookup() {
        let root = Root::new();
        root.write("/usr/bin/app", b"", 0o755);
        root.write("/usr/local/bin/app", b"", 0o644); // not executable: skipped
        fs::create_dir_all(root.path("/sbin/app")).unwrap(); // a directory: skipped
        assert_eq!(lookup_path(&root.0, "app", None), Ok("/usr/bin/app".into()));
        assert_eq!(
            lookup_path(&root.0, "app", Some("/sbin:/usr/bin/")),
            Ok("/usr/bin/app".into())
        );
        assert_eq!(lookup_path(&root.0, "./app", None), Ok("./app".into()));
        assert_eq!(
            lookup_path(&root.0, "nope", None),
            Err(format!(
                "exec: \"nope\": executable file not found in $PATH (searched {DEFAULT_PATH})"
            ))
        );
        assert_eq!(
            lookup_path(&root.0, "app", Some("/bin:usr/bin")),
            Err("exec: \"app\": executable file not found in $PATH (searched /bin:usr/bin)".into())
        );
        // Symlinked PATH entries resolve inside the root (merged /usr layout).
        root.link("/bin", "usr/bin");
        assert_eq!(lookup_path(&root.0, "app", Some("/bin")), Ok("/bin/app".into()));
    }
}
