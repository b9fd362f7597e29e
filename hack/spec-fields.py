#!/usr/bin/env python3
"""Print src/spec/coverage.rs's ADDED table: the Linux config fields each runtime-spec release
added after 1.0.0, read from the schema/ of each release tag.

usage: hack/spec-fields.py RUNTIME_SPEC_GIT_CHECKOUT

Paths are named as coverage.rs names them: `[]` into arrays of objects, `*` into maps of them,
and an array or map of plain values is one field.
"""
import json
import subprocess
import sys

RELEASES = ["v1.0.0", "v1.0.1", "v1.0.2", "v1.1.0", "v1.2.0", "v1.2.1", "v1.3.0"]
# Other platforms' sections, and the Windows-only fields of process.
OTHER_PLATFORMS = ("windows", "solaris", "vm.", "zos", "freebsd", "process.commandLine", "process.user.username")


def fields(repo, tag):
    files = {}

    def load(name):
        if name not in files:
            files[name] = json.loads(subprocess.check_output(["git", "-C", repo, "show", f"{tag}:schema/{name}"]))
        return files[name]

    def resolve(node, doc):
        while "$ref" in node:
            name, _, pointer = node["$ref"].partition("#")
            doc = name or doc
            node = load(doc)
            for part in filter(None, pointer.split("/")):
                node = node[part]
        return node, doc

    def has_fields(node, doc):
        node, doc = resolve(node, doc)
        composed = [n for k in ("anyOf", "oneOf", "allOf") for n in node.get(k, [])]
        return "properties" in node or any(has_fields(n, doc) for n in composed)

    out = set()

    def walk(node, doc, path):
        node, doc = resolve(node, doc)
        composed = [n for k in ("anyOf", "oneOf", "allOf") for n in node.get(k, [])]
        for n in composed:
            walk(n, doc, path)
        items, values = node.get("items"), node.get("additionalProperties")
        if "properties" in node:
            for name, n in node["properties"].items():
                walk(n, doc, f"{path}.{name}" if path else name)
        elif isinstance(items, dict) and has_fields(items, doc):
            walk(items, doc, path + "[]")
        elif isinstance(values, dict) and has_fields(values, doc):
            walk(values, doc, path + ".*")
        elif path and not composed:
            out.add(path)

    walk(load("config-schema.json"), "config-schema.json", "")
    # timeOffsets names its two clocks as properties; coverage.rs takes them as a map.
    return {p.replace("timeOffsets.monotonic.", "timeOffsets.*.").replace("timeOffsets.boottime.", "timeOffsets.*.") for p in out}


def main():
    repo = sys.argv[1]
    seen = fields(repo, RELEASES[0])
    for tag in RELEASES[1:]:
        current = fields(repo, tag)
        for path in sorted(current - seen):
            if not path.startswith(OTHER_PLATFORMS):
                print(f'    ("{tag[1:]}", "{path}"),')
        seen |= current


main()
