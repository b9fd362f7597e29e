//! The compiled-filter cache under `<root>/.cache/seccomp`: docker sends one ~350-syscall
//! profile with every container and libseccomp takes ~13 ms over it.
//!
//! An entry is used only when its key matches exactly: the compiler's identity (see
//! [`compiler_id`]) and the profile's text, both stored in the entry, so neither a hash
//! collision nor a filter compiled by another build or for another kernel is ever handed out.
//! The directory is bounded ([`CACHE_BYTES`]): each miss drops the oldest entries (by mtime)
//! beyond it, so the entries of builds gone by age out too. A hit does no more than read.

use super::{compile, Filter};
use anyhow::Result;
use oci_spec::runtime::LinuxSeccomp;
use std::path::Path;

/// What the cache may hold. A docker-profile entry is ~25 KiB (its text plus ~600
/// instructions), so this keeps ~150 profiles: far more than a node uses, and it lives in
/// `--root`, usually tmpfs, that is memory.
pub const CACHE_BYTES: u64 = 4 << 20;

const MAGIC: &[u8] = b"scrun-bpf-2\n";

/// [`compile`], or the filter an earlier container compiled from the very same profile with
/// the very same compiler. Without a build id to name the compiler by, no cache.
pub fn compile_cached(seccomp: &LinuxSeccomp, cache_dir: &Path) -> Result<Filter> {
    match compiler_id() {
        Some(id) => cached(seccomp, cache_dir, &id, CACHE_BYTES),
        None => compile(seccomp),
    }
}

fn cached(seccomp: &LinuxSeccomp, dir: &Path, compiler: &str, bound: u64) -> Result<Filter> {
    use std::hash::{Hash, Hasher};
    let key = format!("{compiler}\n{}", serde_json::to_string(seccomp)?);
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    let path = dir.join(format!("{:016x}.bpf", hasher.finish()));
    if let Some(filter) = std::fs::read(&path).ok().and_then(|bytes| decode(&bytes, &key)) {
        return Ok(filter);
    }
    let filter = compile(seccomp)?;
    // A cache that cannot be written only costs the next container the compile.
    let written = std::fs::create_dir_all(dir)
        .map_err(anyhow::Error::from)
        .and_then(|()| crate::state::write_atomic(&path, &encode(&filter, &key)));
    if written.is_ok() {
        prune(dir, bound);
    }
    Ok(filter)
}

/// What the compiled program depends on besides the profile: the code of this very binary
/// (its ELF build id, which build.rs has the linker always emit; libseccomp is linked in
/// statically, so it is covered too) and the kernel, whose seccomp flags `compile` probes.
/// Costs one uname(2) (~0.3 µs); the build id is read from the loaded program headers, no
/// syscall. The package version would not do: it stays the same across rebuilds.
fn compiler_id() -> Option<String> {
    let build_id = build_id()?;
    // SAFETY: uname fills the struct it is given; all-zero is a valid utsname.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uts is a valid, writable utsname.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return None;
    }
    let field = |f: &[libc::c_char]| {
        // SAFETY: uname NUL-terminates every field within its array.
        unsafe { std::ffi::CStr::from_ptr(f.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    let hex: String = build_id.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!(
        "build {hex} kernel {} {}",
        field(&uts.release),
        field(&uts.version)
    ))
}

/// The GNU build id of the running executable, from its PT_NOTE segments as loaded in memory.
pub fn build_id() -> Option<Vec<u8>> {
    const NT_GNU_BUILD_ID: u32 = 3;
    unsafe extern "C" fn first(info: *mut libc::dl_phdr_info, _: libc::size_t, out: *mut libc::c_void) -> libc::c_int {
        // SAFETY: the loader passes a valid info; out is the Option given below. The first
        // object it reports is the main program.
        let (info, out) = unsafe { (&*info, &mut *(out as *mut Option<Vec<u8>>)) };
        // SAFETY: dlpi_phdr points to dlpi_phnum program headers.
        let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
        for h in headers.iter().filter(|h| h.p_type == libc::PT_NOTE) {
            // SAFETY: a PT_NOTE segment is loaded at dlpi_addr + p_vaddr, p_memsz bytes long.
            let mut notes =
                unsafe { std::slice::from_raw_parts((info.dlpi_addr + h.p_vaddr) as *const u8, h.p_memsz as usize) };
            let word = |b: &[u8], i: usize| b.get(i..i + 4).map(|w| u32::from_ne_bytes(w.try_into().unwrap()));
            while let (Some(namesz), Some(descsz), Some(kind)) = (word(notes, 0), word(notes, 4), word(notes, 8)) {
                let name_end = 12 + (namesz as usize).next_multiple_of(4);
                let desc_end = name_end + (descsz as usize).next_multiple_of(4);
                if kind == NT_GNU_BUILD_ID && notes.get(12..12 + namesz as usize) == Some(b"GNU\0") {
                    *out = notes.get(name_end..name_end + descsz as usize).map(<[u8]>::to_vec);
                    return 1;
                }
                notes = notes.get(desc_end..).unwrap_or_default();
            }
        }
        1
    }
    let mut id: Option<Vec<u8>> = None;
    // SAFETY: the callback only reads what the loader hands it and writes `id`.
    unsafe { libc::dl_iterate_phdr(Some(first), &mut id as *mut _ as *mut libc::c_void) };
    id.filter(|id| !id.is_empty())
}

/// Drop the oldest entries until the directory holds at most `bound` bytes. Leftover temp
/// files of a killed writer count and go like entries; a file another scrun removes first is
/// simply gone.
fn prune(dir: &Path, bound: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut files: Vec<(std::time::SystemTime, u64, std::path::PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let md = e.metadata().ok().filter(|m| m.is_file())?;
            Some((md.modified().ok()?, md.len(), e.path()))
        })
        .collect();
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    files.sort();
    for (_, len, path) in files {
        if total <= bound {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
        }
    }
}

