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
}

/// What was measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SaeBenchResult {
    pub config: SaeBenchConfig,
    pub steps: u64,
    /// Training examples per second (each stepped through every SAE).
    pub examples_per_s: f64,
    pub sae_steps_per_s: f64,
    /// The encoder alone (what visuals and steering run).
    pub encode_examples_per_s: f64,
    pub peak_rss_bytes: Option<u64>,
    pub threads: usize,
}

fn trainer(cfg: &SaeBenchConfig, seed: u64) -> Trainer {
    let sae = Sae::new(SaeConfig {
        d_vit: cfg.d_vit,
        exp_factor: cfg.exp_factor,
        seed,
        activation: cfg.activation,
        ..SaeConfig::default()
    });
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

/// Step `n_saes` SAEs on one random batch for `seconds`, then the encoder alone.
pub fn run(cfg: &SaeBenchConfig) -> SaeBenchResult {
    let n_saes = cfg.n_saes.max(1);
    let mut trainers: Vec<Trainer> = (0..n_saes).map(|i| trainer(cfg, i as u64)).collect();
    let mut rng = saev_rng::Pcg64::from_seed(0);
    let batch: Vec<f32> = (0..cfg.batch_size * cfg.d_vit)
        .map(|_| (rng.next_u32() >> 8) as f32 / (1 << 23) as f32 - 1.0)
        .collect();
    let mut step_all = || {
        for t in &mut trainers {
            // Random data in [-1, 1) keeps every loss finite.
            let _ = t.step(&batch);
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
    let sae = &trainers[0].sae;
    let start_fwd = Instant::now();
    let mut fwd = 0u64;
    while start_fwd.elapsed() < budget / 2 || fwd == 0 {
        std::hint::black_box(sae.encode(&batch));
        fwd += 1;
    }
    let fwd_s = start_fwd.elapsed().as_secs_f64().max(1e-9);
    let batch = cfg.batch_size as f64;
    SaeBenchResult {
        config: cfg.clone(),
        steps,
        examples_per_s: steps as f64 * batch / seconds,
        sae_steps_per_s: (steps * n_saes as u64) as f64 / seconds,
        encode_examples_per_s: fwd as f64 * batch / fwd_s,
        peak_rss_bytes: saev_io::sys::peak_rss_bytes(),
        threads: saev_io::sys::threads(),
    }
}
