//! What a created container's init gives back before it blocks on `start`: it is a fork of the
//! whole runtime, and waits there for as long as the container stays created (a pod's may wait
//! for good). It keeps what it still needs to run after `start`: its data, relocated read-only
//! data and stack; the pages of the runtime's code and constants it has touched so far, and the
//! heap it has freed, go. Code and constants come back from the page cache as `start` runs them.

/// Gives the kernel back the init's freed heap and the pages of its own code and read-only data.
/// A couple of syscalls and, after `start`, a few minor faults: only for an init that waits for
/// another process's `start` (`create`), not one whose runtime connects at once (`run`).
pub fn release_before_start() {
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe { libc::malloc_trim(0) };
    extern "C" {
        // The linker's bounds of the first two segments: ELF headers and .rodata, then .text.
        // Both are mapped from the file read-only and never written (relocations go to the RELRO
        // and data segments, which lie after etext).
        static __executable_start: u8;
        static etext: u8;
    }
    let page = 4096;
    // Only the symbols' addresses are taken, never their contents.
    let (start, end) = (
        std::ptr::addr_of!(__executable_start) as usize,
        std::ptr::addr_of!(etext) as usize,
    );
    let start = start & !(page - 1);
    let end = end & !(page - 1); // etext's own page may share the next segment's
    if end > start {
        // SAFETY: the range holds only clean, file-backed, read-only mappings of our binary:
        // MADV_DONTNEED drops their pages from our page tables, and a later access maps the same
        // bytes again from the page cache. No memory's contents change.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
}
