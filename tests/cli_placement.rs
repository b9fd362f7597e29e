//! The command lines runc accepts, scrun accepts with the same meaning, and those runc refuses,
//! scrun refuses: each placement of flags runs against runc and against the runtime under test,
//! and what came of it (exit status, output, the container made) must be the same.

mod common;

use common::*;
use std::process::Stdio;

/// A running container, `/probe sleep 60`, under `bin`.
struct Running {
    rt: Runtime,
    bundle: Bundle,
    id: String,
}

impl Running {
    fn new(bin: &str) -> Running {
        let rt = Runtime::of(bin);
        let bundle = Bundle::new();
        bundle.set_args(&["/probe", "sleep", "60"]);
        let id = unique_id("placed");
        rt.run_bg_ok(&["run", "--detach", "--bundle", bundle.path().to_str().unwrap(), &id]);
        Running { rt, bundle, id }
    }

    /// `line` with {id} (the running container), {new} (a fresh id), {root} and {bundle}
    /// filled in, run without any flag added: whether it succeeded, its stdout, and whether
    /// {new} exists afterwards (then deleted).
    fn outcome(&self, line: &str) -> (bool, String, bool) {
        let new = unique_id("new");
        let line = line
            .replace("{id}", &self.id)
            .replace("{new}", &new)
            .replace("{root}", self.rt.root.to_str().unwrap())
            .replace("{bundle}", self.bundle.path().to_str().unwrap());
        // A file, not a pipe: a container made keeps the runtime's stdout open.
        let stdout = self.rt.root.with_extension("stdout");
        let status = std::process::Command::new(&self.rt.bin)
            .args(line.split(' '))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        let made = self.rt.root.join(&new).exists();
        if made {
            self.rt.run_ok(&["delete", "--force", &new]);
        }
        let text = std::fs::read_to_string(&stdout).unwrap();
        std::fs::remove_file(stdout).unwrap();
        (status.success(), text, made)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let deleted = self.rt.run(&["delete", "--force", &self.id]);
        if !std::thread::panicking() {
            assert!(deleted.status.success(), "{}", describe(&deleted));
            assert_nothing_left(&self.rt, &self.id, self.bundle.path());
        }
    }
}

/// What came of a command line: it succeeded, its stdout has this text, it made a container.
type Outcome = (bool, &'static str, bool);

const ACCEPTED: Outcome = (true, "", false);
const REFUSED: Outcome = (false, "", false);
const HELLO: Outcome = (true, "Hello", false);
const MADE: Outcome = (true, "", true);

/// Each line with what runc makes of it.
const LINES: &[(&str, Outcome)] = &[
    // Go's flags: one dash or two whatever the length, booleans with a value, the last wins.
    ("-root {root} state {id}", (true, "\"running\"", false)),
    ("--root={root} --debug=false state {id}", (true, "\"running\"", false)),
    ("--root {root} exec -d=false {id} /probe hello", HELLO),
    ("--root {root} exec -detach=false -cwd / {id} /probe hello", HELLO),
    ("--root {root} exec --cwd=/ -e=A=1 {id} /probe hello", HELLO),
    ("--root {root} kill -all {id} CONT", ACCEPTED),
    ("--root {root} list -quiet", (true, "placed-", false)),
    ("--root {root} create -b /nonexistent -b={bundle} {new}", MADE),
    ("--root {root} create -b /nonexistent -bundle={bundle} {new}", REFUSED),
    ("--root {root} exec -e A=1 -env B=2 {id} /probe hello", REFUSED),
    ("--root {root} create --no-pivot=false --bundle {bundle} {new}", MADE),
    // urfave moves a command's flags before its arguments...
    (
        "--root {root} create {new} --bundle {bundle} --pid-file {root}/pid",
        MADE,
    ),
    ("--root {root} kill {id} CONT --all", ACCEPTED),
    ("--root {root} create --bundle {bundle} {new} --", MADE),
    ("--root {root} create --bundle {bundle} -- {new}", MADE),
    // ...each with the argument after it, flag or not, so that these name the wrong container.
    ("--root {root} kill {id} --all CONT", REFUSED),
    ("--root {root} create --no-pivot {new} --bundle {bundle}", REFUSED),
    // ...except for exec and ps, where what follows the id is the program's or ps(1)'s.
    ("--root {root} exec {id} --cwd / /probe hello", REFUSED),
    ("--root {root} exec {id} -- /probe hello", REFUSED),
    ("--root {root} exec -- {id} /probe hello", HELLO),
    ("--root {root} ps {id} -o pid,args", (true, "/probe sleep 60", false)),
    ("--root {root} ps -f json {id}", (true, "[", false)),
    // No combined short flags, and global flags only before the command.
    ("--root {root} exec -dt {id} /probe hello", REFUSED),
    ("--root {root} exec --root {root} {id} /probe hello", REFUSED),
    ("--root {root} state {id} --root {root}", REFUSED),
    ("--root {root} state {id} extra", REFUSED),
    ("--root {root} list {id}", REFUSED),
];

#[test]
fn flags_are_read_where_runc_reads_them() {
    let ours = Running::new(runtime_bin().to_str().unwrap());
    let runc = Running::new(RUNC);
    let mut wrong = Vec::new();
    for &(line, (ok, text, made)) in LINES {
        let got = |r: &Running| {
            let (success, stdout, was_made) = r.outcome(line);
            (success, stdout.contains(text), was_made)
        };
        let (theirs, mine) = (got(&runc), got(&ours));
        if theirs != (ok, true, made) {
            wrong.push(format!(
                "runc: {line}: {theirs:?}, the test expects {:?}",
                (ok, true, made)
            ));
        }
        if mine != theirs {
            wrong.push(format!("{line}: (success, output, made) {mine:?}, runc {theirs:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn exec_ignore_paused_runs_once_the_container_is_resumed() {
    let c = Running::new(runtime_bin().to_str().unwrap());
    c.rt.run_ok(&["pause", &c.id]);
    let refused = c.rt.run(&["exec", &c.id, "/probe", "hello"]);
    assert!(
        !refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("--ignore-paused"),
        "{}",
        describe(&refused)
    );
    let mut exec =
        c.rt.cmd()
            .args(["exec", "--ignore-paused", &c.id, "/probe", "hello"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    // Frozen with the rest of the container: still there a while later.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        exec.try_wait().unwrap().is_none(),
        "exec --ignore-paused ended while the container was paused"
    );
    c.rt.run_ok(&["resume", &c.id]);
    let out = exec.wait_with_output().unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Hello"),
        "{}",
        describe(&out)
    );
}
