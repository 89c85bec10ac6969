#!/usr/bin/env python3
"""Benchmark the CPU forward pass of open_clip's vision tower (images/s).

This is the Python reference point for the Rust ViT forward pass. It measures
the model the way saev records activations: ``model.visual`` in eval mode,
called under ``torch.inference_mode()`` on float32 batches of shape
``[B, 3, 224, 224]``. Only the forward pass is timed: the input is one random
batch (``torch.randn``, seed 0) created before timing and reused for every
batch, so no image decoding, resizing or data loading is included.

Weights are random (``open_clip.create_model(arch, pretrained=None)``); no
pretrained checkpoint is downloaded. Speed does not depend on weight values.

Options:
  --arch         open_clip model name (default ViT-B-16-quickgelu)
  --batch-size   images per forward call (default 16)
  --threads      torch.set_num_threads(N) (default 2)
  --seconds      length of the timing window (default 20)
  --warmup       untimed batches run first (default 1)
  --until-block  optional N: run only the patch embedding (conv1, class token,
                 positional embedding, patch_dropout, ln_pre) and the first N
                 ``transformer.resblocks``, skipping the remaining blocks,
                 ln_post, pooling and projection. Recording layer -2 of a
                 12-block ViT-B needs only 11 blocks (``--until-block 11``).
                 Without it, the full ``model.visual(x)`` is called.

Timing: after warm-up, batches are run back to back until at least
``--seconds`` have elapsed (the last batch is finished, not cut off);
``images_per_s = batches * batch_size / elapsed`` and ``seconds`` is the
measured elapsed time (``time.perf_counter``).

Output: one JSON line on stdout:
  {"arch", "batch_size", "threads", "until_block", "images_per_s", "seconds",
   "batches", "torch", "open_clip"}
``until_block`` is null for the full forward pass.

Full benchmark (defaults):
  python3 tools/bench/open_clip_forward.py
  python3 tools/bench/open_clip_forward.py --until-block 11

Requires: torch, open_clip_torch (``pip install open_clip_torch``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Images/s of open_clip's vision tower forward pass on CPU."
    )
    p.add_argument("--arch", default="ViT-B-16-quickgelu", help="open_clip model name")
    p.add_argument("--batch-size", type=int, default=16, help="images per batch")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--seconds", type=float, default=20.0, help="timing window (s)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up batches")
    p.add_argument(
        "--until-block",
        type=int,
        default=None,
        help="forward only through the first N transformer.resblocks",
    )
    p.add_argument("--image-size", type=int, default=224, help="input height/width")
    args = p.parse_args(argv)
    if args.batch_size < 1:
        p.error("--batch-size must be >= 1")
    if args.threads < 1:
        p.error("--threads must be >= 1")
    if args.seconds <= 0:
        p.error("--seconds must be > 0")
    if args.warmup < 0:
        p.error("--warmup must be >= 0")
    return args


def embed(visual: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Patch embedding of open_clip's VisionTransformer, written out.

    Mirrors ``VisionTransformer._embeds``: conv1 -> flatten to tokens ->
    prepend class token -> add positional embedding -> patch_dropout
    (identity in eval mode) -> ln_pre. Returns [B, 1 + grid**2, width].
    """
    x = visual.conv1(x)  # [B, width, grid, grid]
    x = x.reshape(x.shape[0], x.shape[1], -1)  # [B, width, grid**2]
    x = x.permute(0, 2, 1)  # [B, grid**2, width]
    cls = visual.class_embedding.view(1, 1, -1).expand(x.shape[0], -1, -1).to(x.dtype)
    x = torch.cat([cls, x], dim=1)
    x = x + visual.positional_embedding.to(x.dtype)
    x = visual.patch_dropout(x)
    x = visual.ln_pre(x)
    return x


def forward_until(visual: torch.nn.Module, x: torch.Tensor, n_blocks: int) -> torch.Tensor:
    """Embedding plus the first ``n_blocks`` residual blocks; returns the
    residual stream after block ``n_blocks - 1`` as [B, tokens, width]."""
    x = embed(visual, x)
    transformer = visual.transformer
    batch_first = getattr(transformer, "batch_first", True)
    if not batch_first:
        x = x.transpose(0, 1).contiguous()  # NLD -> LND
    for blk in transformer.resblocks[:n_blocks]:
        x = blk(x)
    if not batch_first:
        x = x.transpose(0, 1)  # LND -> NLD
    return x


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)

    import open_clip

    model = open_clip.create_model(args.arch, pretrained=None)
    visual = model.visual
    del model
    visual.eval()

    n_total = len(visual.transformer.resblocks)
    if args.until_block is not None and not (1 <= args.until_block <= n_total):
        print(
            f"--until-block must be in 1..{n_total} for {args.arch}",
            file=sys.stderr,
        )
        return 2

    if args.until_block is None:
        def step(x: torch.Tensor) -> torch.Tensor:
            return visual(x)
    else:
        n = args.until_block

        def step(x: torch.Tensor) -> torch.Tensor:
            return forward_until(visual, x, n)

    gen = torch.Generator().manual_seed(0)
    batch = torch.randn(
        args.batch_size, 3, args.image_size, args.image_size,
        generator=gen, dtype=torch.float32,
    )

    with torch.inference_mode():
        for _ in range(args.warmup):
            step(batch)

        batches = 0
        start = time.perf_counter()
        while True:
            step(batch)
            batches += 1
            elapsed = time.perf_counter() - start
            if elapsed >= args.seconds:
                break

    result = {
        "arch": args.arch,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "until_block": args.until_block,
        "images_per_s": batches * args.batch_size / elapsed,
        "seconds": elapsed,
        "batches": batches,
        "torch": torch.__version__,
        "open_clip": open_clip.__version__,
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
