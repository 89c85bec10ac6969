//! The two loops every example goes through, compiled twice: for the baseline
//! x86-64 target and for AVX2, picked at run time. Results are bit-identical
//! (IEEE division and comparisons do not depend on vector width); only speed
//! differs.

/// Whether all values are finite: the magnitude's bits are below infinity's.
#[inline(always)]
fn all_finite_impl(xs: &[f32]) -> bool {
    // Integer max is associative, so this reduction vectorizes freely.
    let max = xs
        .iter()
        .fold(0u32, |m, x| m.max(x.to_bits() & 0x7fff_ffff));
    max < 0x7f80_0000
}

/// `(clamp(x, -c, c) - mean) / scalar`, row by row, in f32.
#[inline(always)]
fn normalize_impl(acts_ND: &mut [f32], act_mean: &[f32], scalar: f32, clamp: f32) {
    for row in acts_ND.chunks_exact_mut(act_mean.len()) {
        for (x, m) in row.iter_mut().zip(act_mean) {
            *x = (x.max(-clamp).min(clamp) - m) / scalar;
        }
    }
}

/// Clamp only.
#[inline(always)]
fn clamp_impl(xs: &mut [f32], clamp: f32) {
    for x in xs {
        *x = x.max(-clamp).min(clamp);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    #[target_feature(enable = "avx2")]
    pub unsafe fn all_finite(xs: &[f32]) -> bool {
        super::all_finite_impl(xs)
    }
    #[target_feature(enable = "avx2")]
    pub unsafe fn normalize(acts_ND: &mut [f32], act_mean: &[f32], scalar: f32, clamp: f32) {
        super::normalize_impl(acts_ND, act_mean, scalar, clamp)
    }
    #[target_feature(enable = "avx2")]
    pub unsafe fn clamp(xs: &mut [f32], clamp: f32) {
        super::clamp_impl(xs, clamp)
    }
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether all values of `xs` are finite (no NaN, no ±Inf).
pub fn all_finite(xs: &[f32]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { avx2::all_finite(xs) };
    }
    all_finite_impl(xs)
}

/// Normalize rows of `act_mean.len()` values in place.
pub(crate) fn normalize(acts_ND: &mut [f32], act_mean: &[f32], scalar: f32, clamp: f32) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { avx2::normalize(acts_ND, act_mean, scalar, clamp) };
    }
    normalize_impl(acts_ND, act_mean, scalar, clamp)
}

/// Clamp values to `[-clamp, clamp]` in place.
pub(crate) fn clamp(xs: &mut [f32], clamp: f32) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { avx2::clamp(xs, clamp) };
    }
    clamp_impl(xs, clamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_kind_of_non_finite_anywhere() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -f32::NAN] {
            for pos in [0, 15, 16, 33, 39] {
                let mut xs = vec![f32::MAX; 40];
                xs[1] = -f32::MAX;
                assert!(all_finite(&xs) && all_finite_impl(&xs));
                xs[pos] = bad;
                assert!(!all_finite(&xs) && !all_finite_impl(&xs), "{bad} at {pos}");
            }
        }
    }

    #[test]
    fn dispatch_gives_identical_bits() {
        let mean: Vec<f32> = (0..24).map(|i| i as f32 * 0.37 - 3.0).collect();
        let xs: Vec<f32> = (0..24 * 5)
            .map(|i| (i as f32 * 1.618).sin() * 9.0)
            .collect();
        let (mut a, mut b) = (xs.clone(), xs.clone());
        normalize(&mut a, &mean, 2.342_989_4, 7.5);
        normalize_impl(&mut b, &mean, 2.342_989_4, 7.5);
        assert_eq!(a, b);
        let want: Vec<f32> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| (x.clamp(-7.5, 7.5) - mean[i % 24]) / 2.342_989_4)
            .collect();
        assert_eq!(a, want);
    }
}
