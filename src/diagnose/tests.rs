use super::access::noexec_mount;
use super::elf::*;
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
