#!/usr/bin/env python3
"""Import cycles between scrun's modules, from `crate::` and `super::` paths in src/.

    hack/import-cycles.py [MODULE,...]

Modules are grouped by concern (`rootfs::mounts`, `cgroups::systemd`, `plan`, ...); each
cycle is printed with the references that make it. With a list, only the graph among those
modules (and their submodules) is checked, e.g. `plan,namespaces,rootfs,cgroups`.
Unit tests (`mod tests`) are left out.
"""
import collections
import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
NESTED = ("rootfs", "process", "commands", "cgroups")


def modules():
    out = {}
    for root, _, files in os.walk(SRC):
        for f in files:
            if f.endswith(".rs"):
                path = os.path.join(root, f)
                parts = os.path.relpath(path, SRC)[:-3].split("/")
                if parts[-1] in ("mod", "lib", "main"):
                    parts = parts[:-1]
                out["::".join(parts)] = path
    return out


def group(module):
    parts = module.split("::")
    if parts[0] in NESTED and len(parts) > 1:
        return "::".join(parts[:2])
    return parts[0]


def references(module, text):
    text = re.sub(r"#\[cfg\(test\)\]\s*mod tests\s*\{.*", "", text, flags=re.S)
    base = module.split("::")
    refs = set()
    for u in re.finditer(r"use crate::\{([^;]*)\};", text, re.S):
        for item in re.split(r",\s*(?![^{]*\})", u.group(1)):
            if item.strip():
                refs.add(item.strip().split("::{")[0])
    for r in re.finditer(r"crate::((?:[a-z_0-9]+::)*[A-Za-z_0-9]+)", text):
        refs.add(r.group(1))
    for u in re.finditer(r"use super::\{([^;]*)\};", text, re.S):
        for item in re.split(r",\s*(?![^{]*\})", u.group(1)):
            if item.strip():
                refs.add("::".join(base[:-1] + [item.strip().split("::{")[0]]))
    for r in re.finditer(r"((?:super::)+)((?:[a-z_0-9]+::)*[A-Za-z_0-9]+)", text):
        up = r.group(1).count("super::")
        refs.add("::".join(base[: len(base) - up] + [r.group(2)]))
    return refs


def main():
    mods = modules()

    def resolve(path):
        parts = path.split("::")
        for i in range(len(parts), 0, -1):
            if "::".join(parts[:i]) in mods:
                return "::".join(parts[:i])
        return None

    focus = sys.argv[1].split(",") if len(sys.argv) > 1 else None
    keep = lambda g: focus is None or any(g == f or g.startswith(f + "::") for f in focus)
    edges = collections.defaultdict(set)
    why = collections.defaultdict(list)
    for module, path in mods.items():
        if not module or not keep(group(module)):
            continue
        with open(path) as f:
            text = f.read()
        for ref in references(module, text):
            target = resolve(ref)
            if target and keep(group(target)) and group(target) != group(module):
                edges[group(module)].add(group(target))
                why[group(module), group(target)].append(f"{module} -> {ref}")

    # Tarjan's strongly connected components.
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            found.append(scc)

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            visit(v)
    cycles = [sorted(s) for s in found if len(s) > 1]
    for scc in cycles:
        print("cycle:", " ".join(scc))
        for a in scc:
            for b in sorted(edges[a] & set(scc)):
                for line in why[a, b][:3]:
                    print("   ", line)
    sys.exit(1 if cycles else 0)


main()
