//! What one training step takes and gives, shared by the CPU step (dense
//! and sparse paths) and the trainers: settings, schedules, gradients and
//! their buffers, and the two corrections every path applies.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::objective::{sample_prefixes, AuxK, Matryoshka};
use crate::sae::Losses;

/// Optimizer, schedule and objective settings of one SAE.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub lr: f32,
    pub n_lr_warmup: u64,
    pub n_sparsity_warmup: u64,
    /// The AuxK loss for dead latents (off unless set).
    #[serde(default)]
    pub aux: Option<AuxK>,
    /// The Matryoshka objective (off unless set).
    #[serde(default)]
    pub matryoshka: Option<Matryoshka>,
}

impl Default for TrainConfig {
    /// saev's defaults (`lr` 4e-4, 500 warm-up steps, no sparsity warm-up).
    fn default() -> Self {
        Self {
            lr: 4e-4,
            n_lr_warmup: 500,
            n_sparsity_warmup: 0,
            aux: None,
            matryoshka: None,
        }
    }
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
#[error("SAE training diverged at step {step}: loss {} (mse {}, l1 {})", losses.loss, losses.mse, losses.l1)]
pub struct NonFiniteLoss {
    pub step: u64,
    pub losses: Losses,
}

/// Gradients of the four parameters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Grads {
    pub w_enc_DS: Vec<f32>,
    pub b_enc_S: Vec<f32>,
    pub w_dec_SD: Vec<f32>,
    pub b_dec_D: Vec<f32>,
}

impl Grads {
    /// Buffers of the right sizes, their contents left as they were: every
    /// step overwrites every value.
    pub(crate) fn sized(&mut self, d: usize, s: usize) {
        self.w_enc_DS.resize(d * s, 0.0);
        self.b_enc_S.resize(s, 0.0);
        self.w_dec_SD.resize(s * d, 0.0);
        self.b_dec_D.resize(d, 0.0);
    }
}

/// What a step writes besides its outputs, kept from step to step: at
/// S = 12,288 each `[S, D]` buffer is 38 MB, and allocating them fresh each
/// step costs page faults on every page. The SAEs of a sweep group step one
/// after another, so the group lends one workspace to all of them
/// ([`Trainer::step_with`]); a lone [`Trainer::step`] keeps its own.
#[derive(Clone, Debug, Default)]
pub struct Workspace {
    /// Filled by a step, handed out in its [`StepOutput`] and given back.
    pub(crate) grads: Grads,
    /// The sparse step's encoder gradient, a row per latent (`[S, D]`).
    pub(crate) enc_SD: Vec<f32>,
    /// `W_dec` before the step's normalization (restored on a bad loss).
    pub(crate) w_dec_before: Vec<f32>,
}

/// What a step needs beyond the batch.
#[derive(Clone, Copy, Debug)]
pub struct StepOptions<'a> {
    /// Sparsity coefficient of the L1 term.
    pub coeff: f32,
    /// Matryoshka prefix lengths, increasing, the last equal to `d_sae`
    /// (`None`: the plain reconstruction loss).
    pub prefixes: Option<&'a [usize]>,
    /// AuxK settings and the latents dead before this batch (`dead_S`);
    /// latents that fire in this batch are not dead.
    pub aux: Option<(AuxK, &'a [bool])>,
}

/// The loss terms and gradients of one batch, plus what the trainer tracks.
#[derive(Clone, Debug)]
pub struct StepOutput {
    pub losses: Losses,
    pub grads: Grads,
    /// Latents that fired in this batch (computed when AuxK is on).
    pub active_S: Option<Vec<bool>>,
    /// BatchTopK: the smallest positive surviving pre-activation.
    pub batch_threshold: Option<f32>,
}

/// How a step computes what follows the encoder product.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepPath {
    /// Sparse when few enough latents fired ([`crate::sparse::SPARSE_BELOW`]),
    /// else dense.
    #[default]
    Auto,
    /// Always the dense products.
    Dense,
    /// Always over active pairs (for testing and benchmarks).
    Sparse,
}

/// `b_dec`'s gradient through the encoder (`x - b_dec` enters it):
/// `g_b_dec -= W_enc g_b_enc`.
pub(crate) fn subtract_encoder_path(g_b_dec_D: &mut [f32], w_enc_DS: &[f32], g_b_enc_S: &[f32]) {
    let s = g_b_enc_S.len();
    g_b_dec_D
        .par_iter_mut()
        .zip(w_enc_DS.par_chunks_exact(s))
        .for_each(|(g, row)| *g -= row.iter().zip(g_b_enc_S).map(|(w, gb)| w * gb).sum::<f32>());
}

/// Remove from each row of `g_SD` its component along the same row of `w_SD`
/// (assumed unit norm, as after `normalize_w_dec`).
pub fn remove_parallel(g_SD: &mut [f32], w_SD: &[f32], d: usize) {
    g_SD.par_chunks_exact_mut(d)
        .zip(w_SD.par_chunks_exact(d))
        .for_each(|(g, w)| {
            let dot: f32 = g.iter().zip(w).map(|(a, b)| a * b).sum();
            g.iter_mut().zip(w).for_each(|(a, b)| *a -= dot * b);
        });
}

/// Matryoshka prefixes of step `step` (a function of the SAE seed and the step).
pub fn prefixes_at(sae: &crate::SaeConfig, cfg: &TrainConfig, step: u64) -> Option<Vec<usize>> {
    let m = cfg.matryoshka?;
    let mut rng = saev_rng::Pcg64::from_seed(sae.seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    Some(sample_prefixes(sae.d_sae(), m.n_prefixes, &mut rng))
}
