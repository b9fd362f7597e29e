#!/usr/bin/env bash
# Regenerates hack/symbol-order.txt, the functions a start runs, which build.rs has the linker lay
# out first and together (fewer 64 KiB fault-around windows of .text mapped by each start).
#   hack/symbol-order.sh [ROUNDS]
# Builds scrun with its symbols (strip=debuginfo, in target/symbol-order), runs ROUNDS (200) times
# run, create, state, start, list and delete of the hello bundle, twice: under `perf record -F 49000`
# (the functions that run long enough to be sampled) and recording every page fault (the functions
# that faulted in a page of .text: short ones sampling misses), and lists, in address order, every
# function a sample fell in. A function neither caught only keeps its place in the rest of .text;
# a stale list only costs speed (build.rs). Each run replaces the list: check the result with the
# peak RSS of a run (bench.sh); the union of a list with one regenerated on a build ordered by it
# measured worse (3.58 MB against 3.33 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-200}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "usage: hack/symbol-order.sh [ROUNDS]" >&2; exit 2; }
command -v perf >/dev/null || { echo "symbol-order.sh: needs perf" >&2; exit 1; }
CARGO_PROFILE_RELEASE_STRIP=debuginfo cargo build --release --target-dir target/symbol-order
bin=$PWD/target/symbol-order/x86_64-unknown-linux-gnu/release/scrun
tmp=$(mktemp -d /tmp/scrun-order.XXXXXX)
trap 'for c in $(ls "$tmp/root" 2>/dev/null); do "$bin" --root "$tmp/root" delete --force "$c" || true; done; rm -rf "$tmp"' EXIT
hack/hello-bundle.sh "$bin" "$tmp/bundle" >/dev/null
mkdir "$tmp/root"
cat >"$tmp/loop.sh" <<LOOP
for i in \$(seq $rounds); do
    "$bin" --root "$tmp/root" run --bundle "$tmp/bundle" r\$i >/dev/null
    "$bin" --root "$tmp/root" create --bundle "$tmp/bundle" c\$i
    "$bin" --root "$tmp/root" state c\$i >/dev/null
    "$bin" --root "$tmp/root" start c\$i
    "$bin" --root "$tmp/root" list >/dev/null
    "$bin" --root "$tmp/root" delete --force c\$i
done
LOOP
env -u RUST_BACKTRACE perf record -q -F 49000 -o "$tmp/cpu.data" -- bash "$tmp/loop.sh" >/dev/null
env -u RUST_BACKTRACE perf record -q -e page-faults -c 1 -d -o "$tmp/faults.data" -- bash "$tmp/loop.sh" >/dev/null
{
    perf script -i "$tmp/cpu.data" --show-mmap-events -F pid,ip
    perf script -i "$tmp/faults.data" --show-mmap-events -F pid,addr
} >"$tmp/samples"
python3 - "$bin" "$tmp/samples" hack/symbol-order.txt <<'PY'
import bisect, os, re, subprocess, sys
binary, samples, out = sys.argv[1:4]
def run(*argv):
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout
seg = next(l.split() for l in run("readelf", "-lW", binary).splitlines() if "LOAD" in l and " R E " in l)
delta = int(seg[2], 16) - int(seg[1], 16)  # vaddr - file offset of .text's segment
funcs = {}
for line in run("nm", "-S", "--defined-only", binary).splitlines():
    p = line.split()
    if len(p) == 4 and p[2] in "tTwW" and int(p[1], 16) > 0:
        funcs.setdefault(int(p[0], 16), (int(p[1], 16), p[3]))
addrs = sorted(funcs)
inode = str(os.stat(binary).st_ino)  # the re-executed scrun maps it from a detached mount: same inode
mmap = re.compile(r"\s(\d+)/\d+: \[0x([0-9a-f]+)\(0x([0-9a-f]+)\) @ 0x([0-9a-f]+) \S+ (\d+) \d+\]: r-xp")
text, hit = {}, set()
for line in open(samples):
    if "PERF_RECORD_MMAP2" in line:
        m = mmap.search(line)
        if m and m.group(5) == inode:
            text[int(m.group(1))] = (int(m.group(2), 16), int(m.group(3), 16), int(m.group(4), 16))
        continue
    p = line.split()
    if len(p) != 2 or int(p[0]) not in text:
        continue
    start, size, offset = text[int(p[0])]
    ip = int(p[1], 16)
    if start <= ip < start + size:
        v = ip - start + offset + delta
        i = bisect.bisect_right(addrs, v) - 1
        if i >= 0 and v < addrs[i] + funcs[addrs[i]][0]:
            hit.add(addrs[i])
with open(out, "w") as f:
    f.writelines(funcs[a][1] + "\n" for a in sorted(hit))
print(f"symbol-order.sh: {len(hit)} functions, {sum(funcs[a][0] for a in hit)} bytes -> {out}", file=sys.stderr)
PY
