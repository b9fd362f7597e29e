//! Mount propagation between the container and the host, as runc applies it: `rootfsPropagation`
//! on "/" before the rootfs is built, each mount's own propagation option, and the rootfs's
//! parent mount kept private. What a Kubernetes `mountPropagation: Bidirectional` volume needs
//! (containerd sends the volume `rbind,rshared` and `rootfsPropagation: rshared`): a mount made
//! in the container under the volume shows on the host, and one made on the host shows inside.
//! By default (rslave) only the latter.
//!
//! On a systemd host every mount is shared; this host's are private, so the volume's source and
//! the bundle are made shared mounts of their own here.

mod common;

use common::*;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// `dir` bound on itself and made shared (`mount --bind X X; mount --make-shared X`); on drop,
/// it and every mount below it are detached.
struct SharedMount {
    path: PathBuf,
}

impl SharedMount {
    fn new(dir: &Path) -> SharedMount {
        mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND, None::<&str>).unwrap();
        let guard = SharedMount { path: dir.into() };
        mount(None::<&str>, dir, None::<&str>, MsFlags::MS_SHARED, None::<&str>).unwrap();
        guard
    }

    /// A tmpfs on the host at `name`, below the shared mount.
    fn mount_tmpfs(&self, name: &str) -> PathBuf {
        let p = self.path.join(name);
        std::fs::create_dir_all(&p).unwrap();
        mount(Some("tmpfs"), &p, Some("tmpfs"), MsFlags::empty(), Some("size=1m")).unwrap();
        p
    }
}

impl Drop for SharedMount {
    fn drop(&mut self) {
        for m in mounts_under(&self.path) {
            let _ = umount2(m.as_str(), MntFlags::MNT_DETACH);
        }
    }
}

/// A volume source directory on the host, removed on drop (after its mounts, dropped first).
struct VolumeDir(PathBuf);

impl Drop for VolumeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A sleeping container with CAP_SYS_ADMIN (to mount inside) and `source` bound at /vol with
/// `options`; `root` is its rootfsPropagation.
fn start(b: &Bundle, rt: &Runtime, id: &str, source: &Path, options: &[&str], root: Option<&str>) {
    b.config_mut(|c| {
        c["process"]["args"] = json!(["/probe", "sleep", "60"]);
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SYS_ADMIN"));
        }
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/vol",
            "type": "bind",
            "source": source,
            "options": options,
        }));
        if let Some(root) = root {
            c["linux"]["rootfsPropagation"] = json!(root);
        }
    });
    rt.run_bg_ok(&["run", "--detach", "--bundle", b.path().to_str().unwrap(), id]);
}

