#!/usr/bin/env python3
"""Benchmark driver for hack/bench.sh (not a test).

Measures the runtimes it is given on one static hello bundle, each figure of issue 13's table:

  run        `RT run` wall time, back to back
  idle       `RT run` wall time after 250 ms of idle (a lone start, colder caches)
  cycle      `RT create` -> `RT start` -> wait for the container process to exit (pidfd; this
             process is a child subreaper, so the orphaned process is reparented to it) ->
             `RT delete`, wall time
  x100       100 x `RT run` of a bundle whose payload is a static /true, wall time of all 100
  rss        peak RSS of the largest runtime process of a `run` (GNU time %M: ru_maxrss)
  memcg      peak memory charged to a fresh memory cgroup the `run` command starts in
             (v1 memory.max_usage_in_bytes, or cgroup2 memory.peak): the runtime's processes and
             whatever they allocate before the container moves to its own cgroup
  init       RSS (VmRSS) of a created, not started container's init
  percreated PSS of the inits of N created containers, divided by N
  list       `RT list` wall time with N created containers
  syscalls   system calls of one `run`, whole process tree (strace -f -c)
  binary     size of the binary, plus the shared libraries it loads

Runtimes in one --rotation are measured interleaved, round-robin: the headline rotation holds
scrun and crun alone (and the floor), as a heavy runtime (runc) between their samples evicts what
they need; runc runs in a rotation of its own. Every container, cgroup and state dir the run
makes is removed, also on Ctrl-C. --json writes the samples instead of a table (bench.sh uses it
for the rotation on a simulated cgroup2-only host); --merge adds such a file's columns.
"""

import argparse
import json
import ctypes
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
TIME = "/usr/bin/time"  # GNU time, for peak RSS
STRACE = shutil.which("strace") or "/usr/bin/strace"
CGROUP_ROOT = "/sys/fs/cgroup"
HELLO = b"Hello from a FROM-scratch container!\n"
KB = 1024


def die(msg):
    print(f"bench.py: error: {msg}", file=sys.stderr)
    sys.exit(1)


class Failure(Exception):
    pass


