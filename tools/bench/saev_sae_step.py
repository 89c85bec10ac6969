#!/usr/bin/env python3
"""Examples/s of saev's own SAE training step in PyTorch (CPU), the
comparison for `saev bench sae`.

    python3 tools/bench/saev_sae_step.py --saev-src /path/to/saev --d-vit 768 --exp-factor 16 --batch-size 4096

Runs saev's step as its `training.train` does: normalize W_dec, forward,
backward, remove parallel grads, fused Adam, zero grads. Needs torch,
beartype, jaxtyping, einops and a saev checkout (imported, not copied).
"""
import argparse
import json
import sys
import time

import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--saev-src", required=True)
    p.add_argument("--d-vit", type=int, default=768)
    p.add_argument("--exp-factor", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=20.0)
    args = p.parse_args()
    sys.path.insert(0, args.saev_src)
    from saev import config, nn

    torch.set_num_threads(args.threads)
    sae = nn.SparseAutoencoder(config.SparseAutoencoder(d_vit=args.d_vit, exp_factor=args.exp_factor))
    opt = torch.optim.Adam([{"params": sae.parameters(), "lr": 1e-4}], fused=True)
    x = torch.rand(args.batch_size, args.d_vit) * 2 - 1

    def step():
        sae.normalize_w_dec()
        _, _, loss = sae(x)
        loss.loss.backward()
        sae.remove_parallel_grads()
        opt.step()
        opt.zero_grad()

    step()
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < args.seconds:
        step()
        steps += 1
    seconds = time.perf_counter() - start
    print(json.dumps({"d_vit": args.d_vit, "exp_factor": args.exp_factor, "batch_size": args.batch_size,
                      "threads": args.threads, "steps": steps,
                      "examples_per_s": steps * args.batch_size / seconds, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
