//! The training step on a burn device, all of its state kept there.
//!
//! The same objective and update as the CPU [`Trainer`] (one Adam,
//! [`crate::optim::Adam`]; one Matryoshka block list,
//! [`crate::objective::blocks`]; one dead-latent rule, [`AuxK::dead_before`], here on a tensor),
//! written with burn tensor operations plus [`StepKernels`]. Nothing is read
//! back to the host during a step: the losses, the non-finite-loss guard,
//! the dead-latent counters and BatchTopK's threshold stay on the device,
//! and [`BurnTrainer::losses`] reads the losses when a caller logs them.
//!
//! One difference from the CPU step: TopK, BatchTopK and AuxK keep every
//! value tied with the cut (`>= k-th largest`) where the CPU keeps exactly
//! `k`; ties have probability zero on real activations.

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, FloatDType, Int, Tensor, TensorData};

use super::health::{terms, Health};
use super::ops::{at_least_row, StepKernels};
use super::params::{download, upload, where1, Params};
use super::sparse_step::{through_encoder, topk_gradients, Encoded};
use crate::activation::Activation;
use crate::objective::{blocks, AuxK};
use crate::optim::Adam;
use crate::sae::{DataNorm, Losses, Sae, SaeConfig};
use crate::step::{prefixes_at, warmup, NonFiniteLoss, StepPath, TrainConfig};
use crate::train::Trainer;

/// How the step's matrix products run on the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 tensors: TF32 tensor cores where the backend uses them for f32
    /// (CUDA), saev's own setting on GPUs.
    #[default]
    F32,
    /// The encoder's product in bf16 (inputs rounded, f32 result); weights,
    /// gradients and Adam state stay f32.
    Bf16,
}

/// An SAE, its Adam state and step counter, on a burn device.
pub struct BurnTrainer<B: StepKernels> {
    pub sae_cfg: SaeConfig,
    pub cfg: TrainConfig,
    /// Steps taken (including any after a divergence, which change nothing).
    pub step: u64,
    pub data_norm: Option<DataNorm>,
    pub precision: Precision,
    /// TopK's decoder and gradients over `[B, k]` codes (`Sparse`) or dense
    /// (`Dense`); `Auto`: sparse where the backend has the kernels and the
    /// objective is plain (no Matryoshka, no AuxK).
    pub path: StepPath,
    params: Params<B>,
    m: Params<B>,
    v: Params<B>,
    /// BatchTopK's running threshold.
    threshold_1: Tensor<B, 1>,
    /// Examples since each latent last fired (with AuxK).
    since_fired_S: Option<Tensor<B, 1, Int>>,
    health: Health<B>,
    device: B::Device,
}

/// The forward pass of one batch, as the gradients need it.
struct Forward<B: Backend> {
    xc_BD: Tensor<B, 2>,
    pre_BS: Tensor<B, 2>,
    f_BS: Tensor<B, 2>,
    fired_BS: Tensor<B, 2, Bool>,
    w_dec_SD: Tensor<B, 2>,
    /// Reconstruction through each Matryoshka prefix (one without).
    x_hats: Vec<Tensor<B, 2>>,
}

/// Gradients of the four parameters.
type Grads<B> = Params<B>;

impl<B: StepKernels> BurnTrainer<B> {
    /// Upload a host trainer (weights, moments, step, counters).
    pub fn from_trainer(t: &Trainer, device: &B::Device) -> Self {
        let (d, s) = (t.sae.d_vit(), t.sae.d_sae());
        let mo = t.moments();
        let sae = &t.sae;
        let host = [&sae.w_enc_DS, &sae.b_enc_S, &sae.w_dec_SD, &sae.b_dec_D];
        let since_fired_S = t.cfg.aux.map(|_| {
            let counts: Vec<i64> = t
                .since_fired_S
                .iter()
                .map(|&n| n.min(SINCE_CAP) as i64)
                .collect();
            Tensor::from_data(TensorData::new(counts, [s]), device)
        });
        Self {
            sae_cfg: sae.cfg.clone(),
            cfg: t.cfg.clone(),
            step: t.step,
            data_norm: sae.data_norm.clone(),
            precision: Precision::default(),
            path: StepPath::Auto,
            params: Params::upload(host.map(|v| v.as_slice()), d, s, device),
            m: Params::upload(mo.map(|(m, _)| m), d, s, device),
            v: Params::upload(mo.map(|(_, v)| v), d, s, device),
            threshold_1: Tensor::full([1], sae.threshold, device),
            since_fired_S,
            health: Health::new(device),
            device: device.clone(),
        }
    }

