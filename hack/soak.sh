#!/usr/bin/env bash
# Soak (run as root): N cycles of create -> start -> wait -> delete of a FROM-scratch hello
# container; every 10th cycle the container stays up for an `exec`, an `update` and a
# `kill KILL` first. Prints at the start, every 1,000 cycles and at the end what a leak would
# grow, and exits 1 if any of it grew:
#   fds      open fds of this script (the runtime's caller)
#   mounts   mount points in this mount namespace naming the soak's directory or ids
#   cgroups  cgroup directories named after the soak's ids, in every hierarchy
#   procs    processes whose command line names the soak (runtimes and containers)
#   files    entries under --root, and bytes the sum of their sizes (directories excluded:
#            an ext4 directory never shrinks)
#   mem_kb   host memory in use (MemTotal - MemAvailable). Host-wide, so other work on the
#            machine moves it: it fails only past SOAK_MEM_SLACK_KB (default 65536).
# One cycle of each kind runs before the first figures, so what is made once and kept (the
# compiled-seccomp cache, cgroup parents) is in the baseline.
#
#   hack/soak.sh N       SCRUN=path (default: the release build, built if missing or stale)
set -euo pipefail
cd "$(dirname "$0")/.."
(($# == 1)) && [[ $1 =~ ^[1-9][0-9]*$ ]] || { echo "usage: hack/soak.sh N (cycles, > 0)" >&2; exit 2; }
n=$1
[[ $(id -u) -eq 0 ]] || { echo "soak.sh: run as root (containers need it)" >&2; exit 1; }
if [[ -z ${SCRUN:-} ]]; then
    # .cargo/config.toml names the target, so the build lands under its triple.
    SCRUN=target/x86_64-unknown-linux-gnu/release/scrun
    [[ -x $SCRUN ]] && [[ -z $(find src Cargo.toml Cargo.lock -newer "$SCRUN" -print -quit) ]] \
        || cargo build --release --quiet
fi
scrun=$(realpath "$SCRUN")
slack_kb=${SOAK_MEM_SLACK_KB:-65536}

tag="soak-$$"
tmp=$(mktemp -d "/tmp/scrun-$tag.XXXXXX")
root=$tmp/root
sc() { "$scrun" --root "$root" "$@"; }
cleanup() {
    local rc=$? id
    trap - EXIT INT TERM
    ((rc == 0)) || echo "soak.sh: failed in cycle ${current:-?} (exit $rc)" >&2
    for id in $(sc list -q 2>/dev/null); do sc delete --force "$id" >/dev/null 2>&1 || true; done
    for id in "$root"/*; do [[ -d $id ]] && sc delete --force "${id##*/}" >/dev/null 2>&1; done
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT INT TERM

# Bundle "exit": /hello greets and exits. Bundle "wait": /hello greets and pauses (any
# argument), its command line naming the soak so a survivor is counted.
hack/hello-bundle.sh "$scrun" "$tmp/exit" >/dev/null
mkdir "$tmp/wait"
python3 - "$tmp/exit/config.json" "$tmp/wait/config.json" "$tmp/exit/rootfs" "$tag" <<'PY'
import json, sys
src, dst, rootfs, tag = sys.argv[1:]
with open(src) as f:
    config = json.load(f)
config["root"] = {"path": rootfs, "readonly": True}
config["process"]["args"] = ["/hello", "wait", tag]
with open(dst, "w") as f:
    json.dump(config, f)
PY

wait_stopped() {
    local i
    for ((i = 0; i < 1000; i++)); do
        [[ $(sc state "$1") == *'"status": "stopped"'* ]] && return 0
        sleep 0.005
    done
    echo "soak.sh: $1 did not stop in 5 s" >&2
    return 1
}

cycle() {
    local i=$1 id="$tag-$1"
    if ((i % 10 == 0)); then
        sc create --bundle "$tmp/wait" "$id" </dev/null >/dev/null
        sc start "$id"
        [[ $(sc exec "$id" /hello </dev/null) == Hello* ]] || { echo "soak.sh: exec in $id printed no greeting" >&2; return 1; }
        sc update --pids-limit $((100 + i % 50)) "$id"
        sc kill "$id" KILL
    else
        sc create --bundle "$tmp/exit" "$id" </dev/null >/dev/null
        sc start "$id" >/dev/null
    fi
    wait_stopped "$id"
    sc delete "$id"
}

count_lines() { grep -c . || true; }
figures() {
    local fds mounts cgroups procs files bytes mem
    fds=$(ls /proc/$$/fd | count_lines)
    mounts=$(cut -d' ' -f5 /proc/self/mountinfo | grep -e "$tmp" -e "$tag[-]" | count_lines)
    cgroups=$(find /sys/fs/cgroup -mindepth 1 -maxdepth 6 -type d -name "$tag[-]*" 2>/dev/null | count_lines)
    # The pattern does not match itself: grep's own command line has "[-]" where it has "-".
    procs=$(grep -lasz "$tag[-]\|$tag\$" /proc/[0-9]*/cmdline 2>/dev/null | count_lines)
    files=$(find "$root" -mindepth 1 | count_lines)
    bytes=$(find "$root" -mindepth 1 ! -type d -printf '%s\n' | awk '{s += $1} END {print s + 0}')
    mem=$(awk '/^MemTotal:/ {t = $2} /^MemAvailable:/ {a = $2} END {print t - a}' /proc/meminfo)
    echo "$fds $mounts $cgroups $procs $files $bytes $mem"
}
show() {
    local f=($2)
    printf 'cycle %6s: fds %s mounts %s cgroups %s procs %s files %s bytes %s mem_kb %s\n' "$1" "${f[@]}"
}

current="warm-up 0"
cycle 0
current="warm-up 1"
cycle 1
start=$(figures)
show 0 "$start"
began=$SECONDS
for ((i = 1; i <= n; i++)); do
    current=$i
    cycle $((i + 1))
    if ((i % 1000 == 0 && i != n)); then show "$i" "$(figures)"; fi
done
end=$(figures)
show "$n" "$end"
echo "$n cycles in $((SECONDS - began)) s"

a=($start) b=($end) names=(fds mounts cgroups procs files bytes mem_kb) grew=()
for k in 0 1 2 3 4 5; do
    ((b[k] <= a[k])) || grew+=("${names[k]} ${a[k]} -> ${b[k]}")
done
((b[6] - a[6] <= slack_kb)) || grew+=("mem_kb ${a[6]} -> ${b[6]} (more than $slack_kb kB)")
if ((${#grew[@]})); then
    printf 'soak.sh: grew: %s\n' "${grew[@]}" >&2
    exit 1
fi
echo "nothing grew"
