//! `saev train`: saev's SAE training command, same flags and sweep files.
//!
//! The flags become a [`saev_train::sweep::SweepDefaults`], the sweep file
//! expands it into runs, and [`saev_train::train_sweep`] trains them (runs
//! sharing data, batch size and length on the same batches). `--resume
//! DIR...` continues runs from their `cfg.json` and last checkpoint.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use saev_sae::{AuxK, SaeConfig, TrainConfig};
use saev_train::sweep::{self, activation_kind, Knobs, SweepDefaults};
use saev_train::{IdScheme, RunConfig, RunRecord, RunStatus, TrainOptions};

use crate::data_args::DataArgs;
use crate::pyargs::py_bool;

#[derive(Args)]
pub struct TrainArgs {
    /// A sweep file (TOML; lists expand to a grid, as saev's).
    #[arg(long)]
    sweep: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    #[arg(long = "sae.d-vit", default_value_t = 1024, value_parser = crate::numbers::at_least_one::<usize>)]
    d_vit: usize,
    #[arg(long = "sae.exp-factor", default_value_t = 16, value_parser = crate::numbers::at_least_one::<usize>)]
    exp_factor: usize,
    /// L1 coefficient (default 4e-4 for relu, 0 for topk and batch-topk, as saev).
    #[arg(long = "sae.sparsity-coeff", value_parser = crate::numbers::non_negative::<f32>)]
    sparsity_coeff: Option<f32>,
    /// Nonlinearity: relu (the preprint's), topk or batch-topk.
    #[arg(long = "sae.activation", default_value = "relu", value_parser = activation_kind)]
    activation: String,
    /// Latents kept per example (topk, batch-topk).
    #[arg(long = "sae.top-k", default_value_t = 32, value_parser = crate::numbers::at_least_one::<usize>)]
    top_k: usize,
    /// Weight of each batch in batch-topk's running threshold.
    #[arg(long = "sae.momentum", default_value_t = 0.1, value_parser = crate::numbers::fraction::<f32>)]
    momentum: f32,
    /// AuxK loss for dead latents (default: on for topk and batch-topk, off for relu).
    #[arg(long = "sae.aux", value_parser = py_bool)]
    aux: Option<bool>,
    #[arg(long = "sae.k-aux", default_value_t = 512, value_parser = crate::numbers::at_least_one::<usize>)]
    k_aux: usize,
    #[arg(long = "sae.aux-alpha", default_value_t = 1.0 / 32.0, value_parser = crate::numbers::non_negative::<f32>)]
    aux_alpha: f32,
    /// Training examples without firing after which a latent is dead (AuxK).
    #[arg(long = "sae.dead-after", default_value = "10_000_000", value_parser = crate::numbers::at_least_one::<u64>)]
    dead_after: u64,
    /// Training objective: vanilla or matryoshka.
    #[arg(long, default_value = "vanilla", value_parser = ["vanilla", "matryoshka"])]
    objective: String,
    /// Matryoshka prefixes per step.
    #[arg(long = "objective.n-prefixes", default_value_t = 10, value_parser = crate::numbers::at_least_one::<usize>)]
    n_prefixes: usize,
    #[arg(long = "sae.n-reinit-samples", default_value = "524288", value_parser = crate::numbers::count::<u64>)]
    n_reinit_samples: u64,
    #[arg(long = "sae.seed", default_value_t = 0)]
    sae_seed: i64,
    #[arg(long = "sae.normalize-w-dec", default_value = "True", value_parser = py_bool)]
    normalize_w_dec: bool,
    #[arg(long = "sae.no-normalize-w-dec")]
    no_normalize_w_dec: bool,
    #[arg(long = "sae.remove-parallel-grads", default_value = "True", value_parser = py_bool)]
    remove_parallel_grads: bool,
    #[arg(long = "sae.no-remove-parallel-grads")]
    no_remove_parallel_grads: bool,
    #[arg(long, default_value_t = 4e-4, value_parser = crate::numbers::positive::<f32>)]
    lr: f32,
    #[arg(long = "n-lr-warmup", default_value_t = 500, value_parser = crate::numbers::count::<u64>)]
    n_lr_warmup: u64,
    #[arg(long = "n-sparsity-warmup", default_value_t = 0, value_parser = crate::numbers::count::<u64>)]
    n_sparsity_warmup: u64,
    /// Training examples (Python integer syntax allowed).
    #[arg(long = "n-patches", default_value = "100_000_000", value_parser = crate::numbers::at_least_one::<u64>)]
    n_patches: u64,
    #[arg(long = "sae-batch-size", default_value = "16384", value_parser = crate::numbers::at_least_one::<u64>)]
    sae_batch_size: u64,
    #[arg(long, default_value_t = 42)]
    seed: i64,
    #[arg(long = "ckpt-path", default_value = "./checkpoints")]
    ckpt_path: PathBuf,
    #[arg(long = "log-every", default_value_t = 25, value_parser = crate::numbers::at_least_one::<u64>)]
    log_every: u64,
    #[arg(long, default_value = "")]
    tag: String,
    /// cuda (burn's CUDA backend; needs a build with --features cuda, else
    /// falls back to the CPU with a warning) or cpu (the fast gemm step).
    #[arg(long, default_value = "cuda")]
    device: crate::cmd::device::Device,
    /// GPU matrix products: f32 (TF32 on CUDA, saev's setting) or bf16
    /// inputs (weights and Adam state stay f32).
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16"])]
    precision: String,
    /// Write checkpoints (weights and optimizer state) every this many steps.
    #[arg(long = "ckpt-every", default_value_t = 1000, value_parser = crate::numbers::at_least_one::<u64>)]
    ckpt_every: u64,
    /// Continue these run directories (`<ckpt-path>/<run-id>`) from their last checkpoint.
    #[arg(long, num_args = 1.., value_name = "RUN_DIR")]
    resume: Vec<PathBuf>,
    /// Train only part I (0-based) of N of the sweep's SAEs (whole groups
    /// where it can); each trains exactly as in the whole sweep.
    /// Run ids come from the settings with --part (and --slurm), so a
    /// part started again finds its runs.
    #[arg(long, value_name = "I/N", value_parser = saev_shards::Part::parse)]
    part: Option<saev_shards::Part>,
    #[command(flatten)]
    slurm: crate::slurm_args::SlurmArgs,
    /// Check every shard's checksum and values before training (a full read
    /// of the store; see docs/sae.md for what training detects without it).
    #[arg(long)]
    verify: bool,
    /// Stop after this many steps as if interrupted (for testing resume).
    #[arg(long = "stop-after", hide = true, value_parser = crate::numbers::at_least_one::<u64>)]
    stop_after: Option<u64>,
    /// Accepted for saev compatibility; saev-rs logs locally (metrics.jsonl).
    #[arg(long)]
    track: bool,
    #[arg(long = "no-track")]
    no_track: bool,
    /// Accepted for saev compatibility (loading uses one background thread).
    #[arg(long = "n-workers", default_value_t = 32, value_parser = crate::numbers::count::<usize>)]
    n_workers: usize,
}

