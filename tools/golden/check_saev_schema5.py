#!/usr/bin/env python3
"""Expected codes for saev's schema-5 `sae.pt` files in fixtures/saev-schema5/.

The `.pt` files were written by saev's own `saev.nn.modeling.dump` at
OSU-NLP-Group/saev 3d73f1f (torch 2.15):

    cfg = SparseAutoencoderConfig(d_model=8, d_sae=32, activation=Relu(...))  # and TopK(top_k=4), BatchTopK(top_k=4)
    sae = SparseAutoencoder(cfg); dump("relu_sae.pt", sae)

This script needs only numpy: it reads the torch zip itself (strides
included; saev stores W_enc column-major) and applies saev's `encode`
(`h = x @ W_enc + b_enc`, no `- b_dec`; ReLU / per-row top-k without ReLU /
BatchTopK's eval threshold) to a fixed batch, writing `expected.json`.

    python3 tools/golden/check_saev_schema5.py fixtures/saev-schema5
"""
import io
import json
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np


class StateDict(dict):
    """torch's OrderedDict, which carries a `_metadata` attribute."""


def load_state_dict(raw: bytes) -> dict:
    zf = zipfile.ZipFile(io.BytesIO(raw))
    names = zf.namelist()
    prefix = names[0].split("/")[0]

    def rebuild(storage, offset, size, stride, *_):
        data = storage
        if not size:
            return data[offset].copy()
        return np.lib.stride_tricks.as_strided(
            data[offset:], shape=size, strides=[s * 4 for s in stride]
        ).copy()

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if name == "_rebuild_tensor_v2":
                return rebuild
            if module == "collections" and name == "OrderedDict":
                return StateDict
            if name == "FloatStorage":
                return "f4"
            return super().find_class(module, name)

        def persistent_load(self, pid):
            _, dtype, key, _, _ = pid
            assert dtype == "f4", dtype
            return np.frombuffer(zf.read(f"{prefix}/data/{key}"), dtype="<f4")

    return Unpickler(io.BytesIO(zf.read(f"{prefix}/data.pkl"))).load()


def encode(head: dict, sd: dict, x: np.ndarray) -> np.ndarray:
    h = x @ sd["W_enc"] + sd["b_enc"]
    act = head["cfg"]["activation"]
    cls, params = act["cls"], act["params"]
    if cls == "Relu":
        return np.maximum(h, 0)
    if cls == "TopK":
        k = params["top_k"]
        out = np.zeros_like(h)
        idx = np.argsort(-h, axis=1, kind="stable")[:, :k]
        np.put_along_axis(out, idx, np.take_along_axis(h, idx, 1), 1)
        return out
    if cls == "BatchTopK":
        theta = float(sd["activation.threshold"])
        return np.where(h > theta, h, 0) if theta > 0 else np.maximum(h, 0)
    raise ValueError(cls)


def main():
    root = Path(sys.argv[1])
    x = np.sin(np.arange(5 * 8, dtype=np.float32) * 0.7).reshape(5, 8) * 2
    out = {"x": x.ravel().tolist()}
    for path in sorted(root.glob("*_sae.pt")):
        raw = path.read_bytes()
        nl = raw.index(b"\n")
        head = json.loads(raw[:nl])
        sd = load_state_dict(raw[nl + 1 :])
        out[path.name] = encode(head, sd, x.astype(np.float32)).ravel().tolist()
    (root / "expected.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main()
