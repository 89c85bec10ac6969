//! Adam, as PyTorch writes it, for every trainer in saev-rs: the SAE step on
//! the CPU and on a burn device, and the linear probes (with weight decay).
//!
//! PyTorch's update (`torch.optim.Adam`/`AdamW`, `foreach=False`):
//!
//! ```text
//! p *= 1 - lr * wd                       (AdamW's decoupled decay; none for Adam)
//! m  = b1 m + (1 - b1) g
//! v  = b2 v + (1 - b2) g^2
//! p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//! ```
//!
//! Every setting is explicit: burn's own optimizers default to other epsilons
//! and weight decays than PyTorch's.

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use rayon::prelude::*;

/// Adam's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam {
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// Decoupled weight decay (AdamW); 0 for plain Adam.
    pub weight_decay: f32,
}

impl Adam {
    /// saev's SAE optimizer: `torch.optim.Adam` with its defaults.
    pub const SAEV: Adam = Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
    };

    /// AdamW with PyTorch's betas and epsilon and this weight decay.
    pub fn adamw(weight_decay: f32) -> Self {
        Self {
            weight_decay,
            ..Self::SAEV
        }
    }

    /// Step `t`'s (from 1) factors: `lr / (1 - b1^t)` and `sqrt(1 - b2^t)`.
    pub fn corrections(&self, lr: f32, t: u64) -> (f32, f32) {
        let t = t.min(i32::MAX as u64) as i32;
        let step = lr / (1.0 - self.beta1.powi(t));
        (step, (1.0 - self.beta2.powi(t)).sqrt())
    }

    /// Update `p`, `m` and `v` in place with gradient `g` at step `t`.
    pub fn update(&self, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], lr: f32, t: u64) {
        let (step, bc2_sqrt) = self.corrections(lr, t);
        let decay = 1.0 - lr * self.weight_decay;
        let (b1, b2, eps) = (self.beta1, self.beta2, self.eps);
        for (((p, g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
            *p *= decay;
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *p -= step * *m / (v.sqrt() / bc2_sqrt + eps);
        }
    }

    /// [`Adam::update`] split across threads (elementwise, so the same bits).
    pub fn update_par(&self, p: &mut [f32], g: &[f32], s: &mut Moments, lr: f32, t: u64) {
        const CHUNK: usize = 1 << 14;
        p.par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .zip(s.m.par_chunks_mut(CHUNK))
            .zip(s.v.par_chunks_mut(CHUNK))
            .for_each(|(((p, g), m), v)| self.update(p, g, m, v, lr, t));
    }

    /// The same update on a burn device: returns the new `(p, m, v)`.
    pub fn update_tensor<B: Backend, const D: usize>(
        &self,
        [p, g, m, v]: [Tensor<B, D>; 4],
        lr: f32,
        t: u64,
    ) -> [Tensor<B, D>; 3] {
        let (step, bc2_sqrt) = self.corrections(lr, t);
        let (b1, b2) = (self.beta1, self.beta2);
        let p = match self.weight_decay {
            0.0 => p,
            wd => p * (1.0 - lr * wd),
        };
        let m = m * b1 + g.clone() * (1.0 - b1);
        let v = v * b2 + g.powi_scalar(2) * (1.0 - b2);
        let denom = v.clone().sqrt() / bc2_sqrt + self.eps;
        let p = p - m.clone() * step / denom;
        [p, m, v]
    }
}

/// Adam's first and second moments for one parameter tensor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Moments {
    pub m: Vec<f32>,
    pub v: Vec<f32>,
}

impl Moments {
    /// Zeros for a tensor of `n` values.
    pub fn zeros(n: usize) -> Self {
        Self {
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }
}
