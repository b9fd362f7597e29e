//! hack/soak.sh with a small N: create/start/wait/delete cycles (with exec, update and kill on
//! some) must leave no fd, mount, cgroup, process, file or byte behind. 10,000 cycles are run
//! by hand (`hack/soak.sh 10000`).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn fifty_cycles_grow_nothing() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/soak.sh");
    let output = Command::new(&script)
        .arg("50")
        .env("SCRUN", common::runtime_bin())
        .stdin(Stdio::null())
        .output()
        .expect("cannot run hack/soak.sh");
    let text = common::describe(&output);
    eprintln!("{text}");
    assert!(
        output.status.success(),
        "hack/soak.sh 50 failed ({}):\n{text}",
        output.status
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("nothing grew"),
        "hack/soak.sh 50 did not compare its figures:\n{text}"
    );
}
