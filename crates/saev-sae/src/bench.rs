//! Training-step and encoder throughput on random data (`saev bench sae`).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::{Activation, AuxK, Sae, SaeConfig, TrainConfig, Trainer};

/// What to measure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SaeBenchConfig {
    pub d_vit: usize,
    pub exp_factor: usize,
    pub batch_size: usize,
    /// Seconds to measure (after one warm-up step).
    pub seconds: f64,
    /// SAEs stepped on each batch (as a sweep group does).
    pub n_saes: usize,
    pub activation: Activation,
    /// Also the AuxK loss, with every latent counted dead (the worst case).
    pub aux: bool,
    /// About this many latents fire per example: TopK's and BatchTopK's
    /// `k`, or for ReLU an encoder bias shifted so that many pre-activations
    /// of the batch are positive. `None`: the SAE as initialized.
    #[serde(default)]
    pub target_l0: Option<usize>,
    /// Dense or sparse products after the encoder (automatic by default).
    #[serde(default)]
    pub path: crate::StepPath,
    /// One expansion factor per SAE (a mixed group, as the seed's sweep of
    /// 12 at x16 and 12 at x32); empty: `n_saes` at `exp_factor`.
    #[serde(default)]
    pub exp_factors: Vec<usize>,
    /// Seed of the random batch.
    #[serde(default)]
    pub seed: u64,
}

impl SaeBenchConfig {
    /// The expansion factor of each SAE of the group.
    pub fn exp_factors(&self) -> Vec<usize> {
        match self.exp_factors.is_empty() {
            true => vec![self.exp_factor; self.n_saes.max(1)],
            false => self.exp_factors.clone(),
        }
    }
}

/// A `[batch_size, d_vit]` batch of uniform values in `[-1, 1)` (every
/// loss stays finite), from `cfg.seed`.
pub(crate) fn random_batch(cfg: &SaeBenchConfig) -> Vec<f32> {
    let mut rng = saev_rng::Pcg64::from_seed(cfg.seed);
    (0..cfg.batch_size * cfg.d_vit)
        .map(|_| (rng.next_u32() >> 8) as f32 / (1 << 23) as f32 - 1.0)
        .collect()
}

/// What was measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SaeBenchResult {
    pub config: SaeBenchConfig,
    pub steps: u64,
    /// Training examples per second (each stepped through every SAE).
    pub examples_per_s: f64,
    pub sae_steps_per_s: f64,
    /// The encoder alone, into a dense `[B, S]` buffer ([`Sae::encode`]).
    pub encode_examples_per_s: f64,
    /// The encoder into pairs, block by block ([`Sae::encode_sparse`]: what
    /// evaluation and steering run).
    #[serde(default)]
    pub encode_sparse_examples_per_s: f64,
    /// The evaluation pass ([`crate::eval::Evaluator::update`]: sparse
    /// encoding, decoding over pairs, statistics).
    #[serde(default)]
    pub eval_examples_per_s: f64,
    /// Latents firing per example, averaged over the measured steps.
    pub l0: f64,
    /// Share of a step's time the encoder forward takes (its own timing
    /// over the step's; the rest is what the sparse path saves on).
    pub encoder_share: f64,
    /// The process's peak resident memory after the training steps (the
    /// batch, the SAEs with their Adam state, and one step's buffers).
    pub peak_rss_bytes: Option<u64>,
    pub threads: usize,
}

pub(crate) fn trainer(cfg: &SaeBenchConfig, seed: u64, batch: &[f32]) -> Trainer {
    let activation = match (cfg.activation, cfg.target_l0) {
        (Activation::TopK { .. }, Some(k)) => Activation::TopK { top_k: k },
        (Activation::BatchTopK { momentum, .. }, Some(k)) => {
            Activation::BatchTopK { top_k: k, momentum }
        }
        (a, _) => a,
    };
    let mut sae = Sae::new(SaeConfig {
        d_vit: cfg.d_vit,
        exp_factor: cfg.exp_factor,
        seed,
        activation,
        ..SaeConfig::default()
    });
    if let (Activation::Relu, Some(l0)) = (activation, cfg.target_l0) {
        shift_to_l0(&mut sae, batch, l0);
    }
    let aux = cfg.aux.then_some(AuxK {
        dead_after: 0,
        ..AuxK::default()
    });
    let train = TrainConfig {
        lr: 1e-4,
        n_lr_warmup: 10,
        n_sparsity_warmup: 10,
        aux,
        ..TrainConfig::default()
    };
    Trainer::new(sae, train)
}

