//! Masked paths and the console against a container that controls its /dev: a /dev bound
//! from a host directory stands for an image or a container process that can change what
//! /dev/null, /dev/console or /dev/ptmx are (CVE-2025-31133, CVE-2025-52565).

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A directory under /tmp, removed when dropped.
struct HostDir(PathBuf);

impl HostDir {
    fn new(name: &str) -> HostDir {
        let dir = std::env::temp_dir().join(unique_id(name));
        fs::create_dir_all(&dir).unwrap();
        HostDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// Each entry as "name what" (what: "-> target", "dir", "file N bytes", "char M:m"): what
    /// the tests compare before and after.
    fn listing(&self) -> Vec<String> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let mut entries: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| {
                let path = e.unwrap().path();
                let md = fs::symlink_metadata(&path).unwrap();
                let what = match fs::read_link(&path) {
                    Ok(target) => format!("-> {}", target.display()),
                    Err(_) if md.is_dir() => "dir".into(),
                    Err(_) if md.file_type().is_char_device() => {
                        format!("char {}:{}", libc::major(md.rdev()), libc::minor(md.rdev()))
                    }
                    Err(_) => format!("file {} bytes", md.len()),
                };
                format!("{} {what}", path.file_name().unwrap().to_string_lossy())
            })
            .collect();
        entries.sort();
        entries
    }
}

impl Drop for HostDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The container's /dev is `dir`, bound from the host; with `devpts` the config's devpts is
/// mounted in it (on `dir`/pts, which must exist).
fn dev_from(c: &mut Value, dir: &Path, devpts: bool) {
    let mounts = c["mounts"].as_array_mut().unwrap();
    let pts = mounts.iter().find(|m| m["destination"] == "/dev/pts").cloned().unwrap();
    mounts.retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
    mounts.push(json!({"destination": "/dev", "type": "bind", "source": dir, "options": ["rbind"]}));
    if devpts {
        mounts.push(pts);
    }
}

fn bind(c: &mut Value, source: &Path, destination: &str) {
    c["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": destination, "type": "bind", "source": source, "options": ["rbind"]}));
}

fn mknod_char(path: &Path, major: u64, minor: u64) {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    mknod(
        path,
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        makedev(major, minor),
    )
    .unwrap();
}

#[test]
fn a_dev_null_that_is_not_the_null_device_is_refused() {
    // A symlink to a host file bound into the container, a regular file, another device:
    // masking with any of them would show that instead of nothing.
    let host = HostDir::new("host-files");
    fs::write(host.path().join("secret"), "host secret\n").unwrap();
    type Make = fn(&Path);
    let cases: [(&str, Make); 3] = [
        ("/dev/null is a symlink, not the null device", |p| {
            symlink("/host/secret", p).unwrap()
        }),
        ("/dev/null is a regular file, not the null device", |p| {
            fs::write(p, "fake\n").unwrap()
        }),
        ("/dev/null is the character device 1:5, not the null device", |p| {
            mknod_char(p, 1, 5)
        }),
    ];
    for (want, make) in cases {
        let dev = HostDir::new("fake-dev");
        make(&dev.path().join("null"));
        let (dev_before, host_before) = (dev.listing(), host.listing());
        let b = Bundle::new();
        b.config_mut(|c| {
            dev_from(c, dev.path(), false);
            bind(c, host.path(), "/host");
            c["linux"]["maskedPaths"] = json!(["/proc/acpi", "/proc/timer_list"]);
        });
        let err = create_fails(&b, &unique_id("devnull"));
        assert!(
            err.contains(&format!("linux.maskedPaths[1]: mask /proc/timer_list: {want}")),
            "{err}"
        );
        assert_eq!(dev.listing(), dev_before);
        assert_eq!(host.listing(), host_before);
        assert_eq!(fs::read_to_string(host.path().join("secret")).unwrap(), "host secret\n");
    }
}

#[test]
fn a_dev_null_swapped_during_create_never_masks_with_anything_else() {
    // A process of one container swaps null between the null device and a symlink to
    // core_pattern in a directory that is the /dev of containers being created: each create
    // must either refuse it or mask with the null device itself, never with what the link
    // points to (the check and the bind are on one fd).
    let flip = HostDir::new("flip-dev");
    mknod_char(&flip.path().join("null"), 1, 3);
    symlink("/proc/sys/kernel/core_pattern", flip.path().join("alt")).unwrap();
    let core_pattern = fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();

    let rt = Runtime::new();
    let flipper = Bundle::new();
    flipper.set_args(&["/probe", "flip", "/flip", "120"]);
    flipper.config_mut(|c| bind(c, flip.path(), "/flip"));
    let flipper_id = unique_id("flipper");
    rt.run_bg_ok(&["create", "--bundle", flipper.path().to_str().unwrap(), &flipper_id]);
    rt.run_bg_ok(&["start", &flipper_id]);

    let victim = Bundle::new();
    victim.set_args(&["/probe", "stat", "/proc/timer_list"]);
    victim.config_mut(|c| {
        dev_from(c, flip.path(), false);
        c["linux"]["maskedPaths"] = json!(["/proc/timer_list"]);
    });
    let (mut masked, mut refused) = (0, 0);
    for _ in 0..30 {
        let id = unique_id("victim");
        let out = rt.run(&["run", "--bundle", victim.path().to_str().unwrap(), &id]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            let st: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", describe(&out)));
            assert_eq!(
                (&st["kind"], &st["major"], &st["minor"]),
                (&json!("char"), &json!(1), &json!(3)),
                "/proc/timer_list was masked with something other than the null device: {st}"
            );
            masked += 1;
        } else {
            assert!(
                stderr.contains(
                    "linux.maskedPaths[0]: mask /proc/timer_list: /dev/null is a symlink, not the null device"
                ),
                "{}",
                describe(&out)
            );
            refused += 1;
        }
        assert_nothing_left(&rt, &id, victim.path());
    }
    assert_eq!(rt.state(&flipper_id)["status"], "running", "the flipper stopped early");
    rt.run_ok(&["delete", "--force", &flipper_id]);
    assert_nothing_left(&rt, &flipper_id, flipper.path());
    // Both outcomes seen: the swaps did race the creates.
    assert!(masked > 0 && refused > 0, "{masked} masked, {refused} refused");
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        core_pattern
    );
    let mut left: Vec<String> = flip
        .listing()
        .iter()
        .map(|e| e.split_once(' ').unwrap().1.to_string())
        .collect();
    left.sort();
    assert_eq!(left, ["-> /proc/sys/kernel/core_pattern", "char 1:3"]);
}

