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

/// `run` starts the container within its create (no `start` round trip): a failure after that
/// point, here a startContainer hook's, still fails `run` with the init's error, skips poststart,
/// and deletes the container with its poststop hooks, as `start` then `delete` would.
#[test]
fn a_failing_start_container_hook_fails_run_and_runs_poststop() {
    let out_dir = std::env::temp_dir().join(unique_id("hooks-out"));
    std::fs::create_dir_all(&out_dir).unwrap();
    let b = Bundle::new();
    b.set_args(&["/probe", "hello"]);
    b.config_mut(|c| {
        c["hooks"] = json!({
            "startContainer": [{"path": "/no-such-hook"}],
            "poststart": [saving_hook(&out_dir, "poststart")],
            "poststop": [saving_hook(&out_dir, "poststop")],
        })
    });
    let rt = Runtime::new();
    let id = unique_id("starthook");
    let out = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(err.contains("hooks.startContainer[0]"), "{}", describe(&out));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("hello"),
        "{}",
        describe(&out)
    );
    assert!(
        !out_dir.join("poststart").exists(),
        "poststart ran for a process that never started"
    );
    assert_eq!(saved(&out_dir, "poststop")["status"], "stopped");
    assert_nothing_left(&rt, &id, b.path());
    std::fs::remove_dir_all(out_dir).unwrap();
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

/// Every hook kind, each running `probe hook-dump` into `out` (seen as /out in the container,
/// where startContainer runs), plus, for the kinds given, a second hook with `"env": []`.
fn dumping_hooks(b: &Bundle, out: &std::path::Path, empty_env: &[&str]) {
    let host_probe = b.rootfs().join("probe");
    std::fs::create_dir(b.rootfs().join("out")).unwrap();
    b.config_mut(|c| {
        let mut hooks = serde_json::Map::new();
        for kind in HOOK_KINDS {
            let (path, dir) = match kind {
                "startContainer" => ("/probe".into(), "/out".into()),
                _ => (host_probe.display().to_string(), out.display().to_string()),
            };
            let hook = |name: &str| json!({"path": path, "args": ["probe", "hook-dump", format!("{dir}/{name}")]});
            let mut list = vec![hook(kind)];
            if empty_env.contains(&kind) {
                let mut h = hook(&format!("{kind}-empty-env"));
                h["env"] = json!([]);
                list.push(h);
            }
            hooks.insert(kind.into(), list.into());
        }
        c["hooks"] = hooks.into();
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/out", "type": "bind", "source": out, "options": ["rbind", "rw"]}));
    });
}

