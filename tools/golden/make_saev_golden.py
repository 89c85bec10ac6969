#!/usr/bin/env python3
"""
make_saev_golden.py -- ground-truth data for saev-rs's activation-shard store.

WHAT IT MAKES
    Golden files under crates/saev-shards/tests/golden/ (or --out), produced by
    the *real* Python saev code (not a copy of it):

    <store>/<hash>/metadata.json, <store>/<hash>/acts000000.bin, ...
        Activation stores written by saev's own `activations.ShardWriter`
        (which also writes metadata.json through `get_acts_dir` / `Metadata`),
        copied byte for byte, keeping saev's hash directory name.
    <store>/expected.json
        The hash, the exact text of metadata.json, sha256 + size of each
        acts*.bin, the store parameters and how the activations were written.
    <store>/cases.safetensors
        The raw activations (`raw`, [n_imgs, n_layers, n_tokens, d_vit] f32)
        and, for every (patches, layer) combination that saev's
        `activations.Dataset.__getitem__` supports and every scaling setting,
        tensors named `<patches>_<layer>__<setting>__{acts,image_i,patch_i,
        act_mean,scalar}`: all examples stacked ([len, d_vit] f32), image_i
        and patch_i (i64), ds.act_mean ([d_vit] f32) and ds.scalar ([1] f32).
    <store>/cases.json
        Index of those cases (settings, len, scalar as a float), len() of the
        combinations that __len__ defines but __getitem__ rejects (plus the
        error __getitem__ raises), and probes of edge behaviour (index ==
        len, index -1, layer not in the store, ...).
    shardwriter_boundary.json
        Files ShardWriter leaves when a write ends exactly on a shard boundary
        (it eagerly opens an extra, all-zero shard).
    crates/saev-rng/tests/numpy_permutation.json
        numpy.random.default_rng(seed).permutation(n) for several (seed, n)
        (saev's Dataset uses seed 42 to pick the samples for act_mean/scalar),
        and PCG64 state / random_raw(8) right after seeding.

    Stores:
      full     clip ViT-B-16/openai, layers [3, -2], 4 patches + CLS, d_vit 8,
               n_patches_per_shard 40 (4 imgs/shard), 11 imgs -> 3 shards.
               raw = default_rng(7).normal(size)*3 + 0.5 (f32) + a few spikes.
      cls-only layers [-2], 0 patches + CLS, d_vit 8, n_patches_per_shard 5
               (5 imgs/shard), 13 imgs -> 3 shards. raw from default_rng(8).

    The `data` field of the metadata is str(ImageFolderDataset(root=...)),
    where root is a folder of tiny PNGs under --work-dir. Keep --work-dir at
    its default so that the hash (and so the directory names) stay the same
    from run to run.

HOW TO RUN
    Needs a checkout of saev (https://github.com/samuelstevens/saev; the
    directory that contains the `saev/` package) and, from PyPI:
        pip install numpy torch torchvision beartype jaxtyping pillow safetensors
    Then, from the repository root:
        python3 tools/golden/make_saev_golden.py --saev-src /path/to/saev-checkout
    The script checks its own outputs against plain numpy (asserts) and
    exits non-zero if anything disagrees.
"""

import argparse
import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
import sys
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(
    os.path.join(HERE, "..", "..", "crates", "saev-shards", "tests", "golden")
)
DEFAULT_WORK = "/tmp/saev-golden-work"

D_VIT = 8
BATCH = 3  # images per writer[i:i+BATCH] = ... call

# Scaling settings: name -> DataLoad kwargs.
SETTINGS = [
    ("mean0_norm0", dict(scale_mean=False, scale_norm=False)),
    ("mean1_norm1_n7", dict(scale_mean=True, scale_norm=True, n_random_samples=7)),
    ("mean1_norm0_n7", dict(scale_mean=True, scale_norm=False, n_random_samples=7)),
    ("mean0_norm1_n7", dict(scale_mean=False, scale_norm=True, n_random_samples=7)),
    (
        "mean1_norm1_n1000000",
        dict(scale_mean=True, scale_norm=True, n_random_samples=1_000_000),
    ),
    ("mean0_norm0_clamp1.5", dict(scale_mean=False, scale_norm=False, clamp=1.5)),
]