impl TrainArgs {
    fn defaults(&self) -> anyhow::Result<SweepDefaults> {
        let knobs = Knobs {
            activation: self.activation.clone(),
            top_k: self.top_k,
            momentum: self.momentum,
            sparsity_coeff: self.sparsity_coeff,
            aux: self.aux,
            aux_k: AuxK {
                k_aux: self.k_aux,
                alpha: self.aux_alpha,
                dead_after: self.dead_after,
            },
            objective: self.objective.clone(),
            n_prefixes: self.n_prefixes,
        };
        let run = RunConfig {
            log_every: self.log_every,
            ckpt_every: self.ckpt_every,
            sae: SaeConfig {
                d_vit: self.d_vit,
                exp_factor: self.exp_factor,
                sparsity_coeff: 0.0,
                n_reinit_samples: self.n_reinit_samples as usize,
                normalize_w_dec: self.normalize_w_dec && !self.no_normalize_w_dec,
                remove_parallel_grads: self.remove_parallel_grads && !self.no_remove_parallel_grads,
                seed: self.sae_seed as u64,
                activation: saev_sae::Activation::Relu,
                d_sae: None,
            },
            train: TrainConfig {
                lr: self.lr,
                n_lr_warmup: self.n_lr_warmup,
                n_sparsity_warmup: self.n_sparsity_warmup,
                ..TrainConfig::default()
            },
            seed: self.seed,
            tag: self.tag.clone(),
            data: self.data.to_config(None)?,
            batch_size: self.sae_batch_size as usize,
            n_patches: self.n_patches,
            ..RunConfig::default()
        };
        Ok(SweepDefaults { run, knobs })
    }

