//! Have the linker always give scrun an ELF build id (Debian's gcc does by default, a linker
//! called otherwise may not): the seccomp cache is keyed on it (src/process/seccomp/cache.rs).
fn main() {
    println!("cargo:rustc-link-arg=-Wl,--build-id=sha1");
    println!("cargo:rerun-if-changed=build.rs");
}