/// Lower every encoder bias by the same amount so that about `l0`
/// pre-activations per example of `batch` are positive.
fn shift_to_l0(sae: &mut Sae, batch: &[f32], l0: usize) {
    let s = sae.d_sae();
    let b = batch.len() / sae.d_vit();
    let mut pre = vec![0.0f32; b * s];
    sae.pre_activations(batch, &mut pre);
    let keep = (l0.min(s) * b).max(1);
    let (_, cut, _) = pre.select_nth_unstable_by(keep - 1, |a, c| c.total_cmp(a));
    let cut = *cut;
    sae.b_enc_S.iter_mut().for_each(|x| *x -= cut);
}

/// Step `n_saes` SAEs on one random batch for `seconds`, then the encoder alone.
pub fn run(cfg: &SaeBenchConfig) -> SaeBenchResult {
    let exp_factors = cfg.exp_factors();
    let n_saes = exp_factors.len();
    let batch = random_batch(cfg);
    let mut trainers: Vec<Trainer> = exp_factors
        .iter()
        .enumerate()
        .map(|(i, &e)| {
            let one = SaeBenchConfig {
                exp_factor: e,
                ..cfg.clone()
            };
            trainer(&one, i as u64, &batch)
        })
        .collect();
    for t in &mut trainers {
        t.path = cfg.path;
    }
    let (mut l0_sum, mut l0_n) = (0.0f64, 0u64);
    // One workspace for the group, as saev train lends it.
    let mut ws = crate::Workspace::default();
    let mut step_all = || {
        for t in &mut trainers {
            // Random data in [-1, 1) keeps every loss finite.
            if let Ok(l) = t.step_with(&batch, &mut ws) {
                l0_sum += f64::from(l.l0);
                l0_n += 1;
            }
        }
    };
    step_all();
    let budget = Duration::from_secs_f64(cfg.seconds.max(0.0));
    let start = Instant::now();
    let mut steps = 0u64;
    while start.elapsed() < budget {
        step_all();
        steps += 1;
    }
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    // What training needs, before the encoder-alone runs below allocate
    // their own (dense) outputs.
    let peak_rss_bytes = saev_io::sys::peak_rss_bytes();
    let sae = &trainers[0].sae;
    let encode_s = seconds_per_call(budget / 2, || {
        drop(std::hint::black_box(sae.encode(&batch)))
    });
    let sparse_s = seconds_per_call(budget / 4, || {
        drop(std::hint::black_box(sae.encode_sparse(&batch)))
    });
    let mut evaluator = crate::eval::Evaluator::new(sae);
    let eval_s = seconds_per_call(budget / 4, || evaluator.update(sae, &batch));
    let step_s = seconds / (steps.max(1) * n_saes as u64) as f64;
    let batch = cfg.batch_size as f64;
    SaeBenchResult {
        l0: l0_sum / l0_n.max(1) as f64,
        encoder_share: (encode_s / step_s).min(1.0),
        config: cfg.clone(),
        steps,
        examples_per_s: steps as f64 * batch / seconds,
        sae_steps_per_s: (steps * n_saes as u64) as f64 / seconds,
        encode_examples_per_s: batch / encode_s,
        encode_sparse_examples_per_s: batch / sparse_s,
        eval_examples_per_s: batch / eval_s,
        peak_rss_bytes,
        threads: saev_io::sys::threads(),
    }
}

/// Mean seconds of `f`, called until `budget` has passed (at least once).
fn seconds_per_call(budget: Duration, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget || n == 0 {
        f();
        n += 1;
    }
    start.elapsed().as_secs_f64().max(1e-9) / n as f64
}
