#!/usr/bin/env bash
# Installs the container engines the end-to-end tests drive (Debian's containerd, docker.io,
# podman, CNI plugins for containerd's CRI plugin), without letting their packages start system
# daemons: the tests start their own, privately, and stop them by pid. Also the Python CRI
# client's modules (hack/cri-client.sh). Idempotent; run as root.
set -euo pipefail

"$(dirname "$0")/cri-client.sh"

# containernetworking-plugins and iproute2: the pod network of tests/engine_kubernetes.rs.
packages=(containerd docker.io podman containernetworking-plugins iproute2)
missing=()
for p in "${packages[@]}"; do
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) == "install ok installed" ]] || missing+=("$p")
done
((${#missing[@]})) || exit 0

echo "engines.sh: installing ${missing[*]}"
# policy-rc.d answering 101 keeps maintainer scripts from starting services.
made_policy=false
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=true
fi
cleanup() { if $made_policy; then rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "engines.sh: apt-get could not install ${missing[*]}" >&2
    exit 1
fi
rm -f "$log"
