#!/usr/bin/env python3
"""Benchmark driver for hack/bench.sh (not a test).

Runs the runtimes it is given (--runtime NAME=PATH: hack/bench.sh passes scrun,
scrun-sealed, runc, crun and any others) round-robin on one bundle and reports, per runtime:
  * `run`: wall time of `RT run` (create + start + wait + delete in one command),
  * cycle: wall time of `RT create` -> `RT start` -> wait for the container's
    process to exit (pidfd + waitpid: this process is a child subreaper, so the
    orphaned container process is reparented to it) -> `RT delete`,
  * peak RSS: the largest GNU time %M (ru_maxrss: the high-water RSS of the
    runtime command's process tree), from a few extra untimed rounds.
and the ratios of medians asked for with --ratio A/B.
Every container is deleted; the cgroups the runtimes made are checked for and
removed at the end.
"""

import argparse
import ctypes
import os
import platform
import select
import statistics
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
TIME = "/usr/bin/time"  # GNU time, for peak RSS
RSS_ROUNDS = 5  # extra, untimed rounds through GNU time
CGROUP_ROOT = "/sys/fs/cgroup"


def die(msg):
    print(f"bench.py: error: {msg}", file=sys.stderr)
    sys.exit(1)


class Failure(Exception):
    pass


class Runtime:
    def __init__(self, name, binary, root, bundle, tmp):
        self.name = name
        self.binary = binary
        self.root = root
        self.bundle = bundle
        self.errfile = os.path.join(tmp, f"{name}.stderr")
        self.pidfile = os.path.join(tmp, f"{name}.pid")
        self.rssfile = os.path.join(tmp, f"{name}.rss")
        self.run_ms, self.cycle_ms = [], []
        self.run_rss_kb, self.cycle_rss_kb = [], []
        self.failures = []

    def spawn(self, *args, stdout=os.devnull, rss=False):
        """Runs `binary --root R args...`; returns (exit status, wall ns, peak RSS KiB or None).

        Timed spawns exec the runtime straight from here (posix_spawn). Their
        ru_maxrss would include this Python process's RSS (a vfork child's
        exec records the parent's mm high-water mark), so peak RSS comes from
        separate spawns through GNU time (%M), a small C program.
        """
        argv = [self.binary, "--root", self.root, *args]
        if rss:
            argv = [TIME, "-f", "%M", "-o", self.rssfile, *argv]
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
            (os.POSIX_SPAWN_OPEN, 2, self.errfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        ]
        t0 = time.perf_counter_ns()
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
        _, status, _ = os.wait4(pid, 0)
        wall = time.perf_counter_ns() - t0
        kb = None
        if rss:
            with open(self.rssfile) as f:
                kb = int(f.read().split()[-1])
        return os.waitstatus_to_exitcode(status), wall, kb

    def check(self, what, code):
        if code != 0:
            try:
                with open(self.errfile) as f:
                    err = f.read().strip()
            except OSError:
                err = ""
            raise Failure(f"{self.name} {what} exited with {code}: {err or '(no stderr)'}")

    def run(self, cid, stdout=os.devnull, rss=False):
        code, wall, kb = self.spawn("run", "--bundle", self.bundle, cid, stdout=stdout, rss=rss)
        self.check("run", code)
        return wall, kb

    def cycle(self, cid, rss=False):
        try:
            os.unlink(self.pidfile)
        except FileNotFoundError:
            pass
        t0 = time.perf_counter_ns()
        code, _, rss_create = self.spawn("create", "--bundle", self.bundle, "--pid-file", self.pidfile, cid, rss=rss)
        self.check("create", code)
        with open(self.pidfile) as f:
            pid = int(f.read().strip())
        pidfd = os.pidfd_open(pid)
        try:
            code, _, rss_start = self.spawn("start", cid, rss=rss)
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
        code, _, rss_delete = self.spawn("delete", cid, rss=rss)
        self.check("delete", code)
        wall = time.perf_counter_ns() - t0
        return wall, (max(rss_create, rss_start, rss_delete) if rss else None)

    def leftovers(self):
        out = subprocess.run([self.binary, "--root", self.root, "list", "-q"],
                             capture_output=True, text=True)
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
        for _ in range(50):
            try:
                os.rmdir(path)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)  # the last task may still be leaving it
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


