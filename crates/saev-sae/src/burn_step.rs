//! The training step on any burn backend (CUDA with the `cuda` feature).
//!
//! The same gradients as [`crate::step_gradients`], written with burn tensor
//! operations instead of `gemm` calls, and the same PyTorch-style Adam, so a
//! GPU run follows the CPU one up to float rounding (tested on burn's CPU
//! backend against [`Trainer`]). One difference: TopK, BatchTopK and AuxK
//! keep every value tied with the cut (`>= k-th largest`), where the CPU
//! step keeps exactly `k`; ties have probability zero on real activations.
//!
//! [`BurnTrainer::from_trainer`] and [`BurnTrainer::to_trainer`] move the
//! whole training state between host and device, which is how `saev train`
//! checkpoints, resumes and evaluates a GPU run.

use burn::tensor::backend::Backend;
use burn::tensor::{s, Bool, Tensor, TensorData};

use crate::activation::Activation;
use crate::sae::{Losses, Sae, SaeConfig};
use crate::train::{prefixes_at, warmup, NonFiniteLoss, TrainConfig, Trainer};

/// The four parameters (or their gradients or Adam moments) on a device.
#[derive(Clone, Debug)]
struct Params<B: Backend> {
    w_enc_DS: Tensor<B, 2>,
    b_enc_S: Tensor<B, 1>,
    w_dec_SD: Tensor<B, 2>,
    b_dec_D: Tensor<B, 1>,
}

impl<B: Backend> Params<B> {
    fn upload(host: [&[f32]; 4], d: usize, s: usize, device: &B::Device) -> Self {
        Self {
            w_enc_DS: Tensor::from_data(TensorData::new(host[0].to_vec(), [d, s]), device),
            b_enc_S: Tensor::from_data(TensorData::new(host[1].to_vec(), [s]), device),
            w_dec_SD: Tensor::from_data(TensorData::new(host[2].to_vec(), [s, d]), device),
            b_dec_D: Tensor::from_data(TensorData::new(host[3].to_vec(), [d]), device),
        }
    }

    fn download(&self) -> [Vec<f32>; 4] {
        [
            to_vec(self.w_enc_DS.clone()),
            to_vec(self.b_enc_S.clone()),
            to_vec(self.w_dec_SD.clone()),
            to_vec(self.b_dec_D.clone()),
        ]
    }
}

fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("f32 tensor data")
}

fn scalar<B: Backend>(t: Tensor<B, 1>) -> f32 {
    to_vec(t)[0]
}

/// An SAE, its Adam state and step counter, on a burn device.
pub struct BurnTrainer<B: Backend> {
    pub sae_cfg: SaeConfig,
    pub cfg: TrainConfig,
    pub step: u64,
    pub threshold: f32,
    /// Training examples since each latent last fired (AuxK), kept on the host.
    pub since_fired_S: Vec<u64>,
    pub data_norm: Option<crate::DataNorm>,
    params: Params<B>,
    m: Params<B>,
    v: Params<B>,
    device: B::Device,
}

impl<B: Backend> BurnTrainer<B> {
    /// Upload a host trainer (weights, moments, step, counters).
    pub fn from_trainer(t: &Trainer, device: &B::Device) -> Self {
        let (d, s) = (t.sae.d_vit(), t.sae.d_sae());
        let mo = t.moments();
        Self {
            sae_cfg: t.sae.cfg.clone(),
            cfg: t.cfg.clone(),
            step: t.step,
            threshold: t.sae.threshold,
            since_fired_S: t.since_fired_S.clone(),
            data_norm: t.sae.data_norm.clone(),
            params: Params::upload(
                [
                    &t.sae.w_enc_DS,
                    &t.sae.b_enc_S,
                    &t.sae.w_dec_SD,
                    &t.sae.b_dec_D,
                ],
                d,
                s,
                device,
            ),
            m: Params::upload(mo.map(|(m, _)| m), d, s, device),
            v: Params::upload(mo.map(|(_, v)| v), d, s, device),
            device: device.clone(),
        }
    }

    /// Download the whole state as a host trainer.
    pub fn to_trainer(&self) -> Trainer {
        let [we, be, wd, bd] = self.params.download();
        let mut sae = Sae::from_weights(self.sae_cfg.clone(), we, be, wd, bd);
        sae.threshold = self.threshold;
        sae.data_norm = self.data_norm.clone();
        let [m0, m1, m2, m3] = self.m.download();
        let [v0, v1, v2, v3] = self.v.download();
        Trainer::restore(
            sae,
            self.cfg.clone(),
            self.step,
            [(m0, v0), (m1, v1), (m2, v2), (m3, v3)],
            self.since_fired_S.clone(),
        )
        .expect("shapes match")
    }

    /// Learning rate and sparsity coefficient of the next step.
    pub fn schedule(&self) -> (f32, f32) {
        (
            warmup(self.cfg.lr, self.step, self.cfg.n_lr_warmup),
            warmup(
                self.sae_cfg.sparsity_coeff,
                self.step,
                self.cfg.n_sparsity_warmup,
            ),
        )
    }

