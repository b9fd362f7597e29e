//! /proc as the container's init (and `exec`'s joiner) reaches it. Once the init is in the
//! container's mount namespace, "/proc" is whatever the image, the config or a process sharing
//! a mount with it put there: a write aimed at /proc/sys or /proc/self/attr could land in a
//! file of theirs, and a value read there could be theirs (CVE-2019-16884, CVE-2025-52881).
//! So every such access goes through one handle on a procfs the container cannot touch, opened
//! by the runtime in its own mount namespace before the clone, and paths below it are resolved
//! with openat2 so that they stay in that one procfs mount.
//!
//! Also here: where config.json may mount inside the container's /proc (runc's rule).

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// The inode number of every procfs root directory.
const PROC_ROOT_INO: u64 = 1;

/// A directory fd of the root of a procfs, checked to be one.
pub struct Proc(OwnedFd);

impl Proc {
    /// The host's /proc: the runtime's mount namespace is trusted, and a plain open is the
    /// cheapest handle (about 1 µs with its checks, where a private instance from fsopen costs
    /// about 28 µs and a detached clone of /proc from open_tree about 38 µs, teardown counted).
    /// A private instance when the host's will not do: not a procfs root, or mounted without
    /// sys/ (subset=pid, as in a systemd unit with ProcSubset=pid).
    pub fn open() -> Result<Proc> {
        let host = nix::fcntl::open(
            "/proc",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(anyhow::Error::from)
        .and_then(Proc::check)
        .and_then(|proc| {
            nix::sys::stat::fstatat(&proc.0, "sys", nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
                .context("it has no sys/ (mounted with subset=pid?)")?;
            Ok(proc)
        });
        match host {
            Ok(proc) => Ok(proc),
            Err(why) => private_instance()
                .and_then(Proc::check)
                .with_context(|| format!("the host's /proc will not do ({why:#}), nor a private procfs instance")),
        }
    }

    /// Decide on the fd, not on the path it came from: a procfs, and its root.
    fn check(fd: OwnedFd) -> Result<Proc> {
        let fs = nix::sys::statfs::fstatfs(&fd).context("statfs")?;
        if fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
            bail!("not a procfs (filesystem type {:#x})", fs.filesystem_type().0);
        }
        let ino = nix::sys::stat::fstat(&fd).context("stat")?.st_ino;
        if ino != PROC_ROOT_INO {
            bail!("not the root of a procfs (inode {ino})");
        }
        Ok(Proc(fd))
    }

    /// Open `rel` (such as "sys/net/ipv4/ip_forward" or "self/oom_score_adj") below this
    /// procfs root: never above it, never through a magic link (/proc/PID/fd/N, exe, root…),
    /// never onto a mount below it. "self" and "thread-self" are plain symlinks, followed.
    pub fn open_at(&self, rel: &str, flags: OFlag) -> std::io::Result<OwnedFd> {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS | ResolveFlag::RESOLVE_NO_XDEV);
        nix::fcntl::openat2(&self.0, rel, how).map_err(|e| match e {
            Errno::EXDEV => {
                std::io::Error::other("the path leaves /proc or crosses a mount below it, which scrun does not follow")
            }
            e => e.into(),
        })
    }

    /// Write `value` in one write(2), as procfs files expect. The error says which file; its
    /// source is the std::io::Error.
    pub fn write(&self, rel: &str, value: &str) -> Result<()> {
        let result = self.open_at(rel, OFlag::O_WRONLY).and_then(|fd| {
            let n = nix::unistd::write(&fd, value.as_bytes())?;
            if n != value.len() {
                return Err(std::io::Error::other(format!(
                    "short write: {n} of {} bytes",
                    value.len()
                )));
            }
            Ok(())
        });
        result.with_context(|| format!("write /proc/{rel}"))
    }

    pub fn read(&self, rel: &str) -> Result<String> {
        let fd = self.open_at(rel, OFlag::O_RDONLY);
        fd.and_then(|fd| read_all(std::fs::File::from(fd)))
            .with_context(|| format!("read /proc/{rel}"))
    }
}

/// A whole small kernel file (procfs, cgroupfs, sysfs) as text. Those report a size of 0, so
/// std's read_to_string stats the file for nothing and then reads in steps from 32 bytes up
/// (eight reads for mountinfo); this reads a page at a time: open, read, read (EOF), close.
pub fn read_small(path: &Path) -> std::io::Result<String> {
    read_all(std::fs::File::open(path)?)
}

fn read_all(mut file: std::fs::File) -> std::io::Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

impl AsFd for Proc {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// A procfs of the runtime's pid namespace that no mount namespace has: nothing can be
/// mounted in it.
fn private_instance() -> Result<OwnedFd> {
    let fail = |what: &str| anyhow::anyhow!("{what}: {}", std::io::Error::last_os_error());
    // SAFETY: fsopen with a NUL-terminated name; a non-negative result is a new fd we own.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, c"proc".as_ptr(), libc::FSOPEN_CLOEXEC) };
    if fs < 0 {
        return Err(fail("fsopen proc"));
    }
    // SAFETY: as above.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as i32) };
    let null = std::ptr::null::<libc::c_char>();
    // SAFETY: FSCONFIG_CMD_CREATE takes no key, value or aux.
    if unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            libc::FSCONFIG_CMD_CREATE,
            null,
            null,
            0,
        )
    } < 0
    {
        return Err(fail("create the procfs"));
    }
    // SAFETY: fsmount of a created context; a non-negative result is a new fd we own.
    let mnt = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), libc::FSMOUNT_CLOEXEC, 0) };
    if mnt < 0 {
        return Err(fail("fsmount the procfs"));
    }
    // SAFETY: as above.
    Ok(unsafe { OwnedFd::from_raw_fd(mnt as i32) })
}