/// The container's mount points, as its /proc/self/mountinfo lists them.
fn mounts_inside(rt: &Runtime, id: &str) -> Vec<String> {
    let out = rt.run_ok(&["exec", id, "/probe", "read", "/proc/self/mountinfo"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .collect()
}

/// The container mounts a tmpfs on /vol/inner.
fn mount_inside(rt: &Runtime, id: &str) {
    let out = rt.run_ok(&["exec", id, "/probe", "mount-tmpfs", "/vol/inner"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok", "{}", describe(&out));
}

fn volume() -> (VolumeDir, SharedMount) {
    let dir = std::env::temp_dir().join(format!("scrun-test-{}", unique_id("vol")));
    std::fs::create_dir_all(dir.join("inner")).unwrap();
    let shared = SharedMount::new(&dir);
    (VolumeDir(dir), shared)
}

fn host_has(mount_point: &Path) -> bool {
    let want = mount_point.to_string_lossy();
    mounts_under(mount_point).iter().any(|m| *m == want)
}

/// Bidirectional, both ways: the container's tmpfs under the volume is on the host, the host's
/// (mounted after start) is in the container, and one the host had before start is still there
/// (detaching the container's old root must not unmount its peers on the host). The bundle is
/// a shared mount too, as on a systemd host: neither the rootfs nor the container's /proc, /dev
/// and the rest reach the host through it.
#[test]
fn a_mount_in_an_rshared_volume_reaches_the_host_and_back() {
    let (vol, shared) = volume();
    let before = shared.mount_tmpfs("before");
    let b = Bundle::new();
    let bundle_mount = SharedMount::new(b.path());
    let rt = Runtime::new();
    let id = unique_id("bidir");
    start(&b, &rt, &id, &vol.0, &["rbind", "rshared"], Some("rshared"));

    mount_inside(&rt, &id);
    assert!(host_has(&vol.0.join("inner")), "{:#?}", mounts_under(&vol.0));
    let after = shared.mount_tmpfs("after");
    let inside = mounts_inside(&rt, &id);
    for m in ["/vol/after", "/vol/before"] {
        assert!(inside.iter().any(|i| i == m), "{m} not in the container: {inside:#?}");
    }
    assert!(host_has(&before), "{:#?}", mounts_under(&vol.0));
    assert!(host_has(&after));
    let on_bundle = mounts_under(b.path());
    assert_eq!(
        on_bundle,
        [b.path().to_string_lossy()],
        "the container's mounts reached the host"
    );

    rt.run_ok(&["delete", "--force", &id]);
    drop(bundle_mount);
    assert_nothing_left(&rt, &id, b.path());
}

/// runc's default (rslave): the host's mounts reach the container, the container's own stay in
/// it, whether the volume asks for rshared or not.
#[test]
fn by_default_the_containers_mounts_stay_off_the_host() {
    for options in [&["rbind"][..], &["rbind", "rshared"]] {
        let (vol, shared) = volume();
        let b = Bundle::new();
        let bundle_mount = SharedMount::new(b.path());
        let rt = Runtime::new();
        let id = unique_id("slave");
        start(&b, &rt, &id, &vol.0, options, None);

        mount_inside(&rt, &id);
        assert!(
            !host_has(&vol.0.join("inner")),
            "{options:?}: {:#?}",
            mounts_under(&vol.0)
        );
        shared.mount_tmpfs("after");
        let inside = mounts_inside(&rt, &id);
        assert!(inside.iter().any(|i| i == "/vol/after"), "{options:?}: {inside:#?}");
        let on_bundle = mounts_under(b.path());
        assert_eq!(on_bundle, [b.path().to_string_lossy()], "{options:?}");

        rt.run_ok(&["delete", "--force", &id]);
        drop(bundle_mount);
        assert_nothing_left(&rt, &id, b.path());
    }
}

/// An unknown rootfsPropagation is refused before anything is made, naming the field.
#[test]
fn an_unknown_rootfs_propagation_is_refused() {
    let b = Bundle::new();
    b.config_mut(|c: &mut Value| c["linux"]["rootfsPropagation"] = json!("bidirectional"));
    let err = create_fails(&b, &unique_id("badprop"));
    assert!(err.contains("rootfsPropagation"), "{err}");
}

/// On a systemd host every mount is shared, "/" included; simulated here by a mount namespace
/// whose mounts are all made shared, the bundle a mount of its own in it. A container with a
/// shared rootfsPropagation must leave that namespace's mounts as they were: the rootfs bind,
/// the move of the rootfs onto "/" with --no-pivot and the detach of the old root all happen on
/// mounts that are peers of the host's. runc 1.1.5 with --no-pivot moves the rootfs over the
/// host's "/" here (and then unmounts its /proc): scrun makes "/" a slave before the move.
#[test]
fn a_shared_root_propagation_leaves_a_systemd_hosts_mounts_alone() {
    let b = Bundle::new();
    b.set_args(&["/probe", "hello"]);
    b.config_mut(|c| c["linux"]["rootfsPropagation"] = json!("rshared"));
    let rt = Runtime::new();
    let scrun = runtime_bin() == Path::new(env!("CARGO_BIN_EXE_scrun"));
    for no_pivot in [false, true].into_iter().filter(|n| !n || scrun) {
        let id = unique_id("systemdhost");
        let script = "mount --bind \"$1\" \"$1\" && cat /proc/self/mountinfo && echo --- && \
                      \"$2\" --root \"$3\" run $4 --bundle \"$1\" \"$5\" && echo --- && cat /proc/self/mountinfo";
        let out = std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "shared", "sh", "-c", script, "sh"])
            .arg(b.path())
            .arg(runtime_bin())
            .arg(&rt.root)
            .arg(if no_pivot { "--no-pivot" } else { "" })
            .arg(&id)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let parts: Vec<&str> = text.split("---\n").collect();
        assert_eq!(parts.len(), 3, "no_pivot {no_pivot}: {}", describe(&out));
        assert_eq!(parts[1].trim(), "Hello from a scratch container!");
        // Other tests on this machine mount and unmount too: only "/", the bundle and what a
        // detach of the old root would take away (/proc, /sys, /dev) are compared.
        let bundle = b.path().to_string_lossy();
        let watched = |info: &str| -> Vec<String> {
            info.lines()
                .filter(|l| {
                    let mp = l.split(' ').nth(4).unwrap_or_default();
                    mp == "/" || ["/proc", "/sys", "/dev", &bundle].iter().any(|w| mp.starts_with(w))
                })
                .map(str::to_string)
                .collect()
        };
        assert_eq!(
            watched(parts[0]),
            watched(parts[2]),
            "no_pivot {no_pivot}: the host's mounts changed"
        );
        assert_nothing_left(&rt, &id, b.path());
    }
}