    /// Download the whole state as a host trainer.
    pub fn to_trainer(&self) -> Trainer {
        let [we, be, wd, bd] = self.params.download();
        let mut sae = Sae::from_weights(self.sae_cfg.clone(), we, be, wd, bd);
        sae.threshold = download(self.threshold_1.clone())[0];
        sae.data_norm = self.data_norm.clone();
        let [m0, m1, m2, m3] = self.m.download();
        let [v0, v1, v2, v3] = self.v.download();
        let since = match &self.since_fired_S {
            Some(t) => t.clone().into_data().convert::<i64>().to_vec::<i64>(),
            None => Ok(Vec::new()),
        };
        let since = since.expect("i64 counters").into_iter();
        Trainer::restore(
            sae,
            self.cfg.clone(),
            self.step,
            [(m0, v0), (m1, v1), (m2, v2), (m3, v3)],
            since.map(|n| n.max(0) as u64).collect(),
        )
        .expect("shapes match")
    }

    /// The device this trainer lives on.
    pub fn device(&self) -> &B::Device {
        &self.device
    }

    /// Learning rate and sparsity coefficient of the next step.
    pub fn schedule(&self) -> (f32, f32) {
        let (sae, cfg) = (&self.sae_cfg, &self.cfg);
        (
            warmup(cfg.lr, self.step, cfg.n_lr_warmup),
            warmup(sae.sparsity_coeff, self.step, cfg.n_sparsity_warmup),
        )
    }

    /// A `[B, d_vit]` host batch on this trainer's device: upload once, then
    /// [`BurnTrainer::step_on`] every SAE of a group with it.
    pub fn upload_batch(&self, x_BD: &[f32]) -> Tensor<B, 2> {
        let d = self.sae_cfg.d_vit;
        upload(x_BD, [x_BD.len() / d, d], &self.device)
    }

    /// One step on a host batch, then a read of its losses (a device
    /// round trip per step: loops that log less often use
    /// [`BurnTrainer::step_on`] and [`BurnTrainer::losses`]).
    pub fn step(&mut self, x_BD: &[f32]) -> Result<Losses, NonFiniteLoss> {
        let x = self.upload_batch(x_BD);
        self.step_on(&x);
        self.losses()
    }

    /// The last step's losses (read from the device), or the step at which
    /// the loss stopped being finite: the SAE has not changed since.
    pub fn losses(&self) -> Result<Losses, NonFiniteLoss> {
        self.health.read()
    }

    /// One training step on a batch already on the device. Queues the work
    /// and returns: nothing is read back.
    pub fn step_on(&mut self, x_BD: &Tensor<B, 2>) {
        let (lr, coeff) = self.schedule();
        let (mut grads, parts, w_dec_SD, fw) = match self.sparse_k() {
            Some(k) => {
                let e = self.encoded(x_BD);
                let w_dec_SD = e.w_dec_SD.clone();
                let (g, parts) = topk_gradients(&self.params, e, k, coeff);
                (g, parts, w_dec_SD, None)
            }
            None => {
                let fw = self.forward(x_BD);
                let (g, parts) = self.gradients(x_BD, &fw, coeff);
                (g, parts, fw.w_dec_SD.clone(), Some(fw))
            }
        };
        if self.sae_cfg.remove_parallel_grads {
            let g = grads.w_dec_SD;
            let dot_S1 = (g.clone() * w_dec_SD.clone()).sum_dim(1);
            grads.w_dec_SD = g - w_dec_SD.clone() * dot_S1;
        }
        let ok_1 = self.health.record(terms(parts, coeff), self.step);
        if let Some(fw) = &fw {
            self.update_threshold(fw, &ok_1);
            self.update_since_fired(fw, &ok_1);
        }
        self.step += 1;
        let t = self.step;
        let old = (self.params.clone(), self.m.clone(), self.v.clone());
        let mut p = self.params.clone();
        p.w_dec_SD = w_dec_SD;
        let (p, m, v) = adam_all(p, grads, self.m.clone(), self.v.clone(), lr, t);
        self.params = p.kept_or(&ok_1, old.0);
        self.m = m.kept_or(&ok_1, old.1);
        self.v = v.kept_or(&ok_1, old.2);
    }

