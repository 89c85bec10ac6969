//! [`StepKernels`] on burn's CubeCL backends (CUDA, wgpu): the radix
//! select, the untuned matrix product and the sparse TopK kernels.

use burn::tensor::Tensor;

use super::ops::{Codes, Scattered, StepKernels};
use super::{kernels, sparse};

impl<R, F, I, BT> StepKernels for burn_cubecl::CubeBackend<R, F, I, BT>
where
    R: burn_cubecl::CubeRuntime,
    F: burn_cubecl::FloatElement,
    I: burn_cubecl::IntElement,
    BT: burn_cubecl::BoolElement,
{
    fn kth_largest(x_RC: Tensor<Self, 2>, k: usize) -> Tensor<Self, 1> {
        kernels::kth_largest(x_RC, k)
    }

    fn matmul(a: Tensor<Self, 2>, b: Tensor<Self, 2>) -> Tensor<Self, 2> {
        kernels::matmul(a, b)
    }

    fn compact(pre_BS: Tensor<Self, 2>, kth_B: Tensor<Self, 1>, k: usize) -> Codes<Self> {
        sparse::compact(pre_BS, kth_B, k)
    }

    fn decode(
        codes: &Codes<Self>,
        w_dec_SD: Tensor<Self, 2>,
        b_dec_D: Tensor<Self, 1>,
    ) -> Tensor<Self, 2> {
        sparse::decode(codes, w_dec_SD, b_dec_D)
    }

    fn code_gradients(
        codes: &Codes<Self>,
        g_BD: Tensor<Self, 2>,
        w_dec_SD: Tensor<Self, 2>,
    ) -> Tensor<Self, 2> {
        sparse::code_gradients(codes, g_BD, w_dec_SD)
    }

    fn scatter(
        codes: &Codes<Self>,
        val_BK: Tensor<Self, 2>,
        rows_BD: Tensor<Self, 2>,
        s: usize,
    ) -> Scattered<Self> {
        sparse::scatter(codes, val_BK, rows_BD, s)
    }

    fn has_sparse_kernels() -> bool {
        sparse::supported::<I>()
    }
}
