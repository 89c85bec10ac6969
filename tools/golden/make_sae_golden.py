#!/usr/bin/env python3
"""Ground truth for saev-rs's SAE step: saev's own `nn.SparseAutoencoder`,
trained exactly as saev's `training.train` does (normalize W_dec, forward,
backward, remove parallel grads, fused Adam with lr warm-up from 0), for a
few steps from fixed weights on fixed batches.

    python3 tools/golden/make_sae_golden.py --saev-src /path/to/saev-checkout

Writes crates/saev-sae/tests/golden/sae_steps.safetensors: initial weights
(W_enc, b_enc, W_dec, b_dec), `batches` [steps, B, D], the weights after
every step (`W_enc_1`, ...), and the losses per step (`loss`, `mse`, `l1`, `l0`).
Needs torch, numpy, safetensors, beartype, jaxtyping, einops.
"""
import argparse
import os
import sys

import numpy as np
import torch
from safetensors.numpy import save_file


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--saev-src", required=True)
    args = p.parse_args()
    sys.path.insert(0, args.saev_src)
    from saev import config, nn  # (saev.training imports wandb; its Warmup is restated below)

    torch.manual_seed(0)
    d, exp, b, steps, n_lr_warmup, lr = 8, 4, 16, 5, 2, 3e-3
    cfg = config.SparseAutoencoder(d_vit=d, exp_factor=exp, sparsity_coeff=4e-3, n_reinit_samples=0)
    sae = nn.SparseAutoencoder(cfg)
    rng = np.random.default_rng(0)
    with torch.no_grad():
        sae.b_enc.copy_(torch.from_numpy(rng.normal(0, 0.1, cfg.d_sae).astype(np.float32)))
        sae.b_dec.copy_(torch.from_numpy(rng.normal(0, 0.1, d).astype(np.float32)))
    out = {k: v.detach().numpy().copy() for k, v in sae.state_dict().items()}
    batches = (rng.normal(0, 1, (steps, b, d)) + rng.normal(0, 1, d)).astype(np.float32)
    out["batches"] = batches
    optimizer = torch.optim.Adam([{"params": sae.parameters(), "lr": 0.0}], fused=True)
    class Warmup:  # saev.training.Warmup, verbatim semantics
        def __init__(self, init, final, n_steps):
            self.init, self.final, self.n_steps, self._step = init, final, n_steps, 0

        def step(self):
            self._step += 1
            if self._step < self.n_steps:
                return self.init + (self.final - self.init) * (self._step / self.n_steps)
            return self.final

    scheduler = Warmup(0.0, lr, n_lr_warmup)
    losses = {"loss": [], "mse": [], "l1": [], "l0": []}
    for step in range(steps):
        sae.normalize_w_dec()
        _, _, loss = sae(torch.from_numpy(batches[step]))
        for k in losses:
            losses[k].append(getattr(loss, k if k != "loss" else "loss").item())
        loss.loss.backward()
        sae.remove_parallel_grads()
        optimizer.step()
        optimizer.param_groups[0]["lr"] = scheduler.step()
        optimizer.zero_grad()
        for k, v in sae.state_dict().items():
            out[f"{k}_{step + 1}"] = v.detach().numpy().copy()
    for k, v in losses.items():
        out[k] = np.array(v, dtype=np.float32)
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "..", "crates", "saev-sae", "tests", "golden", "sae_steps.safetensors")
    save_file(out, path)
    print("wrote", path, {k: float(v[-1]) for k, v in losses.items()})


if __name__ == "__main__":
    main()
