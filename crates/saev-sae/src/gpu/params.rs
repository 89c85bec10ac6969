//! The four SAE tensors (or their Adam moments) on a burn device.

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor, TensorData};

/// `W_enc`, `b_enc`, `W_dec`, `b_dec` (or gradients, or moments).
#[derive(Clone, Debug)]
pub(crate) struct Params<B: Backend> {
    pub w_enc_DS: Tensor<B, 2>,
    pub b_enc_S: Tensor<B, 1>,
    pub w_dec_SD: Tensor<B, 2>,
    pub b_dec_D: Tensor<B, 1>,
}

impl<B: Backend> Params<B> {
    pub fn upload(host: [&[f32]; 4], d: usize, s: usize, device: &B::Device) -> Self {
        Self {
            w_enc_DS: upload(host[0], [d, s], device),
            b_enc_S: upload(host[1], [s], device),
            w_dec_SD: upload(host[2], [s, d], device),
            b_dec_D: upload(host[3], [d], device),
        }
    }

    pub fn download(&self) -> [Vec<f32>; 4] {
        [
            download(self.w_enc_DS.clone()),
            download(self.b_enc_S.clone()),
            download(self.w_dec_SD.clone()),
            download(self.b_dec_D.clone()),
        ]
    }

    /// `self` where `keep` (a one-element mask) is true, else `other`.
    pub fn kept_or(self, keep_1: &Tensor<B, 1, Bool>, other: Self) -> Self {
        Self {
            w_enc_DS: where2(keep_1, self.w_enc_DS, other.w_enc_DS),
            b_enc_S: where1(keep_1, self.b_enc_S, other.b_enc_S),
            w_dec_SD: where2(keep_1, self.w_dec_SD, other.w_dec_SD),
            b_dec_D: where1(keep_1, self.b_dec_D, other.b_dec_D),
        }
    }
}

/// A host slice as a device tensor of `shape`.
pub fn upload<B: Backend, const D: usize>(
    host: &[f32],
    shape: [usize; D],
    device: &B::Device,
) -> Tensor<B, D> {
    Tensor::from_data(TensorData::new(host.to_vec(), shape), device)
}

/// A device tensor's values on the host (a synchronizing read).
pub fn download<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("f32 tensor data")
}

/// `a` where the one-element mask is true, else `b` (shape `[R, C]`).
pub(crate) fn where2<B: Backend>(
    keep_1: &Tensor<B, 1, Bool>,
    a: Tensor<B, 2>,
    b: Tensor<B, 2>,
) -> Tensor<B, 2> {
    let mask = keep_1.clone().reshape([1, 1]).expand(a.dims()).bool_not();
    a.mask_where(mask, b)
}

/// `a` where the one-element mask is true, else `b` (shape `[N]`).
pub(crate) fn where1<B: Backend>(
    keep_1: &Tensor<B, 1, Bool>,
    a: Tensor<B, 1>,
    b: Tensor<B, 1>,
) -> Tensor<B, 1> {
    let mask = keep_1.clone().expand(a.dims()).bool_not();
    a.mask_where(mask, b)
}
