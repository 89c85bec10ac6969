#!/usr/bin/env python3
"""Benchmark how fast the original Python *saev* streams activation batches.

This is the Python half of a comparison with the Rust reimplementation. It
imports saev unmodified from a source checkout (``--saev-src``, the directory
that contains the ``saev`` package); no saev code is copied here.

What it measures, on one shard store (``metadata.json`` + ``acts*.bin``):

1. Init: time to build ``saev.activations.Dataset(config.DataLoad(...))``
   - with ``scale_mean=False, scale_norm=False`` (the dataset used for the
     streaming measurements below; cost = reading metadata.json), and
   - with ``scale_mean=True, scale_norm=True`` and a reduced
     ``n_random_samples`` (``--init-samples``, default 2**14), extrapolated
     linearly to saev's default ``n_random_samples=2**19``:
     ``t_plain + (t_scaled - t_plain) * 2**19 / init_samples``.
   - optionally (``--init-full``) actually timing the 2**19 default.
2. Streaming: iterate a ``torch.utils.data.DataLoader`` over that dataset
   for ``--seconds`` seconds *after* the first batch, counting examples.
   Time to first batch (from ``iter(loader)``, so it includes worker start-up)
   is reported separately. Reported for shuffle=True and shuffle=False.
   ``mb_per_s`` is 1e6 bytes of f32 activations (examples * d_vit * 4) per s.

DataLoader arguments. saev's training.py (``train()``) builds
    DataLoader(dataset, batch_size=cfg.sae_batch_size,
               num_workers=cfg.n_workers, shuffle=True)
and evaluation uses the same with shuffle=False. ``--loader-args saev``
(default) mirrors that exactly (drop_last=False, persistent_workers=False,
pin_memory=False, default collate). ``--loader-args brief`` additionally sets
``drop_last=True, persistent_workers=(n_workers > 0)``. Neither difference
matters inside a timing window shorter than one epoch; if an epoch ends inside
the window the loader is re-iterated (as saev's BatchLimiter does) and the
number of restarts is reported.

If no batch arrives within ``--first-batch-timeout`` seconds (default 60),
that is reported (``"status": "timeout"``) and, if ``--fallback-batch-size``
is set (default 1024), the measurement is repeated with that batch size.

Output: one JSON object per line on stdout (logging goes to stderr); also
appended to ``--out`` if given.

Example (page cache warmed first):
    cat /tmp/bench/cls/*/acts*.bin > /dev/null
    python3 tools/bench/saev_python_loader.py --saev-src /tmp/saev-src \
        --shard-root /tmp/bench/cls --patches cls --layer -2 \
        --batch-size 16384 --seconds 20 --n-workers 2

``--shard-root`` may be the directory holding metadata.json or a parent with
exactly one such subdirectory (saev's ``<dump_to>/<hash>/`` layout).
"""

import argparse
import glob
import json
import os
import signal
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--saev-src", default="/tmp/saev-src",
                   help="directory containing the saev package")
    p.add_argument("--shard-root", required=True)
    p.add_argument("--patches", choices=["cls", "patches"], default="cls")
    p.add_argument("--layer", type=int, default=-2)
    p.add_argument("--batch-size", type=int, default=16384)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--n-workers", type=int, default=0)
    p.add_argument("--shuffle", choices=["both", "true", "false"], default="both")
    p.add_argument("--loader-args", choices=["saev", "brief"], default="saev")
    p.add_argument("--init-samples", type=int, default=2**14)
    p.add_argument("--init-full", action="store_true",
                   help="also time scale_mean/scale_norm with saev's default n_random_samples")
    p.add_argument("--skip-init", action="store_true")
    p.add_argument("--first-batch-timeout", type=float, default=60.0)
    p.add_argument("--fallback-batch-size", type=int, default=1024,
                   help="retry with this batch size after a first-batch timeout (0: don't)")
    p.add_argument("--seed", type=int, default=0, help="torch.manual_seed for the shuffle")
    p.add_argument("--out", default=None, help="also append JSON lines here")
    return p.parse_args()


def resolve_shard_root(root):
    if os.path.isfile(os.path.join(root, "metadata.json")):
        return root
    cands = sorted(glob.glob(os.path.join(root, "*", "metadata.json")))
    if len(cands) != 1:
        raise SystemExit(f"expected metadata.json in {root} or exactly one subdir; found {cands}")
    return os.path.dirname(cands[0])


class FirstBatchTimeout(Exception):
    pass


_TIMED_OUT = False


def _alarm(signum, frame):
    # saev's jaxtyping/beartype wrappers re-raise exceptions from inside
    # __getitem__ as TypeCheckError, so also remember the timeout in a flag.
    global _TIMED_OUT
    _TIMED_OUT = True
    raise FirstBatchTimeout()


