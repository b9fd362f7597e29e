#!/usr/bin/env bash
# Installs what scrun's build, tests, demo and bench need on Debian 12.
# Idempotent: does nothing (and touches no network) when all is present.
# Run as root.
set -euo pipefail

die() {
    echo "setup.sh: error: $*" >&2
    exit 1
}

# runc and crun: comparisons and test oracle; libc6-dev + gcc: static C
# (hack/hello.c); file: checking binaries; time: /usr/bin/time for peak RSS;
# python3: the demo's config patching and the bench driver; busybox-static: the
# default tool of `scrun debug`; uidmap: newuidmap and newgidmap for rootless
# containers with more than the user's own id; strace: the bench's syscall count.
packages=(runc crun libc6-dev gcc file time libseccomp-dev busybox-static uidmap strace)
command -v python3 >/dev/null 2>&1 || packages+=(python3)

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]})); then
    [[ $(id -u) -eq 0 ]] || die "packages missing (${missing[*]}) and not root: run as root"
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script expects Debian 12"
    echo "setup.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    log=$(mktemp)
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        die "apt-get could not install: ${missing[*]}"
    fi
    rm -f "$log"
fi

# Rust: the tests build their probe for the host target with crt-static;
# add the target only if it is not installed yet.
command -v cargo >/dev/null 2>&1 || die "cargo not found: install a Rust toolchain (https://rustup.rs) first"
probe_target=x86_64-unknown-linux-gnu
if command -v rustup >/dev/null 2>&1; then
    if ! rustup target list --installed 2>/dev/null | grep -qx "$probe_target"; then
        echo "setup.sh: adding rust target $probe_target"
        rustup target add "$probe_target" >/dev/null || die "rustup target add $probe_target failed"
    fi
else
    host=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')
    [[ $host == "$probe_target" ]] || die "no rustup and host target is '$host', not $probe_target"
fi

for tool in runc crun gcc file /usr/bin/time python3 newuidmap newgidmap; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool still missing after installation"
done
echo "setup.sh: ok (runc $(runc --version | sed -n '1s/.*version //p'), crun $(crun --version | sed -n '1s/.*version //p'))"