/// A terminal container whose /dev is `dev` (with the config's devpts in it when `devpts`),
/// with host paths bound as `binds` say, run in the foreground.
fn run_terminal(
    dev: &HostDir,
    devpts: bool,
    binds: &[(&Path, &str)],
    args: &[&str],
) -> (Output, Runtime, String, Bundle) {
    let b = Bundle::new();
    b.set_args(args);
    b.config_mut(|c| {
        c["process"]["terminal"] = json!(true);
        dev_from(c, dev.path(), devpts);
        // Masks need a /dev/null, which these directories do not have.
        c["linux"]["maskedPaths"] = json!([]);
        for (source, destination) in binds {
            bind(c, source, destination);
        }
    });
    let rt = Runtime::new();
    let id = unique_id("console");
    let out = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    (out, rt, id, b)
}

#[test]
fn a_dev_console_symlink_is_refused_and_nothing_is_made_where_it_points() {
    // Followed, the link would have the runtime create a file in a host directory and bind
    // the pty over it.
    let dev = HostDir::new("console-dev");
    fs::create_dir(dev.path().join("pts")).unwrap();
    symlink("pts/ptmx", dev.path().join("ptmx")).unwrap();
    symlink("/host/console", dev.path().join("console")).unwrap();
    let host = HostDir::new("console-host");
    let (out, rt, id, b) = run_terminal(&dev, true, &[(host.path(), "/host")], &["/probe", "hello"]);
    assert_eq!(host.listing(), Vec::<String>::new(), "made in the host directory");
    assert!(!out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bind the pty to /dev/console: resolve /dev/console in rootfs: is a symlink"),
        "{err}"
    );
    assert_nothing_left(&rt, &id, b.path());
    assert_eq!(
        dev.listing(),
        ["console -> /host/console", "ptmx -> pts/ptmx", "pts dir"]
    );
}

#[test]
fn the_pty_comes_from_the_containers_devpts_wherever_dev_ptmx_points() {
    // The image decides what /dev/ptmx is: here a link to the ptmx of another devpts, the
    // host's, bound into the container. Opened by that path, it would give the container one
    // of the host's ptys.
    let dev = HostDir::new("ptmx-dev");
    fs::create_dir(dev.path().join("pts")).unwrap();
    symlink("/hostpts/ptmx", dev.path().join("ptmx")).unwrap();
    let (out, rt, id, b) = run_terminal(
        &dev,
        true,
        &[(Path::new("/dev/pts"), "/hostpts")],
        &["/probe", "report"],
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", describe(&out)));
    assert_eq!(r["tty"]["ttyname"], "/dev/pts/0", "{}", describe(&out));
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn a_dev_pts_that_is_not_a_devpts_is_refused() {
    // Entries of a real devpts are the kernel's; in a plain directory ptmx can be anything.
    let dev = HostDir::new("pts-dev");
    let host = HostDir::new("pts-host");
    fs::write(host.path().join("ptmx"), "").unwrap();
    fs::create_dir(dev.path().join("pts")).unwrap();
    symlink("pts/ptmx", dev.path().join("ptmx")).unwrap();
    symlink("/host/ptmx", dev.path().join("pts/ptmx")).unwrap();
    let (out, rt, id, b) = run_terminal(&dev, false, &[(host.path(), "/host")], &["/probe", "hello"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("set up the console: /dev/pts is not a devpts mount"),
        "{err}"
    );
    assert_nothing_left(&rt, &id, b.path());
    assert_eq!(host.listing(), ["ptmx file 0 bytes"]);
}

#[test]
fn a_masked_or_read_only_path_that_is_a_symlink_is_refused_not_followed() {
    // runc would hide (or make read-only) whatever the image's link points to, not what the
    // config names.
    for field in ["maskedPaths", "readonlyPaths"] {
        let b = Bundle::new();
        fs::create_dir(b.rootfs().join("data")).unwrap();
        fs::write(b.rootfs().join("data/file"), "image file\n").unwrap();
        symlink("/data/file", b.rootfs().join("data/link")).unwrap();
        b.config_mut(|c| c["linux"][field] = json!(["/data/nothing", "/data/link"]));
        let err = create_fails(&b, &unique_id("masklink"));
        assert!(err.contains(&format!("linux.{field}[1]: ")), "{err}");
        assert!(err.contains("/data/link is a symlink, which is not followed"), "{err}");
    }
}
