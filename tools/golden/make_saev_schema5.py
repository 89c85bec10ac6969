# Writes fixtures/saev-schema5/*_sae.pt with saev's own dump (OSU-NLP-Group/saev 3d73f1f, torch 2.15, Python 3.12):
#   PYTHONPATH=SAEV_CHECKOUT/src python tools/golden/make_saev_schema5.py
# tools/golden/check_saev_schema5.py then computes expected.json from them (numpy only).
import json, io, torch
from saev.nn import modeling
from saev.nn.modeling import (SparseAutoencoder, SparseAutoencoderConfig, Relu, TopK,
    BatchTopK, L1Sparsity, NoSparsity, AuxK, NoAux, dump, load)

torch.manual_seed(0)
cfgs = {
  "relu": SparseAutoencoderConfig(d_model=8, d_sae=32, activation=Relu(sparsity=L1Sparsity(coeff=4e-4), aux=NoAux())),
  "topk": SparseAutoencoderConfig(d_model=8, d_sae=32, activation=TopK(top_k=4, aux=AuxK(k_aux=16, alpha=1/32))),
  "batchtopk": SparseAutoencoderConfig(d_model=8, d_sae=32, activation=BatchTopK(top_k=4, momentum=0.1)),
}
for name, cfg in cfgs.items():
    sae = SparseAutoencoder(cfg)
    if name == "batchtopk":
        sae.train(); sae(torch.randn(16, 8)); sae.eval()
    p = f"fixtures/saev-schema5/{name}_sae.pt"
    dump(p, sae)
    raw = open(p, "rb").read()
    nl = raw.index(b"\n")
    print("==", name, "header bytes", nl)
    print(raw[:nl].decode())
    sd = torch.load(io.BytesIO(raw[nl+1:]), weights_only=True)
    print({k: (tuple(v.shape), str(v.dtype)) for k, v in sd.items()})
    print("zip magic:", raw[nl+1:nl+5])
    s2 = load(p)
    assert s2.cfg == cfg
    x = torch.randn(3, 8)
    s2.eval(); sae.eval()
    assert torch.allclose(s2.encode(x).f_x, sae.encode(x).f_x)
    print("W_dec row norms", sae.W_dec.norm(dim=1)[:4])
