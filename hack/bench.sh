#!/usr/bin/env bash
# Benchmark (not a test): every figure of issue 13's table (run back to back, run after 250 ms
# idle, the create/start/wait/delete cycle, 100 x run, peak RSS, memory cgroup peak, RSS of a
# created init, memory per created container, list with N created, syscalls of a run, binary size)
# for scrun, crun and runc (and the perf floor with --floor), as medians with scrun's ratio to
# crun and to the floor and the issue's target, PASS or FAIL. Run as root.
#
#   hack/bench.sh [--quick] [-n N] [--containers N] [--compare NAME=PATH]... [--floor PATH]
#
# Rotations (runtimes measured interleaved, round-robin): scrun, crun and floor-oci (the headline
# ratios: a heavy runtime between their samples evicts what they need), and each --compare binary;
# then runc and scrun-sealed; then, first of all, scrun-v2: scrun on a simulated cgroup2-only host (a
# mount namespace with cgroup2 at /sys/fs/cgroup), with no v1 hierarchy to enter.
# scrun is the release binary installed read-only as hack/install.sh does, but into this run's
# temp dir (no re-exec); scrun-sealed the same binary run from target/ (a writable mount: it
# re-executes from a read-only view of itself); --compare binaries (e.g. a build of an older
# commit) are copied onto a read-only bind mount too; --floor (or FLOOR=PATH) is the perf-floor program
# (../shared/perf-floor: `gcc -O2 -static -o floor floor.c`), invoked as floor-oci.
# -n: rounds of the timed figures (default 20); --containers: N (default 100; the README's
# figures use 1000); --quick: 5 rounds, one of 100 x run, N = 20.
set -euo pipefail
cd "$(dirname "$0")/.."

