//! CubeCL kernels of the sparse TopK step: after the encoder, only the
//! `k` latents each example keeps are touched (the CPU step's sparse path,
//! `crate::sparse`, on the GPU).
//!
//! Codes are two `[B, k]` tensors: latent indices (`i32`) and values. One
//! cube of 256 units works on one example; the weight gradients add each
//! (example, latent) pair's row with f32 atomics.

use cubecl::prelude::*;

/// Units per cube.
pub(crate) const UNITS: u32 = 256;

/// Each row's latents with `pre >= kth[row]`, at most `k` of them, into
/// `idx`/`val` (`[B, k]`); slots left over (a row of NaNs) get latent 0
/// with value 0.
#[cube(launch)]
pub(crate) fn compact_rows(
    pre: &Tensor<f32>,
    kth: &Tensor<f32>,
    idx: &mut Tensor<i32>,
    val: &mut Tensor<f32>,
) {
    let count = SharedMemory::<Atomic<u32>>::new(1usize);
    let row = CUBE_POS;
    let live = row < kth.len();
    if UNIT_POS == 0 {
        count[0].store(0u32);
    }
    sync_cube();
    let k = idx.shape(1);
    let at = row * idx.stride(0);
    let vat = row * val.stride(0);
    if live {
        let cut = kth[row];
        let cols = pre.shape(1);
        let base = row * pre.stride(0);
        for j in range_stepped(UNIT_POS as usize, cols, CUBE_DIM as usize) {
            let v = pre[base + j];
            if v >= cut {
                let slot = count[0].fetch_add(1u32) as usize;
                if slot < k {
                    idx[at + slot] = j as i32;
                    val[vat + slot] = v;
                }
            }
        }
    }
    sync_cube();
    let filled = count[0].load() as usize;
    if live {
        for slot in range_stepped(UNIT_POS as usize, k, CUBE_DIM as usize) {
            if slot >= filled {
                idx[at + slot] = 0i32;
                val[vat + slot] = 0.0f32;
            }
        }
    }
}

/// `x_hat[b] = b_dec + sum_j val[b, j] W_dec[idx[b, j]]`.
#[cube(launch)]
pub(crate) fn decode_rows(
    idx: &Tensor<i32>,
    val: &Tensor<f32>,
    w_dec: &Tensor<f32>,
    b_dec: &Tensor<f32>,
    x_hat: &mut Tensor<f32>,
) {
    let row = CUBE_POS;
    if row < idx.shape(0) {
        let k = idx.shape(1);
        let d = w_dec.shape(1);
        let at = row * idx.stride(0);
        let vat = row * val.stride(0);
        let ws = w_dec.stride(0);
        for c in range_stepped(UNIT_POS as usize, d, CUBE_DIM as usize) {
            let mut acc = b_dec[c];
            for j in 0..k {
                let latent = idx[at + j] as usize;
                acc += val[vat + j] * w_dec[latent * ws + c];
            }
            x_hat[row * x_hat.stride(0) + c] = acc;
        }
    }
}

/// `g_val[b, j] = g[b] . W_dec[idx[b, j]]`: the output gradient seen by
/// each kept latent (8 units per latent, 32 latents at a time).
#[cube(launch)]
pub(crate) fn code_gradients(
    idx: &Tensor<i32>,
    g: &Tensor<f32>,
    w_dec: &Tensor<f32>,
    g_val: &mut Tensor<f32>,
) {
    let mut part = SharedMemory::<f32>::new(256usize);
    let row = CUBE_POS;
    let live = row < idx.shape(0);
    let k = idx.shape(1);
    let d = w_dec.shape(1);
    let lane = (UNIT_POS % 8u32) as usize;
    let group = (UNIT_POS / 8u32) as usize;
    let rounds = (k + 31) >> 5; // 32 latents a round
    for round in 0..rounds {
        let j = round * 32 + group;
        let mut acc = 0.0f32;
        if live && j < k {
            let latent = idx[row * idx.stride(0) + j] as usize;
            let gat = row * g.stride(0);
            let wat = latent * w_dec.stride(0);
            for c in range_stepped(lane, d, 8usize) {
                acc += g[gat + c] * w_dec[wat + c];
            }
        }
        part[UNIT_POS as usize] = acc;
        sync_cube();
        if live && j < k && lane == 0 {
            let at = UNIT_POS as usize;
            let mut sum = 0.0f32;
            for l in 0..8usize {
                sum += part[at + l];
            }
            g_val[row * g_val.stride(0) + j] = sum;
        }
        sync_cube();
    }
}

/// `out[idx[b, j]] += val[b, j] * rows[b]` for every pair, and
/// `out_bias[idx[b, j]] += val[b, j]` when `with_bias` (f32 atomics).
#[cube(launch)]
pub(crate) fn scatter_rows(
    idx: &Tensor<i32>,
    val: &Tensor<f32>,
    rows: &Tensor<f32>,
    out: &Tensor<Atomic<f32>>,
    out_bias: &Tensor<Atomic<f32>>,
    #[comptime] with_bias: bool,
) {
    let row = CUBE_POS;
    if row < idx.shape(0) {
        let k = idx.shape(1);
        let d = rows.shape(1);
        let rat = row * rows.stride(0);
        for j in 0..k {
            let latent = idx[row * idx.stride(0) + j] as usize;
            let v = val[row * val.stride(0) + j];
            if v != 0.0f32 {
                let oat = latent * out.stride(0);
                for c in range_stepped(UNIT_POS as usize, d, CUBE_DIM as usize) {
                    out[oat + c].fetch_add(v * rows[rat + c]);
                }
                if with_bias && UNIT_POS == 0 {
                    out_bias[latent].fetch_add(v);
                }
            }
        }
    }
}