STORES = {
    "full": dict(
        model_family="clip",
        model_ckpt="ViT-B-16/openai",
        layers=[3, -2],
        n_patches_per_img=4,
        cls_token=True,
        d_vit=D_VIT,
        seed=42,
        n_patches_per_shard=40,
        n_imgs=11,
        rng_seed=7,
        # (img, layer_index, token, dim) -> value; token 0 is CLS.
        spikes={(1, 0, 0, 2): 40.0, (5, 1, 0, 7): -25.0, (9, 1, 3, 0): 40.0,
                (10, 0, 2, 4): -25.0, (3, 1, 0, 1): 40.0},
        supported=[("cls", 3), ("cls", -2), ("cls", "meanpool"), ("meanpool", 3),
                   ("meanpool", -2), ("meanpool", "meanpool"), ("patches", 3),
                   ("patches", -2)],
        rejected=[("cls", "all"), ("meanpool", "all"), ("patches", "all"),
                  ("patches", "meanpool")],
        bad_layers=[("cls", 5), ("cls", -1), ("patches", 0)],
        degenerate=[],
    ),
    "cls-only": dict(
        model_family="clip",
        model_ckpt="ViT-B-16/openai",
        layers=[-2],
        n_patches_per_img=0,
        cls_token=True,
        d_vit=D_VIT,
        seed=42,
        n_patches_per_shard=5,
        n_imgs=13,
        rng_seed=8,
        spikes={(2, 0, 0, 3): 40.0, (11, 0, 0, 6): -25.0},
        supported=[("cls", -2), ("cls", "meanpool")],
        rejected=[("cls", "all"), ("meanpool", "all"), ("patches", "all"),
                  ("patches", "meanpool")],
        bad_layers=[("cls", 3)],
        # __getitem__ matches these, but with 0 patches they are degenerate.
        degenerate=[("meanpool", -2), ("meanpool", "meanpool"), ("patches", -2)],
    ),
}

PERM_CASES = [(42, 1), (42, 2), (42, 10), (42, 1000), (0, 100), (1, 7),
              (12345, 65536), (42, 70000),
              # the lengths saev's Dataset permutes for the stores above
              (42, 11), (42, 44), (42, 13)]
PERM_FULL_MAX = 1000  # store whole list up to this n, else head/tail + sha256


def sha256_file(path):
    with open(path, "rb") as fd:
        return hashlib.sha256(fd.read()).hexdigest()


