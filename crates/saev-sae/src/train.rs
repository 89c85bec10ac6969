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

use serde::{Deserialize, Serialize};

use crate::aux_k::{AuxTerm, DeadPre};
use crate::codes::SparseCodes;
use crate::matmul::{matmul, matmul_into, View};
use crate::objective::{sample_prefixes, AuxK, Matryoshka};
use crate::optim::{Adam, Moments};
use crate::sae::{losses_of, Losses, Sae};
use crate::sparse::SPARSE_BELOW;

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
    fn sized(&mut self, d: usize, s: usize) {
        self.w_enc_DS.resize(d * s, 0.0);
        self.b_enc_S.resize(s, 0.0);
        self.w_dec_SD.resize(s * d, 0.0);
        self.b_dec_D.resize(d, 0.0);
    }
}

/// What a step writes besides its outputs, kept from step to step: at
/// S = 12,288 each `[S, D]` buffer is 38 MB, and allocating them fresh each
/// step costs page faults on every page.
#[derive(Clone, Debug, Default)]
pub(crate) struct Workspace {
    /// Filled by a step, handed out in its [`StepOutput`] and given back.
    pub grads: Grads,
    /// The sparse step's encoder gradient, a row per latent (`[S, D]`).
    pub enc_SD: Vec<f32>,
    /// `W_dec` before the step's normalization (restored on a bad loss).
    w_dec_before: Vec<f32>,
}

/// Workspaces not in use. The trainers of a sweep step one after another,
/// so one workspace serves them all: 24 SAEs would otherwise hold 24 sets
/// (3.6 GB at S = 12,288). Trainers stepping at once take one each.
static SPARE: std::sync::Mutex<Vec<Workspace>> = std::sync::Mutex::new(Vec::new());

impl Workspace {
    fn take() -> Workspace {
        let spare = SPARE.lock().ok().and_then(|mut v| v.pop());
        spare.unwrap_or_default()
    }

