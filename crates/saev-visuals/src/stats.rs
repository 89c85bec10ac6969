//! Per-latent statistics of one ordered pass: firing counts, sums, maxima
//! and saev's online percentile estimate.
//!
//! saev's `PercentileEstimator` moves its estimate after every example by
//! `lr * (N - t) / N * (sign(x - est) + 2 p / 100 - 1)` (`lr` 1e-3, `t` the
//! example's number from 1): a decaying stochastic-gradient step on the
//! pinball loss. We replay it example by example, in f32 as PyTorch does;
//! latents are independent, so the work is split over them.

use rayon::prelude::*;

/// Running statistics over `[N, S]` activations fed in order.
#[derive(Clone, Debug)]
pub struct LatentStats {
    pub d_sae: usize,
    /// Examples seen.
    pub n: u64,
    /// Examples with a positive value, per latent.
    pub fired_S: Vec<u64>,
    /// Sum of positive values (f64), per latent.
    pub sum_S: Vec<f64>,
    /// Largest value seen, per latent.
    pub max_S: Vec<f32>,
    /// Histogram of log10 of the positive values, per latent: `[S, HIST_BINS]`,
    /// bin `i` covering `[HIST_LO + i * HIST_WIDTH, ...)` (ends open).
    pub log_hist_SH: Vec<u64>,
    percentile: f32,
    total: u64,
    estimate_S: Vec<f32>,
}

const LR: f64 = 1e-3;
/// Log10-value histogram: 72 bins of 1/8 decade from 1e-6 to 1e3.
pub const HIST_BINS: usize = 72;
pub const HIST_LO: f32 = -6.0;
pub const HIST_WIDTH: f32 = 0.125;

impl LatentStats {
    /// `total` is the number of examples the pass will feed (saev's `len(dataset)`).
    pub fn new(d_sae: usize, percentile: f32, total: u64) -> Self {
        Self {
            d_sae,
            n: 0,
            fired_S: vec![0; d_sae],
            sum_S: vec![0.0; d_sae],
            max_S: vec![f32::NEG_INFINITY; d_sae],
            log_hist_SH: vec![0; d_sae * HIST_BINS],
            percentile,
            total,
            estimate_S: vec![0.0; d_sae],
        }
    }

    /// Feed `[B, S]` activations (examples in dataset order).
    pub fn update(&mut self, acts_BS: &[f32]) {
        let s = self.d_sae;
        let b = acts_BS.len() / s;
        let c = 2.0 * self.percentile / 100.0 - 1.0;
        let (n0, total) = (self.n, self.total as f64);
        // saev's per-example step sizes (Python floats, used as f32).
        let steps: Vec<f32> = (1..=b as u64)
            .map(|t| (LR * (total - (n0 + t) as f64) / total) as f32)
            .collect();
        const CH: usize = 256;
        self.fired_S
            .par_chunks_mut(CH)
            .zip(self.sum_S.par_chunks_mut(CH))
            .zip(self.max_S.par_chunks_mut(CH))
            .zip(self.estimate_S.par_chunks_mut(CH))
            .zip(self.log_hist_SH.par_chunks_mut(CH * HIST_BINS))
            .enumerate()
            .for_each(|(ci, ((((fired, sum), max), est), hist))| {
                let s0 = ci * CH;
                for (row, &step) in acts_BS.chunks_exact(s).zip(&steps) {
                    let row = &row[s0..s0 + fired.len()];
                    // Dense part, branch-free so it vectorizes: maximum and
                    // the percentile estimate (every value moves it).
                    for ((&v, m), e) in row.iter().zip(max.iter_mut()).zip(est.iter_mut()) {
                        *m = m.max(v);
                        let d = v - *e;
                        let sign = f32::from(u8::from(d > 0.0)) - f32::from(u8::from(d < 0.0));
                        *e += step * (sign + c);
                    }
                    // Sparse part: only firing values count, sum and bin.
                    for (j, &v) in row.iter().enumerate() {
                        if v > 0.0 {
                            fired[j] += 1;
                            sum[j] += f64::from(v);
                            let bin = ((v.log10() - HIST_LO) / HIST_WIDTH).floor();
                            let bin = (bin.max(0.0) as usize).min(HIST_BINS - 1);
                            hist[j * HIST_BINS + bin] += 1;
                        }
                    }
                }
            });
        self.n += b as u64;
    }

    /// Firing frequency (saev's `sparsity`): fired / examples.
    pub fn frequency(&self) -> Vec<f32> {
        self.fired_S
            .iter()
            .map(|&f| (f as f64 / self.n.max(1) as f64) as f32)
            .collect()
    }

    /// Mean value when firing (saev's `mean_values`: sum / fired, NaN if never).
    pub fn mean_value(&self) -> Vec<f32> {
        self.sum_S
            .iter()
            .zip(&self.fired_S)
            .map(|(&s, &f)| (s / f as f64) as f32)
            .collect()
    }

    /// The online percentile estimate.
    pub fn percentiles(&self) -> Vec<f32> {
        self.estimate_S.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_means_maxima_and_the_estimator_match_a_direct_computation() {
        let (n, s) = (300, 5);
        let mut rng = saev_rng::Pcg64::from_seed(2);
        let acts: Vec<f32> = (0..n * s)
            .map(|_| {
                let u = rng.interval(1000) as f32 / 1000.0;
                if u < 0.5 {
                    0.0
                } else {
                    u * 3.0
                }
            })
            .collect();
        let mut st = LatentStats::new(s, 99.0, n as u64);
        for chunk in acts.chunks(7 * s) {
            st.update(chunk);
        }
        for lat in 0..s {
            let col: Vec<f32> = (0..n).map(|i| acts[i * s + lat]).collect();
            let fired = col.iter().filter(|&&v| v > 0.0).count();
            let sum: f64 = col.iter().map(|&v| f64::from(v)).sum();
            assert_eq!(st.frequency()[lat], (fired as f64 / n as f64) as f32);
            assert!((st.mean_value()[lat] - (sum / fired as f64) as f32).abs() < 1e-6);
            assert_eq!(st.max_S[lat], col.iter().copied().fold(f32::MIN, f32::max));
            let hist = &st.log_hist_SH[lat * HIST_BINS..(lat + 1) * HIST_BINS];
            assert_eq!(hist.iter().sum::<u64>() as usize, fired);
            for &v in col.iter().filter(|&&v| v > 0.0) {
                let lo = HIST_LO + HIST_WIDTH * ((v.log10() - HIST_LO) / HIST_WIDTH).floor();
                assert!(lo <= v.log10() && v.log10() < lo + HIST_WIDTH);
            }
            // saev's estimator, one example at a time.
            let mut est = 0.0f32;
            for (t, &v) in col.iter().enumerate() {
                let step = (1e-3 * (n as f64 - (t + 1) as f64) / n as f64) as f32;
                est += step * ((v - est).signum() * f32::from(u8::from(v != est)) + 0.98);
            }
            assert_eq!(st.percentiles()[lat], est);
        }
    }
}
