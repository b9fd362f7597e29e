//! linux.seccomp's SCMP_ACT_NOTIFY rules with a seccomp agent of the test's own: it listens on
//! linux.seccomp.listenerPath, gets the filter's listener and the container process state from
//! the runtime, and answers the container's mkdir calls with an errno of its choosing.

mod common;

use common::*;
use serde_json::{json, Value};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

/// The kernel's struct seccomp_notif and seccomp_notif_resp (linux/seccomp.h).
#[repr(C)]
#[derive(Default)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    nr: i32,
    arch: u32,
    instruction_pointer: u64,
    args: [u64; 6],
}

#[repr(C)]
struct Resp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

const NOTIF_RECV: libc::c_ulong = 0xc050_2100; // _IOWR('!', 0, struct seccomp_notif)
const NOTIF_SEND: libc::c_ulong = 0xc018_2101; // _IOWR('!', 1, struct seccomp_notif_resp)

/// What the agent got and did.
struct Agent {
    message: Value,
    answered: Vec<i32>,
}

/// Accept one runtime on `path`, take the listener, and answer every notification with
/// -`errno` until the container is gone.
fn agent(listener: UnixListener, errno: i32) -> Agent {
    let (conn, _) = listener.accept().expect("the runtime never connected");
    let (text, notify) = recv_fd(&conn);
    let message = serde_json::from_slice(&text).expect("the message is JSON");
    let mut answered = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let mut poll = [libc::pollfd {
            fd: notify.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: poll and ioctl on our own fd with correctly sized structs.
        unsafe {
            if libc::poll(poll.as_mut_ptr(), 1, 100) <= 0 {
                continue;
            }
            if poll[0].revents & libc::POLLHUP != 0 {
                break;
            }
            let mut notif = Notif::default();
            if libc::ioctl(notify.as_raw_fd(), NOTIF_RECV, &mut notif) != 0 {
                continue;
            }
            let resp = Resp {
                id: notif.id,
                val: 0,
                error: -errno,
                flags: 0,
            };
            libc::ioctl(notify.as_raw_fd(), NOTIF_SEND, &resp);
            answered.push(notif.nr);
        }
    }
    Agent { message, answered }
}

fn notifying_bundle(listener_path: &Path) -> Bundle {
    let b = Bundle::new();
    b.set_args(&["/probe", "mkdir", "/made-by-the-container"]);
    b.config_mut(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "listenerPath": listener_path,
            "listenerMetadata": "scrun-test",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    b
}

#[test]
fn the_agent_answers_the_containers_notified_syscalls() {
    let path = std::env::temp_dir().join(format!("{}.sock", unique_id("agent")));
    let listener = UnixListener::bind(&path).unwrap();
    let agent = std::thread::spawn(move || agent(listener, libc::EOPNOTSUPP));
    let b = notifying_bundle(&path);
    let rt = Runtime::new();
    let id = unique_id("notify");
    let out = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    let agent = agent.join().unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("error: Operation not supported (errno {})", libc::EOPNOTSUPP),
        "{}",
        describe(&out)
    );
    assert!(!b.rootfs().join("made-by-the-container").exists());
    assert!(
        agent.answered.contains(&(libc::SYS_mkdir as i32)) || agent.answered.contains(&(libc::SYS_mkdirat as i32)),
        "the agent answered {:?}",
        agent.answered
    );
    let m = &agent.message;
    assert_eq!(m["fds"], json!(["seccompFd"]), "{m}");
    assert_eq!(m["metadata"], "scrun-test", "{m}");
    assert_eq!(m["state"]["id"], id.as_str(), "{m}");
    assert!(m["pid"].as_i64().is_some_and(|p| p > 0), "{m}");
    assert_nothing_left(&rt, &id, b.path());
}

#[test]
fn a_missing_agent_fails_create_naming_the_field() {
    let path = std::env::temp_dir().join(format!("{}.sock", unique_id("no-agent")));
    let b = notifying_bundle(&path);
    let err = create_fails(&b, &unique_id("noagent"));
    assert!(
        err.contains("linux.seccomp.listenerPath: the seccomp agent at") && err.contains("connect"),
        "{err}"
    );
}

#[test]
fn notify_rules_and_listener_path_come_together() {
    let b = notifying_bundle(Path::new("/run/agent.sock"));
    b.config_mut(|c| {
        c["linux"]["seccomp"]
            .as_object_mut()
            .unwrap()
            .remove("listenerPath")
            .map(drop)
            .unwrap()
    });
    let err = create_fails(&b, &unique_id("nopath"));
    assert!(
        err.contains("linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath"),
        "{err}"
    );
    let b = notifying_bundle(Path::new("/run/agent.sock"));
    b.config_mut(|c| c["linux"]["seccomp"]["syscalls"][0]["action"] = json!("SCMP_ACT_ERRNO"));
    let err = create_fails(&b, &unique_id("norule"));
    assert!(
        err.contains("linux.seccomp.listenerPath: no SCMP_ACT_NOTIFY rule"),
        "{err}"
    );
}
