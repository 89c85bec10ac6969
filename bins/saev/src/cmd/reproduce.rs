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
    /// Stop after this stage (world, pretrain, record-pretrain, train-saes,
    /// visuals, flowers, record-flowers, probe, steer); a later call goes on.
    #[arg(long)]
    until: Option<String>,
    /// One Slurm job per stage, chained with --dependency=afterok.
    #[command(flatten)]
    slurm: crate::slurm_args::SlurmArgs,
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
        let cfg = ReproduceConfig {
            out: self
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from(default_out)),
            real,
            cuda: self.device.available().is_cuda(),
            cuda_index: self.device.index(),
            quick: self.quick,
            sweep: self.sweep.clone(),
            n_patches: self.n_patches,
            max_freq: self.max_freq,
            disk_check: !self.no_disk_check,
            until: self.until.clone(),
        };
        let names = saev_reproduce::stage_names(&cfg);
        if let Some(u) = &cfg.until {
            if !names.contains(&u.as_str()) {
                anyhow::bail!("--until {u:?}: the stages are {}", names.join(", "));
            }
        }
        Ok(cfg)
    }

    /// `--slurm`: one job per stage, each after the one before succeeded;
    /// the last runs everything (all done by then) and writes the report.
    fn submit(&self, cfg: &ReproduceConfig) -> anyhow::Result<ExitCode> {
        if self.until.is_some() {
            anyhow::bail!("give --slurm or --until, not both (each Slurm job gets its --until)");
        }
        let names = saev_reproduce::stage_names(cfg);
        let jobs = names
            .iter()
            .enumerate()
            .map(|(i, name)| crate::slurm_args::Job {
                name: format!("reproduce-{i}-{name}"),
                extra: match i + 1 == names.len() {
                    true => Vec::new(),
                    false => vec!["--until".into(), name.to_string()],
                },
                parted: false,
            })
            .collect();
        let report = cfg.out.join("report.html");
        let check = move || match report.is_file() {
            true => Ok(()),
            false => anyhow::bail!("{}: no report was written", report.display()),
        };
        self.slurm.submit_chain(&cfg.out, jobs, check)?;
        Ok(ExitCode::SUCCESS)
    }

    pub fn run(self) -> anyhow::Result<ExitCode> {
        let cfg = self.config()?;
        if self.slurm.submitting() {
            return self.submit(&cfg);
        }
        let device = self.device.available();
        let Some(out) =
            crate::with_backend!(device, B, |dev| saev_reproduce::run_until::<B>(&cfg, &dev))?
        else {
            return Ok(ExitCode::SUCCESS);
        };
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
