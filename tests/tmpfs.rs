//! A tmpfs mount without mode= takes the mode of the image's directory it covers, as runc does:
//! `--tmpfs /data` over a 0750 directory must not give a world-writable 1777 one. Each config
//! runs with the runtime under test and with runc, and the mount point's mode and owner seen
//! inside must be the same, and the one expected.

mod common;

use common::*;
use serde_json::{json, Value};
use std::os::unix::fs::{chown, symlink, PermissionsExt};

/// The container's user namespace in the userns case: its root is host uid/gid 100000.
const USERNS_BASE: u32 = 100000;

/// The image: /private, a 0750 directory owned by 1000:1000 (of the container's ids), and
/// /link, a symlink to it.
fn image(bundle: &Bundle, id_base: u32) {
    let private = bundle.rootfs().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o750)).unwrap();
    chown(&private, Some(id_base + 1000), Some(id_base + 1000)).unwrap();
    symlink("/private", bundle.rootfs().join("link")).unwrap();
}

/// (mode, uid, gid) of the tmpfs mounted on `dest` with `options`, seen inside a container of
/// a fresh bundle (the runtimes leave a mount point they made in the image) run by `bin`.
fn tmpfs_root(bin: &str, dest: &str, options: &[&str], userns: bool) -> (String, u64, u64) {
    let bundle = Bundle::new();
    let base = if userns { USERNS_BASE } else { 0 };
    image(&bundle, base);
    bundle.config_mut(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": options}));
        if userns {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}));
            let map = json!([{"containerID": 0, "hostID": USERNS_BASE, "size": 65536}]);
            c["linux"]["uidMappings"] = map.clone();
            c["linux"]["gidMappings"] = map;
        }
    });
    if userns {
        chown(bundle.rootfs(), Some(USERNS_BASE), Some(USERNS_BASE)).unwrap();
    }
    bundle.set_args(&["/probe", "stat", dest]);
    let rt = Runtime::of(bin);
    let id = unique_id("tmpfs");
    let (_, st): (_, Value) = run_probe(&bundle, &rt, &id);
    assert_nothing_left(&rt, &id, bundle.path());
    let id = |k: &str| st[k].as_u64().unwrap_or_else(|| panic!("no {k} in {st}"));
    (st["mode"].as_str().unwrap().to_string(), id("uid"), id("gid"))
}

/// The tmpfs on `dest` as the runtime under test and runc show it: both must be `want`.
fn same_as_runc(dest: &str, options: &[&str], userns: bool, want: (&str, u64, u64)) {
    let want = (want.0.to_string(), want.1, want.2);
    let case = format!(
        "tmpfs on {dest} with {options:?}{}",
        if userns { " in a user namespace" } else { "" }
    );
    let runc = tmpfs_root(RUNC, dest, options, userns);
    assert_eq!(runc, want, "runc: {case}");
    let ours = tmpfs_root(runtime_bin().to_str().unwrap(), dest, options, userns);
    assert_eq!(ours, want, "{}: {case}", runtime_bin().display());
}

/// The directory's mode, not its owner: runc's tmpfs belongs to whoever mounted it (root, of
/// the user namespace if there is one). Through a symlink the mode is its target's; read-only
/// (runc chmods before remounting it read-only) and with tmpcopyup the same.
#[test]
fn tmpfs_over_an_image_directory_takes_its_mode_as_in_runc() {
    for dest in ["/private", "/link"] {
        same_as_runc(dest, &["nosuid"], false, ("0750", 0, 0));
    }
    same_as_runc("/private", &["ro"], false, ("0750", 0, 0));
    same_as_runc("/private", &["tmpcopyup"], false, ("0750", 0, 0));
    same_as_runc("/private", &[], true, ("0750", 0, 0));
    // uid= and gid= give the owner, and leave the mode to the directory.
    same_as_runc("/private", &["uid=2000", "gid=2000"], false, ("0750", 2000, 2000));
}

/// A mount point the runtime makes has no mode to keep: tmpfs's default 1777, or mode=.
#[test]
fn tmpfs_on_a_new_mount_point_has_tmpfs_mode_as_in_runc() {
    same_as_runc("/new", &[], false, ("1777", 0, 0));
    same_as_runc("/new", &["mode=0700"], false, ("0700", 0, 0));
}

/// A mode= in the config wins over the directory's: runc 1.1 chmods the tmpfs to the
/// directory's mode after mounting and so shows 0750 here; later runc puts the directory's
/// mode first in the mount data, where the config's mode= comes after it and wins, as here.
#[test]
fn tmpfs_mode_option_wins_over_the_directory_mode() {
    for options in [&["mode=0700"][..], &["ro", "mode=0700"]] {
        let got = tmpfs_root(runtime_bin().to_str().unwrap(), "/private", options, false);
        assert_eq!(got, ("0700".to_string(), 0, 0), "{options:?}");
    }
}
