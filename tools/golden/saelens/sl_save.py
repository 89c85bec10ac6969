# Saved fixtures/saelens/* with SAELens 6.54.12 itself (pip install sae-lens, Python 3.12, torch 2.15):
#   python tools/golden/saelens/sl_save.py
# Not yet read by a saev-rs test: Sae::load_any and the SAELens export are the next step (issue 23).
import json, torch, warnings
warnings.filterwarnings("ignore")
from safetensors import safe_open
from sae_lens import (SAE, StandardSAE, StandardSAEConfig, TopKSAE, TopKSAEConfig,
    JumpReLUSAE, JumpReLUSAEConfig, BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig,
    JumpReLUTrainingSAE, JumpReLUTrainingSAEConfig, TopKTrainingSAE, TopKTrainingSAEConfig)
import sae_lens; print("sae_lens", sae_lens.__version__)
torch.manual_seed(0)
d_in, d_sae = 8, 32
W_enc = torch.randn(d_in, d_sae); b_enc = torch.randn(d_sae)*0.1
W_dec = torch.randn(d_sae, d_in); b_dec = torch.randn(d_in)*0.1
thr = torch.rand(d_sae)*0.5
def show(path):
    cfg = json.load(open(f"{path}/cfg.json"))
    print("== ", path); print(json.dumps(cfg))
    with safe_open(f"{path}/sae_weights.safetensors", "pt") as f:
        print({k: (tuple(f.get_tensor(k).shape), str(f.get_tensor(k).dtype)) for k in f.keys()}, f.metadata())
def fill(sae, extra=None):
    sd = {"W_enc": W_enc, "b_enc": b_enc, "W_dec": W_dec, "b_dec": b_dec}
    if extra: sd.update(extra)
    sae.load_state_dict(sd)
    return sae
s = fill(StandardSAE(StandardSAEConfig(d_in=d_in, d_sae=d_sae)))
s.save_model("fixtures/saelens/sl_standard"); show("fixtures/saelens/sl_standard")
s = fill(TopKSAE(TopKSAEConfig(d_in=d_in, d_sae=d_sae, k=4)))
s.save_model("fixtures/saelens/sl_topk"); show("fixtures/saelens/sl_topk")
s = fill(JumpReLUSAE(JumpReLUSAEConfig(d_in=d_in, d_sae=d_sae, apply_b_dec_to_input=False)), {"threshold": thr})
s.save_model("fixtures/saelens/sl_jumprelu"); show("fixtures/saelens/sl_jumprelu")
# BatchTopK training SAE -> inference jumprelu
b = BatchTopKTrainingSAE(BatchTopKTrainingSAEConfig(d_in=d_in, d_sae=d_sae, k=4))
fill(b, {"topk_threshold": torch.tensor(0.3, dtype=torch.double)})
b.save_model("fixtures/saelens/sl_batchtopk_train"); show("fixtures/saelens/sl_batchtopk_train")
b.save_inference_model("fixtures/saelens/sl_batchtopk_inf"); show("fixtures/saelens/sl_batchtopk_inf")
j = JumpReLUTrainingSAE(JumpReLUTrainingSAEConfig(d_in=d_in, d_sae=d_sae))
j.save_inference_model("fixtures/saelens/sl_jumprelu_train_inf"); show("fixtures/saelens/sl_jumprelu_train_inf")
j.save_model("fixtures/saelens/sl_jumprelu_train"); show("fixtures/saelens/sl_jumprelu_train")
t = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=d_in, d_sae=d_sae, k=4))
t.save_inference_model("fixtures/saelens/sl_topk_train_inf"); show("fixtures/saelens/sl_topk_train_inf")
# reload each
for p in ["sl_standard","sl_topk","sl_jumprelu","sl_batchtopk_inf","sl_jumprelu_train_inf","sl_topk_train_inf"]:
    sae = SAE.load_from_disk(f"fixtures/saelens/{p}")
    print(p, type(sae).__name__, sae.encode(torch.randn(2, d_in)).shape)
# check BatchTopK inference equals folded jumprelu
x = torch.randn(5, d_in)
inf = SAE.load_from_disk("fixtures/saelens/sl_batchtopk_inf")
W_dec_norm = W_dec.norm(dim=-1)
h = (x - b_dec) @ W_enc + b_enc
h_scaled = h * W_dec_norm
ref = torch.relu(h_scaled) * (h_scaled > 0.3)
print("batchtopk->jumprelu matches folded formula:", torch.allclose(inf.encode(x), ref, atol=1e-5))
print("saved inference W_dec row norms:", inf.W_dec.norm(dim=-1)[:3])