/// The only files inside /proc config.json may mount over (runc's list: the ones lxcfs
/// emulates, and fips_enabled, which newer runc added for FIPS hosts); everything else there is
/// the kernel's word on the container, which its programs rely on.
const MOUNTABLE_IN_PROC: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
    "/proc/sys/crypto/fips_enabled",
];

/// `path` with "." and ".." resolved by name, as the in-root resolver treats a config path.
fn lexical(path: &Path) -> PathBuf {
    let mut clean = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(name) => clean.push(name),
            Component::ParentDir => {
                clean.pop();
            }
            _ => {}
        }
    }
    clean
}

/// /proc itself, or one of the files above (`clean` is lexical).
fn mountable_in_proc(clean: &Path) -> bool {
    clean == Path::new("/proc") || MOUNTABLE_IN_PROC.iter().any(|p| clean == Path::new(p))
}

/// Whether config.json may mount at `dest` (as written there): outside /proc, one of the files
/// above, or /proc itself for a proc filesystem or a bind (runc's checkProcMount). The error
/// says why not, in runc's words.
pub fn check_mount_destination(dest: &Path, fstype: &str, bind: bool) -> Result<()> {
    let clean = lexical(dest);
    if clean == Path::new("/proc") && !(fstype == "proc" || bind) {
        bail!("{dest:?} cannot be mounted because it is not of type proc");
    }
    if !clean.starts_with("/proc") || mountable_in_proc(&clean) {
        return Ok(());
    }
    bail!(
        "{dest:?} cannot be mounted because it is inside /proc (only {} may be)",
        MOUNTABLE_IN_PROC.join(", ")
    )
}

/// A bind on /proc must bring a procfs (runc's rule): the container's programs take /proc for
/// the kernel's.
pub fn check_bind_on_proc(dest: &Path, source: &Path) -> Result<()> {
    if lexical(dest) != Path::new("/proc") {
        return Ok(());
    }
    let fs = nix::sys::statfs::statfs(source).with_context(|| format!("statfs {}", source.display()))?;
    if fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        bail!(
            "{dest:?} cannot be mounted because it is not of type proc (source {} is not a procfs)",
            source.display()
        );
    }
    Ok(())
}

/// The same rule on the mount point the resolver opened: a destination outside /proc by name
/// can still lead there through a symlink in the image (/x -> /proc/sys).
pub fn check_mount_target(target: &OwnedFd, dest: &Path) -> Result<()> {
    let fs = nix::sys::statfs::fstatfs(target).context("statfs the mount point")?;
    if fs.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC && !mountable_in_proc(&lexical(dest)) {
        bail!("{dest:?} leads inside /proc (through a symlink in the rootfs), where it cannot be mounted");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_in_proc() {
        let ok =
            |d: &str, t: &str, bind: bool| check_mount_destination(Path::new(d), t, bind).map_err(|e| e.to_string());
        assert!(ok("/proc", "proc", false).is_ok());
        assert!(ok("/proc/", "bind", true).is_ok());
        assert!(ok("/proc/uptime", "bind", true).is_ok());
        assert!(ok("/proc/./net/../net/dev", "bind", true).is_ok());
        assert!(ok("/processes", "tmpfs", false).is_ok());
        assert!(ok("/x/../proc/sys", "bind", true)
            .unwrap_err()
            .contains("\"/x/../proc/sys\" cannot be mounted because it is inside /proc"));
        assert!(ok("/proc/self/attr/exec", "bind", true)
            .unwrap_err()
            .contains("inside /proc (only /proc/cpuinfo,"));
        assert_eq!(
            ok("/proc", "tmpfs", false).unwrap_err(),
            "\"/proc\" cannot be mounted because it is not of type proc"
        );
        check_bind_on_proc(Path::new("/proc"), Path::new("/proc")).unwrap();
        check_bind_on_proc(Path::new("/x"), Path::new("/tmp")).unwrap();
        let e = check_bind_on_proc(Path::new("/proc/"), Path::new("/tmp")).unwrap_err();
        assert!(e.to_string().ends_with("(source /tmp is not a procfs)"), "{e}");
    }

    #[test]
    fn the_handle_stays_in_its_procfs() {
        let proc = Proc::open().unwrap();
        let me = proc.read("self/stat").unwrap();
        assert!(me.starts_with(&format!("{} ", std::process::id())), "{me}");
        // A magic link, and a path above the root.
        let e = proc.open_at("self/exe", OFlag::O_RDONLY).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
        let e = proc.open_at("../etc/passwd", OFlag::O_RDONLY).unwrap_err();
        assert!(e.to_string().contains("leaves /proc or crosses a mount"), "{e}");
        let private = Proc::check(private_instance().unwrap()).unwrap();
        assert_eq!(private.read("sys/kernel/ostype").unwrap(), "Linux\n");
        check_mount_target(&proc.0, Path::new("/proc")).unwrap();
        let e = check_mount_target(&proc.0, Path::new("/x")).unwrap_err();
        assert!(e.to_string().contains("leads inside /proc"), "{e}");
    }
}
