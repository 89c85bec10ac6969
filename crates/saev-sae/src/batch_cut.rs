//! BatchTopK's training cut fed a block of examples at a time: the
//! `k * B` largest pre-activations of the whole batch (ties: lowest flat
//! index `r * S + j`, as [`crate::Activation::apply_train`] on `[B, S]`),
//! holding only the candidates that can still make the cut, never `[B, S]`.
//!
//! Once `keep` candidates are held, the lowest-ranked of them bounds the
//! cut from below: later values under it can never survive, and one
//! vectorized comparison per value drops them.

use crate::activation::{may_reach, rank};
use crate::codes::SparseCodes;

pub(crate) struct BatchCut {
    keep: usize,
    s: usize,
    /// The lowest value of the best `keep` so far (once `keep` are held).
    bound: Option<f32>,
    /// (flat index, value).
    cand: Vec<(u64, f32)>,
}

impl BatchCut {
    /// The `keep` largest of a batch of `d_sae`-wide rows.
    pub fn new(keep: usize, d_sae: usize) -> Self {
        BatchCut {
            keep,
            s: d_sae,
            bound: None,
            cand: Vec::new(),
        }
    }

    /// Feed `[R, S]` pre-activations of examples `r0..r0 + R`.
    pub fn push(&mut self, r0: usize, pre_RS: &[f32]) {
        if self.keep == 0 {
            return;
        }
        for (i, row) in pre_RS.chunks_exact(self.s).enumerate() {
            let base = ((r0 + i) * self.s) as u64;
            match self.bound {
                None => self
                    .cand
                    .extend(row.iter().enumerate().map(|(j, &v)| (base + j as u64, v))),
                Some(bound) => self.extend_reaching(base, row, bound),
            }
            if self.cand.len() >= 2 * self.keep {
                self.shrink();
            }
        }
    }

    /// Candidates of a row that may reach `bound`, sixteen values tested at
    /// once (branch-free) before any is looked at alone.
    fn extend_reaching(&mut self, base: u64, row: &[f32], bound: f32) {
        for (c, block) in row.chunks(16).enumerate() {
            if block
                .iter()
                .fold(false, |any, &v| any | may_reach(v, bound))
            {
                let at = base + (c * 16) as u64;
                let keep = block
                    .iter()
                    .enumerate()
                    .filter(|(_, &v)| may_reach(v, bound));
                self.cand.extend(keep.map(|(i, &v)| (at + i as u64, v)));
            }
        }
    }

    /// Keep the best `keep` candidates; their lowest value is the new bound.
    fn shrink(&mut self) {
        if self.cand.len() > self.keep {
            let order = |a: &(u64, f32), b: &(u64, f32)| rank(*a, *b);
            self.cand.select_nth_unstable_by(self.keep - 1, order);
            self.cand.truncate(self.keep);
        }
        if self.cand.len() == self.keep {
            let lowest = self.cand.iter().map(|c| c.1).min_by(f32::total_cmp);
            self.bound = lowest;
        }
    }

    /// The survivors of a batch of `b` examples as codes (zeros dropped, as
    /// [`SparseCodes::of_dense`] would) and the smallest positive survivor.
    pub fn finish(mut self, b: usize) -> (SparseCodes, Option<f32>) {
        self.shrink();
        let mut cand = self.cand;
        cand.sort_unstable_by_key(|c| c.0);
        let s = self.s as u64;
        let mut codes = SparseCodes {
            d_sae: self.s,
            start: Vec::with_capacity(b + 1),
            latent: Vec::with_capacity(cand.len()),
            value: Vec::with_capacity(cand.len()),
        };
        codes.start.push(0);
        let mut pairs = cand.iter().filter(|c| c.1 != 0.0).peekable();
        for r in 0..b as u64 {
            while let Some(&(i, v)) = pairs.next_if(|c| c.0 / s == r) {
                codes.latent.push((i % s) as u32);
                codes.value.push(v);
            }
            codes.start.push(codes.latent.len());
        }
        let min_pos = codes
            .value
            .iter()
            .copied()
            .filter(|&v| v > 0.0)
            .reduce(f32::min);
        (codes, min_pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Activation;

    #[test]
    fn block_by_block_is_the_whole_batch_cut() {
        let mut rng = saev_rng::Pcg64::from_seed(5);
        let (b, s) = (40, 300);
        for (k, levels) in [(3, 0), (3, 4), (1, 0), (300, 0), (0, 0)] {
            let pre: Vec<f32> = (0..b * s)
                .map(|_| {
                    let u = (rng.next_u32() >> 8) as f32 / (1 << 23) as f32 - 0.5;
                    if levels > 0 {
                        (u * levels as f32).floor()
                    } else {
                        u
                    }
                })
                .collect();
            let act = Activation::BatchTopK {
                top_k: k,
                momentum: 0.1,
            };
            let mut dense = pre.clone();
            let want_min = act.apply_train(&mut dense, s);
            let mut cut = BatchCut::new(k * b, s);
            for (i, block) in pre.chunks(7 * s).enumerate() {
                cut.push(i * 7, block);
            }
            let (codes, min_pos) = cut.finish(b);
            assert_eq!(
                codes,
                SparseCodes::of_dense(&dense, s),
                "k {k}, levels {levels}"
            );
            assert_eq!(min_pos, want_min, "k {k}, levels {levels}");
        }
    }
}
