//! Faster elementwise kernels for the CPU (flex) backend.
//!
//! flex evaluates `exp` one scalar libm call at a time, which made QuickGELU
//! and softmax a quarter of a ViT-B/16 forward pass. On flex, these two run
//! here instead: the values are taken out, transformed in parallel with a
//! vectorizable `exp` (Cephes' polynomial, within 2 ulp of libm over the
//! range that matters), and put back. Other backends keep burn's ops.

use burn::prelude::*;
use rayon::prelude::*;

/// Whether `B` is the flex CPU backend.
pub fn is_flex<B: Backend>() -> bool {
    std::any::TypeId::of::<B>() == std::any::TypeId::of::<burn::backend::Flex>()
}

/// `e^x` for f32: `x = n ln2 + r`, `e^r` by a degree-5 polynomial, `2^n` by exponent bits.
#[inline(always)]
fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.7);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    // Cody-Waite: ln2 split in two so r is exact.
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let r2 = r * r;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5e-1;
    let er = p * r2 + r + 1.0;
    let bits = ((n as i32 + 127) as u32) << 23;
    er * f32::from_bits(bits)
}

#[inline(always)]
fn quick_gelu_impl(xs: &mut [f32]) {
    for x in xs {
        *x /= 1.0 + exp(-1.702 * *x);
    }
}

#[inline(always)]
fn softmax_rows_impl(xs: &mut [f32], row: usize) {
    for r in xs.chunks_exact_mut(row) {
        let max = r.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let mut sum = 0.0;
        for v in r.iter_mut() {
            *v = exp(*v - max);
            sum += *v;
        }
        let inv = 1.0 / sum;
        r.iter_mut().for_each(|v| *v *= inv);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn quick_gelu(xs: &mut [f32]) {
        super::quick_gelu_impl(xs)
    }
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn softmax_rows(xs: &mut [f32], row: usize) {
        super::softmax_rows_impl(xs, row)
    }
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn quick_gelu_slice(xs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 and FMA are present, checked just above.
        return unsafe { avx2::quick_gelu(xs) };
    }
    quick_gelu_impl(xs)
}

fn softmax_slice(xs: &mut [f32], row: usize) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 and FMA are present, checked just above.
        return unsafe { avx2::softmax_rows(xs, row) };
    }
    softmax_rows_impl(xs, row)
}

fn host<B: Backend, const D: usize>(x: Tensor<B, D>) -> (Vec<f32>, [usize; D], B::Device) {
    let (dims, device) = (x.dims(), x.device());
    let values = x
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("f32 tensor");
    (values, dims, device)
}

/// `x * sigmoid(1.702 x)` on flex.
pub fn quick_gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let (mut v, dims, device) = host(x);
    v.par_chunks_mut(1 << 14).for_each(quick_gelu_slice);
    Tensor::from_data(TensorData::new(v, dims), &device)
}

/// Softmax over the last dimension on flex.
pub fn softmax_last<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let (mut v, dims, device) = host(x);
    let row = dims[D - 1];
    v.par_chunks_mut(row * 64)
        .for_each(|c| softmax_slice(c, row));
    Tensor::from_data(TensorData::new(v, dims), &device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_a_few_ulp_of_libm() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (a, b) = (exp(x) as f64, (x as f64).exp());
            worst = worst.max(((a - b) / b).abs());
            x += 0.0137;
        }
        assert!(
            worst < 3.0 * f32::EPSILON as f64,
            "worst relative error {worst:e}"
        );
        assert_eq!(exp(-200.0), exp(-87.3));
    }

    #[test]
    fn kernels_agree_with_the_definitions() {
        let mut xs: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.037).collect();
        let want: Vec<f32> = xs.iter().map(|&x| x / (1.0 + (-1.702 * x).exp())).collect();
        quick_gelu_slice(&mut xs);
        for (a, b) in xs.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{a} vs {b}");
        }
        let mut rows: Vec<f32> = (0..40).map(|i| (i as f32 * 0.77).sin() * 5.0).collect();
        let mut want = rows.clone();
        for r in want.chunks_mut(8) {
            let m = r.iter().cloned().fold(f32::MIN, f32::max);
            let s: f32 = r.iter().map(|v| (v - m).exp()).sum();
            r.iter_mut().for_each(|v| *v = (*v - m).exp() / s);
        }
        softmax_slice(&mut rows, 8);
        for (a, b) in rows.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-6, "{a} vs {b}");
        }
    }
}