/// What `probe hook-dump` saved as `name`.
fn dump(out: &std::path::Path, name: &str) -> Value {
    let text = std::fs::read_to_string(out.join(name)).unwrap_or_else(|e| panic!("hook {name} did not run: {e}"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_hook_reads_the_whole_state_however_large() {
    let out = std::env::temp_dir().join(unique_id("hook-state"));
    std::fs::create_dir_all(&out).unwrap();
    let b = Bundle::new();
    b.set_args(&["/probe", "hello"]);
    // 30 KB, as Kubernetes pods carry: twice the 16 KiB that used to cut the init's copy.
    let annotations: serde_json::Map<String, Value> = (0..100)
        .map(|i| (format!("example.com/key-{i}"), json!("v".repeat(290))))
        .collect();
    dumping_hooks(&b, &out, &[]);
    b.config_mut(|c| c["annotations"] = annotations.clone().into());
    let rt = Runtime::new();
    let id = unique_id("hookstate");
    run_probe_hello(&rt, &b, &id, &[]);
    for kind in HOOK_KINDS {
        let stdin = dump(&out, kind)["stdin"].as_str().unwrap().to_string();
        let state: Value = serde_json::from_str(&stdin)
            .unwrap_or_else(|e| panic!("{kind} read {} bytes of state, not JSON: {e}", stdin.len()));
        assert!(stdin.len() > 30_000, "{kind} read {} bytes", stdin.len());
        assert_eq!(state["id"], id.as_str(), "{kind}");
        assert_eq!(state["annotations"], Value::Object(annotations.clone()), "{kind}");
    }
    assert_nothing_left(&rt, &id, b.path());
    std::fs::remove_dir_all(out).unwrap();
}

/// `run` of the bundle, with an environment of `env` only, which must print the probe's hello.
fn run_probe_hello(rt: &Runtime, b: &Bundle, id: &str, env: &[(&str, &str)]) {
    let mut cmd = rt.cmd();
    if !env.is_empty() {
        cmd.env_clear().envs(env.iter().copied());
    }
    let out = cmd
        .args(["run", "--bundle", b.path().to_str().unwrap(), id])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Hello"),
        "{}",
        describe(&out)
    );
}

/// The environment each hook got under `runtime`, sorted (runc's order is Go's map order).
fn hook_envs(runtime: &Runtime) -> Vec<(String, Vec<String>)> {
    let out = std::env::temp_dir().join(unique_id("hook-env-diff"));
    std::fs::create_dir_all(&out).unwrap();
    let b = Bundle::new();
    b.set_args(&["/probe", "hello"]);
    dumping_hooks(&b, &out, &["createRuntime", "createContainer", "startContainer"]);
    b.config_mut(|c| {
        c["process"]["env"] = json!(["PATH=/usr/bin:/bin", "IN_PROCESS_ENV=1"]);
    });
    let id = unique_id("hookenvdiff");
    run_probe_hello(
        runtime,
        &b,
        &id,
        &[("PATH", "/usr/sbin:/usr/bin:/bin"), ("IN_RUNTIME_ENV", "1")],
    );
    assert_nothing_left(runtime, &id, b.path());
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let envs = names
        .into_iter()
        .map(|name| {
            let mut env: Vec<String> = serde_json::from_value(dump(&out, &name)["env"].clone()).unwrap();
            env.sort();
            (name, env)
        })
        .collect();
    std::fs::remove_dir_all(out).unwrap();
    envs
}

#[test]
fn hooks_without_env_get_what_runc_gives_them() {
    let ours = hook_envs(&Runtime::new());
    assert_eq!(
        ours,
        hook_envs(&Runtime::of(RUNC)),
        "hook environments differ from runc's"
    );
    // What that is: the runtime's environment when the runtime runs the hook, process.env
    // when the container's init does (with HOME by startContainer), nothing for `"env": []`.
    let runtime_env = ["IN_RUNTIME_ENV=1", "PATH=/usr/sbin:/usr/bin:/bin"];
    let process_env = ["IN_PROCESS_ENV=1", "PATH=/usr/bin:/bin"];
    let exec_env = ["HOME=/", "IN_PROCESS_ENV=1", "PATH=/usr/bin:/bin"];
    let want = |name: &str| -> &[&str] {
        match name {
            n if n.ends_with("-empty-env") => &[],
            "createContainer" => &process_env,
            "startContainer" => &exec_env,
            _ => &runtime_env,
        }
    };
    assert_eq!(ours.len(), 9, "{ours:?}");
    for (name, env) in &ours {
        assert_eq!(env, want(name), "{name}");
    }
}

#[test]
fn a_hook_that_leaves_a_large_state_unread_still_times_out() {
    let b = Bundle::new();
    b.config_mut(|c| {
        // Far more than a pipe holds (64 KiB).
        c["annotations"] = json!({"example.com/big": "x".repeat(1 << 20)});
        c["hooks"] = json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]});
    });
    let rt = Runtime::new();
    let id = unique_id("bigstate");
    let mut create = rt
        .cmd()
        .args(["create", "--bundle", b.path().to_str().unwrap(), &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while create.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = create.kill();
            let _ = create.wait();
            panic!("create still blocked on the hook's stdin after 10 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = create.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("hooks.createRuntime[0]") && err.contains("timed out after 1 s"),
        "{err}"
    );
    assert_nothing_left(&rt, &id, b.path());
}
