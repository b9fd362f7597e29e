//! `spec --scratch BINARY` with `--libs`, `--add` and `--user`: the articles' manual image steps
//! (ldd and copy each library, write /etc/passwd, copy a config file) done by scrun, run on the
//! host's own dynamically linked binaries as FROM-scratch containers.

mod common;

use common::*;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A bundle directory for `spec --scratch`, removed at the end.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(prefix: &str) -> ScratchDir {
        ScratchDir(std::env::temp_dir().join(unique_id(prefix)))
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }

    /// `spec --scratch` with `extra`; returns its stdout (what it added).
    fn spec(&self, rt: &Runtime, binary: &str, extra: &[&str]) -> String {
        let mut args = vec!["spec", "--scratch", binary, "--bundle", self.path()];
        args.extend_from_slice(extra);
        String::from_utf8_lossy(&rt.run_ok(&args).stdout).into_owned()
    }

    fn set_args(&self, args: &[&str]) {
        let path = self.0.join("config.json");
        let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        config["process"]["args"] = json!(args);
        std::fs::write(path, config.to_string()).unwrap();
    }

    /// Runs the bundle in the foreground and returns its stdout, checking it left nothing.
    fn run(&self, rt: &Runtime) -> String {
        let id = unique_id("scratch-img");
        let out = rt.run(&["run", "--bundle", self.path(), &id]);
        assert!(out.status.success(), "{}", describe(&out));
        assert_nothing_left(rt, &id, &self.0);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn interpreter_of(binary: &str) -> String {
    let data = std::fs::read(binary).unwrap();
    scrun::diagnose::read_elf(&data)
        .unwrap()
        .interpreter
        .expect("a dynamically linked host binary")
}

#[test]
fn dynamic_echo_runs_with_libs() {
    let rt = Runtime::new();
    let dir = ScratchDir::new("scratch-echo");
    // Without --libs: the refusal says what is missing and points at --libs.
    let out = rt.run(&["spec", "--scratch", "/bin/echo", "--bundle", dir.path()]);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dynamically linked") && err.contains("--libs"), "{err}");
    assert!(!dir.0.exists(), "a refused --scratch left {} behind", dir.path());

    let added = dir.spec(&rt, "/bin/echo", &["--libs"]);
    let interp = interpreter_of("/bin/echo");
    assert!(
        added.contains(&format!("added {interp} (ELF interpreter of /bin/echo)\n")),
        "{added}"
    );
    assert!(
        added
            .lines()
            .any(|l| l.starts_with("added ") && l.contains("(libc.so.6, needed by /bin/echo, found through")),
        "{added}"
    );
    // Each line names a file that is now in the rootfs, and the rootfs holds nothing else.
    let rootfs = dir.0.join("rootfs");
    let mut files: Vec<String> = added
        .lines()
        .map(|l| {
            l.strip_prefix("added ")
                .unwrap()
                .split(" (")
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    files.sort();
    assert_eq!(files, regular_files(&rootfs, &rootfs), "{added}");

    dir.set_args(&["/bin/echo", "hello", "from", "scratch"]);
    assert_eq!(dir.run(&rt), "hello from scratch\n");
}

/// Paths (from the rootfs) of the regular files beneath `dir`, sorted.
fn regular_files(root: &Path, dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            found.extend(regular_files(root, &entry.path()));
        } else {
            found.push(format!("/{}", entry.path().strip_prefix(root).unwrap().display()));
        }
    }
    found.sort();
    found
}

#[test]
fn a_dynamic_program_reads_a_config_file_added_with_add() {
    let rt = Runtime::new();
    let dir = ScratchDir::new("scratch-add");
    let conf = std::env::temp_dir().join(unique_id("app.conf"));
    std::fs::write(&conf, "worker_processes 2;\nlisten 8080;\n").unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o640)).unwrap();
    let add = format!("{}:/etc/app/app.conf", conf.display());
    let added = dir.spec(&rt, "/usr/bin/head", &["--libs", "--add", &add]);
    std::fs::remove_file(&conf).unwrap();
    assert!(
        added.contains(&format!("added /etc/app/app.conf (--add {add})\n")),
        "{added}"
    );
    let copied = dir.0.join("rootfs/etc/app/app.conf");
    assert_eq!(std::fs::metadata(&copied).unwrap().permissions().mode() & 0o7777, 0o640);

    dir.set_args(&["/usr/bin/head", "-n", "1", "/etc/app/app.conf"]);
    assert_eq!(dir.run(&rt), "worker_processes 2;\n");
}

