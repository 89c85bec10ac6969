//! The SAE's nonlinearity: ReLU (the preprint's), TopK and BatchTopK.
//!
//! - ReLU: `f = max(pre, 0)`.
//! - TopK (Gao et al. 2024, "Scaling and evaluating sparse autoencoders",
//!   arXiv:2406.04093): each example keeps its `k` largest pre-activations,
//!   as they are (saev's `TopKActivation` keeps negative ones too), the rest
//!   are zero.
//! - BatchTopK (Bussmann et al. 2024, "BatchTopK Sparse Autoencoders",
//!   arXiv:2412.06410): while training, the `k * B` largest pre-activations of
//!   the whole batch survive, so busy examples can use more latents than quiet
//!   ones. A running threshold `theta` (exponential average, weight
//!   `momentum`, of the smallest positive survivor) replaces the batch
//!   coupling at inference: `f = pre if pre > theta else 0` (a JumpReLU; plain
//!   ReLU while `theta` is still 0), as saev's `BatchTopKActivation`.
//!
//! Ties at the cut keep the lowest indices, so exactly `k` (or `k * B`) values
//! survive.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Which nonlinearity an SAE uses (`kind` in its JSON config).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Activation {
    #[default]
    Relu,
    TopK {
        top_k: usize,
    },
    BatchTopK {
        top_k: usize,
        momentum: f32,
    },
}

/// `b > a` in the total order (NaN largest), for descending selection.
fn desc(a: &f32, b: &f32) -> std::cmp::Ordering {
    b.total_cmp(a)
}

/// `v >= bound` with NaN kept and both zeros equal: true for every value
/// the total order ranks at or above `bound` (and a few more).
pub(crate) fn may_reach(v: f32, bound: f32) -> bool {
    v >= bound || v.is_nan()
}

/// The selection order of (index, value) pairs: value descending, then
/// index ascending (ties at a cut keep the lowest indices).
pub(crate) fn rank<I: Ord>(a: (I, f32), b: (I, f32)) -> std::cmp::Ordering {
    desc(&a.1, &b.1).then(a.0.cmp(&b.0))
}

/// Zero all but the `k` largest values of `xs` (ties: lowest indices win).
/// Returns the cut value, or `None` when everything survives.
///
/// The `k`-th largest of a prefix of `xs` bounds the cut from below, so one
/// vectorized comparison pass leaves a few candidates (about
/// `k * len / prefix`) for the exact selection.
fn keep_largest(xs: &mut [f32], k: usize, scratch: &mut Vec<f32>) -> Option<f32> {
    if k >= xs.len() {
        return None;
    }
    if k == 0 {
        xs.fill(0.0);
        return Some(f32::INFINITY);
    }
    let prefix = (8 * k).max(1024).min(xs.len());
    scratch.clear();
    scratch.extend_from_slice(&xs[..prefix]);
    let bound = *scratch.select_nth_unstable_by(k - 1, desc).1;
    // A superset of the values the total order ranks at or above `bound`. Blocks of 16 are tested
    // branch-free first.
    let mut cand: Vec<(u32, f32)> = Vec::with_capacity(4 * k);
    for (c, block) in xs.chunks(16).enumerate() {
        if block
            .iter()
            .fold(false, |any, &v| any | may_reach(v, bound))
        {
            let keep = block
                .iter()
                .enumerate()
                .filter(|(_, &v)| may_reach(v, bound));
            cand.extend(keep.map(|(i, &v)| ((c * 16 + i) as u32, v)));
        }
    }
    let order = |a: &(u32, f32), b: &(u32, f32)| rank(*a, *b);
    let cut = cand.select_nth_unstable_by(k - 1, order).1 .1;
    xs.fill(0.0);
    for &(i, v) in &cand[..k] {
        xs[i as usize] = v;
    }
    Some(cut)
}

impl Activation {
    /// The training-mode nonlinearity, in place on pre-activations `[B, S]`.
    /// For BatchTopK returns the smallest positive surviving value (what the
    /// running threshold averages), if any.
    pub fn apply_train(&self, pre_BS: &mut [f32], s: usize) -> Option<f32> {
        match *self {
            Activation::Relu => {
                relu(pre_BS);
                None
            }
            Activation::TopK { top_k } => {
                pre_BS
                    .par_chunks_mut(s)
                    .for_each_init(Vec::new, |scratch, row| {
                        keep_largest(row, top_k, scratch);
                    });
                None
            }
            Activation::BatchTopK { top_k, .. } => {
                let b = pre_BS.len() / s;
                keep_largest(pre_BS, top_k * b, &mut Vec::new());
                let min_pos = pre_BS
                    .par_chunks(1 << 16)
                    .map(|c| {
                        c.iter()
                            .copied()
                            .filter(|&v| v > 0.0)
                            .fold(f32::INFINITY, f32::min)
                    })
                    .reduce(|| f32::INFINITY, f32::min);
                min_pos.is_finite().then_some(min_pos)
            }
        }
    }

