//! `saev bench vit`: images/s of the ViT forward pass with random weights.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use saev_sae::bench::SaeBenchConfig;
use saev_sae::Activation;
use saev_vit::VitConfig;
use serde_json::json;

use crate::cmd::device::Device;

#[derive(Subcommand)]
pub enum Bench {
    /// Forward-pass throughput of a ViT preset with random weights.
    Vit(VitBench),
    /// Training-step throughput of saev's SAEs on random data (CPU or CUDA).
    Sae(SaeBench),
}

#[derive(Args)]
pub struct SaeBench {
    #[arg(long = "d-vit", default_value_t = 768, value_parser = crate::numbers::at_least_one::<usize>)]
    d_vit: usize,
    #[arg(long = "exp-factor", default_value_t = 16, value_parser = crate::numbers::at_least_one::<usize>)]
    exp_factor: usize,
    #[arg(long = "batch-size", default_value_t = 4096, value_parser = crate::numbers::at_least_one::<usize>)]
    batch_size: usize,
    /// Seconds to measure (after one warm-up step).
    #[arg(long, default_value_t = 20.0, value_parser = crate::numbers::positive::<f64>)]
    seconds: f64,
    /// SAEs stepped on each batch (as `saev train` does with a sweep group).
    #[arg(long = "n-saes", default_value_t = 1, value_parser = crate::numbers::at_least_one::<usize>)]
    n_saes: usize,
    /// relu, topk (k 32) or batch-topk (k 32).
    #[arg(long, default_value = "relu", value_parser = ["relu", "topk", "batch-topk"])]
    activation: String,
    /// Also the AuxK loss (every latent counted dead, the most expensive case).
    #[arg(long)]
    aux: bool,
    /// About this many latents fire per example (TopK's k; for ReLU a
    /// shifted encoder bias). Default: the SAE as initialized (k 32).
    #[arg(long = "target-l0", value_parser = crate::numbers::at_least_one::<usize>)]
    target_l0: Option<usize>,
    /// After the encoder: auto (sparse below 5% active), dense or sparse (CPU).
    #[arg(long, default_value = "auto", value_parser = ["auto", "dense", "sparse"])]
    path: String,
    /// The seed's sweep group: 12 SAEs at x16 and 12 at x32 on one batch.
    #[arg(long = "seed-group")]
    seed_group: bool,
    /// cpu, cuda or cuda:I.
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Matrix products on the GPU: f32 (TF32 on CUDA) or bf16.
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16"])]
    precision: String,
    /// GPU only: also step one SAE this many times on the CPU and the GPU
    /// from the same start and report how far the weights drift.
    #[arg(long = "parity-steps", value_parser = crate::numbers::at_least_one::<u64>)]
    parity_steps: Option<u64>,
}

#[derive(Args)]
pub struct VitBench {
    /// ViT-B-16, ViT-B-32 or ViT-L-14.
    #[arg(long, default_value = "ViT-B-16")]
    config: String,
    #[arg(long = "batch-size", default_value_t = 16, value_parser = crate::numbers::at_least_one::<usize>)]
    batch_size: usize,
    /// Seconds to measure (after one warm-up batch).
    #[arg(long, default_value_t = 20.0, value_parser = crate::numbers::positive::<f64>)]
    seconds: f64,
    /// Stop after this many blocks (11 = what recording layer -2 of ViT-B needs).
    #[arg(long = "until-block", value_parser = crate::numbers::count::<usize>)]
    until_block: Option<usize>,
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// CUDA only: f32 (TF32 matrix products) or bf16 (the whole forward,
    /// weights included, in bfloat16).
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16"])]
    precision: String,
}

impl VitBench {
    fn rate(&self, config: &VitConfig, device: Device) -> (f64, usize) {
        let (b, s, until) = (self.batch_size, self.seconds, self.until_block);
        #[cfg(feature = "cuda")]
        if let (Device::Cuda(index), "bf16") = (device, self.precision.as_str()) {
            saev_sae::gpu::runtime::init();
            type B = burn::backend::Cuda<burn::tensor::bf16>;
            let dev = burn::backend::cuda::CudaDevice { index };
            return saev_vit::bench::forward_rate::<B>(config, b, s, until, &dev);
        }
        crate::with_backend!(device, B, |dev| {
            saev_vit::bench::forward_rate::<B>(config, b, s, until, &dev)
        })
    }
}