#[test]
fn add_refuses_a_destination_that_climbs_out() {
    let rt = Runtime::new();
    let dir = ScratchDir::new("scratch-add-bad");
    let out = rt.run(&[
        "spec",
        "--scratch",
        probe().to_str().unwrap(),
        "--bundle",
        dir.path(),
        "--add",
        "/etc/hostname:/../../x",
    ]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--add"),
        "{}",
        describe(&out)
    );
    assert!(!dir.0.join("rootfs").exists());
}

#[test]
fn a_named_user_is_in_passwd_and_runs_as_its_uid() {
    let rt = Runtime::new();
    // id(1) looks the ids up in the /etc/passwd and /etc/group that --user wrote.
    let dir = ScratchDir::new("scratch-id");
    let added = dir.spec(&rt, "/usr/bin/id", &["--libs", "--user", "appuser"]);
    assert!(
        added.contains("added /etc/passwd (--user appuser: uid 10001, gid 10001"),
        "{added}"
    );
    let passwd = std::fs::read_to_string(dir.0.join("rootfs/etc/passwd")).unwrap();
    assert!(
        passwd.lines().any(|l| l.starts_with("appuser:x:10001:10001:")),
        "{passwd}"
    );
    assert_eq!(
        dir.run(&rt),
        "uid=10001(appuser) gid=10001(appuser) groups=10001(appuser)\n"
    );

    // And from the host, as the Go article checks with ps: the container's process runs as
    // the uid given.
    let dir = ScratchDir::new("scratch-uid");
    let probe = probe().to_str().unwrap();
    dir.spec(&rt, probe, &["--user", "appuser:2345:3456"]);
    dir.set_args(&[probe, "sleep", "30"]);
    let id = unique_id("scratch-uid");
    rt.run_bg_ok(&["run", "--detach", "--bundle", dir.path(), &id]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", rt.pid(&id))).unwrap();
    let line = |key: &str| status.lines().find(|l| l.starts_with(key)).unwrap().to_string();
    assert_eq!(line("Uid:"), "Uid:\t2345\t2345\t2345\t2345");
    assert_eq!(line("Gid:"), "Gid:\t3456\t3456\t3456\t3456");
    rt.run_ok(&["delete", "--force", &id]);
    assert_nothing_left(&rt, &id, &dir.0);
}

/// A program whose library lies beside it, found through its run path with $ORIGIN, as
/// vendored applications ship: DT_RUNPATH (gcc's default) and the older DT_RPATH.
#[test]
fn a_library_in_the_programs_run_path_is_found_through_origin() {
    let rt = Runtime::new();
    for (tags, dt) in [
        ("--enable-new-dtags", "DT_RUNPATH"),
        ("--disable-new-dtags", "DT_RPATH"),
    ] {
        let app = std::env::temp_dir().join(unique_id("vendored"));
        let (bin, lib) = (app.join("bin"), app.join("lib"));
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::write(
            app.join("greet.c"),
            "const char *greeting(void) { return \"hello from libgreet\"; }\n",
        )
        .unwrap();
        std::fs::write(
            app.join("main.c"),
            "#include <stdio.h>\nconst char *greeting(void);\nint main(void) { puts(greeting()); return 0; }\n",
        )
        .unwrap();
        let gcc = |args: &[&str]| {
            let out = std::process::Command::new("gcc")
                .current_dir(&app)
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "gcc {args:?}: {}", describe(&out));
        };
        gcc(&[
            "-shared",
            "-fPIC",
            "-Wl,-soname,libgreet.so.1",
            "-o",
            "lib/libgreet.so.1",
            "greet.c",
        ]);
        std::os::unix::fs::symlink("libgreet.so.1", lib.join("libgreet.so")).unwrap();
        gcc(&[
            "-o",
            "bin/hello",
            "main.c",
            "-Llib",
            "-lgreet",
            &format!("-Wl,{tags},-rpath,$ORIGIN/../lib"),
        ]);

        let dir = ScratchDir::new("scratch-vendored");
        let program = bin.join("hello");
        let added = dir.spec(&rt, program.to_str().unwrap(), &["--libs"]);
        // The path as the loader opens it, $ORIGIN replaced.
        let want = format!(
            "added {}/../lib/libgreet.so.1 (libgreet.so.1, needed by {}, found through the {dt} of {})\n",
            bin.display(),
            program.display(),
            program.display()
        );
        assert!(added.contains(&want), "{want}\n{added}");
        assert_eq!(dir.run(&rt), "hello from libgreet\n");
        std::fs::remove_dir_all(app).unwrap();
    }
}
