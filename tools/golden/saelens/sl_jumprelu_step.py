import torch, warnings
warnings.filterwarnings("ignore")
from sae_lens import JumpReLUTrainingSAE, JumpReLUTrainingSAEConfig
from sae_lens.saes.sae import TrainStepInput

torch.manual_seed(0)
d_in, d_sae, B, bw, c = 8, 32, 16, 0.05, 0.5
sae = JumpReLUTrainingSAE(JumpReLUTrainingSAEConfig(
    d_in=d_in, d_sae=d_sae, jumprelu_init_threshold=0.01, jumprelu_bandwidth=bw,
    l0_coefficient=c))               # defaults: mode "step", ste_to_input False, apply_b_dec_to_input True
with torch.no_grad():
    sae.W_enc.copy_(torch.randn(d_in, d_sae) * 0.3); sae.b_enc.copy_(torch.randn(d_sae) * 0.05)
    sae.b_dec.copy_(torch.randn(d_in) * 0.1);        sae.threshold.copy_(torch.rand(d_sae) * 0.2)
x = torch.randn(B, d_in)

# --- SAELens ---
out = sae.training_forward_pass(TrainStepInput(sae_in=x, coefficients={"l0": c},
        dead_neuron_mask=None, n_training_steps=0, is_logging_step=False))
out.loss.backward()

# --- by hand ---
W_enc, b_enc, W_dec, b_dec = (p.detach().clone().requires_grad_()
                              for p in (sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec))
theta = sae.threshold.detach().clamp(min=0)          # training_forward_pass clamps in place first
h = (x - b_dec) @ W_enc + b_enc                       # hidden_pre
gate = (h > theta).to(h.dtype)                        # strict '>'
f = h * gate                                          # JumpReLU forward (no ReLU in training)
x_hat = f @ W_dec + b_dec
mse = (x_hat - x).pow(2).sum(-1).mean()
l0_loss = (c * gate.sum(-1)).mean()                   # "step" mode; gate carries no grad to h
loss = mse + l0_loss
loss.backward()                                       # grads for W_enc, b_enc, W_dec, b_dec
# pseudo-gradient for theta (rectangle kernel, bandwidth bw)
f_leaf = f.detach().requires_grad_()
(dL_df,) = torch.autograd.grad(((f_leaf @ W_dec.detach() + b_dec.detach()) - x).pow(2).sum(-1).mean(), f_leaf)
u = (h.detach() - theta) / bw
rect = ((u > -0.5) & (u < 0.5)).to(h.dtype)
theta_grad = (-(theta / bw) * rect * dL_df).sum(0) + (-(1.0 / bw) * rect * (c / B)).sum(0)

print("loss", float(out.loss), float(loss), torch.allclose(out.loss, loss))
for n, mine, ref in [("W_enc", W_enc.grad, sae.W_enc.grad), ("b_enc", b_enc.grad, sae.b_enc.grad),
                     ("W_dec", W_dec.grad, sae.W_dec.grad), ("b_dec", b_dec.grad, sae.b_dec.grad),
                     ("threshold", theta_grad, sae.threshold.grad)]:
    print(n, torch.allclose(mine, ref, atol=1e-6))

# --- the optimizer step SAETrainer._train_step would take (defaults) ---
opt = torch.optim.Adam(sae.parameters(), lr=3e-4, betas=(0.9, 0.999))
torch.nn.utils.clip_grad_norm_(sae.parameters(), 1.0)
opt.step(); opt.zero_grad()

# closed-form dL/df check used in the spec snippet
dL_df_closed = 2 * (x_hat.detach() - x) @ W_dec.detach().T / B
print("closed-form dL/df", torch.allclose(dL_df_closed, dL_df, atol=1e-6))
