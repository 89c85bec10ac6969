//! Steering with SAE latents (the paper's classification control).
//!
//! - [`edit`]: `f = encode(x)`, `err = x - decode(f)`, chosen latents of `f`
//!   replaced, `x' = decode(f') + err`, and the probe's view of `x` and `x'`.
//!   Editing nothing gives back `x` up to float rounding.
//! - [`proposals`]: the latents the dashboard offers: a class's top latents
//!   (activations summed over the class's examples), restricted to rare ones.
//! - [`evaluate`]: the quantitative experiment: for every example and every
//!   other class `t`, set `t`'s top latents to `s * m` (m the latent's largest
//!   activation seen) for a grid of scales `s`, and record whether the
//!   prediction becomes `t`; the same with random rare latents as control.

mod eval;

pub use eval::{evaluate, summarize, EvalConfig, EvalRow, SummaryRow};

use saev_probe::{softmax, Probe};
use saev_sae::Sae;

/// One latent set to a value.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Edit {
    pub latent: usize,
    pub value: f32,
}

/// The probe's view of an example before and after an edit.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The example's latents (before the edit).
    pub f_S: Vec<f32>,
    pub x_new_D: Vec<f32>,
    pub logits_before: Vec<f32>,
    pub logits_after: Vec<f32>,
    pub probs_before: Vec<f32>,
    pub probs_after: Vec<f32>,
}

/// Edit one example `x_D` (in the SAE's normalized space).
pub fn edit(sae: &Sae, probe: &Probe, x_D: &[f32], edits: &[Edit]) -> Outcome {
    let f_S = sae.encode(x_D);
    let x_hat = sae.decode(&f_S);
    let mut f_new = f_S.clone();
    for e in edits {
        f_new[e.latent] = e.value;
    }
    // x' = decode(f') + (x - decode(f)), computed as x + (decode(f') - decode(f))
    // so that editing nothing returns x itself.
    let x_new_D: Vec<f32> = if edits.is_empty() {
        x_D.to_vec()
    } else {
        let x_hat_new = sae.decode(&f_new);
        x_D.iter()
            .zip(&x_hat_new)
            .zip(&x_hat)
            .map(|((x, a), b)| x + (a - b))
            .collect()
    };
    let logits_before = probe.logits(x_D);
    let logits_after = probe.logits(&x_new_D);
    Outcome {
        probs_before: softmax(&logits_before),
        probs_after: softmax(&logits_after),
        f_S,
        x_new_D,
        logits_before,
        logits_after,
    }
}

/// Per class, the `k` latents with the largest activation summed over the
/// class's examples, among `allowed` latents (ties: lower index).
pub fn proposals(
    sae: &Sae,
    x_ND: &[f32],
    y_N: &[u32],
    n_classes: usize,
    k: usize,
    allowed: &[bool],
) -> Vec<Vec<usize>> {
    let (d, s) = (sae.d_vit(), sae.d_sae());
    let mut sums = vec![0.0f64; n_classes * s];
    for (chunk_x, chunk_y) in x_ND.chunks(4096 * d).zip(y_N.chunks(4096)) {
        let codes = sae.encode_sparse(chunk_x);
        for (r, &y) in chunk_y.iter().enumerate() {
            let acc = &mut sums[y as usize * s..(y as usize + 1) * s];
            let (latents, values) = codes.row(r);
            for (&j, &v) in latents.iter().zip(values) {
                acc[j as usize] += f64::from(v);
            }
        }
    }
    (0..n_classes)
        .map(|c| {
            let mut idx: Vec<usize> = (0..s)
                .filter(|&j| allowed[j] && sums[c * s + j] > 0.0)
                .collect();
            idx.sort_by(|&a, &b| sums[c * s + b].total_cmp(&sums[c * s + a]).then(a.cmp(&b)));
            idx.truncate(k);
            idx
        })
        .collect()
}

/// `k` distinct latents drawn from `allowed` (PCG64, `seed`).
pub fn random_latents(allowed: &[bool], k: usize, seed: u64) -> Vec<usize> {
    let mut pool: Vec<usize> = (0..allowed.len()).filter(|&j| allowed[j]).collect();
    saev_rng::Pcg64::from_seed(seed).shuffle(&mut pool);
    pool.truncate(k);
    pool
}
