#!/usr/bin/env bash
# The first thing to try: build scrun and run a FROM-scratch container whose
# whole root filesystem is one static "hello" binary. Re-runnable. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

scrun=target/x86_64-unknown-linux-gnu/release/scrun  # .cargo/config.toml sets the target
demo=target/demo
bundle=$demo/bundle
id=bundle # `scrun run DIR` names the container after the bundle directory

step "Installing what the demo needs (hack/setup.sh)"
hack/setup.sh

step "Building scrun (cargo build --release)"
cargo build --release
ls -l "$scrun"

step "Removing what an earlier demo left (container '$id', $bundle)"
if "$scrun" state "$id" >/dev/null 2>&1; then
    echo "removing the container '$id' a previous demo left behind in /run/scrun"
    "$scrun" delete --force "$id"
else
    "$scrun" delete --force "$id" >/dev/null 2>&1 || true
fi

step "Making the bundle: hack/hello-bundle.sh (gcc -static hack/hello.c, then scrun spec)"
hack/hello-bundle.sh "$scrun" "$bundle"
file "$bundle/rootfs/hello"
echo "$bundle/rootfs holds only /hello; config.json is scrun spec's default with"
echo "process.args=[\"/hello\"] and process.terminal=false:"
find "$bundle" | sort

step "Running it: $scrun run $bundle"
set +e
"$scrun" run "$bundle"
code=$?
set -e

step "Result"
echo "scrun run exited with code $code (the container process's own exit code)"
if ((code == 0)); then
    echo "/hello ran as the only program of a FROM-scratch container; scrun deleted the container afterwards"
else
    echo "demo.sh: the container did not run as expected" >&2
fi
exit "$code"