    /// TopK's `k` when this step runs over codes.
    fn sparse_k(&self) -> Option<usize> {
        let Activation::TopK { top_k } = self.sae_cfg.activation else {
            return None;
        };
        let plain = self.cfg.matryoshka.is_none() && self.cfg.aux.is_none();
        let fits = (1..self.sae_cfg.d_sae()).contains(&top_k);
        let wanted = match self.path {
            StepPath::Dense => false,
            StepPath::Sparse => true,
            StepPath::Auto => B::has_sparse_kernels(),
        };
        (plain && fits && wanted).then_some(top_k)
    }

    /// The decoder normalized (if configured) and the batch encoded.
    fn encoded(&self, x_BD: &Tensor<B, 2>) -> Encoded<B> {
        let p = &self.params;
        let w_dec_SD = if self.sae_cfg.normalize_w_dec {
            let norm_S1 = p.w_dec_SD.clone().powi_scalar(2).sum_dim(1).sqrt();
            p.w_dec_SD.clone() / norm_S1
        } else {
            p.w_dec_SD.clone()
        };
        let xc_BD = x_BD.clone() - p.b_dec_D.clone().unsqueeze_dim(0);
        let pre_BS = self.encode_product(xc_BD.clone()) + p.b_enc_S.clone().unsqueeze_dim(0);
        Encoded {
            x_BD: x_BD.clone(),
            xc_BD,
            pre_BS,
            w_dec_SD,
        }
    }

    fn forward(&self, x_BD: &Tensor<B, 2>) -> Forward<B> {
        let Encoded {
            xc_BD,
            pre_BS,
            w_dec_SD,
            ..
        } = self.encoded(x_BD);
        let p = &self.params;
        let keep_BS = self.keep(pre_BS.clone());
        let f_BS = pre_BS.clone().mask_fill(keep_BS.bool_not(), 0.0);
        let fired_BS = f_BS.clone().not_equal_elem(0.0);
        let s = self.sae_cfg.d_sae();
        let prefixes = prefixes_at(&self.sae_cfg, &self.cfg, self.step);
        let mut x_hats: Vec<Tensor<B, 2>> = Vec::new();
        for (lo, hi) in blocks(prefixes.as_deref(), s) {
            let part = B::matmul(slice_cols(&f_BS, lo, hi), slice_rows(&w_dec_SD, lo, hi));
            let next = match x_hats.last() {
                Some(prev) => prev.clone() + part,
                None => part + p.b_dec_D.clone().unsqueeze_dim(0),
            };
            x_hats.push(next);
        }
        Forward {
            xc_BD,
            pre_BS,
            f_BS,
            fired_BS,
            w_dec_SD,
            x_hats,
        }
    }

    /// `xc W_enc` at the configured precision.
    fn encode_product(&self, xc_BD: Tensor<B, 2>) -> Tensor<B, 2> {
        let w = self.params.w_enc_DS.clone();
        match self.precision {
            Precision::F32 => B::matmul(xc_BD, w),
            Precision::Bf16 => {
                let bf16 = |t: Tensor<B, 2>| t.cast(FloatDType::BF16);
                B::matmul(bf16(xc_BD), bf16(w)).cast(FloatDType::F32)
            }
        }
    }

    /// The activation in training mode: which pre-activations pass.
    fn keep(&self, pre_BS: Tensor<B, 2>) -> Tensor<B, 2, Bool> {
        let [b, s] = pre_BS.dims();
        match self.sae_cfg.activation {
            Activation::Relu => pre_BS.greater_elem(0.0),
            Activation::TopK { top_k } if top_k < s => {
                let kth_B = B::kth_largest(pre_BS.clone(), top_k.max(1));
                at_least_row(pre_BS, kth_B)
            }
            Activation::BatchTopK { top_k, .. } if top_k < s => {
                let all = pre_BS.clone().reshape([1, b * s]);
                let kth_1 = B::kth_largest(all, (top_k * b).max(1));
                pre_BS.greater_equal(kth_1.reshape([1, 1]).expand([b, s]))
            }
            _ => pre_BS.greater_elem(f32::NEG_INFINITY),
        }
    }

