//! ENOEXEC: why the file is not a program this kernel runs (empty, a foreign binary format, an
//! ELF file for another machine, a text file without #!).

use super::*;
use elf::{host_machine, machine_name, ET_CORE, ET_REL};

pub(super) fn format_error(root: &Path, exe: &str) -> String {
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
