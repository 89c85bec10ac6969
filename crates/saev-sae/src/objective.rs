//! Training objectives beyond plain reconstruction: the AuxK loss for dead
//! latents and the Matryoshka objective.
//!
//! - AuxK (Gao et al. 2024, arXiv:2406.04093, section A.2): a latent is dead
//!   when it has not fired in the last `dead_after` training examples. Each
//!   example's `k_aux` largest pre-activations among dead latents reconstruct
//!   the main reconstruction's residual `e = x - x_hat` (held constant), and
//!   `alpha * mean((e_hat - e)^2)` joins the loss, so dead latents get a
//!   gradient towards what the live ones miss. As in the paper `e_hat` has no
//!   decoder bias; saev's current code adds `b_dec` to it (a known oddity its
//!   author flags), which we do not copy.
//! - Matryoshka (Bussmann et al. 2025, arXiv:2503.17547; Nabeshima's
//!   reference code): each step draws `n_prefixes - 1` prefix lengths from a
//!   Pareto-like law (`P(l) ∝ l^-1/2 - (l+1)^-1/2`, `l` in `1..S`), adds `S`,
//!   and averages the reconstruction error of every prefix `f[:, :l] @
//!   W_dec[:l] + b_dec`, so early latents must reconstruct on their own and
//!   learn general features. Draws come from PCG64 seeded by the SAE seed and
//!   step (saev draws with torch's generator, which we cannot replay).

use serde::{Deserialize, Serialize};

/// AuxK settings (saev's defaults: `k_aux` 512, `alpha` 1/32, dead after 10M
/// examples).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuxK {
    pub k_aux: usize,
    pub alpha: f32,
    /// Examples without firing after which a latent counts as dead.
    pub dead_after: u64,
}

impl AuxK {
    /// The dead-latent rule: a latent that last fired `since` examples ago
    /// is dead for a batch of `b` examples unless it fires in that batch.
    /// (The device step applies it to a tensor of counters, `gpu/trainer.rs`.)
    pub fn dead_before(&self, since: u64, b: u64) -> bool {
        since + b >= self.dead_after
    }
}

impl Default for AuxK {
    fn default() -> Self {
        Self {
            k_aux: 512,
            alpha: 1.0 / 32.0,
            dead_after: 10_000_000,
        }
    }
}

/// Matryoshka settings (saev's default: 10 prefixes).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Matryoshka {
    pub n_prefixes: usize,
}

impl Default for Matryoshka {
    fn default() -> Self {
        Self { n_prefixes: 10 }
    }
}

/// Sorted prefix lengths ending in `d_sae`: `n_prefixes - 1` distinct draws
/// without replacement from `1..d_sae` with weights
/// `l^-1/2 - (l+1)^-1/2` (saev's `sample_prefixes`, `pareto_power` 1/2).
pub fn sample_prefixes(d_sae: usize, n_prefixes: usize, rng: &mut saev_rng::Pcg64) -> Vec<usize> {
    if n_prefixes <= 1 || d_sae < 2 {
        return vec![d_sae];
    }
    assert!(n_prefixes <= d_sae, "more prefixes than latents");
    // saev's pdf over lengths 1..d_sae: cdf(l) = 1 - l^-1/2, pdf = diff(cdf)
    // with pdf[0] = cdf(1) = 0, so length 1 is never drawn.
    let cdf = |l: usize| 1.0 - (l as f64).powf(-0.5);
    let mut w: Vec<f64> = (1..d_sae)
        .map(|l| if l == 1 { cdf(1) } else { cdf(l) - cdf(l - 1) })
        .collect();
    let mut out = Vec::with_capacity(n_prefixes);
    for _ in 0..n_prefixes - 1 {
        let total: f64 = w.iter().sum();
        if total <= 0.0 {
            break;
        }
        let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
        let mut acc = 0.0;
        let mut pick = w.iter().rposition(|&x| x > 0.0).expect("positive weight");
        for (i, &x) in w.iter().enumerate() {
            acc += x;
            if x > 0.0 && u < acc {
                pick = i;
                break;
            }
        }
        w[pick] = 0.0;
        out.push(pick + 1);
    }
    out.push(d_sae);
    out.sort_unstable();
    out
}

/// The Matryoshka blocks `[lo, hi)` of `prefixes` (increasing, the last equal
/// to `d_sae`; `None`: the plain objective, one block `[0, d_sae)`). Block
/// `j`'s latents appear in every prefix from `j` on.
pub fn blocks(prefixes: Option<&[usize]>, d_sae: usize) -> Vec<(usize, usize)> {
    let full = [d_sae];
    let prefixes = prefixes.unwrap_or(&full);
    assert!(
        prefixes.last() == Some(&d_sae) && prefixes.windows(2).all(|w| w[0] < w[1]),
        "prefixes must increase to d_sae"
    );
    std::iter::once(0)
        .chain(prefixes.iter().copied())
        .zip(prefixes.iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_distinct_sorted_end_at_d_sae_and_favour_short_ones() {
        let mut rng = saev_rng::Pcg64::from_seed(3);
        let mut short = 0;
        for _ in 0..200 {
            let p = sample_prefixes(1000, 10, &mut rng);
            assert_eq!(p.len(), 10);
            assert_eq!(*p.last().unwrap(), 1000);
            assert!(p.windows(2).all(|w| w[0] < w[1]), "{p:?}");
            assert!(p[0] >= 2);
            short += p.iter().filter(|&&l| l < 100).count();
        }
        // P(l < 100) = (1 - 1/sqrt(100)) / (1 - 1/sqrt(999)) ~ 0.93 per draw,
        // less with draws taken without replacement; uniform would give 0.1.
        assert!(short > 200 * 9 / 2, "{short}");
        assert_eq!(sample_prefixes(64, 1, &mut rng), vec![64]);
    }
}
