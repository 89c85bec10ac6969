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
