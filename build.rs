//! Have the linker always give scrun an ELF build id (Debian's gcc does by default, a linker
//! called otherwise may not): the seccomp cache is keyed on it (src/process/seccomp/cache.rs).

fn main() {
    println!("cargo:rustc-link-arg=-Wl,--build-id=sha1");
    println!("cargo:rerun-if-changed=build.rs");
    symbol_order();
    link_map();
}

/// The linker's map of the binary, for hack/symbol-order.sh, when SCRUN_LINK_MAP names a file:
/// the release binary has no symbol table, and one built with symbols (another profile) would
/// not do, since cargo's crate hash, part of every Rust symbol's name, covers the profile.
fn link_map() {
    println!("cargo:rerun-if-env-changed=SCRUN_LINK_MAP");
    if let Some(map) = std::env::var_os("SCRUN_LINK_MAP") {
        println!("cargo:rustc-link-arg=-Wl,-Map={}", std::path::Path::new(&map).display());
        println!("cargo:rustc-link-arg=-Wl,--no-demangle");
    }
}

/// Lay out first, together, the functions a start runs (hack/symbol-order.txt, written by
/// hack/symbol-order.sh from one probed pass): the kernel maps a fault's whole 64 KiB window of
/// the binary (fault-around), so the code a start runs, scattered over 3.2 MB of .text, had
/// nearly all of .text mapped in each runtime process. rustc (1.90 on) links this target with
/// its own lld, which reads the list; a name the list has and the binary no longer has (the
/// list is stale) only costs that function's place, never the build.
fn symbol_order() {
    let order = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/symbol-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    if order.is_file() {
        println!("cargo:rustc-link-arg=-Wl,--symbol-ordering-file={}", order.display());
        println!("cargo:rustc-link-arg=-Wl,--no-warn-symbol-ordering");
    }
}
