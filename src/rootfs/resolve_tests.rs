//! Unit tests of resolve.rs, kept apart to keep that file short.

use super::*;
use std::os::unix::fs::symlink;

fn root() -> (std::path::PathBuf, OwnedFd) {
    let dir = std::env::temp_dir().join(format!(
        "scrun-resolve-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    let fd = std::fs::File::open(&dir).unwrap().into();
    (dir, fd)
}

fn real(fd: &OwnedFd) -> std::path::PathBuf {
    std::fs::read_link(fd_path(fd)).unwrap()
}

#[test]
fn absolute_symlinks_stay_inside() {
    let (dir, fd) = root();
    symlink("/etc", dir.join("link")).unwrap();
    let got = open_in_root(&fd, Path::new("/link"), Create::No, true).unwrap();
    assert_eq!(real(&got), dir.join("etc"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn escapes_are_refused() {
    let (dir, fd) = root();
    symlink("../../../../tmp", dir.join("up")).unwrap();
    for p in ["/up", "/up/x", "/../etc", "/etc/../../x"] {
        let err = open_in_root(&fd, Path::new(p), Create::Dir, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("leads out of the rootfs"), "{p}: {err}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn final_symlink_refused_when_asked() {
    let (dir, fd) = root();
    symlink("/etc", dir.join("proc")).unwrap();
    let err = open_in_root(&fd, Path::new("/proc"), Create::Dir, false)
        .unwrap_err()
        .to_string();
    assert_eq!(err, "resolve /proc in rootfs: is a symlink");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_final_symlink_below_a_directory_is_followed_or_refused() {
    let (dir, fd) = root();
    std::fs::create_dir_all(dir.join("etc/sub")).unwrap();
    symlink("/etc/sub", dir.join("etc/link")).unwrap();
    let got = open_in_root(&fd, Path::new("/etc/link"), Create::No, true).unwrap();
    assert_eq!(real(&got), dir.join("etc/sub"));
    let err = open_in_root(&fd, Path::new("/etc/link"), Create::Dir, false)
        .unwrap_err()
        .to_string();
    assert_eq!(err, "resolve /etc/link in rootfs: is a symlink");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_missing_last_component_is_made_in_its_parent() {
    let (dir, fd) = root();
    let (_, mode) = open_in_root_mode(&fd, Path::new("/etc/new"), Create::Dir, true).unwrap();
    assert_eq!(mode, None, "made by the call");
    assert!(dir.join("etc/new").is_dir());
    let file = open_in_root(&fd, Path::new("/etc/new/file"), Create::File, true).unwrap();
    assert!(dir.join("etc/new/file").is_file());
    assert_eq!(
        fstat(&file).unwrap().st_mode & SFlag::S_IFMT.bits(),
        SFlag::S_IFREG.bits()
    );
    // Through a symlinked parent, the walk by hand makes it where the link leads.
    symlink("/etc", dir.join("link")).unwrap();
    open_in_root(&fd, Path::new("/link/other"), Create::Dir, true).unwrap();
    assert!(dir.join("etc/other").is_dir());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn existing_keeps_a_final_symlink_and_misses_are_none() {
    let (dir, fd) = root();
    symlink("/etc", dir.join("link")).unwrap();
    let (got, mode) = open_existing_in_root(&fd, Path::new("/link")).unwrap().unwrap();
    assert_eq!(
        fstat(&got).unwrap().st_mode & SFlag::S_IFMT.bits(),
        SFlag::S_IFLNK.bits()
    );
    assert_eq!(mode & SFlag::S_IFMT.bits(), SFlag::S_IFLNK.bits());
    let (got, _) = open_existing_in_root(&fd, Path::new("/link/..")).unwrap().unwrap();
    assert_eq!(real(&got), dir);
    for missing in ["/nothing", "/nothing/below", "/link/nothing"] {
        assert!(
            open_existing_in_root(&fd, Path::new(missing)).unwrap().is_none(),
            "{missing}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn creates_dirs_and_files() {
    let (dir, fd) = root();
    open_in_root(&fd, Path::new("/a/b/c"), Create::Dir, true).unwrap();
    assert!(dir.join("a/b/c").is_dir());
    open_in_root(&fd, Path::new("/etc/hosts"), Create::File, true).unwrap();
    assert!(dir.join("etc/hosts").is_file());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn mode_is_of_what_was_there_before() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, fd) = root();
    std::fs::set_permissions(dir.join("etc"), std::fs::Permissions::from_mode(0o750)).unwrap();
    symlink("/etc", dir.join("link")).unwrap();
    let mode = |p: &str| open_in_root_mode(&fd, Path::new(p), Create::Dir, true).unwrap().1;
    assert_eq!(mode("/link"), Some(libc::S_IFDIR | 0o750));
    assert_eq!(mode("/new"), None, "made by the call");
    let is_dir = |m: Option<u32>| m.is_some_and(|m| m & libc::S_IFMT == libc::S_IFDIR);
    assert!(is_dir(mode("/new")), "there now");
    assert!(is_dir(mode("/")));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn open_dir_beneath_follows_no_symlink() {
    let (dir, fd) = root();
    std::fs::create_dir_all(dir.join("etc/sub")).unwrap();
    symlink("/etc", dir.join("link")).unwrap();
    symlink("sub", dir.join("etc/rel")).unwrap();
    let got = open_dir_beneath(&fd, Path::new("etc/sub"), OFlag::O_RDONLY).unwrap();
    assert_eq!(real(&got), dir.join("etc/sub"));
    for p in ["link", "link/sub", "etc/rel"] {
        let err = open_dir_beneath(&fd, Path::new(p), OFlag::O_PATH).unwrap_err();
        assert_eq!(err, Errno::ENOTDIR, "{p}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn symlink_loops_end() {
    let (dir, fd) = root();
    symlink("/loop", dir.join("loop")).unwrap();
    let err = open_in_root(&fd, Path::new("/loop/x"), Create::No, true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("too many levels"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
