#!/usr/bin/env bash
# Makes a FROM-scratch bundle in DIR: rootfs/ holds only a static /hello built from
# hack/hello.c, config.json is `SCRUN spec` with args ["/hello"] and no terminal.
#   hack/hello-bundle.sh SCRUN DIR
set -euo pipefail
(($# == 2)) || { echo "usage: hack/hello-bundle.sh SCRUN DIR" >&2; exit 2; }
scrun=$1
bundle=$2
here=$(dirname "$0")

rm -rf "$bundle"
mkdir -p "$bundle/rootfs"
gcc -static -Os -s -o "$bundle/rootfs/hello" "$here/hello.c"
"$scrun" spec --bundle "$bundle"
[[ -s $bundle/config.json ]] || { echo "hello-bundle.sh: $scrun spec wrote no config.json" >&2; exit 1; }
python3 - "$bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
with open(path) as f:
    config = json.load(f)
config["process"]["args"] = ["/hello"]
config["process"]["terminal"] = False
with open(path, "w") as f:
    json.dump(config, f, indent=2)
    f.write("\n")
PY