def fmt_ms(ns_list):
    if not ns_list:
        return "-"
    return f"{statistics.median(ns_list) / 1e6:.1f}"


def fmt_range(ns_list):
    if not ns_list:
        return "-"
    return f"{min(ns_list) / 1e6:.1f}-{max(ns_list) / 1e6:.1f}"


def fmt_mb(kb_list):
    return f"{max(kb_list) / 1024:.1f}" if kb_list else "-"


def ratio(a, b):
    """The ratio of the medians of a and b, and their difference in ms."""
    if not a or not b:
        return "-"
    ma, mb = statistics.median(a), statistics.median(b)
    return f"{ma / mb:.2f} ({(ma - mb) / 1e6:+.1f} ms)"


def name_value(sep, what):
    """An argparse type: 'A<sep>B' -> (A, B), both non-empty."""
    def parse(text):
        a, found, b = text.partition(sep)
        if not (found and a and b):
            raise argparse.ArgumentTypeError(f"{what} wants A{sep}B, got {text!r}")
        return a, b
    return parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--runtime", action="append", required=True, type=name_value("=", "--runtime"),
                    help="NAME=PATH, in the order of the rows (repeatable)")
    ap.add_argument("--ratio", action="append", default=[], type=name_value("/", "--ratio"),
                    help="A/B: print the ratios of A's medians to B's (repeatable)")
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--prefix", required=True, help="prefix of every container id")
    ap.add_argument("--cmdline", default=" ".join(sys.argv))
    ap.add_argument("--note", action="append", default=[])
    args = ap.parse_args()
    if args.n < 1:
        die("-n must be at least 1")

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        die(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")

    bundle = os.path.abspath(args.bundle)
    names = [name for name, _ in args.runtime]
    if len(set(names)) != len(names):
        die(f"a runtime name is given twice: {' '.join(names)}")
    for pair in args.ratio:
        if not set(pair) <= set(names):
            die(f"--ratio {'/'.join(pair)}: no runtime of that name")
    runtimes = []
    for name, binary in args.runtime:
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            die(f"{name}: {binary} is not an executable file")
        binary = os.path.abspath(binary)
        root = os.path.join(args.tmp, f"{name}-root")
        os.makedirs(root, exist_ok=True)
        runtimes.append(Runtime(name, binary, root, bundle, args.tmp))

    expected = b"Hello from a FROM-scratch container!\n"
    total_start = time.monotonic()
    try:
        # Warm-up: one run each (page cache, binaries), checking the output.
        active = []
        for rt in runtimes:
            out = os.path.join(args.tmp, f"{rt.name}.stdout")
            try:
                rt.run(f"{args.prefix}-{rt.name}-warmup", stdout=out)
                with open(out, "rb") as f:
                    got = f.read()
                if got != expected:
                    raise Failure(f"{rt.name} run printed {got!r}, expected {expected!r}")
                rt.cycle(f"{args.prefix}-{rt.name}-warmupcycle")
                active.append(rt)
            except Failure as e:
                rt.failures.append(f"warm-up failed, so {rt.name} was left out: {e}")
                rt.cleanup()

        tty = sys.stderr.isatty()
        rss_rounds = min(args.n, RSS_ROUNDS)
        for i in range(args.n + rss_rounds):
            rss = i >= args.n  # the last rounds only measure peak RSS
            for kind in ("run", "cycle"):
                for rt in active:
                    try:
                        wall, kb = getattr(rt, kind)(f"{args.prefix}-{rt.name}-{kind}{i}", rss=rss)
                        if rss:
                            getattr(rt, f"{kind}_rss_kb").append(kb)
                        else:
                            getattr(rt, f"{kind}_ms").append(wall)
                    except Failure as e:
                        rt.failures.append(str(e))
                        rt.cleanup()
            reap_orphans()
            if tty:
                what = f"{i + 1}/{args.n} timed rounds" if not rss else f"{i + 1 - args.n}/{rss_rounds} RSS rounds"
                print(f"\rbench: {what}   ", end="", file=sys.stderr, flush=True)
        if tty:
            print("", file=sys.stderr)
    finally:
        problems = []
        for rt in runtimes:
            left = rt.cleanup()
            if left:
                problems.append(f"{rt.name} left containers behind (force-deleted): {' '.join(left)}")
        reap_orphans()
        removed, remaining = remove_cgroups(args.prefix)
        if removed:
            problems.append("runtimes left cgroups behind (removed): " + " ".join(removed))
        if remaining:
            problems.append("could not remove cgroups: " + " ".join(remaining))
    elapsed = time.monotonic() - total_start

    # Report.
    uname = platform.uname()
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    except OSError:
        pass
    print()
    print(f"command:  {args.cmdline}")
    print(f"machine:  {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu}, "
          f"kernel {uname.release}, {platform.freedesktop_os_release().get('PRETTY_NAME', '?') if hasattr(platform, 'freedesktop_os_release') else '?'}")
    width = max(9, *(len(rt.name) + 1 for rt in runtimes))  # 9: "command: " and the like
    for rt in runtimes:
        print(f"{rt.name + ':':{width}} {rt.binary}  ({version(rt.binary)})")
    print(f"bundle:   {bundle} (static hello, terminal false, output to /dev/null)")
    for note in args.note:
        print(f"note:     {note}")
    print(f"rounds:   {args.n} per runtime and measurement, round-robin "
          f"({', '.join(r.name for r in runtimes)}), after 1 warm-up each,\n"
          f"          then {min(args.n, RSS_ROUNDS)} untimed rounds through GNU time for peak RSS; {elapsed:.0f} s in all")
    print()
    header = ("runtime", "run ms", "(min-max)", "cycle ms", "(min-max)", "peak RSS run", "peak RSS cycle")
    rows = [header]
    for rt in runtimes:
        rows.append((rt.name, fmt_ms(rt.run_ms), fmt_range(rt.run_ms), fmt_ms(rt.cycle_ms),
                     fmt_range(rt.cycle_ms), fmt_mb(rt.run_rss_kb) + " MB", fmt_mb(rt.cycle_rss_kb) + " MB"))
    widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
    for k, row in enumerate(rows):
        print("  ".join(cell.ljust(w) if c == 0 else cell.rjust(w) for c, (cell, w) in enumerate(zip(row, widths))))
        if k == 0:
            print("  ".join("-" * w for w in widths))
    by = {rt.name: rt for rt in runtimes}
    print()
    width = max((len(a) + len(b) + 1 for a, b in args.ratio), default=0)
    for a, b in args.ratio:
        x, y = by[a], by[b]
        rss = (f"{max(x.run_rss_kb) / max(y.run_rss_kb):.2f}"
               if x.run_rss_kb and y.run_rss_kb else "-")
        print(f"{a + '/' + b + ':':{width + 1}} run {ratio(x.run_ms, y.run_ms)}, "
              f"cycle {ratio(x.cycle_ms, y.cycle_ms)}, peak RSS (run) {rss}")
    if args.ratio:
        print("(ratios of medians, and their difference; < 1 means the first is faster/smaller)")
    print()
    print("run = `RT run` wall time; cycle = create, start, wait for exit, delete;"
          " ms are medians;\npeak RSS = largest GNU time %M (ru_maxrss of the runtime command's process tree; for the cycle,\nthe largest of create, start and delete)")

    sys.stdout.flush()
    failed = False
    for rt in runtimes:
        if rt.failures:
            failed = True
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