    /// The runs to train: those of `--resume`, else the sweep's (or the flags' one).
    fn runs(&self) -> anyhow::Result<Vec<RunConfig>> {
        if !self.resume.is_empty() {
            return self.resume.iter().map(|d| RunRecord::read(d)).collect();
        }
        let defaults = self.defaults()?;
        let runs = match &self.sweep {
            Some(path) => sweep::expand(&crate::seed_files::read_sweep(path)?, path, &defaults)?,
            None => vec![sweep::single(&defaults)],
        };
        // Parts and Slurm tasks started again must find their runs.
        let scheme = match self.part.is_some() || self.slurm.submitting() {
            true => IdScheme::FromConfig,
            false => IdScheme::Random,
        };
        Ok(saev_train::assign_ids(runs, &self.ckpt_path, scheme))
    }

    pub fn run(self) -> anyhow::Result<ExitCode> {
        let mut runs = self.runs()?;
        if self.slurm.submitting() {
            return self.submit(runs);
        }
        if let Some(p) = self.part {
            runs = saev_train::part(&runs, p.index, p.count)?;
        }
        if runs.is_empty() {
            anyhow::bail!("no SAEs to train: the sweep (or --part) selects none");
        }
        for run in &runs {
            run.validate()?;
        }
        let opts = TrainOptions {
            cuda: self.device.available().is_cuda(),
            cuda_index: self.device.index(),
            precision: match self.precision.as_str() {
                "bf16" => saev_sae::Precision::Bf16,
                _ => saev_sae::Precision::F32,
            },
            stop_after: self.stop_after,
            verify_shards: self.verify,
        };
        let groups = saev_train::group_runs(&runs).len();
        println!("{} SAEs in {groups} group(s)", runs.len());
        let outcome = saev_train::train_sweep(&runs, &opts)?;
        let mut diverged = 0;
        for o in &outcome.runs {
            let dir = o.run.dir.display();
            match &o.status {
                RunStatus::Finished(m) => {
                    println!(
                        "{}: {dir} (explained variance {:.4}, L0 {:.1})",
                        o.run.id, m.explained_variance, m.l0
                    );
                    for w in &o.warnings {
                        eprintln!("warning: run {}: {w}", o.run.id);
                    }
                }
                RunStatus::Stopped { step } => {
                    println!("stopped at step {step} (--stop-after): {dir}")
                }
                RunStatus::Diverged(why) => {
                    diverged += 1;
                    eprintln!("run {} diverged: {why} ({dir})", o.run.id);
                }
            }
        }
        if diverged > 0 {
            anyhow::bail!("{diverged} of {} SAEs diverged", outcome.runs.len());
        }
        Ok(ExitCode::SUCCESS)
    }

    /// `--slurm`: the sweep as an array job, one part per task; with
    /// `--slurm.wait`, every SAE must have finished.
    fn submit(&self, runs: Vec<RunConfig>) -> anyhow::Result<ExitCode> {
        if self.part.is_some() {
            anyhow::bail!("give --slurm or --part, not both (each Slurm task gets its --part)");
        }
        for run in &runs {
            run.validate()?;
        }
        let check = move || {
            let unfinished: Vec<&str> = runs
                .iter()
                .filter(|r| !r.dir.join(saev_train::EvalRecord::FILE).is_file())
                .map(|r| r.id.as_str())
                .collect();
            if !unfinished.is_empty() {
                anyhow::bail!("SAEs not finished: {}", unfinished.join(", "));
            }
            Ok(())
        };
        self.slurm.submit("train", &self.ckpt_path, check)?;
        Ok(ExitCode::SUCCESS)
    }
}
