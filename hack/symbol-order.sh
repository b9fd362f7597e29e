#!/usr/bin/env bash
# Regenerates hack/symbol-order.txt, the functions a start runs, which build.rs has the linker lay
# out first and together (fewer 64 KiB fault-around windows of .text mapped by each start).
#   hack/symbol-order.sh
# Links the release binary itself with a linker map (SCRUN_LINK_MAP, build.rs): a build with
# symbols is another profile, whose crate hashes, part of every Rust function's name, differ, so
# its names would not match the release binary's. Puts a uprobe on every function of the map, runs
# run, create, state, start, list, kill, delete and --version of the hello bundle once, and lists
# every function that ran, in the order each first ran. Sampling (the way of the first list) missed
# what ran briefly, and a page-fault profile only sees one function a mapped 64 KiB window. glibc's
# IFUNC variants (the CPU picks one of each), its IFUNC resolvers and its allocator are not probed
# (a uprobe among them crashed the process): the resolvers, which every start runs, are listed
# first, the allocator last, the variants keep their place. Names LTO numbered (`name.123`) match
# the next build of the same source; a stale name only costs its function's place (build.rs).
# About 10 minutes, most of them the kernel's removal of the probes.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v readelf >/dev/null || { echo "symbol-order.sh: needs readelf" >&2; exit 1; }
tracing=/sys/kernel/tracing
[[ -w $tracing/uprobe_events ]] || { echo "symbol-order.sh: needs root and $tracing" >&2; exit 1; }
tmp=$(mktemp -d /tmp/scrun-order.XXXXXX)
bin=$PWD/target/x86_64-unknown-linux-gnu/release/scrun
# The trace buffer is grown for the run and given back its size at the end. Before its first
# use the kernel reads it as "7 (expanded: 1408)": the size it will have is the second number.
buffer_kb=$(sed -E 's/.*expanded: ([0-9]+)\).*/\1/' "$tracing/buffer_size_kb")
cleanup() {
    echo 0 >"$tracing/events/scrunorder/enable" 2>/dev/null || true
    echo "$buffer_kb" >"$tracing/buffer_size_kb" || true
    grep -v '^p:scrunorder/' "$tracing/uprobe_events" >"$tmp/others" || true
    : >"$tracing/uprobe_events"
    while read -r probe; do echo "$probe" >>"$tracing/uprobe_events"; done <"$tmp/others"
    for c in $(ls "$tmp/root" 2>/dev/null); do "$bin" --root "$tmp/root" delete --force "$c" || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
SCRUN_LINK_MAP=$tmp/scrun.map cargo build --release
hack/hello-bundle.sh "$bin" "$tmp/bundle" >/dev/null
mkdir "$tmp/root"
python3 - "$tmp/scrun.map" "$bin" "$tracing/uprobe_events" "$tmp/probes" <<'PY'
import os, re, subprocess, sys
mapfile, binary, events, probes = sys.argv[1:5]
seg = next(l.split() for l in subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True, check=True).stdout.splitlines() if "LOAD" in l and " R E " in l)
off, vaddr, size = int(seg[1], 16), int(seg[2], 16), int(seg[4], 16)
funcs = {}
for line in open(mapfile):
    p = line.split()  # a symbol's line: VMA LMA SIZE ALIGN NAME
    if len(p) == 5 and ":(" not in p[4] and not p[4].startswith("."):
        a = int(p[0], 16)
        if vaddr <= a < vaddr + size and int(p[2], 16) > 0:
            funcs.setdefault(a, p[4])
variant = re.compile(r"avx|evex|sse\d|ssse3|erms|_rtm$|_unaligned|_aligned")
unprobed = re.compile(r"_ifunc$|alloc|free|_int_|perturb|consolidate|unlink_chunk|tcache")
fd = os.open(events, os.O_WRONLY | os.O_APPEND)
with open(probes, "w") as out:
    for i, (a, name) in enumerate(sorted(funcs.items())):
        if name.startswith("_R"):
            pass
        elif variant.search(name):
            continue  # one of a dozen variants, which this CPU picks at start: left where it is
        elif unprobed.search(name):
            out.write(f"- {name}\n")
            continue
        try:
            os.write(fd, f"p:scrunorder/f{i} {binary}:0x{a - vaddr + off:x}\n".encode())
            out.write(f"f{i} {name}\n")
        except OSError:
            pass
PY
echo 131072 >"$tracing/buffer_size_kb"
: >"$tracing/trace"
echo 1 >"$tracing/events/scrunorder/enable"
(
    cd "$tmp/bundle"
    "$bin" --root "$tmp/root" run r >/dev/null
    "$bin" --root "$tmp/root" create c
    "$bin" --root "$tmp/root" state c >/dev/null
    "$bin" --root "$tmp/root" start c
    "$bin" --root "$tmp/root" list >/dev/null
    "$bin" --root "$tmp/root" kill c KILL 2>/dev/null || true # it may have exited already
    "$bin" --root "$tmp/root" delete --force c
    "$bin" --version >/dev/null
)
echo 0 >"$tracing/events/scrunorder/enable"
grep -o ' f[0-9]*: ' "$tracing/trace" | tr -d ' :' >"$tmp/hits"
python3 - "$tmp/probes" "$tmp/hits" hack/symbol-order.txt <<'PY'
import sys
probes, hits, out = sys.argv[1:4]
names, unprobed = {}, []
for line in open(probes):
    key, name = line.split()
    if key == "-":
        unprobed.append(name)
    else:
        names[key] = name
order, seen = [], set()
for key in open(hits).read().split():
    if key not in seen:
        seen.add(key)
        order.append(names[key])
# The IFUNC resolvers run first of all, at every start (glibc's static start-up calls each).
order = [n for n in unprobed if n.endswith("_ifunc")] + order + [n for n in unprobed if not n.endswith("_ifunc")]
with open(out, "w") as f:
    f.writelines(n + "\n" for n in order)
print(f"symbol-order.sh: {len(seen)} functions ran, {len(order)} listed -> {out}", file=sys.stderr)
PY