class Runtime:
    def __init__(self, name, binary, tmp, opts):
        self.name = name
        self.binary = binary
        self.root = os.path.join(opts.state, f"{name}-root")
        os.makedirs(self.root, exist_ok=True)
        self.opts = opts
        self.errfile = os.path.join(tmp, f"{name}.stderr")
        self.pidfile = os.path.join(tmp, f"{name}.pid")
        self.rssfile = os.path.join(tmp, f"{name}.rss")
        self.stracefile = os.path.join(tmp, f"{name}.strace")
        self.samples = {}  # figure -> list of values (ns, KiB, count or bytes)
        self.failures = []
        self.serial = 0

    def cid(self, what):
        self.serial += 1
        return f"{self.opts.prefix}-{self.name}-{what}{self.serial}"

    def add(self, figure, value):
        self.samples.setdefault(figure, []).append(value)

    def spawn(self, *args, stdout=os.devnull, wrap=()):
        """Runs `[wrap...] binary --root R args...`; returns (exit status, wall ns)."""
        argv = [*wrap, self.binary, "--root", self.root, *args]
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
            (os.POSIX_SPAWN_OPEN, 2, self.errfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        ]
        t0 = time.perf_counter_ns()
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
        _, status, _ = os.wait4(pid, 0)
        return os.waitstatus_to_exitcode(status), time.perf_counter_ns() - t0

    def check(self, what, code):
        if code != 0:
            try:
                with open(self.errfile) as f:
                    err = f.read().strip()
            except OSError:
                err = ""
            raise Failure(f"{self.name} {what} exited with {code}: {err or '(no stderr)'}")

    def run(self, bundle=None, stdout=os.devnull, wrap=()):
        code, wall = self.spawn("run", "--bundle", bundle or self.opts.bundle, self.cid("run"),
                                stdout=stdout, wrap=wrap)
        self.check("run", code)
        return wall

    def create(self, cid):
        try:
            os.unlink(self.pidfile)
        except FileNotFoundError:
            pass
        code, _ = self.spawn("create", "--bundle", self.opts.bundle, "--pid-file", self.pidfile, cid)
        self.check("create", code)
        with open(self.pidfile) as f:
            return int(f.read().strip())

    def delete(self, cid, force=False):
        code, _ = self.spawn("delete", *(["--force"] if force else []), cid)
        self.check("delete", code)

    def cycle(self):
        cid = self.cid("cycle")
        t0 = time.perf_counter_ns()
        pid = self.create(cid)
        pidfd = os.pidfd_open(pid)
        try:
            code, _ = self.spawn("start", cid)
            self.check("start", code)
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            if not poller.poll(10_000):
                raise Failure(f"{self.name}: container {cid} (pid {pid}) still runs 10 s after start")
        finally:
            os.close(pidfd)
        try:  # reap it, as a container manager (a subreaper) would, before delete
            _, status = os.waitpid(pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                raise Failure(f"{self.name}: container process exited with {os.waitstatus_to_exitcode(status)}")
        except ChildProcessError:
            pass  # not reparented to us; the runtime reaped it
        self.delete(cid)
        return time.perf_counter_ns() - t0

    # The figures, one sample each.

    def fig_run(self):
        self.add("run", self.run())

    def fig_idle(self):
        time.sleep(0.25)
        self.add("idle", self.run())

    def fig_cycle(self):
        self.add("cycle", self.cycle())

    def fig_x100(self):
        t0 = time.perf_counter_ns()
        for _ in range(100):
            self.run(bundle=self.opts.true_bundle)
        self.add("x100", time.perf_counter_ns() - t0)

    def fig_rss(self):
        self.run(wrap=(TIME, "-f", "%M", "-o", self.rssfile))
        with open(self.rssfile) as f:
            self.add("rss", int(f.read().split()[-1]))

    def fig_memcg(self):
        memcg = self.opts.memcg
        if memcg is None:
            return
        cg = os.path.join(memcg.parent, f"{self.name}-{self.serial}")
        os.mkdir(cg)
        try:
            # sh moves itself into the fresh cgroup, then becomes the runtime: all the runtime
            # allocates from then on is charged there (charges stay where they were made).
            self.run(wrap=("/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cg))
            with open(os.path.join(cg, memcg.peak_file)) as f:
                self.add("memcg", int(f.read()) // KB)
        finally:
            rmdir_retry(cg)

    def fig_init(self):
        cid = self.cid("init")
        pid = self.create(cid)
        try:
            self.add("init", status_kb(pid, "VmRSS"))
        finally:
            self.delete(cid, force=True)

    def fig_syscalls(self):
        self.run(wrap=(STRACE, "-f", "-c", "-o", self.stracefile))
        with open(self.stracefile) as f:
            total = [line.split() for line in f if line.rstrip().endswith(" total")]
        if not total:
            raise Failure(f"{self.name}: no total line in strace -c output")
        self.add("syscalls", int(total[-1][3]))

    def fig_created(self, n, list_rounds):
        """N created containers: PSS per init, and `list` wall time over them."""
        made = []
        try:
            pss = 0
            for _ in range(n):
                cid = self.cid("n")
                pid = self.create(cid)
                made.append(cid)
                pss += rollup_kb(pid, "Pss")
            self.add("percreated", pss // n)
            for _ in range(list_rounds):
                code, wall = self.spawn("list")
                self.check("list", code)
                self.add("list", wall)
        finally:
            for cid in made:
                self.spawn("delete", "--force", cid)

    def fig_binary(self):
        path = os.path.realpath(self.binary)
        size = os.path.getsize(path)
        libs = 0
        out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.split("=>")
            if len(parts) == 2 and parts[1].split() and parts[1].split()[0].startswith("/"):
                libs += os.path.getsize(os.path.realpath(parts[1].split()[0]))
        self.binary_size = (size, libs)
        self.add("binary", size + libs)

    def leftovers(self):
        out = subprocess.run([self.binary, "--root", self.root, "list", "-q"], capture_output=True, text=True)
        return [line for line in out.stdout.split() if line]

    def cleanup(self):
        """Force-deletes whatever container is still listed under our root."""
        left = []
        try:
            left = self.leftovers()
        except OSError:
            pass
        for cid in left:
            subprocess.run([self.binary, "--root", self.root, "delete", "--force", cid],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return left


class Memcg:
    """A memory cgroup of this run, parent of one fresh cgroup per sample."""

    def __init__(self, prefix):
        v1 = os.path.join(CGROUP_ROOT, "memory")
        self.parent = None
        if os.path.exists(os.path.join(v1, "memory.max_usage_in_bytes")):
            self.parent, self.peak_file = os.path.join(v1, f"{prefix}-memcg"), "memory.max_usage_in_bytes"
            self.kind = "cgroup v1 memory.max_usage_in_bytes"
        elif "memory" in read(os.path.join(CGROUP_ROOT, "cgroup.subtree_control")).split():
            self.parent, self.peak_file = os.path.join(CGROUP_ROOT, f"{prefix}-memcg"), "memory.peak"
            self.kind = "cgroup2 memory.peak"
        if self.parent:
            os.mkdir(self.parent)
            if self.peak_file == "memory.peak":
                with open(os.path.join(self.parent, "cgroup.subtree_control"), "w") as f:
                    f.write("+memory")

    def remove(self):
        if self.parent:
            for d in os.listdir(self.parent):
                if os.path.isdir(os.path.join(self.parent, d)):
                    rmdir_retry(os.path.join(self.parent, d))
            rmdir_retry(self.parent)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def status_kb(pid, field):
    for line in read(f"/proc/{pid}/status").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise Failure(f"pid {pid}: no {field} in /proc/{pid}/status")


def rollup_kb(pid, field):
    for line in read(f"/proc/{pid}/smaps_rollup").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise Failure(f"pid {pid}: no {field} in /proc/{pid}/smaps_rollup")


def rmdir_retry(path):
    for _ in range(50):
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            time.sleep(0.02)  # the last task may still be leaving it
    return False


def our_cgroups(prefix):
    """Cgroup directories (deepest first) whose name contains our id prefix."""
    found = []
    for top in sorted(os.listdir(CGROUP_ROOT)):
        base = os.path.join(CGROUP_ROOT, top)
        if not os.path.isdir(base) or os.path.islink(base):
            continue
        for dirpath, dirnames, _ in os.walk(base):
            for d in dirnames:
                if prefix in d:
                    found.append(os.path.join(dirpath, d))
            if dirpath[len(base):].count("/") >= 6:
                dirnames[:] = []
    return sorted(found, key=lambda p: p.count("/"), reverse=True)


def remove_cgroups(prefix):
    left = our_cgroups(prefix)
    for path in left:
        rmdir_retry(path)
    return left, our_cgroups(prefix)


def reap_orphans():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def version(binary):
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    except OSError:
        return "?"
    return out.splitlines()[0] if out else "no --version"


def attempt(rt, fn, *args):
    try:
        fn(*args)
    except Failure as e:
        rt.failures.append(str(e))
        rt.cleanup()


def measure(rotation, opts, progress):
    """All figures for one rotation, interleaved round-robin."""
    active = []
    for rt in rotation:  # warm-up: page cache, binaries; checks the output
        out = os.path.join(opts.tmp, f"{rt.name}.stdout")
        try:
            rt.run(stdout=out)
            if (got := open(out, "rb").read()) != HELLO:
                raise Failure(f"{rt.name} run printed {got!r}, expected {HELLO!r}")
            rt.cycle()
            active.append(rt)
        except Failure as e:
            rt.failures.append(f"warm-up failed, so {rt.name} was left out: {e}")
            rt.cleanup()
    timed = [Runtime.fig_run, Runtime.fig_idle, Runtime.fig_cycle]
    for i in range(opts.n):
        for fig in timed:
            for rt in active:
                attempt(rt, fig, rt)
        reap_orphans()
        progress(f"{i + 1}/{opts.n} rounds of run, idle run, cycle")
    for i in range(opts.x100):
        for rt in active:
            attempt(rt, rt.fig_x100)
        progress(f"{i + 1}/{opts.x100} rounds of 100 x run")
    for i in range(opts.small):
        for rt in active:
            for fig in (rt.fig_rss, rt.fig_memcg, rt.fig_init):
                attempt(rt, fig)
        reap_orphans()
        progress(f"{i + 1}/{opts.small} rounds of peak RSS, memory cgroup peak, created init")
    for rt in active:
        attempt(rt, rt.fig_syscalls)
        attempt(rt, rt.fig_binary)
        progress(f"{opts.containers} created containers of {rt.name}")
        attempt(rt, rt.fig_created, opts.containers, opts.small)
        reap_orphans()


# The rows of the table: figure, label, unit, target (ratio to crun, ratio to the floor, absolute).
ROWS = [
    ("run", "run, back to back", "ms", (0.8, 1.5, None)),
    ("idle", "run after 250 ms idle", "ms", (None, 1.2, None)),
    ("cycle", "create/start/wait/delete", "ms", (0.6, None, None)),
    ("x100", "100 x run /true", "s", (0.7, None, None)),
    ("rss", "peak RSS, largest process", "MB", (0.8, None, None)),
    ("memcg", "memory cgroup peak of a run", "MB", (1.0, None, None)),
    ("init", "RSS of a created init", "MB", (None, None, 1.0)),
    ("percreated", "memory per created container", "MB", (0.8, None, None)),
    ("list", "list, N created", "ms", (0.5, None, None)),
    ("syscalls", "syscalls in one run", "", (None, None, 600)),
    ("binary", "binary (+ shared libs)", "MB", (None, None, None)),
]


def scale(figure, unit, value):
    if figure in ("rss", "memcg", "init", "percreated"):
        return value / KB  # KiB -> MB (MiB)
    if figure == "binary":
        return value / (KB * KB)
    if unit == "ms":
        return value / 1e6
    if unit == "s":
        return value / 1e9
    return value


def fmt(figure, unit, values):
    if not values:
        return "-"
    v = scale(figure, unit, statistics.median(values))
    return f"{v:.0f}" if figure == "syscalls" else f"{v:.2f}" if unit in ("MB", "s") else f"{v:.1f}"


def target_text(target, containers):
    crun, floor, absolute = target
    parts = []
    if crun is not None:
        parts.append(f"<= {crun}x crun")
    if floor is not None:
        parts.append(f"<= {floor}x floor")
    if absolute is not None:
        parts.append(f"<= {absolute}")
    return " and ".join(parts) or "as small as the features allow"


def report(all_rts, samples, opts, elapsed, notes, cmdline):
    med = {name: {f: statistics.median(v) for f, v in s.items() if v} for name, s in samples.items()}
    names = list(samples)
    uname = platform.uname()
    cpu = next((l.split(":", 1)[1].strip() for l in read("/proc/cpuinfo").splitlines()
                if l.startswith("model name")), "?")
    print()
    print(f"command:  {cmdline}")
    print(f"machine:  {os.cpu_count()} CPUs, {cpu}, kernel {uname.release}")
    width = max(9, *(len(n) + 1 for n in names))
    for rt in all_rts:
        print(f"{rt.name + ':':{width}} {rt.binary}  ({version(rt.binary)})")
    for note in notes:
        print(f"note:     {note}")
    print(f"rounds:   {opts.n} of run/idle/cycle, {opts.x100} of 100 x run, {opts.small} of the memory "
          f"figures and of list, N = {opts.containers} created containers; {elapsed:.0f} s in all")
    print()
    header = ["figure (median)", *names, "scrun/crun", "scrun/floor", "target", "result"]
    rows = [header]
    verdicts = []
    for figure, label, unit, target in ROWS:
        label = label.replace("N created", f"{opts.containers} created") + (f" ({unit})" if unit else "")
        cells = [label] + [fmt(figure, unit, samples[n].get(figure)) for n in names]
        s = med.get("scrun", {}).get(figure)
        c = med.get("crun", {}).get(figure)
        fl = med.get("floor-oci", {}).get(figure)
        rc = s / c if s is not None and c else None
        rf = s / fl if s is not None and fl else None
        cells += [f"{rc:.2f}" if rc is not None else "-", f"{rf:.2f}" if rf is not None else "-"]
        tc, tf, ta = target
        checks = []
        if tc is not None:
            checks.append(rc is not None and rc <= tc if rc is not None else None)
        if tf is not None:
            checks.append(rf <= tf if rf is not None else None)
        if ta is not None:
            checks.append(scale(figure, unit, s) <= ta if s is not None else None)
        if not checks:
            verdict = "-"
        elif any(c is False for c in checks):
            verdict = "FAIL"
        elif any(c is None for c in checks):
            verdict = "?"
        else:
            verdict = "PASS"
        verdicts.append(verdict)
        cells += [target_text(target, opts.containers), verdict]
        rows.append(cells)
    widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
    for k, row in enumerate(rows):
        print("  ".join(cell.ljust(w) if c in (0, len(header) - 2, len(header) - 1) else cell.rjust(w)
                        for c, (cell, w) in enumerate(zip(row, widths))).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))
    print()
    for rt in all_rts:
        if getattr(rt, "binary_size", None):
            size, libs = rt.binary_size
            print(f"binary of {rt.name}: {size / KB / KB:.2f} MB" + (f" + {libs / KB / KB:.2f} MB shared libs" if libs else " static"))
    print("run, idle, cycle, list: wall time of the runtime command(s); 100 x run: the 100 runs in a row;\n"
          "peak RSS: GNU time %M of `run`; memory cgroup peak: charged to a fresh memory cgroup the `run`\n"
          "command starts in; created init: VmRSS; per created container: PSS of N created inits / N;\n"
          "syscalls: strace -f -c of one `run`; MB are MiB. scrun/crun and scrun/floor: ratios of medians;\n"
          "a column from another rotation was measured separately (see rotations).")
    return verdicts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20, help="rounds of run, idle run and cycle")
    ap.add_argument("--x100", type=int, default=3, help="rounds of 100 x run")
    ap.add_argument("--small", type=int, default=5, help="rounds of the memory figures and of list")
    ap.add_argument("--containers", type=int, default=100, help="N: containers created at once")
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--true-bundle", required=True)
    ap.add_argument("--rotation", action="append", default=[],
                    help="NAME=PATH[,NAME=PATH...]: runtimes measured interleaved (repeatable)")
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--state", required=True, help="where each runtime's state root is made (--root)")
    ap.add_argument("--prefix", required=True, help="prefix of every container id and cgroup")
    ap.add_argument("--cmdline", default=" ".join(sys.argv))
    ap.add_argument("--note", action="append", default=[])
    ap.add_argument("--json", help="write the samples to this file instead of a table")
    ap.add_argument("--merge", action="append", default=[], help="a --json file whose columns to add")
    opts = ap.parse_args()
    for what in ("n", "x100", "small", "containers"):
        if getattr(opts, what) < 1:
            die(f"--{what} must be at least 1")
    opts.bundle = os.path.abspath(opts.bundle)
    opts.true_bundle = os.path.abspath(opts.true_bundle)

    # Ctrl-C and SIGTERM end the run through the cleanup below, even where the shell started
    # this process with SIGINT ignored (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        die(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")

    rotations, seen = [], set()
    for spec in opts.rotation:
        rotation = []
        for item in spec.split(","):
            name, found, binary = item.partition("=")
            if not (found and name and binary):
                die(f"--rotation wants NAME=PATH[,NAME=PATH...], got {item!r}")
            if name in seen:
                die(f"runtime {name} given twice")
            seen.add(name)
            if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
                die(f"{name}: {binary} is not an executable file")
            rotation.append(Runtime(name, os.path.abspath(binary), opts.tmp, opts))
        rotations.append(rotation)
    all_rts = [rt for r in rotations for rt in r]

    tty = sys.stderr.isatty()

    def progress(what):
        if tty:
            print(f"\rbench: {what}".ljust(79), end="", file=sys.stderr, flush=True)

    start = time.monotonic()
    opts.memcg = None
    problems = []
    try:
        opts.memcg = Memcg(opts.prefix)
        if not opts.memcg.parent:
            opts.memcg = None
        for rotation in rotations:
            measure(rotation, opts, progress)
        if tty:
            print("", file=sys.stderr)
    finally:
        for rt in all_rts:
            left = rt.cleanup()
            if left:
                problems.append(f"{rt.name} left containers behind (force-deleted): {' '.join(left)}")
            shutil.rmtree(rt.root, ignore_errors=True)
        reap_orphans()
        if opts.memcg:
            opts.memcg.remove()
        removed, remaining = remove_cgroups(opts.prefix)
        if removed:
            problems.append("runtimes left cgroups behind (removed): " + " ".join(removed))
        if remaining:
            problems.append("could not remove cgroups: " + " ".join(remaining))
    elapsed = time.monotonic() - start

    samples = {rt.name: rt.samples for rt in all_rts}
    notes = list(opts.note)
    if opts.memcg:
        notes.append(f"memory cgroup peak from {opts.memcg.kind}")
    notes.append("rotation: " + "; rotation: ".join(", ".join(rt.name for rt in r) for r in rotations))
    failed = [rt for rt in all_rts if rt.failures]
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"samples": samples, "notes": notes, "elapsed": elapsed,
                       "runtimes": [[rt.name, rt.binary] for rt in all_rts],
                       "failures": {rt.name: rt.failures for rt in failed}, "problems": problems}, f)
    else:
        for path in opts.merge:
            with open(path) as f:
                other = json.load(f)
            samples.update(other["samples"])
            notes += other["notes"]
            elapsed += other["elapsed"]
            for name, binary in other["runtimes"]:
                rt = Runtime(name, binary, opts.tmp, opts)
                rt.failures = other["failures"].get(name, [])
                all_rts.append(rt)
                if rt.failures:
                    failed.append(rt)
            problems += other["problems"]
        report(all_rts, samples, opts, elapsed, notes, opts.cmdline)
    sys.stdout.flush()
    for rt in failed:
        print(f"\n{rt.name}: {len(rt.failures)} failure(s); first: {rt.failures[0]}", file=sys.stderr)
    for p in problems:
        print(f"bench: {p}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\nbench: interrupted (containers and cgroups of this run were cleaned up)", file=sys.stderr)
        sys.exit(130)
