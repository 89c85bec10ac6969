//! Launching the sparse TopK kernels (`sparse_kernels`) on burn's CubeCL
//! tensors.

use burn::tensor::{DType, Int, Shape, Tensor as BurnTensor, TensorPrimitive};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::{empty_device, zeros_client};
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use cubecl::prelude::*;

use super::ops::{Codes, Scattered};
use super::sparse_kernels::{
    code_gradients as grads_k, compact_rows, decode_rows, scatter_rows, UNITS,
};

type Cube<R, F, I, BT> = CubeBackend<R, F, I, BT>;

/// The kernels index latents with `i32`, so the backend's ints must be i32.
pub(crate) fn supported<I: IntElement>() -> bool {
    I::dtype() == DType::I32
}

fn float<
    R: CubeRuntime,
    B: burn::tensor::backend::Backend<FloatTensorPrimitive = CubeTensor<R>>,
    const D: usize,
>(
    t: BurnTensor<B, D>,
) -> CubeTensor<R> {
    into_contiguous(t.into_primitive().tensor())
}

fn wrap<B: burn::tensor::backend::Backend, const D: usize>(
    t: B::FloatTensorPrimitive,
) -> BurnTensor<B, D> {
    BurnTensor::from_primitive(TensorPrimitive::Float(t))
}

/// One cube per row, spread over the grid's axes.
fn per_row<R: CubeRuntime>(client: &ComputeClient<R>, rows: usize) -> CubeCount {
    cubecl::calculate_cube_count_elemwise(client, rows * UNITS as usize, CubeDim::new_1d(UNITS))
}

pub(crate) fn compact<R, F, I, BT>(
    pre_BS: BurnTensor<Cube<R, F, I, BT>, 2>,
    kth_B: BurnTensor<Cube<R, F, I, BT>, 1>,
    k: usize,
) -> Codes<Cube<R, F, I, BT>>
where
    R: CubeRuntime,
    F: FloatElement,
    I: IntElement,
    BT: BoolElement,
{
    let b = pre_BS.dims()[0];
    let pre = float(pre_BS);
    let kth = float(kth_B);
    let (client, device) = (pre.client.clone(), pre.device.clone());
    let idx = empty_device::<R, i32>(client.clone(), device.clone(), Shape::new([b, k]));
    let val = empty_device::<R, f32>(client.clone(), device, Shape::new([b, k]));
    compact_rows::launch::<R>(
        &client,
        per_row(&client, b),
        CubeDim::new_1d(UNITS),
        pre.into_tensor_arg(),
        kth.into_tensor_arg(),
        idx.clone().into_tensor_arg(),
        val.clone().into_tensor_arg(),
    );
    Codes {
        idx_BK: BurnTensor::<_, 2, Int>::from_primitive(idx),
        val_BK: wrap(val),
    }
}

pub(crate) fn decode<R, F, I, BT>(
    codes: &Codes<Cube<R, F, I, BT>>,
    w_dec_SD: BurnTensor<Cube<R, F, I, BT>, 2>,
    b_dec_D: BurnTensor<Cube<R, F, I, BT>, 1>,
) -> BurnTensor<Cube<R, F, I, BT>, 2>
where
    R: CubeRuntime,
    F: FloatElement,
    I: IntElement,
    BT: BoolElement,
{
    let [b, _] = codes.val_BK.dims();
    let d = w_dec_SD.dims()[1];
    let (idx, val) = code_parts(codes);
    let w = float(w_dec_SD);
    let (client, device) = (w.client.clone(), w.device.clone());
    let out = empty_device::<R, f32>(client.clone(), device, Shape::new([b, d]));
    decode_rows::launch::<R>(
        &client,
        per_row(&client, b),
        CubeDim::new_1d(UNITS),
        idx.into_tensor_arg(),
        val.into_tensor_arg(),
        w.into_tensor_arg(),
        float(b_dec_D).into_tensor_arg(),
        out.clone().into_tensor_arg(),
    );
    wrap(out)
}

pub(crate) fn code_gradients<R, F, I, BT>(
    codes: &Codes<Cube<R, F, I, BT>>,
    g_BD: BurnTensor<Cube<R, F, I, BT>, 2>,
    w_dec_SD: BurnTensor<Cube<R, F, I, BT>, 2>,
) -> BurnTensor<Cube<R, F, I, BT>, 2>
where
    R: CubeRuntime,
    F: FloatElement,
    I: IntElement,
    BT: BoolElement,
{
    let [b, k] = codes.val_BK.dims();
    let (idx, _) = code_parts(codes);
    let g = float(g_BD);
    let (client, device) = (g.client.clone(), g.device.clone());
    let out = empty_device::<R, f32>(client.clone(), device, Shape::new([b, k]));
    grads_k::launch::<R>(
        &client,
        per_row(&client, b),
        CubeDim::new_1d(UNITS),
        idx.into_tensor_arg(),
        g.into_tensor_arg(),
        float(w_dec_SD).into_tensor_arg(),
        out.clone().into_tensor_arg(),
    );
    wrap(out)
}

pub(crate) fn scatter<R, F, I, BT>(
    codes: &Codes<Cube<R, F, I, BT>>,
    val_BK: BurnTensor<Cube<R, F, I, BT>, 2>,
    rows_BD: BurnTensor<Cube<R, F, I, BT>, 2>,
    s: usize,
) -> Scattered<Cube<R, F, I, BT>>
where
    R: CubeRuntime,
    F: FloatElement,
    I: IntElement,
    BT: BoolElement,
{
    let b = val_BK.dims()[0];
    let d = rows_BD.dims()[1];
    let (idx, _) = code_parts(codes);
    let rows = float(rows_BD);
    let (client, device) = (rows.client.clone(), rows.device.clone());
    let out = zeros_client::<R>(
        client.clone(),
        device.clone(),
        Shape::new([s, d]),
        DType::F32,
    );
    let sums = zeros_client::<R>(client.clone(), device, Shape::new([s]), DType::F32);
    scatter_rows::launch::<R>(
        &client,
        per_row(&client, b),
        CubeDim::new_1d(UNITS),
        idx.into_tensor_arg(),
        float(val_BK).into_tensor_arg(),
        rows.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        sums.clone().into_tensor_arg(),
        true,
    );
    (wrap(out), wrap(sums))
}

fn code_parts<R, F, I, BT>(codes: &Codes<Cube<R, F, I, BT>>) -> (CubeTensor<R>, CubeTensor<R>)
where
    R: CubeRuntime,
    F: FloatElement,
    I: IntElement,
    BT: BoolElement,
{
    let idx = into_contiguous(codes.idx_BK.clone().into_primitive());
    (idx, float(codes.val_BK.clone()))
}
