//! The TopK step over `[B, k]` codes: after the encoder and the cut, the
//! decoder and every gradient touch only the kept latents (the products are
//! [`StepKernels`]'s; the same gradients as the dense step, `trainer.rs`).

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::ops::StepKernels;
use super::params::Params;

/// What the sparse step needs from the dense forward's start.
pub(super) struct Encoded<B: StepKernels> {
    pub x_BD: Tensor<B, 2>,
    pub xc_BD: Tensor<B, 2>,
    pub pre_BS: Tensor<B, 2>,
    pub w_dec_SD: Tensor<B, 2>,
}

/// Gradients and the loss terms `[mse, l1, l0, aux]` of TopK-`k` with the
/// plain objective.
pub(super) fn topk_gradients<B: StepKernels>(
    p: &Params<B>,
    e: Encoded<B>,
    k: usize,
    coeff: f32,
) -> (Params<B>, [Tensor<B, 1>; 4]) {
    let [b, d] = e.x_BD.dims();
    let s = e.pre_BS.dims()[1];
    let kth_B = B::kth_largest(e.pre_BS.clone(), k);
    let codes = B::compact(e.pre_BS, kth_B, k);
    let x_hat_BD = B::decode(&codes, e.w_dec_SD.clone(), p.b_dec_D.clone());
    let val_BK = codes.val_BK.clone();
    let fired_BK = val_BK.clone().not_equal_elem(0.0).float();
    let mse_1 = (x_hat_BD.clone() - e.x_BD.clone()).powi_scalar(2).mean();
    let l1_1 = val_BK.clone().abs().sum() / b as f32;
    let l0_1 = fired_BK.clone().sum() / b as f32;

    let g_BD = (x_hat_BD - e.x_BD) * (2.0 / (b * d) as f32);
    let g_val_BK = B::code_gradients(&codes, g_BD.clone(), e.w_dec_SD.clone());
    let g_pre_BK = (g_val_BK + val_BK.clone().sign() * (coeff / b as f32)) * fired_BK;
    let (g_w_dec_SD, _) = B::scatter(&codes, val_BK, g_BD.clone(), s);
    let (g_w_enc_SD, g_b_enc_S) = B::scatter(&codes, g_pre_BK, e.xc_BD, s);
    // b_dec also enters the encoder: subtract W_enc g_b_enc.
    let through_enc_D = through_encoder(&p.w_enc_DS, &g_b_enc_S);
    let g_b_dec_D = g_BD.sum_dim(0).reshape([d]) - through_enc_D;
    let grads = Params {
        w_enc_DS: g_w_enc_SD.transpose(),
        b_enc_S: g_b_enc_S,
        w_dec_SD: g_w_dec_SD,
        b_dec_D: g_b_dec_D,
    };
    let aux_1 = Tensor::zeros([1], &p.b_dec_D.device());
    (grads, [mse_1, l1_1, l0_1, aux_1])
}

/// `W_enc g_b_enc`: how `b_dec`, which also enters the encoder, moves the
/// loss through it (a product and a row sum: no matrix-vector tuning).
pub(super) fn through_encoder<B: Backend>(
    w_enc_DS: &Tensor<B, 2>,
    g_b_enc_S: &Tensor<B, 1>,
) -> Tensor<B, 1> {
    let d = w_enc_DS.dims()[0];
    (w_enc_DS.clone() * g_b_enc_S.clone().unsqueeze_dim(0))
        .sum_dim(1)
        .reshape([d])
}
