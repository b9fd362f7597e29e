#!/usr/bin/env bash
# Benchmark (not a test): scrun vs runc vs crun on a FROM-scratch hello bundle.
# Measures `run` and the create -> start -> wait -> delete cycle, N times each,
# round-robin over every runtime, and prints medians, ratios and peak RSS. Run as root.
#
#   hack/bench.sh [-n N] [--compare NAME=PATH]... [--floor PATH]
#
# Rows: scrun (the release binary installed read-only as hack/install.sh does, but into
# this run's temp dir: no re-exec), scrun-sealed (the same binary run from target/, a
# writable mount: it re-executes from a read-only view of itself at each create and run),
# runc, crun; then each --compare binary (e.g. a build of an older commit), run from where
# it is; then, with --floor, the perf-floor program (../shared/perf-floor, built with
# `gcc -O2 -static -o floor floor.c`) invoked as floor-oci.
# N rounds (default 30).
set -euo pipefail
cd "$(dirname "$0")/.."

cmdline="hack/bench.sh${*:+ $*}"
n=30
compare=()
floor=
usage() { echo "usage: hack/bench.sh [-n ROUNDS] [--compare NAME=PATH]... [--floor PATH]" >&2; exit 2; }
while (($#)); do
    case $1 in
        -n) (($# >= 2)) || usage; n=$2; shift 2 ;;
        --compare) (($# >= 2)) || usage; compare+=("$2"); shift 2 ;;
        --floor) (($# >= 2)) || usage; floor=$2; shift 2 ;;
        *) usage ;;
    esac
done
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: -n wants a positive number, got '$n'" >&2; exit 2; }
runtimes=()
ratios=(scrun/runc scrun/crun scrun-sealed/scrun)
for c in "${compare[@]}"; do
    name=${c%%=*} path=${c#*=}
    [[ $c == *=* && $name =~ ^[A-Za-z0-9._-]+$ ]] \
        || { echo "bench.sh: --compare wants NAME=PATH (NAME of letters, digits, . _ -), got '$c'" >&2; exit 2; }
    case $name in
        scrun | scrun-sealed | runc | crun | floor-oci) echo "bench.sh: --compare name '$name' is taken by a built-in row" >&2; exit 2 ;;
    esac
    [[ " ${runtimes[*]} " != *" $name="* ]] || { echo "bench.sh: --compare name '$name' given twice" >&2; exit 2; }
    [[ -f $path && -x $path ]] || { echo "bench.sh: --compare $name: $path is not an executable file" >&2; exit 2; }
    runtimes+=("$name=$(realpath -s "$path")")
    ratios+=("scrun/$name")
done
if [[ -n $floor ]]; then
    [[ -f $floor && -x $floor ]] || { echo "bench.sh: --floor: $floor is not an executable file" >&2; exit 2; }
    floor=$(realpath -s "$floor")
    ratios+=(scrun/floor-oci)
fi
[[ $(id -u) -eq 0 ]] || { echo "bench.sh: run as root (containers need it)" >&2; exit 1; }

hack/setup.sh

prefix="scrunbench-$$"
tmp=$(mktemp -d /tmp/scrun-bench.XXXXXX)
hugetlb_mounted=false
hugetlb_made_dir=false
hugetlb_on_v2() { grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; }
# Unmounts our hugetlb v1 mount and waits until the controller is back on
# cgroup2. A v1 hierarchy that still has (even dying) child cgroups when it is
# unmounted outlives the umount; mounting and unmounting it again once they are
# gone releases it.
release_hugetlb() {
    local try
    for try in 1 2 3 4 5 6 7 8 9 10; do
        umount /sys/fs/cgroup/hugetlb || return 1
        for _ in 1 2 3 4 5; do
            hugetlb_on_v2 && return 0
            sleep 0.1
        done
        ((try < 10)) || break
        mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb || return 1
        sleep 0.2
    done
    return 1
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if $hugetlb_mounted; then
        # Cgroups of our containers must be gone, or the v1 hierarchy outlives the umount.
        # The hierarchy exists only for this run, so every cgroup in it is the run's (scrun's
        # default parent /scrun included).
        find /sys/fs/cgroup/hugetlb -depth -mindepth 1 -type d -exec rmdir {} + 2>/dev/null || true
        release_hugetlb || echo "bench.sh: warning: could not give hugetlb back to cgroup2 (see /proc/cgroups)" >&2
    fi
    if $hugetlb_made_dir; then
        rmdir /sys/fs/cgroup/hugetlb || echo "bench.sh: could not rmdir /sys/fs/cgroup/hugetlb" >&2
    fi
    if mountpoint -q "$tmp/install/lib/scrun" && ! umount "$tmp/install/lib/scrun"; then
        echo "bench.sh: could not unmount $tmp/install/lib/scrun; left $tmp in place" >&2
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The zero-cost install, private to this run (builds target/ first if needed); the EXIT trap
# unmounts it.
hack/install.sh --prefix "$tmp/install" -q
scrun=target/x86_64-unknown-linux-gnu/release/scrun  # what hack/install.sh installed
runtimes=("scrun=$tmp/install/bin/scrun" "scrun-sealed=$(realpath "$scrun")"
    "runc=$(command -v runc)" "crun=$(command -v crun)" "${runtimes[@]}")
notes=("scrun runs from a read-only bind mount (as hack/install.sh installs it), scrun-sealed from target/")
if [[ -n $floor ]]; then
    # floor does what a default config obliges only when invoked by a name with "oci" in it.
    mkdir "$tmp/floor"
    ln -s "$floor" "$tmp/floor/floor-oci"
    runtimes+=("floor-oci=$tmp/floor/floor-oci")
fi

echo "bench.sh: making the bundle in target/bench/bundle"
bundle=target/bench/bundle
hack/hello-bundle.sh "$scrun" "$bundle"

# crun 1.8 refuses a hybrid cgroup host while a controller (here hugetlb) sits
# on cgroup2. If (and only if) it does, bind hugetlb to a v1 hierarchy for the
# bench; the EXIT trap undoes exactly that.
if ! crun --root "$tmp/crun-probe" run --bundle "$bundle" "$prefix-crunprobe" >/dev/null 2>"$tmp/crun-probe.err"; then
    crun --root "$tmp/crun-probe" delete --force "$prefix-crunprobe" >/dev/null 2>&1 || true
    if grep -q "hybrid mode" "$tmp/crun-probe.err" && [[ ! -e /sys/fs/cgroup/hugetlb ]] \
        && grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; then
        echo "bench.sh: crun refuses hybrid cgroups; mounting hugetlb as cgroup v1 at /sys/fs/cgroup/hugetlb for the bench"
        mkdir /sys/fs/cgroup/hugetlb
        hugetlb_made_dir=true
        mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
        hugetlb_mounted=true
        notes+=("hugetlb mounted as cgroup v1 for crun during the bench (undone afterwards)")
    else
        echo "bench.sh: crun does not work here: $(cat "$tmp/crun-probe.err")" >&2
        exit 1
    fi
fi

echo "bench.sh: $n rounds of run + cycle per runtime (takes a while)"
args=()
for r in "${runtimes[@]}"; do args+=(--runtime "$r"); done
for r in "${ratios[@]}"; do args+=(--ratio "$r"); done
for note in "${notes[@]}"; do args+=(--note "$note"); done
python3 hack/bench.py -n "$n" --bundle "$bundle" --tmp "$tmp" \
    --prefix "$prefix" --cmdline "$cmdline" "${args[@]}"
