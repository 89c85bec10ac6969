//! saev's ReLU sparse autoencoder (see docs/sae.md for the definition).
//!
//! ```text
//! f     = act((x - b_dec) @ W_enc + b_enc)         W_enc [D, S], b_enc [S]
//! x_hat = f @ W_dec + b_dec                        W_dec [S, D], b_dec [D]
//! mse   = mean over batch and dims of (x_hat - x)^2
//! l1    = batch mean of sum_S |f|;   l0 = batch mean of #(f != 0)
//! loss  = mse + coeff * l1
//! ```
//!
//! `act` is ReLU in the preprint; TopK and BatchTopK are in [`Activation`].

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::matmul::{matmul, View};

/// saev's `SparseAutoencoder` config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SaeConfig {
    pub d_vit: usize,
    pub exp_factor: usize,
    pub sparsity_coeff: f32,
    /// Examples whose mean initializes `b_dec` (0 skips it).
    pub n_reinit_samples: usize,
    /// Rescale `W_dec`'s rows to unit norm before every step.
    pub normalize_w_dec: bool,
    /// Remove the part of each `W_dec` row's gradient parallel to the row.
    pub remove_parallel_grads: bool,
    pub seed: u64,
    /// The nonlinearity (ReLU unless set; older configs have none).
    #[serde(default)]
    pub activation: Activation,
    /// The SAE width when it is not `d_vit * exp_factor` (saev today sets
    /// `d_sae` directly); `None` is `d_vit * exp_factor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d_sae: Option<usize>,
}

impl Default for SaeConfig {
    /// saev's defaults.
    fn default() -> Self {
        Self {
            d_vit: 1024,
            exp_factor: 16,
            sparsity_coeff: 4e-4,
            n_reinit_samples: 1024 * 16 * 32,
            normalize_w_dec: true,
            remove_parallel_grads: true,
            seed: 0,
            activation: Activation::Relu,
            d_sae: None,
        }
    }
}

impl SaeConfig {
    /// SAE width `S`: `d_vit * exp_factor` unless set directly.
    pub fn d_sae(&self) -> usize {
        self.d_sae.unwrap_or(self.d_vit * self.exp_factor)
    }
}

/// The four parameters, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Sae {
    pub cfg: SaeConfig,
    pub w_enc_DS: Vec<f32>,
    pub b_enc_S: Vec<f32>,
    pub w_dec_SD: Vec<f32>,
    pub b_dec_D: Vec<f32>,
    /// BatchTopK's running inference threshold (0 for other activations).
    pub threshold: f32,
    /// How the training data was normalized (`(x - act_mean) / scalar`), so
    /// that users of the SAE (probes, steering) see the same space.
    pub data_norm: Option<DataNorm>,
}

/// saev's data normalization, carried with a checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct DataNorm {
    pub act_mean: Vec<f32>,
    pub scalar: f32,
}

/// Loss terms of one batch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Losses {
    pub loss: f32,
    pub mse: f32,
    pub l1: f32,
    pub l0: f32,
    /// The AuxK term (already weighted by `alpha`; 0 without AuxK).
    pub aux: f32,
}

/// PyTorch's `kaiming_uniform_` bound for a `[rows, cols]` tensor: `sqrt(6 / cols)`
/// (fan-in is `size(1)`, gain `sqrt(2)`, `a = 0`).
fn kaiming_uniform(rows: usize, cols: usize, rng: &mut saev_rng::Pcg64) -> Vec<f32> {
    let bound = (6.0 / cols as f64).sqrt();
    (0..rows * cols)
        .map(|_| {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            ((2.0 * u - 1.0) * bound) as f32
        })
        .collect()
}

impl Sae {
    /// Fresh weights: `kaiming_uniform_` bounds on `W_enc` and `W_dec`, zero biases.
    pub fn new(cfg: SaeConfig) -> Self {
        let (d, s) = (cfg.d_vit, cfg.d_sae());
        let mut rng = saev_rng::Pcg64::from_seed(cfg.seed);
        let w_enc_DS = kaiming_uniform(d, s, &mut rng);
        let w_dec_SD = kaiming_uniform(s, d, &mut rng);
        Self {
            b_enc_S: vec![0.0; s],
            b_dec_D: vec![0.0; d],
            w_enc_DS,
            w_dec_SD,
            cfg,
            threshold: 0.0,
            data_norm: None,
        }
    }

    /// Build from given weights (shapes checked).
    pub fn from_weights(
        cfg: SaeConfig,
        w_enc_DS: Vec<f32>,
        b_enc_S: Vec<f32>,
        w_dec_SD: Vec<f32>,
        b_dec_D: Vec<f32>,
    ) -> Self {
        let (d, s) = (cfg.d_vit, cfg.d_sae());
        assert_eq!(
            (w_enc_DS.len(), b_enc_S.len(), w_dec_SD.len(), b_dec_D.len()),
            (d * s, s, s * d, d),
            "weight shapes"
        );
        Self {
            cfg,
            w_enc_DS,
            b_enc_S,
            w_dec_SD,
            b_dec_D,
            threshold: 0.0,
            data_norm: None,
        }
    }

    pub fn d_vit(&self) -> usize {
        self.cfg.d_vit
    }

