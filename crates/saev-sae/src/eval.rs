//! Evaluation over a whole dataset, in order (saev's `training.evaluate`, plus
//! normalized MSE and explained variance).
//!
//! Feed every batch to [`Evaluator::update`], then [`Evaluator::finish`].
//! Means are over examples (saev averages per-batch means, which weighs a
//! short last batch like a full one).

use serde::{Deserialize, Serialize};

use crate::sae::Sae;

/// saev's thresholds: a latent firing on fewer than this fraction of examples is almost dead.
pub const ALMOST_DEAD: f64 = 1e-7;
/// ... and on more than this fraction, dense.
pub const DENSE: f64 = 1e-2;

/// What evaluation reports for one SAE. In JSON, NaN values (a latent that
/// never fired has no mean) are `null` and read back as NaN.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    pub n_examples: u64,
    #[serde(with = "crate::nan_null::f64")]
    pub l0: f64,
    #[serde(with = "crate::nan_null::f64")]
    pub l1: f64,
    #[serde(with = "crate::nan_null::f64")]
    pub mse: f64,
    /// Squared error over the squared distance to the data mean.
    #[serde(with = "crate::nan_null::f64")]
    pub normalized_mse: f64,
    /// `1 - normalized_mse`.
    #[serde(with = "crate::nan_null::f64")]
    pub explained_variance: f64,
    /// Latents that never fired.
    pub n_dead: usize,
    pub n_almost_dead: usize,
    pub n_dense: usize,
    /// Fraction of examples each latent fired on.
    pub freqs: Vec<f32>,
    /// Mean value of each latent when it fired (NaN if it never did).
    #[serde(with = "crate::nan_null::vec_f32")]
    pub mean_values: Vec<f32>,
    pub almost_dead_threshold: f64,
    pub dense_threshold: f64,
}

/// Running sums over the batches seen.
#[derive(Clone, Debug)]
pub struct Evaluator {
    n: u64,
    n_fired: Vec<u64>,
    values: Vec<f64>,
    sum_l0: f64,
    sum_l1: f64,
    sum_sq_err: f64,
    sum_x: Vec<f64>,
    sum_x2: f64,
}

impl Evaluator {
    pub fn new(sae: &Sae) -> Self {
        Self {
            n: 0,
            n_fired: vec![0; sae.d_sae()],
            values: vec![0.0; sae.d_sae()],
            sum_l0: 0.0,
            sum_l1: 0.0,
            sum_sq_err: 0.0,
            sum_x: vec![0.0; sae.d_vit()],
            sum_x2: 0.0,
        }
    }

    /// Add a `[B, d_vit]` batch.
    pub fn update(&mut self, sae: &Sae, x_BD: &[f32]) {
        let d = sae.d_vit();
        // Latents as pairs: the work follows the latents that fired.
        let codes = sae.encode_sparse(x_BD);
        let x_hat_BD = sae.decode_sparse(&codes);
        for (&j, &f) in codes.latent.iter().zip(&codes.value) {
            if f > 0.0 {
                self.n_fired[j as usize] += 1;
                self.values[j as usize] += f64::from(f);
                self.sum_l0 += 1.0;
                self.sum_l1 += f64::from(f);
            }
        }
        for (x_row, y_row) in x_BD.chunks_exact(d).zip(x_hat_BD.chunks_exact(d)) {
            for ((sx, &x), &y) in self.sum_x.iter_mut().zip(x_row).zip(y_row) {
                *sx += f64::from(x);
                self.sum_x2 += f64::from(x) * f64::from(x);
                self.sum_sq_err += f64::from(y - x).powi(2);
            }
        }
        self.n += (x_BD.len() / d) as u64;
    }

    pub fn finish(self) -> EvalMetrics {
        let n = self.n as f64;
        let d = self.sum_x.len() as f64;
        let freqs: Vec<f32> = self
            .n_fired
            .iter()
            .map(|&k| (k as f64 / n) as f32)
            .collect();
        let mean_values = self
            .values
            .iter()
            .zip(&self.n_fired)
            .map(|(&v, &k)| (v / k as f64) as f32)
            .collect();
        let total_var = self.sum_x2 - self.sum_x.iter().map(|s| s * s).sum::<f64>() / n;
        let normalized_mse = self.sum_sq_err / total_var;
        EvalMetrics {
            n_examples: self.n,
            l0: self.sum_l0 / n,
            l1: self.sum_l1 / n,
            mse: self.sum_sq_err / (n * d),
            normalized_mse,
            explained_variance: 1.0 - normalized_mse,
            n_dead: freqs.iter().filter(|&&f| f == 0.0).count(),
            n_almost_dead: freqs
                .iter()
                .filter(|&&f| f64::from(f) < ALMOST_DEAD)
                .count(),
            n_dense: freqs.iter().filter(|&&f| f64::from(f) > DENSE).count(),
            freqs,
            mean_values,
            almost_dead_threshold: ALMOST_DEAD,
            dense_threshold: DENSE,
        }
    }
}

#[cfg(test)]
mod json_tests {
    use super::*;

    #[test]
    fn metrics_with_nan_means_read_back_from_json() {
        let m = EvalMetrics {
            n_examples: 4,
            l0: 2.0,
            l1: f64::NAN,
            mse: 0.5,
            normalized_mse: 0.25,
            explained_variance: 0.75,
            n_dead: 1,
            n_almost_dead: 1,
            n_dense: 0,
            freqs: vec![0.0, 0.5],
            mean_values: vec![f32::NAN, 1.5],
            almost_dead_threshold: ALMOST_DEAD,
            dense_threshold: DENSE,
        };
        let text = serde_json::to_string(&m).unwrap();
        assert!(text.contains("\"mean_values\":[null,1.5]"), "{text}");
        let back: EvalMetrics = serde_json::from_str(&text).unwrap();
        assert!(back.l1.is_nan() && back.mean_values[0].is_nan());
        assert_eq!(back.mean_values[1], 1.5);
        assert_eq!(back.freqs, m.freqs);
    }
}
