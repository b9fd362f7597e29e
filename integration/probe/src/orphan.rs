//! `probe orphan`: leave an exited grandchild behind, as a daemonizing program does, and say
//! whether PID 1 reaped it ("reaped") or it stays a zombie ("zombie").

use std::time::{Duration, Instant};

pub fn orphan() -> i32 {
    let mut fds = [0; 2];
    // SAFETY: pipe, fork, read, write and _exit on fds and memory this process owns; the probe
    // is single-threaded.
    unsafe {
        if libc::pipe(fds.as_mut_ptr()) != 0 {
            return 1;
        }
        let child = libc::fork();
        if child == 0 {
            let grandchild = libc::fork();
            if grandchild == 0 {
                libc::_exit(0);
            }
            libc::write(fds[1], (&grandchild as *const i32).cast(), 4);
            // The grandchild, exited or not, goes to PID 1 (or the nearest subreaper).
            libc::_exit(0);
        }
        libc::waitpid(child, std::ptr::null_mut(), 0);
        let mut grandchild: i32 = 0;
        if libc::read(fds[0], (&mut grandchild as *mut i32).cast(), 4) != 4 {
            return 1;
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if std::fs::metadata(format!("/proc/{grandchild}")).is_err() {
                println!("reaped");
                return 0;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    println!("zombie");
    1
}
