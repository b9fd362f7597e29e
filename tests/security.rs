//! Each defence attacked from inside a real container (or from a hostile bundle).

mod common;

use common::*;
use serde_json::json;

#[test]
fn the_runtime_binary_cannot_be_run_inside_the_container() {
    // CVE-2019-5736: until exec, the init's /proc/self/exe is the runtime binary on the host.
    let b = Bundle::new();
    b.set_args(&["/proc/self/exe", "--version"]);
    let err = create_fails(&b, &unique_id("selfexe"));
    assert!(err.contains("refusing to run the runtime's own binary"), "{err}");
}

#[test]
fn a_symlink_to_proc_self_exe_in_the_image_is_caught_too() {
    let b = Bundle::new();
    std::os::unix::fs::symlink("/proc/self/exe", b.rootfs().join("entry")).unwrap();
    b.set_args(&["/entry"]);
    let err = create_fails(&b, &unique_id("selflink"));
    assert!(err.contains("refusing to run the runtime's own binary"), "{err}");
}

#[test]
fn masking_refuses_a_substituted_dev_null() {
    // A bind-mounted /dev whose "null" is a readable file would turn every masked path into a
    // view of that file.
    let host_dev = std::env::temp_dir().join(unique_id("fake-dev"));
    std::fs::create_dir_all(&host_dev).unwrap();
    std::fs::write(host_dev.join("null"), "secret").unwrap();
    let b = Bundle::new();
    b.config_mut(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
        mounts.push(json!({"destination": "/dev", "type": "bind", "source": host_dev, "options": ["rbind"]}));
        c["linux"]["maskedPaths"] = json!(["/proc/timer_list"]);
    });
    let rt = Runtime::new();
    let id = unique_id("devnull");
    let (status, err) = rt.run_bg(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(!status.success());
    assert!(
        err.contains("linux.maskedPaths[0]: mask /proc/timer_list: /dev/null is a regular file, not the null device"),
        "{err}"
    );
    assert_nothing_left(&rt, &id, b.path());
    std::fs::remove_dir_all(host_dev).unwrap();
}

#[test]
fn generated_etc_files_never_land_outside_the_rootfs() {
    // An image whose /etc is a symlink climbing out of the rootfs must not make scrun bind
    // over (or create) a host file.
    let host = std::env::temp_dir().join(unique_id("host-etc"));
    std::fs::create_dir_all(&host).unwrap();
    let b = Bundle::new();
    let up = "../".repeat(b.rootfs().components().count() + 2);
    std::os::unix::fs::symlink(format!("{up}{}", host.display()), b.rootfs().join("etc")).unwrap();
    let err = create_fails(&b, &unique_id("etc-escape"));
    assert!(err.contains("leads out of the rootfs"), "{err}");
    assert_eq!(
        std::fs::read_dir(&host).unwrap().count(),
        0,
        "files appeared in the host directory"
    );
    std::fs::remove_dir_all(host).unwrap();
}

#[test]
fn masked_and_readonly_paths_hold_against_a_remount() {
    // Without CAP_SYS_ADMIN (the default set) the container cannot lift a mask.
    let b = Bundle::new();
    b.set_args(&["/probe", "write", "/proc/sys/kernel/domainname", "pwned"]);
    let rt = Runtime::new();
    let id = unique_id("ro");
    let out = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Read-only file system"),
        "{}",
        describe(&out)
    );
    assert_nothing_left(&rt, &id, b.path());
}