    pub fn d_sae(&self) -> usize {
        self.cfg.d_sae()
    }

    /// `b_dec` = mean of `acts_ND` (saev's `init_b_dec`).
    pub fn init_b_dec(&mut self, acts_ND: &[f32]) {
        let d = self.d_vit();
        let n = acts_ND.len() / d;
        let mut sum = vec![0.0f64; d];
        for row in acts_ND.chunks_exact(d) {
            sum.iter_mut()
                .zip(row)
                .for_each(|(s, &x)| *s += f64::from(x));
        }
        self.b_dec_D = sum.iter().map(|s| (s / n as f64) as f32).collect();
    }

    /// Rows of `W_dec` to unit L2 norm.
    pub fn normalize_w_dec(&mut self) {
        let d = self.d_vit();
        self.w_dec_SD.par_chunks_exact_mut(d).for_each(|row| {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            row.iter_mut().for_each(|x| *x /= norm);
        });
    }

    /// Pre-activations `(x - b_dec) @ W_enc + b_enc` into `pre_BS`; returns `x - b_dec`.
    pub fn pre_activations(&self, x_BD: &[f32], pre_BS: &mut [f32]) -> Vec<f32> {
        let xc_BD = centred(self, x_BD);
        pre_activations_into(self, &xc_BD, pre_BS);
        xc_BD
    }

    /// `f = act(pre)`, the activation in inference mode (BatchTopK as a
    /// JumpReLU at the running threshold).
    pub fn encode(&self, x_BD: &[f32]) -> Vec<f32> {
        let b = x_BD.len() / self.d_vit();
        let mut f_BS = vec![0.0; b * self.d_sae()];
        self.pre_activations(x_BD, &mut f_BS);
        self.cfg
            .activation
            .apply_eval(&mut f_BS, self.d_sae(), self.threshold);
        f_BS
    }

    /// `x_hat = f @ W_dec + b_dec`.
    pub fn decode(&self, f_BS: &[f32]) -> Vec<f32> {
        let (d, s) = (self.d_vit(), self.d_sae());
        let b = f_BS.len() / s;
        let mut x_hat_BD: Vec<f32> = self.b_dec_D.iter().copied().cycle().take(b * d).collect();
        matmul(
            &mut x_hat_BD,
            View::new(f_BS, b, s),
            View::new(&self.w_dec_SD, s, d),
            true,
        );
        x_hat_BD
    }

    /// The loss terms of a batch with sparsity coefficient `coeff`.
    pub fn losses(&self, x_BD: &[f32], coeff: f32) -> Losses {
        let f_BS = self.encode(x_BD);
        let x_hat_BD = self.decode(&f_BS);
        losses_of(x_BD, &x_hat_BD, &f_BS, self.d_sae(), coeff)
    }
}

/// Loss terms from a batch, its reconstruction and its latents.
pub(crate) fn losses_of(
    x_BD: &[f32],
    x_hat_BD: &[f32],
    f_BS: &[f32],
    s: usize,
    coeff: f32,
) -> Losses {
    let b = f_BS.len() / s;
    let sq = chunked_sum(x_BD, x_hat_BD, |x, y| f64::from(y - x).powi(2));
    let mse = (sq / x_BD.len() as f64) as f32;
    let l1 = (chunked_sum(f_BS, f_BS, |v, _| f64::from(v.abs())) / b as f64) as f32;
    let l0 = crate::density::nonzero(f_BS) as f32 / b as f32;
    Losses {
        loss: mse + coeff * l1,
        mse,
        l1,
        l0,
        aux: 0.0,
    }
}

/// `sum_i term(a_i, b_i)` in f64, over fixed chunks in parallel and then in
/// chunk order: the same bits whatever the thread count.
pub(crate) fn chunked_sum(a: &[f32], b: &[f32], term: impl Fn(f32, f32) -> f64 + Sync) -> f64 {
    const CHUNK: usize = 1 << 15;
    let parts: Vec<f64> = a
        .par_chunks(CHUNK)
        .zip(b.par_chunks(CHUNK))
        .map(|(a, b)| a.iter().zip(b).map(|(&x, &y)| term(x, y)).sum())
        .collect();
    parts.iter().sum()
}

/// `x - b_dec` for a batch.
pub(crate) fn centred(sae: &Sae, x_BD: &[f32]) -> Vec<f32> {
    let mut xc_BD = x_BD.to_vec();
    xc_BD
        .par_chunks_mut(sae.d_vit())
        .for_each(|row| row.iter_mut().zip(&sae.b_dec_D).for_each(|(x, m)| *x -= m));
    xc_BD
}

/// `pre = xc @ W_enc + b_enc` for centred rows `xc_RD` into `pre_RS`.
pub(crate) fn pre_activations_into(sae: &Sae, xc_RD: &[f32], pre_RS: &mut [f32]) {
    let (d, s) = (sae.d_vit(), sae.d_sae());
    for row in pre_RS.chunks_exact_mut(s) {
        row.copy_from_slice(&sae.b_enc_S);
    }
    let w_enc = View::new(&sae.w_enc_DS, d, s);
    matmul(pre_RS, View::new(xc_RD, xc_RD.len() / d, d), w_enc, true);
}
