//! Idmapped bind mounts (a mount's uidMappings/gidMappings, options idmap and ridmap): what
//! the container sees through them, what lands on the host when it writes, and the configs
//! create must refuse. And the recursive mount options (rro, rnoexec, ...), which reach
//! submounts.

mod common;

use common::*;
use serde_json::{json, Value};
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::PathBuf;

/// The container's user namespace in these tests: its root is host uid/gid 100000.
const USERNS_BASE: u32 = 100000;

/// A directory on the host for a bind source, removed (and anything the test mounted in it
/// unmounted) on drop.
struct HostDir {
    path: PathBuf,
    mounted: Vec<PathBuf>,
}

impl HostDir {
    fn new() -> HostDir {
        let path = std::env::temp_dir().join(unique_id("idmap-src"));
        std::fs::create_dir_all(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        HostDir { path, mounted: vec![] }
    }

    /// A file or directory (name ending in '/') owned by uid:gid on the host.
    fn make(&self, name: &str, uid: u32, gid: u32) -> PathBuf {
        let p = self.path.join(name.trim_end_matches('/'));
        if name.ends_with('/') {
            std::fs::create_dir(&p).unwrap();
        } else {
            std::fs::write(&p, "host").unwrap();
        }
        chown(&p, Some(uid), Some(gid)).unwrap();
        p
    }

    /// A tmpfs on `name`, a submount of the bind source.
    fn mount_tmpfs(&mut self, name: &str) {
        let p = self.make(&format!("{name}/"), 0, 0);
        nix::mount::mount(
            Some("tmpfs"),
            &p,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("mode=755,size=1m"),
        )
        .unwrap();
        self.mounted.push(p);
    }
}

impl Drop for HostDir {
    fn drop(&mut self) {
        for p in self.mounted.iter().rev() {
            let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn add_mount(c: &mut Value, m: Value) {
    c["mounts"].as_array_mut().unwrap().push(m);
}

fn map(container: u32, host: u32) -> Value {
    json!([{"containerID": container, "hostID": host, "size": 65536}])
}

/// A new user namespace mapping container root to host USERNS_BASE, and the image owned by
/// that root (as engines do).
fn with_userns(bundle: &Bundle) {
    chown(bundle.rootfs(), Some(USERNS_BASE), Some(USERNS_BASE)).unwrap();
    bundle.config_mut(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = map(0, USERNS_BASE);
        c["linux"]["gidMappings"] = map(0, USERNS_BASE);
    });
}

/// Run the probe with `args` in `bundle`; its stdout, after checking it succeeded and left
/// nothing behind.
fn probe(bundle: &Bundle, args: &[&str]) -> String {
    let mut full = vec!["/probe"];
    full.extend(args);
    bundle.set_args(&full);
    let rt = Runtime::new();
    let id = unique_id("idmap");
    let out = rt.run(&["run", "--bundle", bundle.path().to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_nothing_left(&rt, &id, bundle.path());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (uid, gid) of `path` as the container sees it.
fn stat(bundle: &Bundle, path: &str) -> (u64, u64) {
    let out = probe(bundle, &["stat", path]);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("stat {path}: {out}"));
    (v["uid"].as_u64().unwrap(), v["gid"].as_u64().unwrap())
}

/// The steps `explain` lists for mounts[index].
fn explained_steps(bundle: &Bundle, index: usize) -> Vec<Value> {
    let rt = Runtime::new();
    let out = rt.run_ok(&["explain", "--format", "json", bundle.path().to_str().unwrap()]);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let origin = format!("mounts[{index}]");
    plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["origin"] == origin.as_str())
        .cloned()
        .collect()
}

fn mount_count(bundle: &Bundle) -> usize {
    bundle.config()["mounts"].as_array().unwrap().len()
}

#[test]
fn mount_mappings_show_stored_ids_mapped_and_writes_land_mapped_back() {
    let src = HostDir::new();
    src.make("owned", 1000, 2000);
    let dir = src.make("dir/", 1000, 2000);
    let bundle = Bundle::new();
    let index = mount_count(&bundle);
    bundle.config_mut(|c| {
        add_mount(
            c,
            json!({"destination": "/mnt/idmapped", "type": "bind", "source": src.path, "options": ["bind"],
                   "uidMappings": map(0, 100000), "gidMappings": map(0, 200000)}),
        )
    });
    // No user namespace in the container: the runtime makes one with these mappings.
    let steps = explained_steps(&bundle, index);
    assert_eq!(steps[0]["action"], "idmap_mount", "{steps:#?}");
    assert_eq!(steps[0]["side"], "runtime");
    assert_eq!(steps[0]["userns"]["kind"], "new");
    assert_eq!(steps[1]["action"], "mount");

    // Stored as 1000:2000, shown shifted by the mappings.
    assert_eq!(stat(&bundle, "/mnt/idmapped/owned"), (101000, 202000));
    assert_eq!(stat(&bundle, "/mnt/idmapped"), (100000, 200000));

    // A process whose ids the mappings cover creates a file; on disk it has the unmapped ids.
    bundle.config_mut(|c| c["process"]["user"] = json!({"uid": 101000, "gid": 202000}));
    assert_eq!(probe(&bundle, &["write", "/mnt/idmapped/dir/new", "x"]).trim(), "ok");
    let md = std::fs::metadata(dir.join("new")).unwrap();
    assert_eq!((md.uid(), md.gid()), (1000, 2000));
}

#[test]
fn idmap_without_mappings_takes_the_containers_user_namespace() {
    let src = HostDir::new();
    src.make("root-owned", 0, 0);
    src.make("userns-root-owned", USERNS_BASE, USERNS_BASE);
    let bundle = Bundle::new();
    with_userns(&bundle);
    let index = mount_count(&bundle);
    bundle.config_mut(|c| {
        add_mount(
            c,
            json!({"destination": "/vol", "type": "bind", "source": src.path, "options": ["rbind", "idmap"]}),
        )
    });
    assert_eq!(explained_steps(&bundle, index)[0]["userns"]["kind"], "container");

    // The host's root shows as the container's root; an id the namespace maps on the host is
    // now a stored id outside its range: nobody.
    assert_eq!(stat(&bundle, "/vol/root-owned"), (0, 0));
    assert_eq!(stat(&bundle, "/vol/userns-root-owned"), (65534, 65534));
    // Without the idmap the container's root could not write in a directory of host root's.
    assert_eq!(probe(&bundle, &["write", "/vol/new", "x"]).trim(), "ok");
    let md = std::fs::metadata(src.path.join("new")).unwrap();
    assert_eq!((md.uid(), md.gid()), (0, 0));

    let report: Value = serde_json::from_str(&probe(&bundle, &["report"])).unwrap();
    let vol = report["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mount_point"] == "/vol")
        .expect("/vol mounted");
    assert!(vol["options"].as_str().unwrap().contains("idmapped"), "{vol}");
    // The detached mount reached the init, not the program.
    assert_eq!(report_fds(&report), vec![0, 1, 2]);

    // Mappings equal to the container's own take its namespace too.
    bundle.config_mut(|c| {
        let m = &mut c["mounts"][index];
        m["uidMappings"] = map(0, USERNS_BASE);
        m["gidMappings"] = map(0, USERNS_BASE);
    });
    assert_eq!(explained_steps(&bundle, index)[0]["userns"]["kind"], "container");
    assert_eq!(stat(&bundle, "/vol/root-owned"), (0, 0));
}

/// runc's check: every detached mount is closed once attached, so many binds fit in a low
/// RLIMIT_NOFILE, which the init sets before it execs.
#[test]
fn many_idmapped_binds_fit_in_a_low_nofile_limit() {
    let src = HostDir::new();
    src.make("root-owned", 0, 0);
    let bundle = Bundle::new();
    with_userns(&bundle);
    bundle.config_mut(|c| {
        for i in 0..30 {
            add_mount(
                c,
                json!({"destination": format!("/vol{i}"), "type": "bind", "source": src.path, "options": ["bind", "idmap"]}),
            );
        }
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 20, "hard": 20}]);
    });
    assert_eq!(stat(&bundle, "/vol29/root-owned"), (0, 0));
}

