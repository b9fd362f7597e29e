#!/usr/bin/env bash
# Prints the path of Debian's chromium, installing it first if it is missing: the browser
# tests (tests/html.rs) load scrun's HTML pages in it. hack/setup.sh leaves it out, as it is
# large (some 300 MB installed) and only those tests need it. Run as root to install.
set -euo pipefail

if ! command -v chromium >/dev/null 2>&1; then
    [[ $(id -u) -eq 0 ]] || { echo "chromium.sh: chromium is not installed and we are not root" >&2; exit 1; }
    command -v apt-get >/dev/null 2>&1 || { echo "chromium.sh: apt-get not found: this script expects Debian 12" >&2; exit 1; }
    echo "chromium.sh: installing chromium" >&2
    log=$(mktemp)
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; } >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "chromium.sh: apt-get could not install chromium" >&2
        exit 1
    fi
    rm -f "$log"
fi
command -v chromium
