//! `saev reproduce` (what `cargo xtask reproduce` runs): the paper's
//! ImageNet -> Flowers-102 experiment end to end, or, with no data given,
//! the same stages on a generated world (docs/reproduce.md).
//!
//! The flags become a [`saev_reproduce::ReproduceConfig`]; the library runs
//! the stages (skipping those done on the same inputs) and writes the report.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use saev_reproduce::{RealData, ReproduceConfig};

use crate::cmd::device::Device;

#[derive(Args)]
pub struct ReproduceArgs {
    /// ImageNet-1K (Hugging Face parquet files or class folders); with --flowers, the real run.
    #[arg(long)]
    imagenet: Option<PathBuf>,
    /// Flowers-102: train/ val/ test/ class folders, or the three official files
    /// (102flowers.tgz, imagelabels.mat, setid.mat), downloaded when absent.
    #[arg(long)]
    flowers: Option<PathBuf>,
    /// The ViT (real run): a name such as ViT-B-16/openai, a directory or a weights file.
    #[arg(long = "model-ckpt", default_value = "ViT-B-16/openai")]
    model_ckpt: String,
    #[arg(long = "model-dir")]
    model_dir: Option<PathBuf>,
    /// Where everything goes (default ./reproduce, or ./demo for the demo).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// The demo at its smallest (the end-to-end test's size).
    #[arg(long)]
    quick: bool,
    /// SAE sweep (real run default: configs/preprint/classification.toml).
    #[arg(long)]
    sweep: Option<PathBuf>,
    /// Training examples per SAE (real run default: saev's 100M).
    #[arg(long = "n-patches", value_parser = crate::numbers::at_least_one::<u64>)]
    n_patches: Option<u64>,
    /// Latents firing on at most this fraction of pretraining images are
    /// steering candidates (default 0.01; 0.25 in the 24-class demo world).
    #[arg(long = "max-freq", value_parser = crate::numbers::fraction::<f32>)]
    max_freq: Option<f32>,
    /// Skip the free-disk check.
    #[arg(long = "no-disk-check")]
    no_disk_check: bool,
}

impl ReproduceArgs {
    fn config(&self) -> anyhow::Result<ReproduceConfig> {
        let real = match (&self.imagenet, &self.flowers) {
            (None, None) => None,
            (Some(imagenet), Some(flowers)) => Some(RealData {
                imagenet: imagenet.clone(),
                flowers: flowers.clone(),
                model_ckpt: self.model_ckpt.clone(),
                model_dir: self.model_dir.clone(),
            }),
            _ => anyhow::bail!(
                "give both --imagenet and --flowers for the real run, or neither for the demo"
            ),
        };
        let default_out = if real.is_none() { "demo" } else { "reproduce" };
        Ok(ReproduceConfig {
            out: self
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from(default_out)),
            real,
            cuda: self.device.available().is_cuda(),
            quick: self.quick,
            sweep: self.sweep.clone(),
            n_patches: self.n_patches,
            max_freq: self.max_freq,
            disk_check: !self.no_disk_check,
        })
    }

    pub fn run(self) -> anyhow::Result<ExitCode> {
        let cfg = self.config()?;
        let device = self.device.available();
        let out = crate::with_backend!(device, B, |dev| saev_reproduce::run::<B>(&cfg, &dev))?;
        println!(
            "\nall stages done in {} (this session)",
            saev_io::human(out.seconds)
        );
        if let (Some(c), Some(r)) = (out.class_flip_4x, out.random_flip_4x) {
            println!(
                "steering at 4x max activation: class latents flip {:.1}% of predictions, random latents {:.1}%",
                100.0 * c,
                100.0 * r
            );
        }
        let acc = out.probe_test_acc.unwrap_or(f64::NAN);
        println!("probe: test accuracy {:.1}%", 100.0 * acc);
        println!("report: {}", out.report_html.display());
        println!("dashboard: {}", out.dashboard);
        println!("feature browser: {}", out.browser);
        Ok(ExitCode::SUCCESS)
    }
}
