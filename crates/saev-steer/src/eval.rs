//! `saev steer eval`: flip rates of class latents against random latents.
//!
//! For example `x` (true class `y`, prediction before any edit `p`), target
//! class `t != y` and scale `s`: `t`'s proposed latents are set to `s * m_j`
//! (`m_j` the latent's largest activation in the visuals pass), and we record
//! the new prediction and the probabilities of `t` and `y`. The control sets
//! as many random rare latents the same way. Because the edit only changes
//! `x` by `sum_j (v_j - f_j) W_dec[j]` and the probe is linear, new logits
//! are `logits + sum_j (v_j - f_j) (W W_dec[j])`: exact, and cheap enough to
//! run every example against every class.

use rayon::prelude::*;
use saev_probe::{softmax, Probe};
use saev_sae::Sae;

/// Settings of the experiment.
#[derive(Clone, Debug)]
pub struct EvalConfig {
    /// Multiples of each latent's largest seen activation.
    pub scales: Vec<f32>,
    /// Seed of the random control latents (drawn per example and target).
    pub seed: u64,
}

/// One (example, target, kind, scale) measurement.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EvalRow {
    pub example: usize,
    pub true_class: u32,
    pub target: u32,
    /// "class" or "random".
    pub kind: &'static str,
    pub scale: f32,
    pub pred_before: u32,
    pub pred_after: u32,
    pub p_target_before: f32,
    pub p_target_after: f32,
    pub p_true_before: f32,
    pub p_true_after: f32,
}

/// Means over examples and targets, per kind and scale.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SummaryRow {
    pub kind: &'static str,
    pub scale: f32,
    pub n: usize,
    /// Fraction whose prediction became the target (from another class).
    pub flip_rate: f64,
    pub mean_dp_target: f64,
    pub mean_dp_true: f64,
}

/// Run the experiment on `x_ND` (normalized like the SAE's data) with
/// targets `y_N`; `class_latents[t]` are class `t`'s latents, `max_S` each
/// latent's largest activation, `random_pool` the latents random controls
/// are drawn from.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    sae: &Sae,
    probe: &Probe,
    x_ND: &[f32],
    y_N: &[u32],
    class_latents: &[Vec<usize>],
    max_S: &[f32],
    random_pool: &[usize],
    cfg: &EvalConfig,
) -> Vec<EvalRow> {
    let (d, s, c) = (sae.d_vit(), sae.d_sae(), probe.c);
    // W W_dec[j] for every latent the experiment may touch.
    let mut dir_SC = vec![0.0f32; s * c];
    let used: Vec<bool> = {
        let mut u = vec![false; s];
        class_latents
            .iter()
            .flatten()
            .chain(random_pool)
            .for_each(|&j| u[j] = true);
        u
    };
    dir_SC
        .par_chunks_mut(c)
        .enumerate()
        .filter(|(j, _)| used[*j])
        .for_each(|(j, out)| {
            let w = &sae.w_dec_SD[j * d..(j + 1) * d];
            for (k, o) in out.iter_mut().enumerate() {
                *o = probe.w_CD[k * d..(k + 1) * d]
                    .iter()
                    .zip(w)
                    .map(|(a, b)| a * b)
                    .sum();
            }
        });
    let n = y_N.len();
    let k_random = class_latents.iter().map(Vec::len).max().unwrap_or(0);
    // Every example encoded at once, block by block, as pairs.
    let codes = sae.encode_sparse(x_ND);
    (0..n)
        .into_par_iter()
        .flat_map_iter(|i| {
            let x = &x_ND[i * d..(i + 1) * d];
            let logits = probe.logits(x);
            let pb = softmax(&logits);
            let y = y_N[i];
            let pred_before = argmax(&logits);
            let mut rows = Vec::new();
            for t in 0..c as u32 {
                if t == y || class_latents[t as usize].is_empty() {
                    continue;
                }
                let mut rng =
                    saev_rng::Pcg64::from_seed(cfg.seed ^ ((i as u64) << 20) ^ u64::from(t));
                let mut pool = random_pool.to_vec();
                rng.shuffle(&mut pool);
                pool.truncate(k_random);
                for (kind, latents) in [("class", &class_latents[t as usize]), ("random", &pool)] {
                    for &sc in &cfg.scales {
                        let mut l = logits.clone();
                        for &j in latents.iter() {
                            let delta = sc * max_S[j] - codes.get(i, j);
                            l.iter_mut()
                                .zip(&dir_SC[j * c..(j + 1) * c])
                                .for_each(|(a, b)| *a += delta * b);
                        }
                        let pa = softmax(&l);
                        rows.push(EvalRow {
                            example: i,
                            true_class: y,
                            target: t,
                            kind,
                            scale: sc,
                            pred_before,
                            pred_after: argmax(&l),
                            p_target_before: pb[t as usize],
                            p_target_after: pa[t as usize],
                            p_true_before: pb[y as usize],
                            p_true_after: pa[y as usize],
                        });
                    }
                }
            }
            rows
        })
        .collect()
}

fn argmax(xs: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in xs.iter().enumerate() {
        if v > xs[best] {
            best = i;
        }
    }
    best as u32
}

/// Flip rates and mean probability shifts per kind and scale.
pub fn summarize(rows: &[EvalRow], scales: &[f32]) -> Vec<SummaryRow> {
    let mut out = Vec::new();
    for kind in ["class", "random"] {
        for &sc in scales {
            let sel: Vec<&EvalRow> = rows
                .iter()
                .filter(|r| r.kind == kind && r.scale == sc)
                .collect();
            let n = sel.len().max(1) as f64;
            out.push(SummaryRow {
                kind,
                scale: sc,
                n: sel.len(),
                flip_rate: sel
                    .iter()
                    .filter(|r| r.pred_before != r.target && r.pred_after == r.target)
                    .count() as f64
                    / n,
                mean_dp_target: sel
                    .iter()
                    .map(|r| f64::from(r.p_target_after - r.p_target_before))
                    .sum::<f64>()
                    / n,
                mean_dp_true: sel
                    .iter()
                    .map(|r| f64::from(r.p_true_after - r.p_true_before))
                    .sum::<f64>()
                    / n,
            });
        }
    }
    out
}