impl SaeBench {
    fn config(&self) -> SaeBenchConfig {
        let activation = match self.activation.as_str() {
            "topk" => Activation::TopK { top_k: 32 },
            "batch-topk" => Activation::BatchTopK {
                top_k: 32,
                momentum: 0.1,
            },
            _ => Activation::Relu,
        };
        SaeBenchConfig {
            d_vit: self.d_vit,
            exp_factor: self.exp_factor,
            batch_size: self.batch_size,
            seconds: self.seconds,
            n_saes: self.n_saes,
            activation,
            aux: self.aux,
            target_l0: self.target_l0,
            path: match self.path.as_str() {
                "dense" => saev_sae::StepPath::Dense,
                "sparse" => saev_sae::StepPath::Sparse,
                _ => saev_sae::StepPath::Auto,
            },
            exp_factors: match self.seed_group {
                true => [[16; 12], [32; 12]].concat(),
                false => Vec::new(),
            },
            seed: 0,
        }
    }

    #[cfg(feature = "cuda")]
    fn precision(&self) -> saev_sae::Precision {
        match self.precision.as_str() {
            "bf16" => saev_sae::Precision::Bf16,
            _ => saev_sae::Precision::F32,
        }
    }

    /// The step on the GPU: start-up, throughput and (optionally) parity.
    #[cfg(feature = "cuda")]
    fn run_gpu(&self, index: usize) -> serde_json::Value {
        use saev_sae::gpu::{bench, CudaDevice, CudaStep};
        saev_sae::gpu::runtime::init();
        let device = CudaDevice { index };
        let cfg = self.config();
        let r = bench::run::<CudaStep>(&cfg, self.precision(), &device);
        let parity = self
            .parity_steps
            .map(|steps| bench::parity::<CudaStep>(&cfg, self.precision(), steps, &device));
        json!({
            "device": format!("cuda:{index}"), "activation": self.activation,
            "aux": self.aux, "batch_size": self.batch_size, "n_saes": r.n_saes,
            "exp_factors": cfg.exp_factors(), "precision": self.precision,
            "first_step_s": r.first_step_s, "steps": r.steps,
            "steps_per_s": r.steps_per_s, "examples_per_s": r.examples_per_s,
            "l0": r.l0, "parity": parity,
        })
    }

    #[cfg(not(feature = "cuda"))]
    fn run_gpu(&self, _index: usize) -> serde_json::Value {
        unreachable!("Device::available() gives the CPU without the cuda feature")
    }
}

impl Bench {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Bench::Sae(args) => {
                if let Device::Cuda(index) = args.device.available() {
                    println!("{}", args.run_gpu(index));
                    return Ok(ExitCode::SUCCESS);
                }
                let r = saev_sae::bench::run(&args.config());
                let out = json!({
                    "d_vit": args.d_vit, "exp_factor": args.exp_factor,
                    "batch_size": args.batch_size, "n_saes": args.n_saes.max(1),
                    "activation": args.activation, "aux": args.aux, "steps": r.steps,
                    "examples_per_s": r.examples_per_s, "sae_steps_per_s": r.sae_steps_per_s,
                    "encode_examples_per_s": r.encode_examples_per_s,
                    "encode_sparse_examples_per_s": r.encode_sparse_examples_per_s,
                    "eval_examples_per_s": r.eval_examples_per_s,
                    "target_l0": args.target_l0, "l0": r.l0, "path": args.path,
                    "encoder_share": r.encoder_share,
                    "peak_rss_bytes": r.peak_rss_bytes, "threads": r.threads,
                });
                println!("{out}");
            }
            Bench::Vit(args) => {
                let config = VitConfig::preset(&args.config).ok_or_else(|| {
                    anyhow::anyhow!(
                        "unknown --config {:?}; use ViT-B-16, ViT-B-32 or ViT-L-14",
                        args.config
                    )
                })?;
                let device = args.device.available();
                let (b, until) = (args.batch_size, args.until_block);
                let t0 = std::time::Instant::now();
                let (images_per_s, batches) = args.rate(&config, device);
                let out = json!({
                    "precision": args.precision, "wall_s": t0.elapsed().as_secs_f64(),
                    "config": args.config, "batch_size": b, "until_block": until,
                    "device": device.to_string(),
                    "threads": saev_io::sys::threads(), "batches": batches,
                    "images_per_s": images_per_s,
                });
                println!("{out}");
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
