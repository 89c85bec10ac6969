//! Training many probes on the same batches.
//!
//! Each setting is its own `nn.Linear` with its own AdamW (PyTorch's:
//! `p *= 1 - lr * wd`, then Adam with betas 0.9/0.999 and eps 1e-8, all set
//! explicitly) on the mean cross-entropy of the batch. The original summed
//! all settings' losses into one mean, which scales each gradient by 1/M;
//! Adam is invariant to that scale (up to eps), so the settings train as
//! independent runs. Batches are a fresh permutation per epoch (PCG64 seeded
//! by `seed` and the epoch); the last partial batch is kept, as PyTorch's
//! `DataLoader`. Train accuracy is measured over the whole epoch (the
//! original reported its last batch only).

use rayon::prelude::*;

use saev_sae::optim::{Adam, Moments};

use crate::probe::{argmax, softmax, Probe};

/// One point of the sweep.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Setting {
    pub learning_rate: f32,
    pub weight_decay: f32,
}

/// What all settings share.
#[derive(Clone, Debug)]
pub struct SweepConfig {
    pub n_epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
}

/// Accuracies after one epoch, per setting.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochLog {
    pub epoch: usize,
    pub train_acc: Vec<f64>,
    pub val_acc: Vec<f64>,
}

/// Train one probe per setting on `(train_x_ND, train_y_N)`, logging train
/// and validation accuracy every epoch through `on_epoch`. Returns the probes.
#[allow(clippy::too_many_arguments)]
pub fn train_sweep(
    train_x_ND: &[f32],
    train_y_N: &[u32],
    val_x_ND: &[f32],
    val_y_N: &[u32],
    d: usize,
    n_classes: usize,
    settings: &[Setting],
    cfg: &SweepConfig,
    mut on_epoch: impl FnMut(&EpochLog),
) -> Vec<Probe> {
    let n = train_y_N.len();
    assert_eq!(train_x_ND.len(), n * d, "train rows");
    let c = n_classes;
    // All settings start from the same weights, as seeded runs would.
    let init = Probe::new(d, c, cfg.seed);
    let mut probes: Vec<(Probe, Moments, Moments)> = settings
        .iter()
        .map(|_| (init.clone(), Moments::zeros(c * d), Moments::zeros(c)))
        .collect();
    let mut t = 0i32;
    let mut x_BD = Vec::new();
    for epoch in 0..cfg.n_epochs {
        let order = saev_rng::Pcg64::from_seed(cfg.seed.wrapping_add(epoch as u64 * 0x9E37_79B9))
            .permutation(n);
        let mut hits = vec![0usize; settings.len()];
        for idx in order.chunks(cfg.batch_size.max(1)) {
            t += 1;
            let b = idx.len();
            x_BD.clear();
            for &i in idx {
                x_BD.extend_from_slice(&train_x_ND[i as usize * d..(i as usize + 1) * d]);
            }
            let y: Vec<u32> = idx.iter().map(|&i| train_y_N[i as usize]).collect();
            let batch_hits: Vec<usize> = probes
                .par_iter_mut()
                .zip(settings)
                .map(|((p, aw, ab), s)| {
                    let logits = p.logits(&x_BD);
                    let mut g_BC = vec![0.0f32; b * c];
                    let mut h = 0;
                    for (r, (row, g)) in logits
                        .chunks_exact(c)
                        .zip(g_BC.chunks_exact_mut(c))
                        .enumerate()
                    {
                        h += usize::from(argmax(row) == y[r]);
                        let pr = softmax(row);
                        for (k, (g, p)) in g.iter_mut().zip(pr).enumerate() {
                            *g = (p - if k as u32 == y[r] { 1.0 } else { 0.0 }) / b as f32;
                        }
                    }
                    let mut g_w = vec![0.0f32; c * d];
                    saev_sae::matmul(
                        &mut g_w,
                        saev_sae::View::new(&g_BC, b, c).t(),
                        saev_sae::View::new(&x_BD, b, d),
                        false,
                    );
                    let mut g_b = vec![0.0f32; c];
                    for row in g_BC.chunks_exact(c) {
                        g_b.iter_mut().zip(row).for_each(|(a, r)| *a += r);
                    }
                    let adam = Adam::adamw(s.weight_decay);
                    let (lr, t) = (s.learning_rate, t as u64);
                    adam.update(&mut p.w_CD, &g_w, &mut aw.m, &mut aw.v, lr, t);
                    adam.update(&mut p.b_C, &g_b, &mut ab.m, &mut ab.v, lr, t);
                    h
                })
                .collect();
            hits.iter_mut().zip(batch_hits).for_each(|(a, b)| *a += b);
        }
        let log = EpochLog {
            epoch,
            train_acc: hits.iter().map(|&h| h as f64 / n.max(1) as f64).collect(),
            val_acc: probes
                .par_iter()
                .map(|(p, _, _)| p.accuracy(val_x_ND, val_y_N))
                .collect(),
        };
        on_epoch(&log);
    }
    probes.into_iter().map(|(p, _, _)| p).collect()
}
