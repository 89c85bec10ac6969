//! The GPU step's throughput, start-up time and parity with the CPU step
//! (`saev bench sae --device cuda`).

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{BurnTrainer, Precision, StepKernels};
use crate::bench::{random_batch, trainer, SaeBenchConfig};
use crate::Trainer;

/// What the GPU run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GpuBenchResult {
    pub config: SaeBenchConfig,
    pub precision: Precision,
    /// SAEs stepped on each batch (one upload shared by all).
    pub n_saes: usize,
    /// From the first upload to the first step's losses on the host: the
    /// kernel compilation and tuning a fresh process pays.
    pub first_step_s: f64,
    pub steps: u64,
    /// Batches per second, each stepped through every SAE.
    pub steps_per_s: f64,
    pub examples_per_s: f64,
    pub l0: f64,
}

/// Upload `n_saes` SAEs, step them on one random batch (uploaded once per
/// step, as training does) for `cfg.seconds`, reading losses only at the end.
pub fn run<B: StepKernels>(
    cfg: &SaeBenchConfig,
    precision: Precision,
    device: &B::Device,
) -> GpuBenchResult {
    let batch = random_batch(cfg);
    let start = Instant::now();
    let mut gpus: Vec<BurnTrainer<B>> = cfg
        .exp_factors()
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let t = trainer(
                &SaeBenchConfig {
                    exp_factor: e,
                    ..cfg.clone()
                },
                i as u64,
                &batch,
            );
            let mut g = BurnTrainer::from_trainer(&t, device);
            g.precision = precision;
            g
        })
        .collect();
    let step_all = |gpus: &mut Vec<BurnTrainer<B>>| {
        let x = gpus[0].upload_batch(&batch);
        for g in gpus.iter_mut() {
            g.step_on(&x);
        }
    };
    step_all(&mut gpus);
    let first = gpus.last().expect("one SAE").losses();
    let first_step_s = start.elapsed().as_secs_f64();
    let l0 = first.map(|l| f64::from(l.l0)).unwrap_or(f64::NAN);
    let budget = cfg.seconds.max(0.0);
    let start = Instant::now();
    let mut steps = 0u64;
    // Read back every 10 steps so the queue stays bounded, as logging does.
    while start.elapsed().as_secs_f64() < budget || steps == 0 {
        step_all(&mut gpus);
        steps += 1;
        if steps.is_multiple_of(10) {
            let _ = gpus.last().expect("one SAE").losses();
        }
    }
    let _ = gpus.last().expect("one SAE").losses();
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    GpuBenchResult {
        config: cfg.clone(),
        precision,
        n_saes: gpus.len(),
        first_step_s,
        steps,
        steps_per_s: steps as f64 / seconds,
        examples_per_s: steps as f64 * cfg.batch_size as f64 / seconds,
        l0,
    }
}

/// How far the GPU step drifts from the CPU step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Parity {
    pub steps: u64,
    pub precision: Precision,
    /// Largest `|gpu - cpu|` over `W_enc` and `W_dec`, over their largest `|cpu|`.
    pub max_rel_weight_diff: f64,
    /// The last step's MSE on each.
    pub mse_cpu: f32,
    pub mse_gpu: f32,
}

/// Step the same SAE (the first of `cfg`'s group, at most 4,096 examples a
/// batch, so the CPU side stays quick) `steps` times on the CPU and on
/// `device` (a new random batch each step) and compare the weights.
pub fn parity<B: StepKernels>(
    cfg: &SaeBenchConfig,
    precision: Precision,
    steps: u64,
    device: &B::Device,
) -> Parity {
    let cfg = &SaeBenchConfig {
        exp_factor: cfg.exp_factors()[0],
        exp_factors: Vec::new(),
        batch_size: cfg.batch_size.min(4096),
        ..cfg.clone()
    };
    let first = random_batch(cfg);
    let mut cpu = trainer(cfg, 0, &first);
    let mut gpu = BurnTrainer::<B>::from_trainer(&cpu, device);
    gpu.precision = precision;
    let (mut mse_cpu, mut mse_gpu) = (f32::NAN, f32::NAN);
    for i in 0..steps {
        let x = random_batch(&SaeBenchConfig {
            seed: cfg.seed + i,
            ..cfg.clone()
        });
        mse_cpu = cpu.step(&x).map(|l| l.mse).unwrap_or(f32::NAN);
        mse_gpu = gpu.step(&x).map(|l| l.mse).unwrap_or(f32::NAN);
    }
    Parity {
        steps,
        precision,
        max_rel_weight_diff: weight_diff(&cpu, &gpu.to_trainer()),
        mse_cpu,
        mse_gpu,
    }
}

/// Largest `|a - b|` over `W_enc` and `W_dec` divided by the largest `|a|`.
pub fn weight_diff(a: &Trainer, b: &Trainer) -> f64 {
    let pairs = [
        (&a.sae.w_enc_DS, &b.sae.w_enc_DS),
        (&a.sae.w_dec_SD, &b.sae.w_dec_SD),
    ];
    let (mut diff, mut scale) = (0.0f64, 0.0f64);
    for (x, y) in pairs {
        for (p, q) in x.iter().zip(y.iter()) {
            diff = diff.max(f64::from((p - q).abs()));
            scale = scale.max(f64::from(p.abs()));
        }
    }
    diff / scale.max(f64::MIN_POSITIVE)
}