    /// The activation in training mode: `f` and the mask where gradients pass.
    fn activate(&self, pre_BS: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 2, Bool>) {
        let [b, s] = pre_BS.dims();
        let keep = match self.sae_cfg.activation {
            Activation::Relu => pre_BS.clone().greater_elem(0.0),
            Activation::TopK { top_k } if top_k < s => {
                let kth = pre_BS
                    .clone()
                    .topk(top_k, 1)
                    .slice([0..b, top_k - 1..top_k]);
                pre_BS.clone().greater_equal(kth)
            }
            Activation::BatchTopK { top_k, .. } if top_k * b < b * s => {
                let n = top_k * b;
                let kth = pre_BS
                    .clone()
                    .reshape([b * s])
                    .topk(n, 0)
                    .slice(s![n - 1..n])
                    .reshape([1, 1]);
                pre_BS.clone().greater_equal(kth)
            }
            _ => pre_BS.clone().greater_elem(f32::NEG_INFINITY),
        };
        let f = pre_BS.mask_fill(keep.clone().bool_not(), 0.0);
        let nonzero = f.clone().not_equal_elem(0.0);
        (f, nonzero)
    }

    /// One training step on a `[B, d_vit]` batch (host memory); returns the
    /// losses computed before the update. A NaN or infinite loss changes nothing.
    pub fn step(&mut self, x_BD: &[f32]) -> Result<Losses, NonFiniteLoss> {
        let d = self.sae_cfg.d_vit;
        let s = self.sae_cfg.d_sae();
        let b = x_BD.len() / d;
        let (lr, coeff) = self.schedule();
        let dev = self.device.clone();
        let x = Tensor::<B, 2>::from_data(TensorData::new(x_BD.to_vec(), [b, d]), &dev);
        let p = self.params.clone();
        let w_dec = if self.sae_cfg.normalize_w_dec {
            let norm = p.w_dec_SD.clone().powi_scalar(2).sum_dim(1).sqrt();
            p.w_dec_SD.clone() / norm
        } else {
            p.w_dec_SD.clone()
        };
        let xc = x.clone() - p.b_dec_D.clone().unsqueeze_dim(0);
        let pre = xc.clone().matmul(p.w_enc_DS.clone()) + p.b_enc_S.clone().unsqueeze_dim(0);
        let (f, nonzero) = self.activate(pre.clone());

        // Matryoshka prefixes (same draws as the host trainer).
        let prefixes = prefixes_at(&self.sae_cfg, &self.cfg, self.step).unwrap_or_else(|| vec![s]);
        let blocks: Vec<(usize, usize)> = std::iter::once(0)
            .chain(prefixes.iter().copied())
            .zip(prefixes.iter().copied())
            .collect();
        let n = blocks.len();
        let mut x_hats: Vec<Tensor<B, 2>> = Vec::with_capacity(n);
        for &(lo, hi) in &blocks {
            let part = f
                .clone()
                .slice([0..b, lo..hi])
                .matmul(w_dec.clone().slice([lo..hi, 0..d]));
            let next = match x_hats.last() {
                Some(prev) => prev.clone() + part,
                None => part + p.b_dec_D.clone().unsqueeze_dim(0),
            };
            x_hats.push(next);
        }
        let x_hat = x_hats[n - 1].clone();
        let mse_each: Vec<f32> = x_hats
            .iter()
            .map(|xh| scalar((xh.clone() - x.clone()).powi_scalar(2).mean()))
            .collect();
        let mse = mse_each.iter().sum::<f32>() / n as f32;
        let l1 = scalar(f.clone().abs().sum_dim(1).mean());
        let l0 = scalar(nonzero.clone().float().sum_dim(1).mean());

        // Output gradients summed over the prefixes each block appears in.
        let scale = 2.0 / (b * d * n) as f32;
        let mut g_suffix: Vec<Tensor<B, 2>> = Vec::with_capacity(n);
        for j in (0..n).rev() {
            let g = (x_hats[j].clone() - x.clone()) * scale;
            let g = match g_suffix.last() {
                Some(next) => g + next.clone(),
                None => g,
            };
            g_suffix.push(g);
        }
        g_suffix.reverse();
        let mut g_w_dec = Tensor::cat(
            blocks
                .iter()
                .zip(&g_suffix)
                .map(|(&(lo, hi), g)| {
                    f.clone()
                        .slice([0..b, lo..hi])
                        .transpose()
                        .matmul(g.clone())
                })
                .collect(),
            0,
        );
        let mut g_b_dec = g_suffix[0].clone().sum_dim(0).reshape([d]);
        let g_f = Tensor::cat(
            blocks
                .iter()
                .zip(&g_suffix)
                .map(|(&(lo, hi), g)| {
                    g.clone()
                        .matmul(w_dec.clone().slice([lo..hi, 0..d]).transpose())
                })
                .collect(),
            1,
        );
        let mut g_pre = (g_f + f.clone().sign() * (coeff / b as f32)) * nonzero.clone().float();

        let mut aux_loss = 0.0;
        let mut active_S = None;
        if let Some(aux) = self.cfg.aux {
            let active: Vec<bool> = to_vec(nonzero.clone().float().sum_dim(0).reshape([s]))
                .into_iter()
                .map(|c| c > 0.0)
                .collect();
            let dead: Vec<bool> = self
                .since_fired_S
                .iter()
                .zip(&active)
                .map(|(&t, &a)| t + b as u64 >= aux.dead_after && !a)
                .collect();
            let k = aux.k_aux.min(dead.iter().filter(|&&x| x).count());
            if k > 0 {
                let dead_t = Tensor::<B, 1>::from_data(
                    TensorData::new(dead.iter().map(|&x| f32::from(u8::from(x))).collect(), [s]),
                    &dev,
                )
                .greater_elem(0.5)
                .unsqueeze_dim::<2>(0)
                .expand([b, s]);
                let masked = pre
                    .clone()
                    .mask_fill(dead_t.clone().bool_not(), f32::NEG_INFINITY);
                let kth = masked.clone().topk(k, 1).slice([0..b, k - 1..k]);
                let pick = masked.greater_equal(kth).bool_and(dead_t);
                let a = pre.clone().mask_fill(pick.clone().bool_not(), 0.0);
                let resid = x.clone() - x_hat.clone();
                let diff = a.clone().matmul(w_dec.clone()) - resid;
                aux_loss = aux.alpha * scalar(diff.clone().powi_scalar(2).mean());
                let g_e = diff * (2.0 * aux.alpha / (b * d) as f32);
                g_w_dec = g_w_dec + a.transpose().matmul(g_e.clone());
                g_pre = g_pre + g_e.matmul(w_dec.clone().transpose()) * pick.float();
            }
            active_S = Some(active);
        }

        let losses = Losses {
            loss: mse + coeff * l1 + aux_loss,
            mse,
            l1,
            l0,
            aux: aux_loss,
        };
        if !losses.loss.is_finite() {
            return Err(NonFiniteLoss {
                step: self.step,
                losses,
            });
        }
        let g_w_enc = xc.transpose().matmul(g_pre.clone());
        let g_b_enc = g_pre.sum_dim(0).reshape([s]);
        g_b_dec = g_b_dec
            - p.w_enc_DS
                .clone()
                .matmul(g_b_enc.clone().unsqueeze_dim(1))
                .reshape([d]);
        if self.sae_cfg.remove_parallel_grads {
            let dot = (g_w_dec.clone() * w_dec.clone()).sum_dim(1);
            g_w_dec = g_w_dec - w_dec.clone() * dot;
        }
        if let Some(active) = active_S {
            for (t, a) in self.since_fired_S.iter_mut().zip(active) {
                *t = if a { 0 } else { *t + b as u64 };
            }
        }
        if let Activation::BatchTopK { momentum, .. } = self.sae_cfg.activation {
            let min_pos = scalar(
                f.clone()
                    .mask_fill(f.clone().lower_equal_elem(0.0), f32::INFINITY)
                    .min(),
            );
            if min_pos.is_finite() {
                self.threshold = (1.0 - momentum) * self.threshold + momentum * min_pos;
            }
        }

        self.step += 1;
        let t = self.step as i32;
        let bc1 = 1.0 - 0.9f32.powi(t);
        let bc2_sqrt = (1.0 - 0.999f32.powi(t)).sqrt();
        let adam = |p: Tensor<B, 2>, g: Tensor<B, 2>, m: Tensor<B, 2>, v: Tensor<B, 2>| {
            let m = m * 0.9 + g.clone() * 0.1;
            let v = v * 0.999 + g.powi_scalar(2) * 0.001;
            let p = p - (m.clone() * (lr / bc1)) / (v.clone().sqrt() / bc2_sqrt + 1e-8);
            (p, m, v)
        };
        let (we, me, ve) = adam(
            p.w_enc_DS,
            g_w_enc,
            self.m.w_enc_DS.clone(),
            self.v.w_enc_DS.clone(),
        );
        let (wd, md, vd) = adam(
            w_dec,
            g_w_dec,
            self.m.w_dec_SD.clone(),
            self.v.w_dec_SD.clone(),
        );
        let row = |t: Tensor<B, 1>| t.unsqueeze_dim::<2>(0);
        let (be, mbe, vbe) = adam(
            row(p.b_enc_S),
            row(g_b_enc),
            row(self.m.b_enc_S.clone()),
            row(self.v.b_enc_S.clone()),
        );
        let (bd, mbd, vbd) = adam(
            row(p.b_dec_D),
            row(g_b_dec),
            row(self.m.b_dec_D.clone()),
            row(self.v.b_dec_D.clone()),
        );
        self.params = Params {
            w_enc_DS: we,
            b_enc_S: be.reshape([s]),
            w_dec_SD: wd,
            b_dec_D: bd.reshape([d]),
        };
        self.m = Params {
            w_enc_DS: me,
            b_enc_S: mbe.reshape([s]),
            w_dec_SD: md,
            b_dec_D: mbd.reshape([d]),
        };
        self.v = Params {
            w_enc_DS: ve,
            b_enc_S: vbe.reshape([s]),
            w_dec_SD: vd,
            b_dec_D: vbd.reshape([d]),
        };
        Ok(losses)
    }
}