    /// Gradients and the loss terms `[mse, l1, l0, aux]`.
    fn gradients(
        &self,
        x_BD: &Tensor<B, 2>,
        fw: &Forward<B>,
        coeff: f32,
    ) -> (Grads<B>, [Tensor<B, 1>; 4]) {
        let [b, d] = x_BD.dims();
        let s = self.sae_cfg.d_sae();
        let prefixes = prefixes_at(&self.sae_cfg, &self.cfg, self.step);
        let blocks = blocks(prefixes.as_deref(), s);
        let n = blocks.len();
        let sq_err = |xh: &Tensor<B, 2>| (xh.clone() - x_BD.clone()).powi_scalar(2).mean();
        let mse_1 = Tensor::cat(fw.x_hats.iter().map(sq_err).collect(), 0).mean();
        let l1_1 = fw.f_BS.clone().abs().sum_dim(1).mean().reshape([1]);
        let l0_1 = fw.fired_BS.clone().float().sum_dim(1).mean().reshape([1]);

        // Output gradients summed over the prefixes each block appears in.
        let scale = 2.0 / (b * d * n) as f32;
        let mut g_suffix: Vec<Tensor<B, 2>> = Vec::with_capacity(n);
        for xh in fw.x_hats.iter().rev() {
            let g = (xh.clone() - x_BD.clone()) * scale;
            let g = match g_suffix.last() {
                Some(next) => g + next.clone(),
                None => g,
            };
            g_suffix.push(g);
        }
        g_suffix.reverse();
        let per_block = |(&(lo, hi), g): (&(usize, usize), &Tensor<B, 2>)| {
            let f_part = slice_cols(&fw.f_BS, lo, hi);
            let w_part = slice_rows(&fw.w_dec_SD, lo, hi);
            (
                B::matmul(f_part.transpose(), g.clone()),
                B::matmul(g.clone(), w_part.transpose()),
            )
        };
        let (g_w_dec_parts, g_f_parts): (Vec<_>, Vec<_>) =
            blocks.iter().zip(&g_suffix).map(per_block).unzip();
        let mut g_w_dec_SD = Tensor::cat(g_w_dec_parts, 0);
        let g_f_BS = Tensor::cat(g_f_parts, 1);
        let fired = fw.fired_BS.clone().float();
        let sign = fw.f_BS.clone().sign() * (coeff / b as f32);
        let mut g_pre_BS = (g_f_BS + sign) * fired;

        let aux_1 = match self.cfg.aux {
            Some(aux) => {
                let (g_w, g_p, loss_1) = self.aux_k(aux, x_BD, fw);
                g_w_dec_SD = g_w_dec_SD + g_w;
                g_pre_BS = g_pre_BS + g_p;
                loss_1
            }
            None => Tensor::zeros([1], &self.device),
        };

        let g_w_enc_DS = B::matmul(fw.xc_BD.clone().transpose(), g_pre_BS.clone());
        let g_b_enc_S = g_pre_BS.sum_dim(0).reshape([s]);
        // b_dec also enters the encoder: subtract W_enc g_b_enc.
        let through_enc_D = through_encoder(&self.params.w_enc_DS, &g_b_enc_S);
        let g_b_dec_D = g_suffix[0].clone().sum_dim(0).reshape([d]) - through_enc_D;
        let grads = Params {
            w_enc_DS: g_w_enc_DS,
            b_enc_S: g_b_enc_S,
            w_dec_SD: g_w_dec_SD,
            b_dec_D: g_b_dec_D,
        };
        (grads, [mse_1, l1_1, l0_1, aux_1])
    }

    /// AuxK: the `k_aux` largest pre-activations among dead latents
    /// reconstruct the residual. Returns its `W_dec` and pre-activation
    /// gradients and its weighted loss (all zero when no latent is dead).
    fn aux_k(
        &self,
        aux: AuxK,
        x_BD: &Tensor<B, 2>,
        fw: &Forward<B>,
    ) -> (Tensor<B, 2>, Tensor<B, 2>, Tensor<B, 1>) {
        let [b, d] = x_BD.dims();
        let s = self.sae_cfg.d_sae();
        let dead_S = self.dead(fw, b);
        let any_dead_1 = dead_S.clone().any().float();
        let dead_BS = dead_S.unsqueeze_dim::<2>(0).expand([b, s]);
        let masked_BS = fw
            .pre_BS
            .clone()
            .mask_fill(dead_BS.clone().bool_not(), f32::NEG_INFINITY);
        // Fewer than k_aux dead latents: the cut is -inf and all of them pass.
        let kth_B = B::kth_largest(masked_BS.clone(), aux.k_aux.clamp(1, s));
        let pick_BS = at_least_row(masked_BS, kth_B).bool_and(dead_BS);
        let a_BS = fw.pre_BS.clone().mask_fill(pick_BS.clone().bool_not(), 0.0);
        let resid_BD = x_BD.clone() - fw.x_hats.last().expect("a prefix").clone();
        let diff_BD = B::matmul(a_BS.clone(), fw.w_dec_SD.clone()) - resid_BD;
        let loss_1 = diff_BD.clone().powi_scalar(2).mean().reshape([1]) * aux.alpha;
        let gate = any_dead_1.clone().reshape([1, 1]);
        let g_e_BD = diff_BD * (2.0 * aux.alpha / (b * d) as f32) * gate;
        let g_w_dec = B::matmul(a_BS.transpose(), g_e_BD.clone());
        let g_pre = B::matmul(g_e_BD, fw.w_dec_SD.clone().transpose()) * pick_BS.float();
        (g_w_dec, g_pre, loss_1 * any_dead_1)
    }

