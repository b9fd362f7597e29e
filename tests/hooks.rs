//! OCI hooks: each kind runs at its point of the lifecycle, in its namespace, with the
//! container's state on stdin; a failing hook fails its operation, except poststart/poststop.

mod common;

use common::*;
use serde_json::{json, Value};

/// A host-side hook that saves the state it reads to DIR/NAME.
fn saving_hook(dir: &std::path::Path, name: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}/{name}", dir.display())]})
}

fn saved(dir: &std::path::Path, name: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("hook {name} did not run: {e}"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_hook_runs_at_its_point_with_the_state() {
    let out_dir = std::env::temp_dir().join(unique_id("hooks-out"));
    std::fs::create_dir_all(&out_dir).unwrap();
    let b = Bundle::new();
    b.set_args(&["/probe", "sleep", "30"]);
    b.config_mut(|c| {
        c["root"]["readonly"] = json!(false);
        c["hooks"] = json!({
            "prestart": [saving_hook(&out_dir, "prestart")],
            "createRuntime": [saving_hook(&out_dir, "createRuntime")],
            "createContainer": [saving_hook(&out_dir, "createContainer")],
            // Runs inside the container, after pivot_root: only the image's files exist.
            "startContainer": [{"path": "/probe", "args": ["probe", "write", "/startContainer-ran", "yes"]}],
            "poststart": [saving_hook(&out_dir, "poststart")],
            "poststop": [saving_hook(&out_dir, "poststop")],
        });
    });
    let rt = Runtime::new();
    let id = unique_id("hooks");
    rt.run_bg_ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    let pid = rt.pid(&id);
    for kind in ["prestart", "createRuntime", "createContainer"] {
        let state = saved(&out_dir, kind);
        assert_eq!(state["id"], id.as_str(), "{kind}");
        assert_eq!(state["pid"], pid, "{kind}");
        let want = if kind == "prestart" { "created" } else { "creating" };
        assert_eq!(state["status"], want, "{kind}");
        assert_eq!(state["bundle"], b.path().to_str().unwrap(), "{kind}");
    }
    assert!(!out_dir.join("poststart").exists());
    assert!(
        !b.rootfs().join("startContainer-ran").exists(),
        "startContainer ran before start"
    );

    rt.run_ok(&["start", &id]);
    assert_eq!(
        std::fs::read_to_string(b.rootfs().join("startContainer-ran")).unwrap(),
        "yes"
    );
    assert_eq!(saved(&out_dir, "poststart")["status"], "running");
    assert!(!out_dir.join("poststop").exists());

    rt.run_ok(&["delete", "--force", &id]);
    assert_eq!(saved(&out_dir, "poststop")["status"], "stopped");
    assert_nothing_left(&rt, &id, b.path());
    std::fs::remove_dir_all(out_dir).unwrap();
}

#[test]
fn a_failing_create_runtime_hook_fails_create_and_leaves_nothing() {
    let b = Bundle::new();
    b.config_mut(|c| {
        c["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo network setup failed >&2; exit 3"]}]});
    });
    let err = create_fails(&b, &unique_id("badhook"));
    assert!(
        err.contains("hooks.createRuntime[0]")
            && err.contains("exit status: 3")
            && err.contains("network setup failed"),
        "{err}"
    );
}

#[test]
fn a_hook_that_outlives_its_timeout_is_killed_and_fails() {
    let b = Bundle::new();
    b.config_mut(|c| c["hooks"] = json!({"prestart": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]}));
    let err = create_fails(&b, &unique_id("slowhook"));
    assert!(
        err.contains("hooks.prestart[0]") && err.contains("timed out after 1 s"),
        "{err}"
    );
}

#[test]
fn a_failing_poststart_hook_only_warns() {
    let b = Bundle::new();
    b.set_args(&["/probe", "hello"]);
    b.config_mut(|c| c["hooks"] = json!({"poststart": [{"path": "/bin/false"}]}));
    let rt = Runtime::new();
    let id = unique_id("poststart");
    let out = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("hooks.poststart[0]"),
        "{}",
        describe(&out)
    );
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn hooks_get_only_their_own_environment() {
    let out_dir = std::env::temp_dir().join(unique_id("hook-env"));
    std::fs::create_dir_all(&out_dir).unwrap();
    let b = Bundle::new();
    b.set_args(&["/probe", "hello"]);
    let script = format!("env > {}/env", out_dir.display());
    b.config_mut(|c| {
        c["hooks"] =
            json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", script], "env": ["HOOK_ONLY=1"]}]})
    });
    let rt = Runtime::new();
    let id = unique_id("hookenv");
    let out = rt
        .cmd()
        .args(["run", "--bundle", b.path().to_str().unwrap(), &id])
        .env("SCRUN_SECRET", "x")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let env = std::fs::read_to_string(out_dir.join("env")).unwrap();
    assert!(env.contains("HOOK_ONLY=1") && !env.contains("SCRUN_SECRET"), "{env}");
    assert_nothing_left(&rt, &id, b.path());
    std::fs::remove_dir_all(out_dir).unwrap();
}
