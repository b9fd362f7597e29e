#!/usr/bin/env python3
"""Build a FROM-scratch image as a `docker save` tar from local files, for engines that cannot
reach a registry here: `docker load`, `podman load` and `ctr images import` all read it.

    image.py OUT.tar NAME:TAG FILE[:PATH_IN_IMAGE] ... [--cmd ARG ...]

Each FILE goes into the single layer at PATH_IN_IMAGE (default: /basename), mode 0755.
"""
import hashlib, io, json, sys, tarfile, time


def tar_bytes(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data, mode in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def main(argv):
    cmd = []
    if "--cmd" in argv:
        cmd = argv[argv.index("--cmd") + 1:]
        argv = argv[:argv.index("--cmd")]
    out, ref, files = argv[0], argv[1], argv[2:]
    members = []
    for spec in files:
        src, _, dest = spec.partition(":")
        dest = (dest or "/" + src.rsplit("/", 1)[-1]).lstrip("/")
        members.append((dest, open(src, "rb").read(), 0o755))
    layer = tar_bytes(members)
    layer_id = hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(0)),
        "config": {"Cmd": cmd or None, "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + layer_id]},
        "history": [{"created_by": "integration/engines/image.py"}],
    }, sort_keys=True).encode()
    config_id = hashlib.sha256(config).hexdigest()
    manifest = json.dumps([{"Config": config_id + ".json", "RepoTags": [ref], "Layers": [layer_id + "/layer.tar"]}]).encode()
    name, tag = ref.rsplit(":", 1)
    repositories = json.dumps({name: {tag: layer_id}}).encode()
    with open(out, "wb") as f:
        f.write(tar_bytes([
            (config_id + ".json", config, 0o644),
            (layer_id + "/layer.tar", layer, 0o644),
            (layer_id + "/VERSION", b"1.0", 0o644),
            ("manifest.json", manifest, 0o644),
            ("repositories", repositories, 0o644),
        ]))


if __name__ == "__main__":
    main(sys.argv[1:])
