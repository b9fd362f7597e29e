//! What a created container's init gives back before it blocks on `start`: it is a fork of the
//! whole runtime, and waits there for as long as the container stays created (a pod's may wait
//! for good). It keeps what it still needs to run after `start`: its data, the GOT entries glibc
//! filled in at start-up, and stack; the pages of the runtime's code and constants it has
//! touched so far, and the heap it has freed, go. Code and constants come back from the page
//! cache as `start` runs them.

/// Gives the kernel back the init's freed heap and the pages of its own code and read-only data.
/// A couple of syscalls and, after `start`, a few minor faults: only for an init that waits for
/// another process's `start` (`create`), not one whose runtime connects at once (`run`).
pub fn release_before_start() {
    release_stack();
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe { libc::malloc_trim(0) };
    extern "C" {
        // The linker's bounds of the first two segments: ELF headers and .rodata, then .text.
        // Both are mapped from the file read-only and never written (what start-up writes, the
        // GOT's IFUNC entries, lies in the RELRO segment after etext).
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

/// Gives the kernel back, before the runtime forks its init, the heap the config's parse freed
/// and the stack it grew: pages either process writes after the fork are copied, and the
/// memory cgroup a `run` starts in is charged for both copies.
pub fn release_before_fork() {
    release_stack();
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe { libc::malloc_trim(0) };
}

/// The stack this process grew while it worked (about 100 kB in the init, 88 kB in the runtime
/// by its fork), below what it still uses: the pages under this function's frame, less two
/// pages of margin (for the frames of the calls below it and the red zone), down to the stack
/// mapping's start. That start is found with mincore, which fails with ENOMEM on a range that
/// is not all mapped: the stack mapping is contiguous and the guard gap below it is not, so a
/// binary search over the range's length finds it in about a dozen calls.
fn release_stack() {
    const PAGE: usize = 4096;
    const MAX_PAGES: usize = 2048; // the usual 8 MB stack limit
    let marker = 0u8;
    let sp = std::hint::black_box(&marker) as *const u8 as usize;
    let top = (sp & !(PAGE - 1)) - 2 * PAGE;
    let mut vec = vec![0u8; MAX_PAGES];
    let mut mapped = |pages: usize| {
        // SAFETY: mincore only writes one byte a page of the range into `vec`, which has room
        // for MAX_PAGES; it reads no memory of the range.
        unsafe {
            libc::mincore(
                (top - pages * PAGE) as *mut libc::c_void,
                pages * PAGE,
                vec.as_mut_ptr(),
            ) == 0
        }
    };
    let (mut lo, mut hi) = (0, MAX_PAGES.min(top / PAGE)); // `lo` pages are mapped, `hi` not known
    if mapped(hi) {
        lo = hi;
    }
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if mapped(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    if lo > 0 {
        // SAFETY: these pages lie more than a page below this frame (and its red zone), in the
        // stack mapping: nothing is stored there any more. A later call deeper
        // than this one finds zeroed pages, as on a fresh stack.
        unsafe { libc::madvise((top - lo * PAGE) as *mut libc::c_void, lo * PAGE, libc::MADV_DONTNEED) };
    }
}
