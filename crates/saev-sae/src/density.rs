//! How sparse codes are, and pairs grouped by latent: the counting helpers
//! the CPU step's dense/sparse choice and its sparse sums share.

use rayon::prelude::*;

/// Below this share of active (example, latent) pairs the sparse step is
/// faster than the dense products (see docs/performance.md).
pub const SPARSE_BELOW: f64 = 0.05;

/// Share of the entries of `f_BS` that are non-zero (a parallel count, no
/// allocation: cheap next to the encoder product).
pub fn density(f_BS: &[f32]) -> f64 {
    nonzero(f_BS) as f64 / f_BS.len().max(1) as f64
}

/// How many entries of `f_BS` are non-zero.
pub(crate) fn nonzero(f_BS: &[f32]) -> usize {
    f_BS.par_chunks(1 << 16)
        .map(|c| c.iter().filter(|&&v| v != 0.0).count())
        .sum()
}

/// Pairs grouped by latent (CSC): latent `j`'s are `start[j]..start[j + 1]`
/// of `entry`, each (example, index of the pair in its source).
pub(crate) struct ByLatent {
    start: Vec<usize>,
    entry: Vec<(u32, u32)>,
}

impl ByLatent {
    /// `pairs` yields (example, latent, index), by a counting sort.
    pub fn of(s: usize, n: usize, pairs: impl Fn(&mut dyn FnMut(usize, usize, usize))) -> ByLatent {
        let mut start = vec![0usize; s + 1];
        pairs(&mut |_, j, _| start[j + 1] += 1);
        for j in 0..s {
            start[j + 1] += start[j];
        }
        let mut next = start.clone();
        let mut entry = vec![(0u32, 0u32); n];
        pairs(&mut |r, j, p| {
            entry[next[j]] = (r as u32, p as u32);
            next[j] += 1;
        });
        ByLatent { start, entry }
    }

    /// Whether any pair has latent `j`.
    pub fn has(&self, j: usize) -> bool {
        self.start[j + 1] > self.start[j]
    }

    pub fn of_latent(&self, j: usize) -> &[(u32, u32)] {
        &self.entry[self.start[j]..self.start[j + 1]]
    }
}