cmdline="${FLOOR:+FLOOR=$FLOOR }hack/bench.sh${*:+ $*}"
n=20
x100=3
small=5
containers=100
compare=()
floor=${FLOOR:-}
usage() {
    echo "usage: hack/bench.sh [--quick] [-n ROUNDS] [--containers N] [--compare NAME=PATH]... [--floor PATH]" >&2
    exit 2
}
while (($#)); do
    case $1 in
        --quick) n=5 x100=1 small=3 containers=20; shift ;;
        -n) (($# >= 2)) || usage; n=$2; shift 2 ;;
        --containers) (($# >= 2)) || usage; containers=$2; shift 2 ;;
        --compare) (($# >= 2)) || usage; compare+=("$2"); shift 2 ;;
        --floor) (($# >= 2)) || usage; floor=$2; shift 2 ;;
        *) usage ;;
    esac
done
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: -n wants a positive number, got '$n'" >&2; exit 2; }
[[ $containers =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: --containers wants a positive number, got '$containers'" >&2; exit 2; }
others=()
for c in "${compare[@]}"; do
    name=${c%%=*} path=${c#*=}
    [[ $c == *=* && $name =~ ^[A-Za-z0-9._-]+$ ]] \
        || { echo "bench.sh: --compare wants NAME=PATH (NAME of letters, digits, . _ -), got '$c'" >&2; exit 2; }
    case $name in
        scrun | scrun-sealed | scrun-v2 | runc | crun | floor-oci) echo "bench.sh: --compare name '$name' is taken by a built-in row" >&2; exit 2 ;;
    esac
    [[ " ${others[*]} " != *" $name="* ]] || { echo "bench.sh: --compare name '$name' given twice" >&2; exit 2; }
    [[ -f $path && -x $path ]] || { echo "bench.sh: --compare $name: $path is not an executable file" >&2; exit 2; }
    others+=("$name=$(realpath -s "$path")")
done
if [[ -n $floor ]]; then
    [[ -f $floor && -x $floor ]] || { echo "bench.sh: --floor: $floor is not an executable file" >&2; exit 2; }
    floor=$(realpath -s "$floor")
fi
[[ $(id -u) -eq 0 ]] || { echo "bench.sh: run as root (containers need it)" >&2; exit 1; }

hack/setup.sh

prefix="scrunbench-$$"
tmp=$(mktemp -d /tmp/scrun-bench.XXXXXX)
# scrun-v2's runs turn controllers on along their cgroup's path, as on a cgroup2 host; on this
# hybrid host the cgroup2 root is the host's, so what they turned on there is turned off at exit
# (crun 1.8 refuses a hybrid host with hugetlb enabled on cgroup2).
v2root=/sys/fs/cgroup/unified/cgroup.subtree_control
v2root_before=$(cat "$v2root" 2>/dev/null || true)
v2dirs_before=$(ls /sys/fs/cgroup/unified 2>/dev/null || true)
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -w $v2root ]]; then
        local c d
        # The parent cgroups the runs made (empty now) first: a child with a controller on keeps
        # the root from turning it off.
        for d in /sys/fs/cgroup/unified/*/; do
            [[ $'\n'$v2dirs_before$'\n' == *$'\n'$(basename "$d")$'\n'* ]] \
                || find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
        done
        # A controller the root did not have on can be on below it only by these runs: off
        # again in cgroups that were there before (a "scrun" parent, say), then in the root.
        while read -r d; do
            for c in $(cat "$d/cgroup.subtree_control" 2>/dev/null); do
                [[ " $v2root_before " == *" $c "* ]] || echo "-$c" >"$d/cgroup.subtree_control" || true
            done
        done < <(find /sys/fs/cgroup/unified -mindepth 1 -depth -type d 2>/dev/null)
        for c in $(cat "$v2root"); do
            [[ " $v2root_before " == *" $c "* ]] || echo "-$c" >"$v2root" || true
        done
    fi
    local m left=
    for m in "$tmp/install/lib/scrun" "$tmp/compare" "$tmp/state"; do
        if mountpoint -q "$m" && ! umount "$m"; then
            echo "bench.sh: could not unmount $m; left $tmp in place" >&2
            left=1
        fi
    done
    [[ -n $left ]] || rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The zero-cost install, private to this run (builds target/ first if needed); the EXIT trap
# unmounts it.
hack/install.sh --prefix "$tmp/install" -q
scrun=target/x86_64-unknown-linux-gnu/release/scrun  # what hack/install.sh installed
headline="scrun=$tmp/install/bin/scrun,crun=$(command -v crun)"
second="runc=$(command -v runc),scrun-sealed=$(realpath "$scrun")"
notes=("scrun runs from a read-only bind mount (as hack/install.sh installs it), scrun-sealed from target/")
# A --compare binary is a scrun build to set side by side with this one: copied onto a read-only
# bind mount as scrun is (no re-exec) and measured in the headline rotation, interleaved with it.
if ((${#others[@]})); then
    mkdir "$tmp/compare"
    for o in "${others[@]}"; do
        cp "${o#*=}" "$tmp/compare/${o%%=*}"
        headline+=",${o%%=*}=$tmp/compare/${o%%=*}"
    done
    mount --bind "$tmp/compare" "$tmp/compare"
    mount -o remount,bind,ro "$tmp/compare"
    notes+=("--compare binaries run from a read-only bind mount too, in the headline rotation")
fi
if [[ -n $floor ]]; then
    # floor does what a default config obliges only when invoked by a name with "oci" in it.
    mkdir "$tmp/floor"
    ln -s "$floor" "$tmp/floor/floor-oci"
    headline+=",floor-oci=$tmp/floor/floor-oci"
fi

echo "bench.sh: making the bundles in target/bench/bundle (static /hello) and target/bench/true (static /true)"
bundle=target/bench/bundle
true_bundle=target/bench/true
hack/hello-bundle.sh "$scrun" "$bundle"
rm -rf "$true_bundle"
mkdir -p "$true_bundle"
cp -a "$bundle/rootfs" "$true_bundle/"
printf 'int main(void) { return 0; }\n' | gcc -static -Os -s -x c -o "$true_bundle/rootfs/true" -
python3 - "$bundle/config.json" "$true_bundle/config.json" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    config = json.load(f)
config["process"]["args"] = ["/true"]
with open(sys.argv[2], "w") as f:
    json.dump(config, f, indent=2)
PY

# The state roots (--root) on a tmpfs of their own, as /run is, where runc, crun, scrun and the
# engines keep them: a state file costs what it does there, not an inode on /tmp's disk.
mkdir "$tmp/state"
mount -t tmpfs -o mode=700 scrun-bench-state "$tmp/state"
notes+=("every runtime's state root (--root) is on a tmpfs, as /run is")

bench=(python3 hack/bench.py -n "$n" --x100 "$x100" --small "$small" --containers "$containers"
    --bundle "$bundle" --true-bundle "$true_bundle" --tmp "$tmp" --state "$tmp/state" --prefix "$prefix")

# scrun as on a cgroup2-only host: a private mount namespace with cgroup2 at /sys/fs/cgroup, as
# tests/resources.rs simulates one. bench.py cleans up there what it made there.
echo "bench.sh: scrun on a simulated cgroup2-only host"
unshare --mount --propagation private sh -c \
    'umount -R -l /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup && exec "$0" "$@"' \
    "${bench[@]}" --rotation "scrun-v2=$tmp/install/bin/scrun" --json "$tmp/v2.json" \
    --note "scrun-v2: scrun on a simulated cgroup2-only host (cgroup2 mounted at /sys/fs/cgroup in a mount namespace), with no v1 hierarchy to enter" \
    || echo "bench.sh: warning: the cgroup2-only rotation failed (see above)" >&2

# crun 1.8 refuses a hybrid cgroup host while a controller (here hugetlb) sits on cgroup2. Rather
# than move hugetlb to a v1 hierarchy on the host (which other users of the host would see), the
# rotations then run in a private mount namespace whose /sys/fs/cgroup is a fresh tmpfs holding the
# host's v1 hierarchies alone: a cgroup v1 host, the same for every runtime. (Only unmounting
# /sys/fs/cgroup/unified would not do: crun then makes its "cgroups" as plain directories in the
# host's tmpfs.) bench.py cleans up there what it made there.
main_ns=()
if ! crun --root "$tmp/crun-probe" run --bundle "$bundle" "$prefix-crunprobe" >/dev/null 2>"$tmp/crun-probe.err"; then
    crun --root "$tmp/crun-probe" delete --force "$prefix-crunprobe" >/dev/null 2>&1 || true
    if grep -q "hybrid mode" "$tmp/crun-probe.err" && mountpoint -q /sys/fs/cgroup/unified; then
        echo "bench.sh: crun refuses hybrid cgroups; the rotations run where /sys/fs/cgroup holds the v1 hierarchies alone"
        mkdir "$tmp/v1view"
        # shellcheck disable=SC2016 # expanded by that sh
        main_ns=(unshare --mount --propagation private sh -ec '
            view=$0
            mount -t tmpfs -o mode=755,nosuid,nodev,noexec cgroup-v1-view "$view"
            for m in $(findmnt -rn -o TARGET -t cgroup); do
                case $m in /sys/fs/cgroup/*) mkdir "$view/${m#/sys/fs/cgroup/}" && mount --bind "$m" "$view/${m#/sys/fs/cgroup/}" ;; esac
            done
            for l in /sys/fs/cgroup/*; do [ ! -L "$l" ] || ln -s "$(readlink "$l")" "$view/${l##*/}"; done
            umount -R -l /sys/fs/cgroup
            mount --move "$view" /sys/fs/cgroup
            exec "$@"' "$tmp/v1view")
        notes+=("crun 1.8 refuses this hybrid host: the rotations ran in a mount namespace whose /sys/fs/cgroup has the v1 hierarchies alone")
    else
        echo "bench.sh: crun does not work here: $(cat "$tmp/crun-probe.err")" >&2
        exit 1
    fi
fi

echo "bench.sh: the two rotations (takes a while)"
args=()
[[ -s $tmp/v2.json ]] && args+=(--merge "$tmp/v2.json")
for note in "${notes[@]}"; do args+=(--note "$note"); done
"${main_ns[@]}" "${bench[@]}" --rotation "$headline" --rotation "$second" \
    --cmdline "$cmdline" "${args[@]}"