def emit(rec, out):
    line = json.dumps(rec)
    print(line, flush=True)
    if out:
        with open(out, "a") as fd:
            fd.write(line + "\n")


def make_loader(torch, dataset, batch_size, n_workers, shuffle, mode):
    kwargs = dict(batch_size=batch_size, num_workers=n_workers, shuffle=shuffle)
    if mode == "brief":
        kwargs.update(drop_last=True, persistent_workers=n_workers > 0)
    return torch.utils.data.DataLoader(dataset, **kwargs), kwargs


def stream(torch, dataset, d_vit, args, batch_size, shuffle):
    loader, kwargs = make_loader(torch, dataset, batch_size, args.n_workers, shuffle, args.loader_args)
    rec = {
        "measure": "stream",
        "batch_size": batch_size,
        "n_workers": args.n_workers,
        "shuffle": shuffle,
        "loader_kwargs": {k: v for k, v in kwargs.items()},
        "epoch_examples": len(dataset),
    }
    torch.manual_seed(args.seed)

    global _TIMED_OUT
    _TIMED_OUT = False
    old = signal.signal(signal.SIGALRM, _alarm)
    t0 = time.perf_counter()
    it = iter(loader)
    try:
        signal.setitimer(signal.ITIMER_REAL, args.first_batch_timeout)
        batch = next(it)
        signal.setitimer(signal.ITIMER_REAL, 0)
    except Exception:
        if not _TIMED_OUT:
            raise
        elapsed = time.perf_counter() - t0
        del it
        signal.signal(signal.SIGALRM, old)
        rec.update(status="timeout", time_to_first_batch_s=None, waited_s=elapsed)
        return rec
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    t_first = time.perf_counter()
    act = batch["act"]
    assert act.dtype == torch.float32 and tuple(act.shape) == (batch_size, d_vit), (act.dtype, act.shape)
    rec["time_to_first_batch_s"] = t_first - t0

    n_examples, n_batches, restarts = 0, 0, 0
    deadline = t_first + args.seconds
    while True:
        try:
            batch = next(it)
        except StopIteration:
            restarts += 1
            it = iter(loader)
            continue
        n_examples += batch["act"].shape[0]
        n_batches += 1
        now = time.perf_counter()
        if now >= deadline:
            break
    elapsed = now - t_first
    del it
    rec.update(
        status="ok",
        seconds=elapsed,
        n_batches=n_batches,
        examples=n_examples,
        epoch_restarts=restarts,
        examples_per_s=n_examples / elapsed,
        mb_per_s=n_examples * d_vit * 4 / 1e6 / elapsed,
    )
    return rec


def main():
    args = parse_args()
    sys.path.insert(0, os.path.abspath(args.saev_src))
    t = time.perf_counter()
    import numpy as np
    import torch
    from saev import activations, config
    import_s = time.perf_counter() - t

    root = resolve_shard_root(args.shard_root)
    base = dict(shard_root=root, patches=args.patches, layer=args.layer)
    common = {
        "store": root,
        "patches": args.patches,
        "layer": args.layer,
        "saev_file": activations.__file__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "mp_start_method": torch.multiprocessing.get_start_method(),
    }

    t = time.perf_counter()
    dataset = activations.Dataset(config.DataLoad(**base, scale_mean=False, scale_norm=False))
    plain_s = time.perf_counter() - t
    d_vit = dataset.d_vit

    if not args.skip_init:
        default_n = config.DataLoad().n_random_samples
        t = time.perf_counter()
        activations.Dataset(config.DataLoad(**base, scale_mean=True, scale_norm=True,
                                            n_random_samples=args.init_samples))
        scaled_s = time.perf_counter() - t
        rec = dict(common, measure="init", import_s=import_s,
                   plain_s=plain_s, scaled_n_random_samples=args.init_samples,
                   scaled_s=scaled_s, default_n_random_samples=default_n,
                   scaled_default_extrapolated_s=plain_s + (scaled_s - plain_s) * default_n / args.init_samples)
        if args.init_full:
            t = time.perf_counter()
            activations.Dataset(config.DataLoad(**base, scale_mean=True, scale_norm=True))
            rec["scaled_default_measured_s"] = time.perf_counter() - t
        emit(rec, args.out)

    shuffles = {"both": [True, False], "true": [True], "false": [False]}[args.shuffle]
    for shuffle in shuffles:
        rec = stream(torch, dataset, d_vit, args, args.batch_size, shuffle)
        emit(dict(common, **rec), args.out)
        if rec["status"] == "timeout" and args.fallback_batch_size:
            rec = stream(torch, dataset, d_vit, args, args.fallback_batch_size, shuffle)
            emit(dict(common, fallback=True, **rec), args.out)


if __name__ == "__main__":
    main()