    fn give_back(self) {
        if let Ok(mut v) = SPARE.lock() {
            v.push(self);
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
    /// Training examples since each latent last fired (tracked for AuxK).
    pub since_fired_S: Vec<u64>,
    /// Dense or sparse products after the encoder (automatic by default).
    pub path: StepPath,
    adam: [Moments; 4],
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

/// Compute the loss terms and gradients of `sae` on a batch (no update),
/// with the plain objective.
pub fn gradients(sae: &Sae, x_BD: &[f32], coeff: f32) -> (Losses, Grads) {
    let out = step_gradients(
        sae,
        x_BD,
        StepOptions {
            coeff,
            prefixes: None,
            aux: None,
        },
    );
    (out.losses, out.grads)
}

/// Compute loss terms and gradients with any activation and objective.
///
/// The `[B, S]` work is done in place and in parallel: `f` overwrites the
/// pre-activations (`f != 0` exactly where the activation lets the gradient
/// through), and column sums are products with a row of ones. Matryoshka
/// prefixes are decoded block by block: block `j`'s latents appear in every
/// prefix from `j` on, so their gradient uses the sum of those prefixes'
/// output gradients and the whole step still costs four products.
pub fn step_gradients(sae: &Sae, x_BD: &[f32], opts: StepOptions) -> StepOutput {
    step_gradients_on(sae, x_BD, opts, StepPath::Auto)
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

/// [`step_gradients`] on a chosen [`StepPath`]: the same step either way,
/// summed in another order.
pub fn step_gradients_on(sae: &Sae, x_BD: &[f32], opts: StepOptions, path: StepPath) -> StepOutput {
    step_in(sae, x_BD, opts, path, &mut Workspace::default())
}

/// [`step_gradients_on`] writing into `ws`'s buffers.
pub(crate) fn step_in(
    sae: &Sae,
    x_BD: &[f32],
    opts: StepOptions,
    path: StepPath,
    ws: &mut Workspace,
) -> StepOutput {
    let s = sae.d_sae();
    ws.grads.sized(sae.d_vit(), s);
    let blocks = crate::objective::blocks(opts.prefixes, s);
    let mut step = Step {
        sae,
        x_BD,
        opts,
        blocks: &blocks,
        ws,
    };
    let dead_before = opts.aux.map(|(_, dead)| dead);
    // Encode block by block, never holding [B, S], unless the dense step
    // will be cheaper (BatchTopK: known from k; else the first block shows).
    let batch_topk_dense = match sae.cfg.activation {
        crate::Activation::BatchTopK { top_k, .. } => top_k as f64 / s as f64 >= SPARSE_BELOW,
        _ => false,
    };
    let blockwise = match path {
        StepPath::Dense => false,
        StepPath::Sparse => true,
        StepPath::Auto => !batch_topk_dense,
    };
    if blockwise {
        let xc_BD = crate::codes::centred(sae, x_BD);
        let mut dead = dead_before.map(DeadPre::new);
        let give_up = (path == StepPath::Auto).then_some(2.0 * SPARSE_BELOW);
        let codes = crate::codes::encode_train_blocks(sae, &xc_BD, give_up, |pre| {
            if let Some(dead) = &mut dead {
                dead.push(pre, s);
            }
        });
        return match codes {
            Ok((c, cut)) if path == StepPath::Sparse || c.density() < SPARSE_BELOW => {
                step.sparse(&xc_BD, &c, dead.as_ref(), cut)
            }
            Ok((c, cut)) => step.dense(xc_BD, c.to_dense(), dead, cut),
            Err(first_RS) => {
                let f_BS = dense_after_first(sae, &xc_BD, first_RS, dead.as_mut());
                step.dense(xc_BD, f_BS, dead, None)
            }
        };
    }
    let mut f_BS = vec![0.0; x_BD.len() / sae.d_vit() * s];
    let xc_BD = sae.pre_activations(x_BD, &mut f_BS);
    let dead = dead_before.map(|dead| DeadPre::gather(&f_BS, s, dead));
    let threshold = sae.cfg.activation.apply_train(&mut f_BS, s);
    step.dense(xc_BD, f_BS, dead, threshold)
}

/// The training-mode latents `[B, S]` of a batch whose first block
/// (`first_RS`, already activated and gathered for AuxK) showed it dense.
fn dense_after_first(
    sae: &Sae,
    xc_BD: &[f32],
    first_RS: Vec<f32>,
    dead: Option<&mut DeadPre>,
) -> Vec<f32> {
    let (d, s) = (sae.d_vit(), sae.d_sae());
    let mut f_BS = first_RS;
    let done = f_BS.len() / s;
    f_BS.resize(xc_BD.len() / d * s, 0.0);
    let rest = &mut f_BS[done * s..];
    crate::codes::pre_activations_into(sae, &xc_BD[done * d..], rest);
    if let Some(dead) = dead {
        dead.push(rest, s);
    }
    sae.cfg.activation.apply_train(rest, s);
    f_BS
}

/// One step's inputs, whichever path computes it.
struct Step<'a> {
    sae: &'a Sae,
    x_BD: &'a [f32],
    opts: StepOptions<'a>,
    /// Matryoshka blocks `[lo, hi)` of latents (one, `[0, S)`, without it).
    blocks: &'a [(usize, usize)],
    ws: &'a mut Workspace,
}

impl Step<'_> {
    fn sparse(
        &mut self,
        xc_BD: &[f32],
        codes: &SparseCodes,
        dead: Option<&DeadPre>,
        batch_threshold: Option<f32>,
    ) -> StepOutput {
        let input = crate::sparse::Input {
            x_BD: self.x_BD,
            xc_BD,
            act: codes,
            coeff: self.opts.coeff,
            blocks: self.blocks,
            aux: self.opts.aux.map(|(aux, _)| aux).zip(dead),
        };
        let mut out = crate::sparse::step(self.sae, input, self.ws);
        out.batch_threshold = batch_threshold;
        out
    }

    /// The dense products over `f_BS` (activated latents, `[B, S]`).
    fn dense(
        &mut self,
        xc_BD: Vec<f32>,
        f_BS: Vec<f32>,
        dead_pre: Option<DeadPre>,
        batch_threshold: Option<f32>,
    ) -> StepOutput {
        let (sae, x_BD, opts, blocks) = (self.sae, self.x_BD, self.opts, self.blocks);
        let (d, s) = (sae.d_vit(), sae.d_sae());
        let b = x_BD.len() / d;
        let n = blocks.len();
        let coeff = opts.coeff;
        let f = View::new(&f_BS, b, s);
        let w_dec = View::new(&sae.w_dec_SD, s, d);

        // Prefix reconstructions: x_hat_j = x_hat_{j-1} + f[:, block j] W_dec[block j].
        let mut x_hats: Vec<Vec<f32>> = Vec::with_capacity(n);
        for (j, &(lo, hi)) in blocks.iter().enumerate() {
            let mut x_hat_BD = match x_hats.last() {
                Some(prev) => prev.clone(),
                None => sae.b_dec_D.iter().copied().cycle().take(b * d).collect(),
            };
            matmul(&mut x_hat_BD, f.columns(lo, hi), w_dec.rows(lo, hi), true);
            debug_assert_eq!(x_hats.len(), j);
            x_hats.push(x_hat_BD);
        }
        let x_hat_BD = x_hats.last().expect("one prefix at least");
        let mut losses = losses_of(x_BD, x_hat_BD, &f_BS, s, coeff);
        if n > 1 {
            losses.mse = x_hats
                .iter()
                .map(|xh| losses_of(x_BD, xh, &[], 1, 0.0).mse)
                .sum::<f32>()
                / n as f32;
            losses.loss = losses.mse + coeff * losses.l1;
        }
        let ones_B = vec![1.0f32; b];

        // Output gradients, summed from the last prefix back: g_j = sum_{i >= j} g_xhat_i.
        let scale = 2.0 / (b * d * n) as f32;
        let mut g_suffix: Vec<Vec<f32>> = vec![Vec::new(); n];
        for j in (0..n).rev() {
            let mut g: Vec<f32> = x_hats[j]
                .iter()
                .zip(x_BD)
                .map(|(y, x)| scale * (y - x))
                .collect();
            if j + 1 < n {
                g.iter_mut()
                    .zip(&g_suffix[j + 1])
                    .for_each(|(a, b)| *a += b);
            }
            g_suffix[j] = g;
        }
        let mut grads = std::mem::take(&mut self.ws.grads);
        let w_dec_SD = &mut grads.w_dec_SD;
        for (&(lo, hi), g) in blocks.iter().zip(&g_suffix) {
            matmul(
                &mut w_dec_SD[lo * d..hi * d],
                f.columns(lo, hi).t(),
                View::new(g, b, d),
                false,
            );
        }
        let b_dec_D = &mut grads.b_dec_D;
        matmul(
            b_dec_D,
            View::new(&ones_B, 1, b),
            View::new(&g_suffix[0], b, d),
            false,
        );
        // g_pre = (g_xhat W_dec^T + c sign(f) / B) where f != 0, else 0.
        let mut g_pre_BS = vec![coeff / b as f32; b * s];
        for (&(lo, hi), g) in blocks.iter().zip(&g_suffix) {
            matmul_into(
                &mut g_pre_BS[lo..],
                s,
                View::new(g, b, d),
                w_dec.rows(lo, hi).t(),
                true,
            );
        }
        let neg_l1 = 2.0 * coeff / b as f32;
        g_pre_BS
            .par_chunks_mut(1 << 16)
            .zip(f_BS.par_chunks(1 << 16))
            .for_each(|(g, f)| {
                g.iter_mut().zip(f).for_each(|(g, &f)| {
                    if f == 0.0 {
                        *g = 0.0
                    } else if f < 0.0 {
                        *g -= neg_l1
                    }
                })
            });

        let mut active_S = None;
        if let (Some((aux, _)), Some(dead_pre)) = (opts.aux, &dead_pre) {
            let active = fired(&f_BS, s);
            let dead_S = dead_pre.dead_S(&active);
            let x_hat = crate::aux_k::Rows::dense(x_hat_BD, d);
            let term = AuxTerm::of(sae, x_BD, x_hat, dead_pre, &dead_S, aux);
            term.add_dense(sae, &mut g_pre_BS, w_dec_SD);
            losses.aux = term.loss;
            losses.loss += losses.aux;
            active_S = Some(active);
        }

        matmul(
            &mut grads.w_enc_DS,
            View::new(&xc_BD, b, d).t(),
            View::new(&g_pre_BS, b, s),
            false,
        );
        matmul(
            &mut grads.b_enc_S,
            View::new(&ones_B, 1, b),
            View::new(&g_pre_BS, b, s),
            false,
        );
        subtract_encoder_path(&mut grads.b_dec_D, &sae.w_enc_DS, &grads.b_enc_S);
        StepOutput {
            losses,
            grads,
            active_S,
            batch_threshold,
        }
    }
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

/// Which latents are non-zero for at least one example.
fn fired(f_BS: &[f32], s: usize) -> Vec<bool> {
    f_BS.par_chunks(s * 64)
        .map(|rows| {
            let mut any = vec![false; s];
            for row in rows.chunks_exact(s) {
                any.iter_mut().zip(row).for_each(|(a, &v)| *a |= v != 0.0);
            }
            any
        })
        .reduce(
            || vec![false; s],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(a, b)| *a |= b);
                a
            },
        )
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
        let mut ws = Workspace::take();
        let out = self.step_with(x_BD, &mut ws);
        ws.give_back();
        out
    }

    fn step_with(&mut self, x_BD: &[f32], ws: &mut Workspace) -> Result<Losses, NonFiniteLoss> {
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
                .map(|&n| n + b >= aux.dead_after)
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
