//! One training step, saev's way, on the CPU.
//!
//! Per step `k` (from 0): `W_dec` rows to unit norm (if `normalize_w_dec`);
//! forward; gradients by hand (below); the part of each `W_dec` row's gradient
//! parallel to the row removed (if `remove_parallel_grads`); Adam (betas
//! 0.9/0.999, eps 1e-8, no weight decay, PyTorch's update formula) at learning
//! rate `lr * min(k, n_lr_warmup) / n_lr_warmup`; the sparsity coefficient
//! warms up the same way (saev sets it but never reads it; we apply it).
//!
//! Gradients of `loss = mean((x_hat - x)^2) + c * mean_b(sum_S f)`:
//!
//! ```text
//! g_xhat = 2 (x_hat - x) / (B D)                    [B, D]
//! g_Wdec = f^T g_xhat,   g_bdec = sum_b g_xhat
//! g_pre  = (g_xhat W_dec^T + c / B) * (pre > 0)     [B, S]
//! g_Wenc = (x - b_dec)^T g_pre,   g_benc = sum_b g_pre
//! g_bdec -= W_enc g_benc                            (b_dec also enters the encoder)
//! ```

use rayon::prelude::*;

use crate::matmul::{matmul, View};
use crate::sae::{losses_of, Losses, Sae};

/// Optimizer and schedule settings of one SAE.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    pub lr: f32,
    pub n_lr_warmup: u64,
    pub n_sparsity_warmup: u64,
}

/// `target * min(step, n) / n` (and `target` when `n` is 0).
pub fn warmup(target: f32, step: u64, n: u64) -> f32 {
    if n == 0 {
        target
    } else {
        (f64::from(target) * step.min(n) as f64 / n as f64) as f32
    }
}

/// A step whose loss was NaN or infinite (the SAE was left unchanged).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("SAE training diverged at step {step}: loss {} (mse {}, l1 {}); the weights of the last good step are kept", losses.loss, losses.mse, losses.l1)]
pub struct NonFiniteLoss {
    pub step: u64,
    pub losses: Losses,
}

/// Gradients of the four parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Grads {
    pub w_enc_DS: Vec<f32>,
    pub b_enc_S: Vec<f32>,
    pub w_dec_SD: Vec<f32>,
    pub b_dec_D: Vec<f32>,
}

