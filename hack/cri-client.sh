#!/usr/bin/env bash
# Installs what integration/engines/cri.py (the CRI client of tests/engine_kubernetes.rs) needs
# from PyPI, at pinned versions, unless python3 already has exactly those. Idempotent.
set -euo pipefail

pins=(grpcio==1.68.1 grpcio-tools==1.68.1 protobuf==5.29.5)
if python3 - "${pins[@]}" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version
def have(pin):
    name, want = pin.split("==")
    try:
        return version(name) == want
    except PackageNotFoundError:
        return False
sys.exit(0 if all(have(p) for p in sys.argv[1:]) else 1)
PY
then
    exit 0
fi
echo "cri-client.sh: installing ${pins[*]}"
log=$(mktemp)
if ! python3 -m pip install --quiet --disable-pip-version-check "${pins[@]}" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "cri-client.sh: pip could not install ${pins[*]}" >&2
    exit 1
fi
rm -f "$log"
