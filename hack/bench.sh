#!/usr/bin/env bash
# Benchmark (not a test): scrun vs runc vs crun on a FROM-scratch hello bundle.
# Measures `run` and the create -> start -> wait -> delete cycle, N times each,
# round-robin, and prints medians, ratios and peak RSS. Run as root.
#
#   hack/bench.sh [-n N]     (N rounds, default 30)
set -euo pipefail
cd "$(dirname "$0")/.."

cmdline="hack/bench.sh${*:+ $*}"
n=30
usage() { echo "usage: hack/bench.sh [-n ROUNDS]" >&2; exit 2; }
while getopts ":n:h" opt; do
    case $opt in
        n) n=$OPTARG ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
(($# == 0)) || usage
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: -n wants a positive number, got '$n'" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "bench.sh: run as root (containers need it)" >&2; exit 1; }

hack/setup.sh

scrun=target/x86_64-unknown-linux-gnu/release/scrun  # .cargo/config.toml sets the target
if [[ ! -x $scrun ]] || [[ -n $(find src Cargo.toml Cargo.lock -newer "$scrun" -print -quit) ]]; then
    echo "bench.sh: building $scrun (cargo build --release)"
    cargo build --release --quiet
fi

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
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "bench.sh: making the bundle in target/bench/bundle"
bundle=target/bench/bundle
hack/hello-bundle.sh "$scrun" "$bundle"

# crun 1.8 refuses a hybrid cgroup host while a controller (here hugetlb) sits
# on cgroup2. If (and only if) it does, bind hugetlb to a v1 hierarchy for the
# bench; the EXIT trap undoes exactly that.
notes=()
if ! crun --root "$tmp/crun-probe" run --bundle "$bundle" "$prefix-crunprobe" >/dev/null 2>"$tmp/crun-probe.err"; then
    crun --root "$tmp/crun-probe" delete --force "$prefix-crunprobe" >/dev/null 2>&1 || true
    if grep -q "hybrid mode" "$tmp/crun-probe.err" && [[ ! -e /sys/fs/cgroup/hugetlb ]] \
        && grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; then
        echo "bench.sh: crun refuses hybrid cgroups; mounting hugetlb as cgroup v1 at /sys/fs/cgroup/hugetlb for the bench"
        mkdir /sys/fs/cgroup/hugetlb
        hugetlb_made_dir=true
        mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
        hugetlb_mounted=true
        notes+=(--note "hugetlb mounted as cgroup v1 for crun during the bench (undone afterwards)")
    else
        echo "bench.sh: crun does not work here: $(cat "$tmp/crun-probe.err")" >&2
        exit 1
    fi
fi

echo "bench.sh: $n rounds of run + cycle per runtime (takes a while)"
python3 hack/bench.py -n "$n" --bundle "$bundle" --scrun "$scrun" --tmp "$tmp" \
    --prefix "$prefix" --cmdline "$cmdline" "${notes[@]}"
