//! Which latents get picture folders: saev's rule. Latents whose log10
//! frequency and log10 mean value lie strictly inside the given ranges are
//! shuffled with `seed` and the first `n_latents` taken, after the latents
//! asked for by name (`include`).
//!
//! saev shuffles with Python's `random.shuffle`; we use PCG64's shuffle, so
//! the random picks differ from saev's while following the same rule.

use crate::output::Visuals;

/// Latents in both ranges (open intervals, as saev's mask).
pub fn in_ranges(v: &Visuals, log_freq: (f64, f64), log_value: (f64, f64)) -> Vec<usize> {
    (0..v.summary.d_sae)
        .filter(|&s| {
            let f = f64::from(v.sparsity_S[s]).log10();
            let m = f64::from(v.mean_values_S[s]).log10();
            log_freq.0 < f && f < log_freq.1 && log_value.0 < m && m < log_value.1
        })
        .collect()
}

/// `include`, then up to `n_latents` shuffled latents from the ranges.
pub fn choose(
    v: &Visuals,
    log_freq: (f64, f64),
    log_value: (f64, f64),
    include: &[usize],
    n_latents: usize,
    seed: u64,
) -> Vec<usize> {
    let mut pool = in_ranges(v, log_freq, log_value);
    saev_rng::Pcg64::from_seed(seed).shuffle(&mut pool);
    let mut out: Vec<usize> = include
        .iter()
        .copied()
        .filter(|&s| s < v.summary.d_sae)
        .collect();
    for s in pool.into_iter().take(n_latents) {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}
