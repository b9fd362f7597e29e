//! The symlinks in /dev: /dev/fd and the stdio links into /proc/self/fd, /dev/ptmx into the
//! container's devpts, /dev/core. Made beneath the root by `rootfs::symlink`.

use std::path::{Path, PathBuf};

/// The symlinks every container gets when /dev is not bound from the host (runc's list), as
/// (link, target).
pub fn defaults() -> Vec<(PathBuf, PathBuf)> {
    let mut links: Vec<(PathBuf, PathBuf)> = [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
        ("/dev/ptmx", "pts/ptmx"),
    ]
    .iter()
    .map(|(l, t)| (l.into(), t.into()))
    .collect();
    if Path::new("/proc/kcore").exists() {
        links.push(("/dev/core".into(), "/proc/kcore".into()));
    }
    links
}
