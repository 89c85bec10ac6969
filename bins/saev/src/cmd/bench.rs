//! `saev bench vit`: images/s of the ViT forward pass with random weights.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use burn::prelude::*;
use clap::{Args, Subcommand};
use saev_vit::{VisionTransformer, VitConfig};
use serde_json::json;

use crate::cmd::device::Device;

#[derive(Subcommand)]
pub enum Bench {
    /// Forward-pass throughput of a ViT preset with random weights.
    Vit(VitBench),
    /// Training-step throughput of saev's ReLU SAE on random data (CPU).
    Sae(SaeBench),
}

#[derive(Args)]
pub struct SaeBench {
    #[arg(long = "d-vit", default_value_t = 768)]
    d_vit: usize,
    #[arg(long = "exp-factor", default_value_t = 16)]
    exp_factor: usize,
    #[arg(long = "batch-size", default_value_t = 4096)]
    batch_size: usize,
    /// Seconds to measure (after one warm-up step).
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// SAEs stepped on each batch (as `saev train` does with a sweep group).
    #[arg(long = "n-saes", default_value_t = 1)]
    n_saes: usize,
    /// relu, topk (k 32) or batch-topk (k 32).
    #[arg(long, default_value = "relu", value_parser = ["relu", "topk", "batch-topk"])]
    activation: String,
    /// Also the AuxK loss (every latent counted dead, the most expensive case).
    #[arg(long)]
    aux: bool,
}

#[derive(Args)]
pub struct VitBench {
    /// ViT-B-16, ViT-B-32 or ViT-L-14.
    #[arg(long, default_value = "ViT-B-16")]
    config: String,
    #[arg(long = "batch-size", default_value_t = 16)]
    batch_size: usize,
    /// Seconds to measure (after one warm-up batch).
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Stop after this many blocks (11 = what recording layer -2 of ViT-B needs).
    #[arg(long = "until-block")]
    until_block: Option<usize>,
    #[arg(long, default_value = "cpu")]
    device: Device,
}

impl Bench {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Bench::Sae(args) => {
                let out = sae_rate(&args);
                println!("{out}");
                Ok(ExitCode::SUCCESS)
            }
            Bench::Vit(args) => {
                let config = VitConfig::preset(&args.config).ok_or_else(|| {
                    anyhow::anyhow!(
                        "unknown --config {:?}; use ViT-B-16, ViT-B-32 or ViT-L-14",
                        args.config
                    )
                })?;
                let device = args.device.available();
                let (images_per_s, batches) =
                    crate::with_backend!(device, B, |dev| forward_rate::<B>(&config, &args, &dev));
                let out = json!({
                    "config": args.config,
                    "batch_size": args.batch_size,
                    "until_block": args.until_block,
                    "device": format!("{device:?}").to_lowercase(),
                    "threads": rayon_threads(),
                    "batches": batches,
                    "images_per_s": images_per_s,
                });
                println!("{out}");
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn forward_rate<B: Backend>(
    config: &VitConfig,
    args: &VitBench,
    device: &B::Device,
) -> (f64, usize) {
    let vit = VisionTransformer::<B>::random(config, device);
    let side = config.image_size;
    let x = Tensor::<B, 4>::random(
        [args.batch_size, 3, side, side],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        device,
    );
    let last = args
        .until_block
        .unwrap_or(config.layers)
        .clamp(1, config.layers);
    let run = |x: Tensor<B, 4>| {
        let out = vit.forward_residuals(x, &[last - 1]);
        // Reading the values back waits for the device to finish.
        let _ = out[0].clone().slice(s![0..1, 0..1, 0..1]).into_data();
    };
    run(x.clone());
    let budget = Duration::from_secs_f64(args.seconds);
    let start = Instant::now();
    let mut batches = 0;
    while start.elapsed() < budget {
        run(x.clone());
        batches += 1;
    }
    (
        (batches * args.batch_size) as f64 / start.elapsed().as_secs_f64(),
        batches,
    )
}

/// Peak resident memory of this process in bytes (Linux `VmHWM`).
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn sae_rate(args: &SaeBench) -> serde_json::Value {
    use saev_sae::{Activation, AuxK, Sae, SaeConfig, TrainConfig, Trainer};
    let activation = match args.activation.as_str() {
        "topk" => Activation::TopK { top_k: 32 },
        "batch-topk" => Activation::BatchTopK {
            top_k: 32,
            momentum: 0.1,
        },
        _ => Activation::Relu,
    };
    let mut trainers: Vec<Trainer> = (0..args.n_saes.max(1))
        .map(|i| {
            let cfg = SaeConfig {
                d_vit: args.d_vit,
                exp_factor: args.exp_factor,
                seed: i as u64,
                activation,
                ..SaeConfig::default()
            };
            Trainer::new(
                Sae::new(cfg),
                TrainConfig {
                    lr: 1e-4,
                    n_lr_warmup: 10,
                    n_sparsity_warmup: 10,
                    aux: args.aux.then_some(AuxK {
                        dead_after: 0,
                        ..AuxK::default()
                    }),
                    ..TrainConfig::default()
                },
            )
        })
        .collect();
    let mut rng = saev_rng::Pcg64::from_seed(0);
    let batch: Vec<f32> = (0..args.batch_size * args.d_vit)
        .map(|_| (rng.next_u32() >> 8) as f32 / (1 << 23) as f32 - 1.0)
        .collect();
    let mut step_all = || {
        for t in &mut trainers {
            t.step(&batch).expect("finite loss on random data");
        }
    };
    step_all();
    let budget = Duration::from_secs_f64(args.seconds);
    let start = Instant::now();
    let mut steps = 0;
    while start.elapsed() < budget {
        step_all();
        steps += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    // Inference: the encoder alone (what `saev visuals` and steering run).
    let sae = &trainers[0].sae;
    let start_fwd = Instant::now();
    let mut fwd = 0;
    while start_fwd.elapsed() < budget / 2 || fwd == 0 {
        std::hint::black_box(sae.encode(&batch));
        fwd += 1;
    }
    let fwd_rate = (fwd * args.batch_size) as f64 / start_fwd.elapsed().as_secs_f64();
    json!({
        "d_vit": args.d_vit,
        "exp_factor": args.exp_factor,
        "batch_size": args.batch_size,
        "encode_examples_per_s": fwd_rate,
        "n_saes": args.n_saes.max(1),
        "activation": args.activation,
        "aux": args.aux,
        "steps": steps,
        "examples_per_s": (steps * args.batch_size) as f64 / seconds,
        "sae_steps_per_s": (steps * args.n_saes.max(1)) as f64 / seconds,
        "peak_rss_bytes": peak_rss_bytes(),
        "threads": rayon_threads(),
    })
}
