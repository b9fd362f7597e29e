#!/usr/bin/env bash
# Makes docs/explain.png, the README's picture of `scrun explain --format html` for the
# demo's FROM-scratch bundle (hack/hello-bundle.sh), with headless chromium.
#   hack/explain-png.sh SCRUN [OUT.png]
set -euo pipefail
(($# >= 1)) || { echo "usage: hack/explain-png.sh SCRUN [OUT.png]" >&2; exit 2; }
scrun=$(realpath "$1")
here=$(realpath "$(dirname "$0")")
out=$(realpath -m "${2:-$here/../docs/explain.png}")
chromium=$("$here/chromium.sh")

work=$(mktemp -d /tmp/scrun-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$here/hello-bundle.sh" "$scrun" bundle
"$scrun" explain --format html bundle >explain.html
mkdir home
HOME=$work/home "$chromium" --headless --no-sandbox --disable-gpu --no-proxy-server --no-first-run \
    --user-data-dir="$work/home" --window-size=1200,1400 --screenshot="$out" "file://$work/explain.html" 2>/dev/null
ls -l "$out"