def json_safe(obj):
    """Strict JSON: NaN/inf become the strings "NaN", "inf", "-inf"."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def err_dict(err):
    return {"type": type(err).__name__, "message": str(err)}


def make_image_folder(root, n_imgs):
    from PIL import Image

    if os.path.exists(root):
        shutil.rmtree(root)
    for i in range(n_imgs):
        cls_dir = os.path.join(root, f"class{i % 3}")
        os.makedirs(cls_dir, exist_ok=True)
        Image.new("RGB", (2, 2), (i * 20 % 256, 0, 0)).save(
            os.path.join(cls_dir, f"img{i:02}.png")
        )


def write_store(name, spec, work_dir):
    import torch
    from saev import activations, config

    img_root = os.path.join(work_dir, f"images-{name}")
    make_image_folder(img_root, spec["n_imgs"])
    data = config.ImageFolderDataset(root=img_root)
    assert data.n_imgs == spec["n_imgs"], (data.n_imgs, spec["n_imgs"])

    dump_to = os.path.join(work_dir, f"shards-{name}")
    if os.path.exists(dump_to):
        shutil.rmtree(dump_to)
    cfg = config.Activations(
        data=data,
        dump_to=dump_to,
        model_family=spec["model_family"],
        model_ckpt=spec["model_ckpt"],
        d_vit=spec["d_vit"],
        layers=list(spec["layers"]),
        n_patches_per_img=spec["n_patches_per_img"],
        cls_token=spec["cls_token"],
        n_patches_per_shard=spec["n_patches_per_shard"],
        seed=spec["seed"],
        device="cpu",
    )

    n_tokens = spec["n_patches_per_img"] + (1 if spec["cls_token"] else 0)
    shape = (spec["n_imgs"], len(spec["layers"]), n_tokens, spec["d_vit"])
    rng = np.random.default_rng(spec["rng_seed"])
    raw = (rng.normal(size=shape) * 3 + 0.5).astype(np.float32)
    for idx, val in spec["spikes"].items():
        raw[idx] = val

    writer = activations.ShardWriter(cfg)
    calls = []
    for i in range(0, spec["n_imgs"], BATCH):
        batch = torch.from_numpy(raw[i : i + BATCH].copy())
        writer[i : i + len(batch)] = batch
        calls.append([i, i + len(batch)])
    writer.flush()

    store_dir = writer.root
    metadata = activations.Metadata.from_cfg(cfg)
    assert os.path.basename(store_dir) == metadata.hash
    return cfg, raw, store_dir, metadata, writer.n_imgs_per_shard, calls


def check_bins(raw, store_dir, n_imgs_per_shard):
    """Bins must be raw, padded with zeros, in [imgs, layers, tokens, d] order."""
    bins = sorted(f for f in os.listdir(store_dir) if f.endswith(".bin"))
    n_shards = len(bins)
    assert bins == [f"acts{s:06}.bin" for s in range(n_shards)], bins
    padded = np.zeros((n_shards * n_imgs_per_shard, *raw.shape[1:]), np.float32)
    padded[: len(raw)] = raw
    on_disk = np.concatenate(
        [np.fromfile(os.path.join(store_dir, b), dtype="<f4") for b in bins]
    ).reshape(padded.shape)
    assert np.array_equal(on_disk, padded), "bins != raw"
    return bins


def build_dataset(store_dir, patches, layer, **kwargs):
    from saev import activations, config

    cfg = config.DataLoad(shard_root=store_dir, patches=patches, layer=layer, **kwargs)
    return activations.Dataset(cfg)


def read_all(ds):
    import torch

    exs = [ds[i] for i in range(len(ds))]
    d = ds.d_vit
    if exs:
        acts = torch.stack([e["act"] for e in exs]).numpy().astype(np.float32)
    else:
        acts = np.zeros((0, d), np.float32)
    image_i = np.array([e["image_i"] for e in exs], dtype=np.int64)
    patch_i = np.array([e["patch_i"] for e in exs], dtype=np.int64)
    return acts, image_i, patch_i


def scalar_info(ds):
    import torch

    s = ds.scalar
    kind = "tensor" if isinstance(s, torch.Tensor) else type(s).__name__
    dtype = str(s.dtype) if isinstance(s, torch.Tensor) else None
    return float(s), kind, dtype


def expected_unscaled(raw, spec, patches, layer):
    """Plain-numpy reimplementation used only to sanity-check saev's output."""
    layers = spec["layers"]
    if patches == "cls":
        if layer == "meanpool":
            return raw[:, :, 0, :].mean(axis=1)
        return raw[:, layers.index(layer), 0, :]
    if patches == "meanpool":
        if layer == "meanpool":
            return raw[:, :, 1:, :].mean(axis=(1, 2))
        return raw[:, layers.index(layer), 1:, :].mean(axis=1)
    if patches == "patches":
        return raw[:, layers.index(layer), 1:, :].reshape(-1, raw.shape[-1])
    raise ValueError(patches)


def probe(fn):
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            out = fn()
        res = {"ok": True, "value": out}
        if w:
            res["warnings"] = [f"{x.category.__name__}: {x.message}" for x in w]
        return res
    except BaseException as err:  # noqa: BLE001 - we record whatever saev raises
        return {"ok": False, "error": err_dict(err)}


def example_to_json(ex):
    return {
        "act": [float(v) for v in ex["act"].tolist()],
        "image_i": ex["image_i"],
        "patch_i": ex["patch_i"],
    }


