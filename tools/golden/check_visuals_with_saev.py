#!/usr/bin/env python3
"""Compare `saev visuals --sort-by cls` with saev's own `visuals.get_topk_img`
on the same [CLS] store and SAE.

    python3 tools/golden/check_visuals_with_saev.py --saev-src SAEV_CHECKOUT \
        --sae CKPT/sae.safetensors --shards STORE --visuals DUMP/sort_by_cls

The SAE is converted to saev's `sae.pt` (saev's own `nn.dump`); saev's old
`img` mode on a [CLS] view is our `cls` mode. Prints the largest differences
of sparsity, mean values and percentiles and the fraction of top-k lists that
agree (ties among zeros may be ordered differently by torch.topk).
Needs torch, numpy, safetensors, beartype, jaxtyping, einops, matplotlib.
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np
import torch
from safetensors import safe_open


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--saev-src", required=True)
    p.add_argument("--sae", required=True)
    p.add_argument("--shards", required=True)
    p.add_argument("--visuals", required=True)
    p.add_argument("--layer", type=int, default=-2)
    args = p.parse_args()
    sys.path.insert(0, args.saev_src)
    from saev import config, nn, visuals

    f = safe_open(args.sae, "pt")
    cfg_json = json.loads(f.metadata()["cfg"])
    sae_cfg = config.SparseAutoencoder(
        d_vit=cfg_json["d_vit"], exp_factor=cfg_json["exp_factor"], sparsity_coeff=cfg_json["sparsity_coeff"],
        n_reinit_samples=cfg_json["n_reinit_samples"], normalize_w_dec=cfg_json["normalize_w_dec"],
        remove_parallel_grads=cfg_json["remove_parallel_grads"], seed=cfg_json["seed"])
    sae = nn.SparseAutoencoder(sae_cfg)
    sae.load_state_dict({k: f.get_tensor(k) for k in ["W_enc", "b_enc", "W_dec", "b_dec"]})
    tmp = tempfile.mkdtemp()
    pt = os.path.join(tmp, "sae.pt")
    nn.dump(pt, sae)
    # `saev visuals` normalizes as its --data.* flags say (saev's default:
    # estimate the mean and norm on this store), and so does saev.
    summary = json.load(open(os.path.join(args.visuals, "summary.json")))
    data = config.DataLoad(shard_root=args.shards, patches="cls", layer=args.layer,
                           scale_mean=True, scale_norm=True)
    cfg = config.Visuals(ckpt=pt, data=data, top_k=summary["top_k"], n_workers=0, sort_by="img",
                         device="cpu", percentile=int(summary["percentile"]), n_distributions=summary["n_distributions"])
    theirs = visuals.get_topk_img(cfg)
    ours = safe_open(os.path.join(args.visuals, "topk.safetensors"), "pt")
    def worst(a, b):
        a, b = a.float(), b.float()
        ok = ~(torch.isnan(a) & torch.isnan(b))
        return (a[ok] - b[ok]).abs().max().item()
    print("sparsity max |diff|:", worst(theirs.sparsity, ours.get_tensor("sparsity")))
    print("mean_values max |diff|:", worst(theirs.mean_values, ours.get_tensor("mean_values")))
    print("percentiles max |diff|:", worst(theirs.percentiles, ours.get_tensor("percentiles")))
    print("top values max |diff|:", worst(theirs.top_values, ours.get_tensor("top_values")))
    ti, oi = theirs.top_i.long(), ours.get_tensor("top_img_i")
    pos = theirs.top_values > 0
    print("top-k image indices equal where values are positive:", ((ti == oi) | ~pos).all(dim=1).float().mean().item())


if __name__ == "__main__":
    main()
