//! The operations the step runs outside burn's tensor API: the TopK cut
//! (each row's `k`-th largest value, which every TopK flavour cuts at) and
//! the sparse TopK products (decoder, gradients) over `[B, k]` codes.
//!
//! [`StepKernels`] is the one place the step leaves burn's tensor
//! operations. Its provided methods are tensor operations that any backend
//! runs (burn's `flex` CPU backend in the tests: the same formulas as the
//! kernels); the CubeCL backends (CUDA, wgpu) override them with kernels
//! (`kernels`: radix select, no sort; `sparse_kernels`: one cube per
//! example, f32 atomics for the weight gradients).

use burn::backend::Flex;
use burn::tensor::backend::Backend;
use burn::tensor::IndexingUpdateOp;
use burn::tensor::{Int, Tensor};

/// A scatter's `[S, D]` sums and per-latent `[S]` sums.
pub type Scattered<B> = (Tensor<B, 2>, Tensor<B, 1>);

/// Each example's kept latents: `[B, k]` latent indices and values.
pub struct Codes<B: Backend> {
    pub idx_BK: Tensor<B, 2, Int>,
    pub val_BK: Tensor<B, 2>,
}

/// The custom operations of the SAE step on a burn backend.
pub trait StepKernels: Backend {
    /// For each row of `x_RC`, its `k`-th largest value (`1 <= k <= C`),
    /// counting repeated values (the cut `x >= kth` keeps ties).
    fn kth_largest(x_RC: Tensor<Self, 2>, k: usize) -> Tensor<Self, 1> {
        kth_largest_by_sort(x_RC, k)
    }

    /// The matrix product `a b` of the step.
    fn matmul(a: Tensor<Self, 2>, b: Tensor<Self, 2>) -> Tensor<Self, 2> {
        a.matmul(b)
    }

    /// Up to `k` latents per row with `pre >= kth` (ties beyond `k` dropped).
    fn compact(pre_BS: Tensor<Self, 2>, kth_B: Tensor<Self, 1>, k: usize) -> Codes<Self> {
        let _ = kth_B;
        let (val_BK, idx_BK) = pre_BS.topk_with_indices(k, 1);
        Codes { idx_BK, val_BK }
    }

    /// `b_dec + sum_j val[b, j] W_dec[idx[b, j]]`.
    fn decode(
        codes: &Codes<Self>,
        w_dec_SD: Tensor<Self, 2>,
        b_dec_D: Tensor<Self, 1>,
    ) -> Tensor<Self, 2> {
        let [b, k] = codes.val_BK.dims();
        let rows_BKD = gather_rows(codes, w_dec_SD);
        let d = rows_BKD.dims()[2];
        let weighted = rows_BKD * codes.val_BK.clone().reshape([b, k, 1]);
        weighted.sum_dim(1).reshape([b, d]) + b_dec_D.unsqueeze_dim(0)
    }

    /// `g[b] . W_dec[idx[b, j]]` for every kept latent: `[B, k]`.
    fn code_gradients(
        codes: &Codes<Self>,
        g_BD: Tensor<Self, 2>,
        w_dec_SD: Tensor<Self, 2>,
    ) -> Tensor<Self, 2> {
        let [b, k] = codes.val_BK.dims();
        let d = g_BD.dims()[1];
        let rows_BKD = gather_rows(codes, w_dec_SD);
        (rows_BKD * g_BD.reshape([b, 1, d]))
            .sum_dim(2)
            .reshape([b, k])
    }

    /// `out[idx[b, j]] += val[b, j] * rows[b]` into `[S, D]`, and the sum of
    /// `val` per latent (`[S]`).
    fn scatter(
        codes: &Codes<Self>,
        val_BK: Tensor<Self, 2>,
        rows_BD: Tensor<Self, 2>,
        s: usize,
    ) -> Scattered<Self> {
        let [b, k] = val_BK.dims();
        let d = rows_BD.dims()[1];
        let device = rows_BD.device();
        let idx_N = codes.idx_BK.clone().reshape([b * k]);
        let pairs_ND =
            (rows_BD.reshape([b, 1, d]) * val_BK.clone().reshape([b, k, 1])).reshape([b * k, d]);
        let out_SD = Tensor::zeros([s, d], &device).select_assign(
            0,
            idx_N.clone(),
            pairs_ND,
            IndexingUpdateOp::Add,
        );
        let sums_S = Tensor::zeros([s], &device).select_assign(
            0,
            idx_N,
            val_BK.reshape([b * k]),
            IndexingUpdateOp::Add,
        );
        (out_SD, sums_S)
    }

    /// Whether [`StepKernels::compact`] and the sparse products run as
    /// kernels here (else the step's dense products are faster).
    fn has_sparse_kernels() -> bool {
        false
    }
}

/// `W_dec[idx[b, j]]` as `[B, k, D]`.
fn gather_rows<B: Backend>(codes: &Codes<B>, w_dec_SD: Tensor<B, 2>) -> Tensor<B, 3> {
    let [b, k] = codes.val_BK.dims();
    let d = w_dec_SD.dims()[1];
    w_dec_SD
        .select(0, codes.idx_BK.clone().reshape([b * k]))
        .reshape([b, k, d])
}

/// [`StepKernels::kth_largest`] with burn's sort-based `topk`.
pub fn kth_largest_by_sort<B: Backend>(x_RC: Tensor<B, 2>, k: usize) -> Tensor<B, 1> {
    let [r, c] = x_RC.dims();
    assert!((1..=c).contains(&k), "k = {k} outside 1..={c}");
    x_RC.topk(k, 1).slice([0..r, k - 1..k]).reshape([r])
}

impl StepKernels for Flex {}

/// `x_BS >= kth_B` per row: the latents TopK keeps.
pub(crate) fn at_least_row<B: Backend>(
    x_BS: Tensor<B, 2>,
    kth_B: Tensor<B, 1>,
) -> Tensor<B, 2, burn::tensor::Bool> {
    let dims = x_BS.dims();
    x_BS.greater_equal(kth_B.unsqueeze_dim::<2>(1).expand(dims))
}
