//! /etc/ld.so.cache, as glibc's loader reads it: which file provides a soname when the object's
//! own run path does not. Only the "glibc-ld.so.cache1.1" table is read (alone since glibc 2.32,
//! or after the old "ld.so-1.7.0" table in older combined caches).

use std::collections::HashMap;

const OLD_MAGIC: &[u8] = b"ld.so-1.7.0";
const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
/// struct cache_file: magic[11] padded to 12, nlibs; then 12-byte entries.
const OLD_HEADER: usize = 16;
const OLD_ENTRY: usize = 12;
/// struct cache_file_new: magic+version[20], nlibs, len_strings, flags[4], extension_offset,
/// unused[3]; then 24-byte file_entry_new (flags, key, value, osversion, hwcap).
const NEW_HEADER: usize = 48;
const NEW_ENTRY: usize = 24;

/// The cache's entries for a machine, soname -> path, the first baseline entry of each soname
/// winning as in the loader's lookup. Entries for glibc-hwcaps subdirectories (hwcap != 0) are
/// skipped: the loader picks them only on CPUs that have the features, and the baseline library
/// runs everywhere. Empty when the bytes are not a cache this reader knows.
pub fn read_ld_cache(data: &[u8], machine: u16, is_64: bool) -> HashMap<String, String> {
    let mut found = HashMap::new();
    let Some(want) = cache_flags(machine, is_64) else {
        return found;
    };
    let Some(base) = new_table(data) else {
        return found;
    };
    let table = &data[base..];
    let u32_at = |off: usize| -> Option<u32> { Some(u32::from_ne_bytes(table.get(off..off + 4)?.try_into().ok()?)) };
    let Some(nlibs) = u32_at(20) else { return found };
    for i in 0..nlibs as usize {
        let at = NEW_HEADER + i * NEW_ENTRY;
        let (Some(flags), Some(key), Some(value)) = (u32_at(at), u32_at(at + 4), u32_at(at + 8)) else {
            break;
        };
        let hwcap = table
            .get(at + 16..at + 24)
            .map(|b| u64::from_ne_bytes(b.try_into().unwrap_or([0; 8])));
        if flags != want || hwcap != Some(0) {
            continue;
        }
        // The strings are offsets from the start of the new table.
        if let (Some(k), Some(v)) = (c_string(table, key), c_string(table, value)) {
            found.entry(k).or_insert(v);
        }
    }
    found
}

/// Offset of the new-format table: at 0, or after an old-format table aligned to 8.
fn new_table(data: &[u8]) -> Option<usize> {
    if data.starts_with(NEW_MAGIC) {
        return Some(0);
    }
    if !data.starts_with(OLD_MAGIC) {
        return None;
    }
    let nlibs = u32::from_ne_bytes(data.get(12..16)?.try_into().ok()?) as usize;
    let end = OLD_HEADER.checked_add(nlibs.checked_mul(OLD_ENTRY)?)?;
    let aligned = end.checked_add(7)? & !7;
    data.get(aligned..)?.starts_with(NEW_MAGIC).then_some(aligned)
}

/// The entry flags glibc's loader accepts for a machine (FLAG_ELF_LIBC6 with its
/// FLAG_*_LIB64 / FLAG_*_LIB32 bits, _DL_CACHE_DEFAULT_ID in sysdeps).
fn cache_flags(machine: u16, is_64: bool) -> Option<u32> {
    const FLAG_ELF_LIBC6: u32 = 0x0003;
    let arch = match (machine, is_64) {
        (62, true) => 0x0300,  // FLAG_X8664_LIB64
        (62, false) => 0x0800, // FLAG_X8664_LIBX32
        (3, false) => 0,
        (183, true) => 0x0a00, // FLAG_AARCH64_LIB64
        (40, false) => 0x0900, // FLAG_ARM_LIBHF
        (243, true) => 0x1000, // FLAG_RISCV_FLOAT_ABI_DOUBLE
        (21, true) => 0x0500,  // FLAG_POWERPC_LIB64
        (22, true) => 0x0400,  // FLAG_S390_LIB64
        _ => return None,
    };
    Some(FLAG_ELF_LIBC6 | arch)
}

fn c_string(table: &[u8], offset: u32) -> Option<String> {
    let rest = table.get(offset as usize..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cache as ldconfig writes it: header, entries, then the strings they point to.
    fn cache(entries: &[(u32, &str, &str, u64)], old_prefix: bool) -> Vec<u8> {
        let mut strings = Vec::new();
        let strings_at = NEW_HEADER + entries.len() * NEW_ENTRY;
        let mut table = NEW_MAGIC.to_vec();
        table.extend((entries.len() as u32).to_ne_bytes());
        table.resize(NEW_HEADER, 0);
        for (flags, key, value, hwcap) in entries {
            table.extend(flags.to_ne_bytes());
            for s in [key, value] {
                table.extend(((strings_at + strings.len()) as u32).to_ne_bytes());
                strings.extend(s.as_bytes());
                strings.push(0);
            }
            table.extend(0u32.to_ne_bytes());
            table.extend(hwcap.to_ne_bytes());
        }
        table.extend(strings);
        if !old_prefix {
            return table;
        }
        let mut data = OLD_MAGIC.to_vec();
        data.push(0);
        data.extend(1u32.to_ne_bytes());
        data.extend([0u8; OLD_ENTRY]);
        data.resize(32, 0);
        data.extend(table);
        data
    }

    #[test]
    fn reads_the_baseline_entry_for_the_machine() {
        for old_prefix in [false, true] {
            let data = cache(
                &[
                    (
                        0x0303,
                        "libc.so.6",
                        "/usr/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v3/libc.so.6",
                        4,
                    ),
                    (0x0303, "libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6", 0),
                    (0x0003, "libc.so.6", "/lib/i386-linux-gnu/libc.so.6", 0),
                    (0x0303, "libc.so.6", "/usr/lib/second/libc.so.6", 0),
                ],
                old_prefix,
            );
            let x86_64 = read_ld_cache(&data, 62, true);
            assert_eq!(x86_64["libc.so.6"], "/lib/x86_64-linux-gnu/libc.so.6");
            assert_eq!(
                read_ld_cache(&data, 3, false)["libc.so.6"],
                "/lib/i386-linux-gnu/libc.so.6"
            );
            assert!(read_ld_cache(&data, 183, true).is_empty());
        }
    }

    #[test]
    fn damaged_caches_give_what_is_readable() {
        let data = cache(&[(0x0303, "libz.so.1", "/lib/libz.so.1", 0)], false);
        for len in 0..data.len() {
            let _ = read_ld_cache(&data[..len], 62, true);
        }
        assert!(read_ld_cache(b"not a cache", 62, true).is_empty());
    }

    #[test]
    fn reads_the_host_cache() {
        let Ok(data) = std::fs::read("/etc/ld.so.cache") else {
            return;
        };
        let host = read_ld_cache(
            &data,
            super::super::elf::host_machine(),
            cfg!(target_pointer_width = "64"),
        );
        assert!(
            host.get("libc.so.6").is_some_and(|p| p.ends_with("/libc.so.6")),
            "{host:?}"
        );
    }
}
