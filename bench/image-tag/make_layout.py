#!/usr/bin/env python3
"""Writes an OCI image layout with a multi-platform index for the image-tag benchmark.

usage: make_layout.py DIR SEED PLATFORMS LAYERS_PER_PLATFORM LAYER_MIB
Each platform gets LAYERS_PER_PLATFORM distinct random layers of LAYER_MIB MiB (content derived
from SEED, so reruns produce the same digests), a config and a manifest; PLATFORMS is a
comma-separated list such as linux/amd64,linux/arm64,linux/arm/v7.
"""
import hashlib
import json
import os
import random
import sys


def put(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256")
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def main():
    layout, seed, platforms, layers, mib = sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4]), int(sys.argv[5])
    rng = random.Random(seed)
    entries = []
    for platform in platforms:
        parts = platform.split("/")
        layer_descs, diff_ids = [], []
        for _ in range(layers):
            data = rng.randbytes(mib * 1024 * 1024)
            digest, size = put(layout, data)
            layer_descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": size})
            diff_ids.append(digest)
        config = {"architecture": parts[1], "os": parts[0], "rootfs": {"type": "layers", "diff_ids": diff_ids}}
        if len(parts) > 2:
            config["variant"] = parts[2]
        cdigest, csize = put(layout, json.dumps(config).encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest, "size": csize},
            "layers": layer_descs,
        }
        mdigest, msize = put(layout, json.dumps(manifest).encode())
        plat = {"os": parts[0], "architecture": parts[1]}
        if len(parts) > 2:
            plat["variant"] = parts[2]
        entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest, "size": msize, "platform": plat})
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
    idigest, isize = put(layout, json.dumps(index).encode())
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    top = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": idigest, "size": isize,
           "annotations": {"org.opencontainers.image.ref.name": "latest"}}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [top]}, f)
    print(idigest)


if __name__ == "__main__":
    main()