def do_store(name, spec, out_dir, work_dir):
    from safetensors.numpy import save_file

    cfg, raw, store_dir, metadata, n_imgs_per_shard, calls = write_store(
        name, spec, work_dir
    )
    bins = check_bins(raw, store_dir, n_imgs_per_shard)

    # Copy the store byte for byte.
    store_out = os.path.join(out_dir, name)
    if os.path.exists(store_out):
        shutil.rmtree(store_out)
    dst = os.path.join(store_out, metadata.hash)
    os.makedirs(dst)
    for f in ["metadata.json", *bins]:
        shutil.copyfile(os.path.join(store_dir, f), os.path.join(dst, f))

    with open(os.path.join(store_dir, "metadata.json"), "rb") as fd:
        metadata_text = fd.read().decode("utf-8")
    expected = {
        "hash": metadata.hash,
        "hash_input": json.dumps(dataclasses.asdict(metadata), sort_keys=True),
        "metadata_json": metadata_text,
        "metadata_fields": json.loads(metadata_text),
        "data_str": str(cfg.data),
        "n_imgs_per_shard": n_imgs_per_shard,
        "n_tokens_per_img": raw.shape[2],
        "shard_shape": [n_imgs_per_shard, *raw.shape[1:]],
        "raw_shape": list(raw.shape),
        "raw_generation": (
            f"(np.random.default_rng({spec['rng_seed']}).normal(size=raw_shape) * 3"
            " + 0.5).astype(float32), then spikes"
        ),
        "spikes": [
            {"index": list(k), "value": v} for k, v in spec["spikes"].items()
        ],
        "writer_calls": calls,
        "bins": {
            b: {
                "sha256": sha256_file(os.path.join(store_dir, b)),
                "size": os.path.getsize(os.path.join(store_dir, b)),
            }
            for b in bins
        },
    }
    with open(os.path.join(store_out, "expected.json"), "w") as fd:
        json.dump(expected, fd, indent=2)
        fd.write("\n")

    tensors = {"raw": raw}
    cases = []
    d = spec["d_vit"]
    for patches, layer in spec["supported"]:
        base = expected_unscaled(raw, spec, patches, layer).astype(np.float32)
        for sname, kwargs in SETTINGS:
            ds = build_dataset(store_dir, patches, layer, **kwargs)
            acts, image_i, patch_i = read_all(ds)
            act_mean = ds.act_mean.numpy().astype(np.float32)
            scalar, scalar_kind, scalar_dtype = scalar_info(ds)
            key = f"{patches}_{layer}__{sname}"
            tensors[f"{key}__acts"] = acts
            tensors[f"{key}__image_i"] = image_i
            tensors[f"{key}__patch_i"] = patch_i
            tensors[f"{key}__act_mean"] = act_mean
            tensors[f"{key}__scalar"] = np.array([scalar], dtype=np.float32)
            cases.append({
                "key": key,
                "patches": patches,
                "layer": layer,
                "setting": sname,
                "dataload": {k: v for k, v in dataclasses.asdict(ds.cfg).items()
                             if k != "shard_root"},
                "len": len(ds),
                "scalar": scalar,
                "scalar_type": scalar_kind,
                "scalar_dtype": scalar_dtype,
                "act_mean": [float(v) for v in act_mean],
            })

            # --- sanity checks against plain numpy ---------------------------
            n = len(ds)
            assert acts.shape == (n, d), (key, acts.shape)
            assert n == len(base), (key, n, len(base))
            if patches == "patches":
                npi = spec["n_patches_per_img"]
                assert np.array_equal(image_i, np.arange(n) // npi), key
                assert np.array_equal(patch_i, np.arange(n) % npi), key
            else:
                assert np.array_equal(image_i, np.arange(n)), key
                assert np.all(patch_i == -1), key
            clamp = kwargs.get("clamp", 1e5)
            clamped = np.clip(base, -clamp, clamp)
            if sname.startswith("mean0_norm0"):
                np.testing.assert_allclose(acts, clamped, rtol=1e-6, atol=1e-6,
                                           err_msg=key)
                if patches in ("cls", "patches"):  # pure copies: bit-exact
                    assert np.array_equal(acts, clamped), key
                assert np.all(act_mean == 0) and scalar == 1.0, key
            else:
                sel = np.random.default_rng(42).permutation(n)[
                    : kwargs["n_random_samples"]]
                s = clamped[sel].astype(np.float64)
                mean = s.mean(axis=0) if kwargs["scale_mean"] else np.zeros(d)
                sc = (np.linalg.norm(s - mean, axis=1).mean() / math.sqrt(d)
                      if kwargs["scale_norm"] else 1.0)
                np.testing.assert_allclose(act_mean, mean, rtol=1e-5, atol=1e-5,
                                           err_msg=key)
                np.testing.assert_allclose(scalar, sc, rtol=1e-5, err_msg=key)
                np.testing.assert_allclose(acts, (clamped - mean) / sc,
                                           rtol=1e-4, atol=1e-4, err_msg=key)

    # Combinations __len__ defines but __getitem__ rejects.
    rejected = []
    for patches, layer in spec["rejected"]:
        ds = build_dataset(store_dir, patches, layer, scale_mean=False,
                           scale_norm=False)
        rejected.append({
            "patches": patches,
            "layer": layer,
            "len": len(ds),
            "getitem_0": probe(lambda: example_to_json(ds[0])),
            "init_with_scaling": probe(lambda: (build_dataset(
                store_dir, patches, layer, scale_mean=True, scale_norm=True,
                n_random_samples=7), None)[1]),
        })

    # Layers not in the store.
    bad_layers = []
    for patches, layer in spec["bad_layers"]:
        bad_layers.append({
            "patches": patches,
            "layer": layer,
            "init": probe(lambda: (build_dataset(
                store_dir, patches, layer, scale_mean=False, scale_norm=False),
                None)[1]),
        })

    # Combinations __getitem__ matches but that make no sense for this store.
    degenerate = []
    for patches, layer in spec["degenerate"]:
        ds = build_dataset(store_dir, patches, layer, scale_mean=False,
                           scale_norm=False)
        degenerate.append({
            "patches": patches,
            "layer": layer,
            "len": len(ds),
            "getitem_0": probe(lambda: example_to_json(ds[0])),
            "init_with_scaling": probe(lambda: (lambda x: {
                "act_mean": [float(v) for v in x.act_mean.tolist()],
                "scalar": float(x.scalar),
            })(build_dataset(store_dir, patches, layer, scale_mean=True,
                             scale_norm=True, n_random_samples=7))),
        })

    # Out-of-range indices: saev does no bounds checks.
    oob = []
    for patches, layer in spec["supported"]:
        ds = build_dataset(store_dir, patches, layer, scale_mean=False,
                           scale_norm=False)
        n = len(ds)
        per_shard = n_imgs_per_shard * (
            spec["n_patches_per_img"] if patches == "patches" else 1)
        n_shards = len(bins)
        for idx in sorted({n, n_shards * per_shard - 1, n_shards * per_shard, -1}):
            if idx < n and idx >= 0:
                continue
            oob.append({
                "patches": patches,
                "layer": layer,
                "len": n,
                "index": idx,
                "result": probe(lambda: example_to_json(ds[idx])),
            })

    save_file(tensors, os.path.join(store_out, "cases.safetensors"),
              metadata={"store": name, "hash": metadata.hash})
    index = {
        "store": name,
        "hash": metadata.hash,
        "d_vit": d,
        "tensor_name_format": "<patches>_<layer>__<setting>__"
                              "{acts,image_i,patch_i,act_mean,scalar}",
        "raw_tensor": "raw [n_imgs, n_layers, n_tokens, d_vit] float32",
        "settings": {n: kw for n, kw in SETTINGS},
        "cases": cases,
        "rejected_by_getitem": rejected,
        "layer_not_in_store": bad_layers,
        "degenerate": degenerate,
        "out_of_range": oob,
        "notes": "non-finite floats are written as the strings NaN/inf/-inf",
    }
    with open(os.path.join(store_out, "cases.json"), "w") as fd:
        json.dump(json_safe(index), fd, indent=1, allow_nan=False)
        fd.write("\n")
    print(f"{name}: hash {metadata.hash}, {len(bins)} shards, {len(cases)} cases")


def do_writer_probe(out_dir, work_dir):
    """ShardWriter opens the next shard as soon as a write reaches the end of
    the current one, so a write ending exactly on a shard boundary leaves an
    extra all-zero shard file. Record the files after each write."""
    import torch
    from saev import activations, config

    img_root = os.path.join(work_dir, "images-probe")
    make_image_folder(img_root, 10)
    dump_to = os.path.join(work_dir, "shards-probe")
    if os.path.exists(dump_to):
        shutil.rmtree(dump_to)
    cfg = config.Activations(
        data=config.ImageFolderDataset(root=img_root), dump_to=dump_to,
        d_vit=D_VIT, layers=[-2], n_patches_per_img=0, cls_token=True,
        n_patches_per_shard=5, device="cpu")
    runs = []
    for writes in ([[0, 5], [5, 10]], [[0, 3], [3, 10]], [[0, 12]]):
        if os.path.exists(dump_to):
            shutil.rmtree(dump_to)
        writer = activations.ShardWriter(cfg)
        steps = [{"after": "ShardWriter()", "bins": sorted(
            f for f in os.listdir(writer.root) if f.endswith(".bin"))}]
        for a, b in writes:
            writer[a:b] = torch.arange(1, b - a + 1, dtype=torch.float32)[
                :, None, None, None].expand(b - a, 1, 1, D_VIT).contiguous()
            steps.append({"after": f"writer[{a}:{b}] = ...", "bins": sorted(
                f for f in os.listdir(writer.root) if f.endswith(".bin"))})
        writer.flush()
        bins = sorted(f for f in os.listdir(writer.root) if f.endswith(".bin"))
        all_zero = {
            f: bool(not np.fromfile(os.path.join(writer.root, f), "<f4").any())
            for f in bins
        }
        runs.append({"writes": writes, "steps": steps, "final_bins": bins,
                     "bin_all_zero": all_zero})
    doc = {
        "store": {"layers": [-2], "n_patches_per_img": 0, "cls_token": True,
                  "d_vit": D_VIT, "n_patches_per_shard": 5,
                  "n_imgs_per_shard": 5, "n_imgs_in_metadata": 10},
        "note": do_writer_probe.__doc__.split("\n\n")[0].replace("\n    ", " "),
        "runs": runs,
    }
    with open(os.path.join(out_dir, "shardwriter_boundary.json"), "w") as fd:
        json.dump(doc, fd, indent=1)
        fd.write("\n")


def u128_json(v):
    return {"int": int(v), "dec": str(int(v)), "hex": f"{int(v):#034x}"}


def do_permutations(out_dir):
    perms = []
    for seed, n in PERM_CASES:
        p = np.random.default_rng(seed).permutation(n)
        full = p.astype("<i8").tobytes()
        entry = {"seed": seed, "n": n,
                 "sha256_le_i64": hashlib.sha256(full).hexdigest()}
        if n <= PERM_FULL_MAX:
            entry["perm"] = p.tolist()
        else:
            entry["head"] = p[:200].tolist()
            entry["tail"] = p[-200:].tolist()
        perms.append(entry)

    states = []
    for seed in (42, 0):
        st = np.random.default_rng(seed).bit_generator.state
        raw = np.random.default_rng(seed).bit_generator.random_raw(8)
        states.append({
            "seed": seed,
            "bit_generator": st["bit_generator"],
            "state": u128_json(st["state"]["state"]),
            "inc": u128_json(st["state"]["inc"]),
            "has_uint32": st["has_uint32"],
            "uinteger": st["uinteger"],
            "random_raw_8": [int(x) for x in raw],
            "random_raw_8_hex": [f"{int(x):#018x}" for x in raw],
        })
    doc = {
        "numpy_version": np.__version__,
        "permutations": perms,
        "pcg64_after_seeding": states,
        "notes": "perm = np.random.default_rng(seed).permutation(n); lists with "
                 f"n > {PERM_FULL_MAX} keep the first and last 200 entries; "
                 "sha256_le_i64 is over the full permutation as little-endian "
                 "int64. state/inc are 128-bit: 'int' is a plain JSON number "
                 "(may exceed u64), 'dec'/'hex' are strings.",
    }
    # The RNG's own crate tests it (crates/saev-rng/tests/).
    rng_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "crates", "saev-rng", "tests")
    with open(os.path.join(rng_dir, "numpy_permutation.json"), "w") as fd:
        json.dump(doc, fd)
        fd.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--saev-src", required=True,
                        help="saev checkout: directory that contains saev/")
    parser.add_argument("--out", default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--work-dir", default=DEFAULT_WORK,
                        help="scratch dir; its path ends up in metadata 'data' "
                             "and so in the store hash (keep the default)")
    args = parser.parse_args()

    src = os.path.abspath(args.saev_src)
    if not os.path.isfile(os.path.join(src, "saev", "activations.py")):
        sys.exit(f"{src}/saev/activations.py not found; pass --saev-src")
    sys.path.insert(0, src)
    import saev.activations  # noqa: F401  (sets up logging at import)

    logging.getLogger().setLevel(logging.WARNING)
    os.makedirs(args.work_dir, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)

    import torch

    torch.set_num_threads(1)  # deterministic reductions
    for name, spec in STORES.items():
        do_store(name, spec, args.out, args.work_dir)
    do_permutations(args.out)
    do_writer_probe(args.out, args.work_dir)

    total = 0
    for root, _, files in os.walk(args.out):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    print(f"wrote {args.out} ({total} bytes)")


if __name__ == "__main__":
    main()
