#!/usr/bin/env bash
# Runs scrun's test suite (unit + container tests; run as root). Prints cargo's
# normal summary lines and exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

hack/setup.sh
hack/engines.sh   # containerd, docker.io, podman for tests/engine_*.rs (no daemons started)
cargo test --no-fail-fast