/// Adam's moments for one parameter tensor.
#[derive(Clone, Debug, Default, PartialEq)]
struct Moments {
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Moments {
    fn new(n: usize) -> Self {
        Self {
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    /// PyTorch's Adam: `p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)`.
    fn update(&mut self, p: &mut [f32], g: &[f32], lr: f32, t: u64) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        const EPS: f32 = 1e-8;
        let bc1 = 1.0 - B1.powi(t as i32);
        let bc2_sqrt = (1.0 - B2.powi(t as i32)).sqrt();
        let step = lr / bc1;
        for (((p, g), m), v) in p.iter_mut().zip(g).zip(&mut self.m).zip(&mut self.v) {
            *m = B1 * *m + (1.0 - B1) * g;
            *v = B2 * *v + (1.0 - B2) * g * g;
            *p -= step * *m / (v.sqrt() / bc2_sqrt + EPS);
        }
    }
}

/// An SAE with its Adam state and step counter.
#[derive(Clone, Debug)]
pub struct Trainer {
    pub sae: Sae,
    pub cfg: TrainConfig,
    /// Steps taken so far.
    pub step: u64,
    adam: [Moments; 4],
}

/// Compute the loss terms and gradients of `sae` on a batch (no update).
///
/// The `[B, S]` work is done in place and in parallel: `f` overwrites the
/// pre-activations (`f > 0` exactly where `pre > 0`, so it doubles as the
/// ReLU mask), and column sums are products with a row of ones.
pub fn gradients(sae: &Sae, x_BD: &[f32], coeff: f32) -> (Losses, Grads) {
    let (d, s) = (sae.d_vit(), sae.d_sae());
    let b = x_BD.len() / d;
    let mut f_BS = vec![0.0; b * s];
    let xc_BD = sae.pre_activations(x_BD, &mut f_BS);
    f_BS.par_chunks_mut(1 << 16)
        .for_each(|c| c.iter_mut().for_each(|v| *v = v.max(0.0)));
    let x_hat_BD = sae.decode(&f_BS);
    let losses = losses_of(x_BD, &x_hat_BD, &f_BS, s, coeff);
    let ones_B = vec![1.0f32; b];

    let scale = 2.0 / (b * d) as f32;
    let g_xhat_BD: Vec<f32> = x_hat_BD
        .iter()
        .zip(x_BD)
        .map(|(y, x)| scale * (y - x))
        .collect();
    let mut w_dec_SD = vec![0.0; s * d];
    matmul(
        &mut w_dec_SD,
        View::new(&f_BS, b, s).t(),
        View::new(&g_xhat_BD, b, d),
        false,
    );
    let mut b_dec_D = vec![0.0; d];
    matmul(
        &mut b_dec_D,
        View::new(&ones_B, 1, b),
        View::new(&g_xhat_BD, b, d),
        false,
    );
    // g_pre = (g_xhat W_dec^T + c / B) where f > 0, else 0.
    let mut g_pre_BS = vec![coeff / b as f32; b * s];
    matmul(
        &mut g_pre_BS,
        View::new(&g_xhat_BD, b, d),
        View::new(&sae.w_dec_SD, s, d).t(),
        true,
    );
    g_pre_BS
        .par_chunks_mut(1 << 16)
        .zip(f_BS.par_chunks(1 << 16))
        .for_each(|(g, f)| {
            g.iter_mut().zip(f).for_each(|(g, f)| {
                if *f <= 0.0 {
                    *g = 0.0
                }
            })
        });
    let mut w_enc_DS = vec![0.0; d * s];
    matmul(
        &mut w_enc_DS,
        View::new(&xc_BD, b, d).t(),
        View::new(&g_pre_BS, b, s),
        false,
    );
    let mut b_enc_S = vec![0.0; s];
    matmul(
        &mut b_enc_S,
        View::new(&ones_B, 1, b),
        View::new(&g_pre_BS, b, s),
        false,
    );
    // b_dec's encoder path: -W_enc g_benc.
    for (g, row) in b_dec_D.iter_mut().zip(sae.w_enc_DS.chunks_exact(s)) {
        *g -= row.iter().zip(&b_enc_S).map(|(w, gb)| w * gb).sum::<f32>();
    }
    (
        losses,
        Grads {
            w_enc_DS,
            b_enc_S,
            w_dec_SD,
            b_dec_D,
        },
    )
}

/// Remove from each row of `g_SD` its component along the same row of `w_SD`
/// (assumed unit norm, as after `normalize_w_dec`).
pub fn remove_parallel(g_SD: &mut [f32], w_SD: &[f32], d: usize) {
    for (g, w) in g_SD.chunks_exact_mut(d).zip(w_SD.chunks_exact(d)) {
        let dot: f32 = g.iter().zip(w).map(|(a, b)| a * b).sum();
        g.iter_mut().zip(w).for_each(|(a, b)| *a -= dot * b);
    }
}

impl Trainer {
    pub fn new(sae: Sae, cfg: TrainConfig) -> Self {
        let (d, s) = (sae.d_vit(), sae.d_sae());
        Self {
            adam: [
                Moments::new(d * s),
                Moments::new(s),
                Moments::new(s * d),
                Moments::new(d),
            ],
            sae,
            cfg,
            step: 0,
        }
    }

    /// Learning rate and sparsity coefficient of the next step.
    pub fn schedule(&self) -> (f32, f32) {
        (
            warmup(self.cfg.lr, self.step, self.cfg.n_lr_warmup),
            warmup(
                self.sae.cfg.sparsity_coeff,
                self.step,
                self.cfg.n_sparsity_warmup,
            ),
        )
    }

    /// One training step on a `[B, d_vit]` batch; returns the batch's losses
    /// (computed before the update). A NaN or infinite loss stops before
    /// anything changes, so the weights stay those of the last good step.
    pub fn step(&mut self, x_BD: &[f32]) -> Result<Losses, NonFiniteLoss> {
        let (lr, coeff) = self.schedule();
        let before = self
            .sae
            .cfg
            .normalize_w_dec
            .then(|| self.sae.w_dec_SD.clone());
        if self.sae.cfg.normalize_w_dec {
            self.sae.normalize_w_dec();
        }
        let (losses, mut g) = gradients(&self.sae, x_BD, coeff);
        if !losses.loss.is_finite() {
            if let Some(w) = before {
                self.sae.w_dec_SD = w;
            }
            return Err(NonFiniteLoss {
                step: self.step,
                losses,
            });
        }
        if self.sae.cfg.remove_parallel_grads {
            remove_parallel(&mut g.w_dec_SD, &self.sae.w_dec_SD, self.sae.d_vit());
        }
        self.step += 1;
        let t = self.step;
        let [a, b, c, d] = &mut self.adam;
        a.update(&mut self.sae.w_enc_DS, &g.w_enc_DS, lr, t);
        b.update(&mut self.sae.b_enc_S, &g.b_enc_S, lr, t);
        c.update(&mut self.sae.w_dec_SD, &g.w_dec_SD, lr, t);
        d.update(&mut self.sae.b_dec_D, &g.b_dec_D, lr, t);
        Ok(losses)
    }
}
