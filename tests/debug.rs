//! `scrun debug`: a static host tool (busybox) run inside a running FROM-scratch container,
//! seeing its root and processes, adding nothing to its rootfs, and giving the container no
//! way to write to the host's copy of the tool.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

const BUSYBOX: &str = "/bin/busybox";

/// A running `probe sleep` container.
struct Running {
    rt: Runtime,
    bundle: Bundle,
    id: String,
}

impl Running {
    fn new() -> Running {
        let (rt, bundle) = (Runtime::new(), Bundle::new());
        bundle.set_args(&["/probe", "sleep", "60"]);
        let id = unique_id("debug");
        rt.run_bg_ok(&["run", "--detach", "--bundle", bundle.path().to_str().unwrap(), &id]);
        Running { rt, bundle, id }
    }

    /// `debug ID [flags] -- command`: its output.
    fn debug(&self, flags: &[&str], command: &[&str]) -> std::process::Output {
        let mut args = vec!["debug"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[&self.id, "--"]);
        args.extend_from_slice(command);
        self.rt.run(&args)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.rt.run(&["delete", "--force", &self.id]);
        assert_nothing_left(&self.rt, &self.id, self.bundle.path());
    }
}

/// Every entry beneath `dir`: its mode and size, and a hash of a file's bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u32, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let meta = entry.metadata().unwrap();
        let mut hash = DefaultHasher::new();
        if meta.is_file() {
            std::fs::read(entry.path()).unwrap().hash(&mut hash);
        }
        found.insert(entry.path(), (meta.mode(), meta.size(), hash.finish()));
        if meta.is_dir() {
            found.extend(snapshot(&entry.path()));
        }
    }
    found
}

fn text(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", describe(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn debug_shows_the_containers_root_and_processes_and_changes_nothing() {
    let c = Running::new();
    let rootfs = c.bundle.rootfs();
    let before = snapshot(&rootfs);
    let host_tool = std::fs::read(BUSYBOX).unwrap();

    let listed = text(&c.debug(&[], &["ls", "-1", "/"]));
    let mut names: Vec<&str> = listed.lines().collect();
    names.sort_unstable();
    // The image's files, and the mounts the runtime put there; nothing of the host's root.
    assert!(
        names.contains(&"probe") && names.contains(&"proc") && names.contains(&"dev"),
        "{listed}"
    );
    assert!(!names.contains(&"bin") && !names.contains(&"usr"), "{listed}");

    let ps = text(&c.debug(&[], &["ps"]));
    let init = ps.lines().find(|l| l.split_whitespace().next() == Some("1"));
    assert!(init.is_some_and(|l| l.ends_with("/probe sleep 60")), "{ps}");
    let status = text(&c.debug(&[], &["cat", "/proc/1/status"]));
    assert!(status.starts_with("Name:\tprobe\n"), "{status}");

    assert_eq!(snapshot(&rootfs), before, "the rootfs changed");
    assert!(std::fs::read(BUSYBOX).unwrap() == host_tool, "{BUSYBOX} changed");
}

/// The attack of CVE-2019-5736 on the tool: keep its exe open, let it stop running it (exec
/// the image's probe), then reopen that fd for writing. Against the host file this rewrites
/// the tool for the next user; against the sealed copy it fails. The tool here is a copy, so
/// that a failing test does not damage the host's busybox.
#[test]
fn the_container_cannot_write_to_the_tool() {
    let tool = std::env::temp_dir().join(unique_id("busybox"));
    std::fs::copy(BUSYBOX, &tool).unwrap();
    let original = std::fs::read(&tool).unwrap();
    let c = Running::new();
    let tool_flag = format!("--tool={}", tool.display());
    let out = c.debug(
        &[&tool_flag],
        &[
            "sh",
            "-c",
            "exec 3</proc/self/exe; exec /probe write /proc/self/fd/3 pwned",
        ],
    );
    assert!(!out.status.success(), "the write succeeded: {}", describe(&out));
    // Even while it runs, the tool's exe cannot be opened for writing.
    let out = c.debug(&[&tool_flag], &["sh", "-c", "echo pwned > /proc/self/exe"]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(std::fs::read(&tool).unwrap() == original, "the tool's bytes changed");
    std::fs::remove_file(tool).unwrap();
}

#[test]
fn debug_refuses_a_dynamic_tool_and_a_missing_command() {
    let c = Running::new();
    let out = c.debug(&["--tool", "/bin/true"], &["x"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("dynamically linked"),
        "{}",
        describe(&out)
    );
    // No terminal (stdin is /dev/null here) and no command.
    let out = c.rt.run(&["debug", &c.id]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs a command"),
        "{}",
        describe(&out)
    );
}
