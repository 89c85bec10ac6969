#!/usr/bin/env python3
"""Read a store recorded by `saev activations` with saev's own Python Dataset
and compare every example with open_clip's activations from the fixture.

    saev activations --model-ckpt fixtures/clip/tiny-openclip --d-vit 64 \
      --n-patches-per-img 196 --layers -2 -1 --dump-to /tmp/check/shards \
      --n-patches-per-shard 2_000 --device cpu --vit-batch-size 4 \
      data:image-folder-dataset --data.root DIR_WITH_ONE_CLASS_OF_fixtures/clip/images
    python3 tools/golden/check_with_saev.py --saev-src /path/to/saev-checkout \
      --store /tmp/check/shards/<hash> --expected fixtures/clip/tiny-expected.safetensors

Needs a saev checkout (imported from --saev-src, not copied) and torch,
numpy, safetensors, beartype, jaxtyping, torchvision, pillow.
"""
import argparse
import os
import sys

import numpy as np
from safetensors.numpy import load_file


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--saev-src", required=True)
    p.add_argument("--store", required=True)
    p.add_argument("--expected", required=True)
    args = p.parse_args()
    sys.path.insert(0, args.saev_src)
    from saev import activations, config

    md = activations.Metadata.load(os.path.join(args.store, "metadata.json"))
    assert md.hash == os.path.basename(os.path.normpath(args.store)), "directory is not saev's hash"
    residuals = load_file(args.expected)["residuals"]  # [image, block, token, width]
    n_blocks = residuals.shape[1]
    for layer in md.layers:
        block = layer % n_blocks
        for patches in ("cls", "patches"):
            ds = activations.Dataset(
                config.DataLoad(shard_root=args.store, patches=patches, layer=layer, scale_mean=False, scale_norm=False)
            )
            worst = 0.0
            for i in range(len(ds)):
                ex = ds[i]
                token = 0 if patches == "cls" else 1 + ex["patch_i"]
                ref = residuals[ex["image_i"], block, token]
                worst = max(worst, float(np.max(np.abs(ex["act"].numpy() - ref) / np.maximum(1, np.abs(ref)))))
            print(f"layer {layer} {patches}: {len(ds)} examples, worst rel. diff vs open_clip {worst:.2e}")
            assert worst < 1e-4


if __name__ == "__main__":
    main()
