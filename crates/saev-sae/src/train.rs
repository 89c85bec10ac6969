//! [`Trainer`]: an SAE with its Adam state, stepped on the CPU.
//!
//! Per step `k` (from 0): `W_dec` rows to unit norm (if `normalize_w_dec`);
//! forward; gradients (`dense.rs`, `sparse.rs`); the part of each `W_dec`
//! row's gradient parallel to the row removed (if `remove_parallel_grads`);
//! Adam ([`crate::optim::Adam::SAEV`]) at learning rate
//! `lr * min(k, n_lr_warmup) / n_lr_warmup`; the sparsity coefficient warms
//! up the same way (saev sets it but never reads it; we apply it).

use crate::dense::step_in;
use crate::optim::{Adam, Moments};
use crate::sae::{Losses, Sae};
use crate::step::{
    prefixes_at, remove_parallel, warmup, NonFiniteLoss, StepOptions, StepPath, TrainConfig,
    Workspace,
};

/// An SAE with its Adam state and step counter.
#[derive(Clone, Debug)]
pub struct Trainer {
    pub sae: Sae,
    pub cfg: TrainConfig,
    /// Steps taken so far.
    pub step: u64,
    /// Training examples since each latent last fired (tracked for AuxK).
    pub since_fired_S: Vec<u64>,
    /// Dense or sparse products after the encoder (automatic by default).
    pub path: StepPath,
    adam: [Moments; 4],
    /// Buffers of [`Trainer::step`] (none for [`Trainer::step_with`]).
    own: Option<Box<Workspace>>,
}

impl Trainer {
    pub fn new(sae: Sae, cfg: TrainConfig) -> Self {
        let (d, s) = (sae.d_vit(), sae.d_sae());
        Self {
            adam: [
                Moments::zeros(d * s),
                Moments::zeros(s),
                Moments::zeros(s * d),
                Moments::zeros(d),
            ],
            since_fired_S: vec![0; if cfg.aux.is_some() { s } else { 0 }],
            path: StepPath::Auto,
            own: None,
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

    /// Matryoshka prefixes of the next step: a function of the SAE seed and
    /// the step alone, so a resumed run draws what an uninterrupted one would.
    pub fn prefixes(&self) -> Option<Vec<usize>> {
        prefixes_at(&self.sae.cfg, &self.cfg, self.step)
    }

    /// One training step on a `[B, d_vit]` batch; returns the batch's losses
    /// (computed before the update). A NaN or infinite loss stops before
    /// anything changes, so the weights stay those of the last good step.
    pub fn step(&mut self, x_BD: &[f32]) -> Result<Losses, NonFiniteLoss> {
        let mut ws = self.own.take().unwrap_or_default();
        let out = self.step_with(x_BD, &mut ws);
        self.own = Some(ws);
        out
    }

    /// [`Trainer::step`] with buffers lent by the caller: a sweep group
    /// steps all its SAEs with one workspace.
    pub fn step_with(&mut self, x_BD: &[f32], ws: &mut Workspace) -> Result<Losses, NonFiniteLoss> {
        let (lr, coeff) = self.schedule();
        let b = (x_BD.len() / self.sae.d_vit()) as u64;
        let normalize = self.sae.cfg.normalize_w_dec;
        if normalize {
            ws.w_dec_before.clear();
            ws.w_dec_before.extend_from_slice(&self.sae.w_dec_SD);
            self.sae.normalize_w_dec();
        }
        let prefixes = self.prefixes();
        let dead_S: Option<Vec<bool>> = self.cfg.aux.map(|aux| {
            self.since_fired_S
                .iter()
                .map(|&n| aux.dead_before(n, b))
                .collect()
        });
        let opts = StepOptions {
            coeff,
            prefixes: prefixes.as_deref(),
            aux: self.cfg.aux.zip(dead_S.as_deref()),
        };
        let out = step_in(&self.sae, x_BD, opts, self.path, ws);
        let (losses, mut g) = (out.losses, out.grads);
        if !losses.loss.is_finite() {
            if normalize {
                std::mem::swap(&mut self.sae.w_dec_SD, &mut ws.w_dec_before);
            }
            ws.grads = g;
            return Err(NonFiniteLoss {
                step: self.step,
                losses,
            });
        }
        if let Some(active) = &out.active_S {
            for (n, &a) in self.since_fired_S.iter_mut().zip(active) {
                *n = if a { 0 } else { *n + b };
            }
        }
        if let (crate::Activation::BatchTopK { momentum, .. }, Some(t)) =
            (self.sae.cfg.activation, out.batch_threshold)
        {
            self.sae.threshold = (1.0 - momentum) * self.sae.threshold + momentum * t;
        }
        if self.sae.cfg.remove_parallel_grads {
            remove_parallel(&mut g.w_dec_SD, &self.sae.w_dec_SD, self.sae.d_vit());
        }
        self.step += 1;
        let t = self.step;
        let [a, b, c, d] = &mut self.adam;
        let adam = Adam::SAEV;
        adam.update_par(&mut self.sae.w_enc_DS, &g.w_enc_DS, a, lr, t);
        adam.update_par(&mut self.sae.b_enc_S, &g.b_enc_S, b, lr, t);
        adam.update_par(&mut self.sae.w_dec_SD, &g.w_dec_SD, c, lr, t);
        adam.update_par(&mut self.sae.b_dec_D, &g.b_dec_D, d, lr, t);
        ws.grads = g;
        Ok(losses)
    }

    /// Adam's first and second moments, in parameter order
    /// (`W_enc`, `b_enc`, `W_dec`, `b_dec`), for saving.
    pub fn moments(&self) -> [(&[f32], &[f32]); 4] {
        self.adam
            .each_ref()
            .map(|m| (m.m.as_slice(), m.v.as_slice()))
    }

    /// Restore a saved state (checked against the SAE's shapes).
    pub fn restore(
        sae: Sae,
        cfg: TrainConfig,
        step: u64,
        moments: [(Vec<f32>, Vec<f32>); 4],
        since_fired_S: Vec<u64>,
    ) -> Result<Self, String> {
        let mut t = Self::new(sae, cfg);
        for (slot, (m, v)) in t.adam.iter_mut().zip(moments) {
            if m.len() != slot.m.len() || v.len() != slot.v.len() {
                return Err(format!(
                    "optimizer state has {} values where the SAE has {}",
                    m.len(),
                    slot.m.len()
                ));
            }
            *slot = Moments { m, v };
        }
        if t.cfg.aux.is_some() {
            if since_fired_S.len() != t.sae.d_sae() {
                return Err("dead-latent counters do not match the SAE width".into());
            }
            t.since_fired_S = since_fired_S;
        }
        t.step = step;
        Ok(t)
    }
}
