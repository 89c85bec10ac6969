//! `saev steer eval`: how often editing a class's SAE latents moves the
//! probe's prediction to that class, against random latents.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use saev_control::probe_sweep::SplitSource;
use saev_control::steer_eval::{self, SteerEvalConfig};
use saev_shards::Layer;

#[derive(Subcommand)]
pub enum SteerCmd {
    /// Flip rates of class latents against random latents over a test split.
    Eval(Box<EvalArgs>),
}

/// What the dashboard and the evaluation share: the SAE, the probe, and the
/// latents they may edit.
#[derive(Args, Clone)]
pub struct SteerInputArgs {
    /// SAE checkpoint (its data normalization is applied to the activations).
    #[arg(long)]
    pub sae: PathBuf,
    /// Probe checkpoint (model.safetensors from `saev probe train`).
    #[arg(long)]
    pub probe: PathBuf,
    /// `saev visuals` output of this SAE on the pretraining data (a sort_by_<mode> dir
    /// or its parent): firing frequencies and largest activations.
    #[arg(long)]
    pub visuals: PathBuf,
    /// Only latents firing on fewer than this fraction of the visuals' examples are proposed.
    #[arg(long = "max-freq", default_value_t = 0.01, value_parser = crate::numbers::fraction::<f32>)]
    pub max_freq: f32,
    /// Latents per class (and random latents) proposed.
    #[arg(long = "n-latents", default_value_t = 3, value_parser = crate::numbers::at_least_one::<usize>)]
    pub n_latents: usize,
    #[arg(long = "acts.layer", default_value = "-2", allow_hyphen_values = true)]
    pub layer: Layer,
}

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    inputs: SteerInputArgs,
    /// Split whose class examples choose each class's latents (e.g. Flowers train).
    #[arg(long = "train-acts.shard-root")]
    train_acts: PathBuf,
    #[arg(long = "train-imgs.root")]
    train_imgs: Option<PathBuf>,
    /// Split edited and measured (e.g. Flowers test).
    #[arg(long = "test-acts.shard-root")]
    test_acts: PathBuf,
    #[arg(long = "test-imgs.root")]
    test_imgs: Option<PathBuf>,
    /// Multiples of each latent's largest seen activation to set it to.
    #[arg(long, num_args = 1.., default_values_t = [0.25, 0.5, 1.0, 2.0, 4.0], value_parser = crate::numbers::finite::<f32>)]
    scales: Vec<f32>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where to write steer_eval.csv, steer_summary.json and steer_eval.png.
    #[arg(long, default_value = "./logs/steer")]
    out: PathBuf,
}

impl SteerInputArgs {
    pub fn config(&self) -> saev_control::steer_eval::SteerInputs {
        saev_control::steer_eval::SteerInputs {
            sae: self.sae.clone(),
            probe: self.probe.clone(),
            visuals: self.visuals.clone(),
            max_freq: self.max_freq,
            n_latents: self.n_latents,
            layer: self.layer,
        }
    }
}

impl SteerCmd {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            SteerCmd::Eval(a) => a.run(),
        }
    }
}

impl EvalArgs {
    fn run(self) -> anyhow::Result<ExitCode> {
        let cfg = SteerEvalConfig {
            inputs: self.inputs.config(),
            train: SplitSource {
                acts: self.train_acts,
                imgs: self.train_imgs,
            },
            test: SplitSource {
                acts: self.test_acts,
                imgs: self.test_imgs,
            },
            scales: self.scales,
            seed: self.seed,
            out: self.out,
        };
        let out = steer_eval::run(&cfg)?;
        let s = &out.summary;
        println!(
            "{} edits in {:.1} s ({} examples x {} other classes x {} scales x class/random)",
            out.rows.len(),
            out.seconds,
            s.n_examples,
            s.n_classes.saturating_sub(1),
            cfg.scales.len()
        );
        println!(
            "{:>8} {:>8} {:>10} {:>12} {:>12}",
            "kind", "scale", "flip rate", "dp(target)", "dp(true)"
        );
        for l in &s.summary {
            println!(
                "{:>8} {:>8} {:>9.1}% {:>12.4} {:>12.4}",
                l.kind,
                l.scale,
                100.0 * l.flip_rate,
                l.mean_dp_target,
                l.mean_dp_true
            );
        }
        println!("wrote {}", cfg.out.display());
        Ok(ExitCode::SUCCESS)
    }
}