/// MAGIC, the key, the flags, the stub length, the instructions, then a hash of all that: an
/// entry cut short or zero-filled (a crash before its data reached the disk) never decodes.
fn encode(filter: &Filter, key: &str) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend((key.len() as u64).to_le_bytes());
    out.extend(key.as_bytes());
    out.extend(filter.flags.to_le_bytes());
    out.extend((filter.stub_len as u64).to_le_bytes());
    for i in &filter.program {
        out.extend(i.code.to_le_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend(i.k.to_le_bytes());
    }
    out.extend(checksum(&out).to_le_bytes());
    out
}

fn checksum(bytes: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    hasher.write(bytes);
    hasher.finish()
}

fn decode(bytes: &[u8], key: &str) -> Option<Filter> {
    let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(8)?)?;
    if checksum(body) != u64::from_le_bytes(sum.try_into().ok()?) {
        return None;
    }
    let rest = body.strip_prefix(MAGIC)?;
    let (len, rest) = rest.split_at_checked(8)?;
    let (stored, rest) = rest.split_at_checked(u64::from_le_bytes(len.try_into().ok()?) as usize)?;
    if stored != key.as_bytes() {
        return None;
    }
    let (flags, rest) = rest.split_at_checked(8)?;
    let (stub_len, rest) = rest.split_at_checked(8)?;
    if rest.len() % 8 != 0 {
        return None;
    }
    let program = rest
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_le_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    Some(Filter {
        program,
        flags: u64::from_le_bytes(flags.try_into().ok()?),
        stub_len: u64::from_le_bytes(stub_len.try_into().ok()?) as usize,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A profile whose text is about `pad` bytes and differs with `n`; compiles fast (the
    /// padded name is unknown to every libseccomp, so skipped).
    fn profile(n: usize, pad: usize) -> LinuxSeccomp {
        let json = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1 + n % 100},
                {"names": [format!("pad{n}{}", "x".repeat(pad))], "action": "SCMP_ACT_ERRNO"},
            ],
        });
        serde_json::from_value(json).unwrap()
    }

    fn entries(dir: &Path) -> Vec<(std::path::PathBuf, u64)> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| (e.path(), e.metadata().unwrap().len()))
            .collect();
        v.sort();
        v
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("scrun-cache-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_cache_stays_under_its_bound_and_keeps_the_newest() {
        let dir = temp_dir("bound");
        let bound = 64 << 10;
        for n in 0..20 {
            cached(&profile(n, 10_000), &dir, "compiler A", bound).unwrap();
            let total: u64 = entries(&dir).iter().map(|e| e.1).sum();
            assert!(
                total <= bound,
                "{total} bytes in the cache after {n} profiles, bound {bound}"
            );
        }
        let kept = entries(&dir);
        assert!(kept.len() >= 4, "only {} entries kept", kept.len());
        let newest = std::fs::read(
            &kept
                .iter()
                .max_by_key(|e| std::fs::metadata(&e.0).unwrap().modified().unwrap())
                .unwrap()
                .0,
        )
        .unwrap();
        assert!(
            String::from_utf8_lossy(&newest).contains("pad19x"),
            "the newest entry was dropped"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_changed_compiler_misses_and_the_same_hits() {
        let dir = temp_dir("key");
        let p = profile(1, 10);
        let a = cached(&p, &dir, "compiler A", CACHE_BYTES).unwrap();
        let first = entries(&dir);
        assert_eq!(first.len(), 1);
        let mtime = std::fs::metadata(&first[0].0).unwrap().modified().unwrap();
        let again = cached(&p, &dir, "compiler A", CACHE_BYTES).unwrap();
        assert_eq!(entries(&dir), first, "the same key compiled again");
        assert_eq!(std::fs::metadata(&first[0].0).unwrap().modified().unwrap(), mtime);
        assert_eq!(again.program.len(), a.program.len());
        cached(&p, &dir, "compiler B", CACHE_BYTES).unwrap();
        assert_eq!(entries(&dir).len(), 2, "another compiler's entry was used");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_damaged_entry_is_not_used() {
        let p = profile(2, 10);
        let bytes = encode(&compile(&p).unwrap(), "k");
        assert!(decode(&bytes, "k").is_some());
        assert!(decode(&bytes, "other").is_none());
        assert!(decode(&bytes[..bytes.len() - 9], "k").is_none(), "a cut entry decoded");
        let mut zeroed = bytes.clone();
        let n = zeroed.len();
        zeroed[n - 20..n - 8].fill(0);
        assert!(decode(&zeroed, "k").is_none(), "a zero-filled entry decoded");
    }

    #[test]
    fn this_build_has_an_id() {
        assert!(build_id().is_some_and(|id| id.len() >= 16));
    }
}