/// A user namespace whose root is host uid/gid 100000 and a pid namespace it owns, held by
/// unshare(1) and its child, for containers to join by path (as a pod's sandbox holds them);
/// killed and reaped on drop (the child, pid 1 of its namespace, through --kill-child).
struct UserNamespace(std::process::Child);

impl UserNamespace {
    fn new() -> UserNamespace {
        let child = std::process::Command::new("unshare")
            .args(["--user", "--pid", "--fork", "--kill-child", "sleep", "60"])
            .spawn()
            .unwrap();
        let ns = format!("/proc/{}/ns/user", child.id());
        let own = std::fs::read_link("/proc/self/ns/user").unwrap();
        // unshare(1) is in the new namespace once its ns file differs from ours.
        while std::fs::read_link(&ns).map(|l| l == own).unwrap_or(true) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        for file in ["uid_map", "gid_map"] {
            std::fs::write(format!("/proc/{}/{file}", child.id()), format!("0 {USERNS_BASE} 65536")).unwrap();
        }
        UserNamespace(child)
    }

    fn path(&self, kind: &str) -> String {
        format!("/proc/{}/ns/{kind}", self.0.id())
    }
}

impl Drop for UserNamespace {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Joining a user namespace by path (as a pod's containers join the sandbox's): the init is
/// cloned inside it, so the namespaces the clone makes belong to it and its root may set the
/// hostname and mount /proc; an idmap bind takes its mappings. First with a new pid namespace
/// (the container's process is pid 1), then with the pid namespace joined too, as a pod's.
#[test]
fn a_user_namespace_joined_by_path_owns_the_new_ones_and_idmaps() {
    let src = HostDir::new();
    src.make("by-host-root", 0, 0);
    let userns = UserNamespace::new();
    let bundle = Bundle::new();
    chown(bundle.rootfs(), Some(USERNS_BASE), Some(USERNS_BASE)).unwrap();
    let index = mount_count(&bundle);
    bundle.config_mut(|c| {
        let namespaces = c["linux"]["namespaces"].as_array_mut().unwrap();
        namespaces.push(json!({"type": "user", "path": userns.path("user")}));
        add_mount(
            c,
            json!({"destination": "/vol", "type": "bind", "source": src.path, "options": ["bind", "idmap"]}),
        );
        c["hostname"] = json!("joined");
    });
    let steps = explained_steps(&bundle, index);
    assert_eq!(
        steps[0]["userns"],
        json!({"kind": "joined", "path": userns.path("user")})
    );
    let user_ns = json!(std::fs::read_link(userns.path("user")).unwrap().to_string_lossy());
    for pid_joined in [false, true] {
        if pid_joined {
            bundle.config_mut(|c| {
                let pid = json!({"type": "pid", "path": userns.path("pid_for_children")});
                for n in c["linux"]["namespaces"].as_array_mut().unwrap() {
                    if n["type"] == "pid" {
                        *n = pid.clone();
                    }
                }
            });
        }
        let report: Value = serde_json::from_str(&probe(&bundle, &["report"])).unwrap();
        assert_eq!((&report["uid"], &report["hostname"]), (&json!(0), &json!("joined")));
        assert_eq!(report["ns"]["user"], user_ns);
        // In the joined pid namespace, unshare's sleep is pid 1.
        assert_eq!(report["pid"] == 1, !pid_joined, "{}", report["pid"]);
        assert_eq!(
            stat(&bundle, "/vol/by-host-root"),
            (0, 0),
            "idmapped with the joined mappings"
        );
    }

    // exec joins the container there (as a CRI exec into such a pod).
    bundle.set_args(&["/probe", "sleep", "30"]);
    let rt = Runtime::new();
    let id = unique_id("joinexec");
    rt.run_bg_ok(&["run", "--detach", "--bundle", bundle.path().to_str().unwrap(), &id]);
    let out = rt.run_ok(&["exec", &id, "/probe", "report"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((&report["uid"], &report["hostname"]), (&json!(0), &json!("joined")));
    assert_eq!(report["ns"]["user"], user_ns);
    rt.run_ok(&["delete", "--force", &id]);
    assert_nothing_left(&rt, &id, bundle.path());
}

#[test]
fn ridmap_maps_the_submounts_and_idmap_only_the_top() {
    let mut src = HostDir::new();
    src.mount_tmpfs("sub");
    let bundle = Bundle::new();
    with_userns(&bundle);
    let index = mount_count(&bundle);
    for (option, sub_owner) in [("ridmap", 0), ("idmap", 65534)] {
        bundle.config_mut(|c| {
            let m = json!({"destination": "/vol", "type": "bind", "source": src.path, "options": ["rbind", option]});
            let mounts = c["mounts"].as_array_mut().unwrap();
            mounts.truncate(index);
            mounts.push(m);
        });
        assert_eq!(stat(&bundle, "/vol"), (0, 0), "{option}");
        assert_eq!(stat(&bundle, "/vol/sub"), (sub_owner, sub_owner), "{option}");
    }
}

#[test]
fn bad_idmapped_mounts_fail_create_naming_the_field() {
    let src = HostDir::new();
    let bind = |extra: Value| {
        let mut m = json!({"destination": "/vol", "type": "bind", "source": src.path, "options": ["bind"],
                           "uidMappings": map(0, 100000), "gidMappings": map(0, 100000)});
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        m
    };
    let cases = [
        (
            json!({"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"],
                   "uidMappings": map(0, 100000), "gidMappings": map(0, 100000)}),
            "]: idmapped mounts (uidMappings, gidMappings, idmap, ridmap) must be bind mounts, not type \"tmpfs\"",
        ),
        (
            bind(json!({"uidMappings": [{"containerID": 0, "hostID": 100000, "size": 0}]})),
            "].uidMappings[0].size is 0",
        ),
        (
            bind(json!({"gidMappings": null})),
            "].gidMappings is missing: uidMappings needs it",
        ),
        (
            bind(json!({"uidMappings": null, "gidMappings": null, "options": ["bind", "idmap"]})),
            "]: option idmap without uidMappings and gidMappings needs a user namespace",
        ),
        // Accepted by the config, refused by the kernel once the container exists: procfs
        // takes no idmapping. The init and the runtime's user namespace must be gone.
        (
            bind(json!({"source": "/proc"})),
            "]: idmap the bind of /proc with a user namespace made for it: mount_setattr",
        ),
    ];
    for (mount, want) in cases {
        let bundle = Bundle::new();
        let index = mount_count(&bundle);
        bundle.config_mut(|c| add_mount(c, mount));
        let err = create_fails(&bundle, &unique_id("bad-idmap"));
        let want = format!("mounts[{index}{want}");
        assert!(err.contains(&want), "want {want:?} in:\n{err}");
    }
}

/// "ro" on an rbind makes only its top read-only (mount(2) flags are per mount); "rro" reaches
/// the submount too. A recursive option that is silently dropped would leave it writable.
#[test]
fn recursive_options_reach_the_submounts_of_an_rbind() {
    let mut src = HostDir::new();
    src.mount_tmpfs("sub");
    let bundle = Bundle::new();
    let index = mount_count(&bundle);
    let rt = Runtime::new();
    for (option, sub) in [("ro", "ok"), ("rro", "error: Read-only file system (errno 30)")] {
        bundle.config_mut(|c| {
            let m = json!({"destination": "/vol", "type": "bind", "source": src.path, "options": ["rbind", option]});
            let mounts = c["mounts"].as_array_mut().unwrap();
            mounts.truncate(index);
            mounts.push(m);
        });
        let write = |path: &str| {
            bundle.set_args(&["/probe", "write", path, "x"]);
            let id = unique_id("rro");
            let out = rt.run(&["run", "--bundle", bundle.path().to_str().unwrap(), &id]);
            assert_nothing_left(&rt, &id, bundle.path());
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        assert_eq!(write("/vol/top"), "error: Read-only file system (errno 30)", "{option}");
        assert_eq!(write("/vol/sub/file"), sub, "{option}");
    }
}
