#!/usr/bin/env python3
"""A checkpoint written by saev's own `nn.dump` (a JSON config line, then a
`torch.save` zip), for saev-rs's `sae.pt` import test.

    python3 tools/golden/make_sae_pt.py --saev-src /path/to/saev-checkout

Writes crates/saev-sae/tests/golden/saev_sae.pt (d_vit 8, exp_factor 2, random
weights) and saev_sae_expected.safetensors (the same four tensors).
"""
import argparse
import os
import sys

import torch
from safetensors.torch import save_file


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--saev-src", required=True)
    args = p.parse_args()
    sys.path.insert(0, args.saev_src)
    from saev import config, nn

    torch.manual_seed(1)
    cfg = config.SparseAutoencoder(d_vit=8, exp_factor=2, sparsity_coeff=8e-4, seed=7)
    sae = nn.SparseAutoencoder(cfg)
    with torch.no_grad():
        for t in sae.parameters():
            t.copy_(torch.randn_like(t))
    out = os.path.join(os.path.dirname(__file__), "../../crates/saev-sae/tests/golden")
    nn.dump(os.path.join(out, "saev_sae.pt"), sae)
    save_file({k: v.contiguous() for k, v in sae.state_dict().items()},
              os.path.join(out, "saev_sae_expected.safetensors"))


if __name__ == "__main__":
    main()
