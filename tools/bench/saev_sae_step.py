#!/usr/bin/env python3
"""Examples/s of saev's own SAE training step in PyTorch (CPU): the
reference for `saev bench sae`.

    git -C <saev mirror> archive HEAD src | tar -x -C /tmp/saev
    python3 tools/bench/saev_sae_step.py --saev-src /tmp/saev/src \
        --activation top-k --target-l0 32

Runs saev's step as `saev.framework.train.train` does (saev's code is
imported, not copied): `normalize_w_dec`, the objective's forward (its
encoder; TopK as `torch.topk`, a scattered mask and the dense decoder),
backward, `remove_parallel_grads`, `clip_grad_norm_`, fused Adam,
`zero_grad`. The objective is saev's `Matryoshka` with one prefix (the
plain objective; `--n-prefixes` for more). Data as in `saev bench sae`:
uniform in [-1, 1), one batch reused. `--target-l0 N` is TopK's k, or for
ReLU an encoder bias lowered so that about N pre-activations per example
are positive (the same rule as the Rust bench).

Needs torch, beartype, jaxtyping, einops, orjson, tyro, numpy, scipy.
Prints one JSON line.
"""
import argparse
import json
import sys
import time

import torch


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--saev-src", required=True, help="a saev checkout's src/")
    p.add_argument("--d-vit", type=int, default=768)
    p.add_argument("--exp-factor", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--activation", choices=["relu", "top-k", "batch-top-k"], default="relu")
    p.add_argument("--target-l0", type=int, default=None)
    p.add_argument("--n-prefixes", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=20.0)
    return p.parse_args()


def activation_cfg(modeling, args):
    if args.activation == "relu":
        return modeling.Relu()
    k = args.target_l0 or 32
    if args.activation == "top-k":
        return modeling.TopK(top_k=k)
    return modeling.BatchTopK(top_k=k)


@torch.no_grad()
def shift_to_l0(sae, x, l0):
    """Lower every encoder bias by the k-th largest pre-activation."""
    pre = x @ sae.W_enc + sae.b_enc
    keep = max(min(l0, pre.shape[1]) * pre.shape[0], 1)
    cut = pre.flatten().kthvalue(pre.numel() - keep + 1).values
    sae.b_enc -= cut


def main():
    args = parse_args()
    sys.path.insert(0, args.saev_src)
    from saev.nn import modeling, objectives

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    d_sae = args.d_vit * args.exp_factor
    cfg = modeling.SparseAutoencoderConfig(
        d_model=args.d_vit, d_sae=d_sae, activation=activation_cfg(modeling, args)
    )
    sae = modeling.SparseAutoencoder(cfg)
    objective = objectives.get_objective(objectives.Matryoshka(n_prefixes=args.n_prefixes))
    sae.train()
    objective.train()
    x = torch.rand(args.batch_size, args.d_vit) * 2 - 1
    if args.activation == "relu" and args.target_l0 is not None:
        shift_to_l0(sae, x, args.target_l0)
    opt = torch.optim.Adam([{"params": sae.parameters(), "lr": 1e-4}], fused=True)
    l0s = []

    def step():
        sae.normalize_w_dec()
        loss, _ = objective(sae, x)
        loss.loss.backward()
        sae.remove_parallel_grads()
        torch.nn.utils.clip_grad_norm_(sae.parameters(), max_norm=1.0)
        opt.step()
        opt.zero_grad()
        l0s.append(float(loss.l0))

    step()
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < args.seconds:
        step()
        steps += 1
    seconds = time.perf_counter() - start
    print(json.dumps({
        "activation": args.activation,
        "d_vit": args.d_vit,
        "exp_factor": args.exp_factor,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "n_prefixes": args.n_prefixes,
        "steps": steps,
        "l0": sum(l0s) / len(l0s),
        "examples_per_s": steps * args.batch_size / seconds,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