    /// The inference-mode nonlinearity (per example; BatchTopK uses the
    /// running `threshold`).
    pub fn apply_eval(&self, pre_BS: &mut [f32], s: usize, threshold: f32) {
        match *self {
            Activation::Relu => relu(pre_BS),
            Activation::TopK { .. } => {
                self.apply_train(pre_BS, s);
            }
            Activation::BatchTopK { .. } => {
                let t = threshold.max(0.0);
                pre_BS.par_chunks_mut(1 << 16).for_each(|c| {
                    c.iter_mut().for_each(|v| {
                        if *v <= t {
                            *v = 0.0
                        }
                    })
                });
            }
        }
    }

    /// Short name as the command line spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::TopK { .. } => "topk",
            Activation::BatchTopK { .. } => "batch-topk",
        }
    }
}

fn relu(xs: &mut [f32]) {
    xs.par_chunks_mut(1 << 16)
        .for_each(|c| c.iter_mut().for_each(|v| *v = v.max(0.0)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topk_keeps_the_k_largest_per_row_even_negative_ones() {
        let mut x = vec![
            3.0, -1.0, 2.0, 5.0, //
            -4.0, -2.0, -3.0, -5.0,
        ];
        Activation::TopK { top_k: 2 }.apply_train(&mut x, 4);
        assert_eq!(x, vec![3.0, 0.0, 0.0, 5.0, 0.0, -2.0, -3.0, 0.0]);
    }

    /// The definition: rank by (value descending, index ascending), keep `k`.
    fn by_sorting(xs: &[f32], k: usize) -> Vec<f32> {
        let mut order: Vec<usize> = (0..xs.len()).collect();
        order.sort_by(|&a, &b| desc(&xs[a], &xs[b]).then(a.cmp(&b)));
        let mut out = vec![0.0; xs.len()];
        order.iter().take(k).for_each(|&i| out[i] = xs[i]);
        out
    }

    #[test]
    fn the_prefiltered_selection_is_the_sorting_definition() {
        let mut rng = saev_rng::Pcg64::from_seed(3);
        for (len, k, levels) in [
            (5000, 32, 0),
            (5000, 32, 7),
            (3000, 700, 0),
            (1500, 1, 3),
            (40, 39, 0),
        ] {
            // `levels` > 0: few distinct values, so ties straddle the cut;
            // the largest values sit past the sampled prefix.
            let mut xs: Vec<f32> = (0..len)
                .map(|i| {
                    let u = (rng.next_u32() >> 8) as f32 / (1 << 23) as f32;
                    let v = if levels > 0 {
                        (u * levels as f32).floor()
                    } else {
                        u - 0.5
                    };
                    v + if i > len / 2 { 0.25 } else { 0.0 }
                })
                .collect();
            xs[len - 1] = -0.0;
            let want = by_sorting(&xs, k);
            keep_largest(&mut xs, k, &mut Vec::new());
            assert_eq!(xs, want, "len {len}, k {k}, levels {levels}");
        }
    }

    #[test]
    fn ties_at_the_cut_keep_exactly_k_lowest_indices_first() {
        let mut x = vec![1.0, 2.0, 1.0, 1.0];
        Activation::TopK { top_k: 2 }.apply_train(&mut x, 4);
        assert_eq!(x, vec![1.0, 2.0, 0.0, 0.0]);
    }

    #[test]
    fn batch_topk_spends_the_budget_across_the_batch_and_reports_its_cut() {
        let mut x = vec![
            9.0, 8.0, 7.0, 0.1, //
            0.2, 0.3, -1.0, 6.0,
        ];
        let act = Activation::BatchTopK {
            top_k: 2,
            momentum: 0.1,
        };
        let min_pos = act.apply_train(&mut x, 4);
        assert_eq!(x, vec![9.0, 8.0, 7.0, 0.0, 0.0, 0.0, 0.0, 6.0]);
        assert_eq!(min_pos, Some(6.0));
        // Inference: a JumpReLU at the threshold, example by example.
        let mut y = vec![9.0, 5.0, 0.5, -1.0];
        act.apply_eval(&mut y, 4, 1.0);
        assert_eq!(y, vec![9.0, 5.0, 0.0, 0.0]);
    }
}