    /// Latents dead before this batch that did not fire in it: [`AuxK::dead_before`].
    fn dead(&self, fw: &Forward<B>, b: usize) -> Tensor<B, 1, Bool> {
        let aux = self.cfg.aux.expect("AuxK on");
        let since = self.since_fired_S.clone().expect("counters with AuxK");
        let was_dead = since
            .add_scalar(b as i64)
            .greater_equal_elem(aux.dead_after as i64);
        was_dead.bool_and(fired_any(fw).bool_not())
    }

    fn update_since_fired(&mut self, fw: &Forward<B>, ok_1: &Tensor<B, 1, Bool>) {
        let Some(since) = self.since_fired_S.take() else {
            return;
        };
        let b = fw.pre_BS.dims()[0] as i64;
        let next = since
            .clone()
            .add_scalar(b)
            .clamp_max(SINCE_CAP as i64)
            .mask_fill(fired_any(fw), 0);
        let keep = ok_1.clone().expand(since.dims()).bool_not();
        self.since_fired_S = Some(next.mask_where(keep, since));
    }

    /// BatchTopK: the threshold follows the smallest surviving value.
    fn update_threshold(&mut self, fw: &Forward<B>, ok_1: &Tensor<B, 1, Bool>) {
        let Activation::BatchTopK { momentum, .. } = self.sae_cfg.activation else {
            return;
        };
        let f = fw.f_BS.clone();
        let min_pos_1 = f
            .clone()
            .mask_fill(f.lower_equal_elem(0.0), f32::INFINITY)
            .min();
        let old = self.threshold_1.clone();
        let next = old.clone() * (1.0 - momentum) + min_pos_1.clone() * momentum;
        let take = min_pos_1.is_finite().bool_and(ok_1.clone());
        self.threshold_1 = where1(&take, next, old);
    }
}

/// Dead-latent counters stop here (i32 on CUDA): about 2 billion examples.
const SINCE_CAP: u64 = (i32::MAX as u64) / 2;

/// Latents that fired on any example of the batch.
fn fired_any<B: Backend>(fw: &Forward<B>) -> Tensor<B, 1, Bool> {
    let s = fw.fired_BS.dims()[1];
    fw.fired_BS.clone().any_dim(0).reshape([s])
}

fn slice_cols<B: Backend>(t: &Tensor<B, 2>, lo: usize, hi: usize) -> Tensor<B, 2> {
    let rows = t.dims()[0];
    t.clone().slice([0..rows, lo..hi])
}

fn slice_rows<B: Backend>(t: &Tensor<B, 2>, lo: usize, hi: usize) -> Tensor<B, 2> {
    let cols = t.dims()[1];
    t.clone().slice([lo..hi, 0..cols])
}

/// Adam on all four parameters.
fn adam_all<B: Backend>(
    p: Params<B>,
    g: Grads<B>,
    m: Params<B>,
    v: Params<B>,
    lr: f32,
    t: u64,
) -> (Params<B>, Params<B>, Params<B>) {
    let adam = Adam::SAEV;
    let [we, me, ve] = adam.update_tensor([p.w_enc_DS, g.w_enc_DS, m.w_enc_DS, v.w_enc_DS], lr, t);
    let [wd, md, vd] = adam.update_tensor([p.w_dec_SD, g.w_dec_SD, m.w_dec_SD, v.w_dec_SD], lr, t);
    let [be, mbe, vbe] = adam.update_tensor([p.b_enc_S, g.b_enc_S, m.b_enc_S, v.b_enc_S], lr, t);
    let [bd, mbd, vbd] = adam.update_tensor([p.b_dec_D, g.b_dec_D, m.b_dec_D, v.b_dec_D], lr, t);
    let pack = |w_enc_DS, b_enc_S, w_dec_SD, b_dec_D| Params {
        w_enc_DS,
        b_enc_S,
        w_dec_SD,
        b_dec_D,
    };
    (
        pack(we, be, wd, bd),
        pack(me, mbe, md, mbd),
        pack(ve, vbe, vd, vbd),
    )
}
