//! `saev train`: saev's SAE training command, same flags and sweep files.
//!
//! Settings that share data, batch size and length train together on the
//! same batches (any expansion factors or activations); other groups run one
//! after another. Each run writes `<ckpt-path>/<run-id>/` (see
//! [`super::train_loop`]). `--resume DIR...` continues runs from their last
//! checkpoint.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use saev_sae::{Activation, AuxK, Matryoshka, SaeConfig, TrainConfig};
use saev_shards::Scale;

use super::train_loop::{train_group, Run};
use crate::data_args::DataArgs;
use crate::pyargs::{py_bool, py_int};

#[derive(Args)]
pub struct TrainArgs {
    /// A sweep file (TOML; lists expand to a grid, as saev's).
    #[arg(long)]
    sweep: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    #[arg(long = "sae.d-vit", default_value_t = 1024)]
    d_vit: usize,
    #[arg(long = "sae.exp-factor", default_value_t = 16)]
    exp_factor: usize,
    /// L1 coefficient (default 4e-4 for relu, 0 for topk and batch-topk, as saev).
    #[arg(long = "sae.sparsity-coeff")]
    sparsity_coeff: Option<f32>,
    /// Nonlinearity: relu (the preprint's), topk or batch-topk.
    #[arg(long = "sae.activation", default_value = "relu", value_parser = activation_kind)]
    activation: String,
    /// Latents kept per example (topk, batch-topk).
    #[arg(long = "sae.top-k", default_value_t = 32)]
    top_k: usize,
    /// Weight of each batch in batch-topk's running threshold.
    #[arg(long = "sae.momentum", default_value_t = 0.1)]
    momentum: f32,
    /// AuxK loss for dead latents (default: on for topk and batch-topk, off for relu).
    #[arg(long = "sae.aux", value_parser = py_bool)]
    aux: Option<bool>,
    #[arg(long = "sae.k-aux", default_value_t = 512)]
    k_aux: usize,
    #[arg(long = "sae.aux-alpha", default_value_t = 1.0 / 32.0)]
    aux_alpha: f32,
    /// Training examples without firing after which a latent is dead (AuxK).
    #[arg(long = "sae.dead-after", default_value = "10_000_000", value_parser = py_int)]
    dead_after: u64,
    /// Training objective: vanilla or matryoshka.
    #[arg(long, default_value = "vanilla", value_parser = ["vanilla", "matryoshka"])]
    objective: String,
    /// Matryoshka prefixes per step.
    #[arg(long = "objective.n-prefixes", default_value_t = 10)]
    n_prefixes: usize,
    #[arg(long = "sae.n-reinit-samples", default_value = "524288", value_parser = py_int)]
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
    #[arg(long, default_value_t = 4e-4)]
    lr: f32,
    #[arg(long = "n-lr-warmup", default_value_t = 500)]
    n_lr_warmup: u64,
    #[arg(long = "n-sparsity-warmup", default_value_t = 0)]
    n_sparsity_warmup: u64,
    /// Training examples (Python integer syntax allowed).
    #[arg(long = "n-patches", default_value = "100_000_000", value_parser = py_int)]
    n_patches: u64,
    #[arg(long = "sae-batch-size", default_value = "16384", value_parser = py_int)]
    sae_batch_size: u64,
    #[arg(long, default_value_t = 42)]
    seed: i64,
    #[arg(long = "ckpt-path", default_value = "./checkpoints")]
    ckpt_path: PathBuf,
    #[arg(long = "log-every", default_value_t = 25)]
    log_every: u64,
    #[arg(long, default_value = "")]
    tag: String,
    /// cuda (burn's CUDA backend; needs a build with --features cuda, else
    /// falls back to the CPU with a warning) or cpu (the fast gemm step).
    #[arg(long, value_enum, default_value = "cuda")]
    device: crate::cmd::device::Device,
    /// Write checkpoints (weights and optimizer state) every this many steps.
    #[arg(long = "ckpt-every", default_value_t = 1000)]
    ckpt_every: u64,
    /// Continue these run directories (`<ckpt-path>/<run-id>`) from their last checkpoint.
    #[arg(long, num_args = 1.., value_name = "RUN_DIR")]
    resume: Vec<PathBuf>,
    /// Stop after this many steps as if interrupted (for testing resume).
    #[arg(long = "stop-after", hide = true)]
    stop_after: Option<u64>,
    /// Accepted for saev compatibility; saev-rs logs locally (metrics.jsonl).
    #[arg(long)]
    track: bool,
    #[arg(long = "no-track")]
    no_track: bool,
    /// Accepted for saev compatibility (loading uses one background thread).
    #[arg(long = "n-workers", default_value_t = 32)]
    n_workers: usize,
}

/// Activation and objective settings as given; [`Knobs::apply`] turns them
/// into the SAE and training configs once the sweep has set them all.
#[derive(Clone, Debug)]
struct Knobs {
    activation: String,
    top_k: usize,
    momentum: f32,
    coeff: Option<f32>,
    aux: Option<bool>,
    aux_k: AuxK,
    objective: String,
    n_prefixes: usize,
}

impl Knobs {
    fn apply(&self, run: &mut Run) {
        run.sae.activation = match self.activation.as_str() {
            "topk" => Activation::TopK { top_k: self.top_k },
            "batch-topk" => Activation::BatchTopK {
                top_k: self.top_k,
                momentum: self.momentum,
            },
            _ => Activation::Relu,
        };
        let relu = run.sae.activation == Activation::Relu;
        run.sae.sparsity_coeff = self.coeff.unwrap_or(if relu { 4e-4 } else { 0.0 });
        run.train.aux = self.aux.unwrap_or(!relu).then_some(self.aux_k);
        run.train.matryoshka = (self.objective == "matryoshka").then_some(Matryoshka {
            n_prefixes: self.n_prefixes,
        });
    }
}

/// `relu`, `topk`, `batch-topk` (saev's newer spellings `top-k`, `batch-top-k` too).
fn activation_kind(s: &str) -> Result<String, String> {
    match s {
        "relu" => Ok("relu".into()),
        "topk" | "top-k" => Ok("topk".into()),
        "batch-topk" | "batch-top-k" => Ok("batch-topk".into()),
        _ => Err(format!(
            "unknown activation {s:?}: use relu, topk or batch-topk"
        )),
    }
}

fn float(v: &toml::Value) -> Option<f64> {
    v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
}

fn scale(v: &toml::Value) -> Option<Scale> {
    v.as_bool()
        .map(|b| if b { Scale::Estimate } else { Scale::Off })
        .or_else(|| v.as_str().map(|s| Scale::File(s.into())))
}

impl TrainArgs {
    fn knobs(&self) -> Knobs {
        Knobs {
            activation: self.activation.clone(),
            top_k: self.top_k,
            momentum: self.momentum,
            coeff: self.sparsity_coeff,
            aux: self.aux,
            aux_k: AuxK {
                k_aux: self.k_aux,
                alpha: self.aux_alpha,
                dead_after: self.dead_after,
            },
            objective: self.objective.clone(),
            n_prefixes: self.n_prefixes,
        }
    }

    fn base(&self) -> anyhow::Result<Run> {
        Ok(Run {
            id: String::new(),
            dir: PathBuf::new(),
            log_every: self.log_every.max(1),
            ckpt_every: self.ckpt_every.max(1),
            sae: SaeConfig {
                d_vit: self.d_vit,
                exp_factor: self.exp_factor,
                sparsity_coeff: 0.0,
                n_reinit_samples: self.n_reinit_samples as usize,
                normalize_w_dec: self.normalize_w_dec && !self.no_normalize_w_dec,
                remove_parallel_grads: self.remove_parallel_grads && !self.no_remove_parallel_grads,
                seed: self.sae_seed as u64,
                activation: Activation::Relu,
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
        })
    }

    /// The runs of the sweep (or the single run of the flags).
    fn runs(&self) -> anyhow::Result<Vec<Run>> {
        let mut base = self.base()?;
        let Some(path) = &self.sweep else {
            self.knobs().apply(&mut base);
            return Ok(vec![base]);
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let points = saev_sae::sweep::grid(&text, self.seed, self.sae_seed)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let mut runs = Vec::new();
        for p in points {
            let mut run = base.clone();
            let mut knobs = self.knobs();
            run.seed = p.seed;
            run.sae.seed = p.sae_seed as u64;
            for (key, v) in &p.values {
                let bad = || anyhow::anyhow!("{}: bad value for {key}: {v}", path.display());
                match key.as_str() {
                    "lr" => run.train.lr = float(v).ok_or_else(bad)? as f32,
                    "n_lr_warmup" => run.train.n_lr_warmup = v.as_integer().ok_or_else(bad)? as u64,
                    "n_sparsity_warmup" => {
                        run.train.n_sparsity_warmup = v.as_integer().ok_or_else(bad)? as u64
                    }
                    "n_patches" => run.n_patches = v.as_integer().ok_or_else(bad)? as u64,
                    "sae_batch_size" => run.batch_size = v.as_integer().ok_or_else(bad)? as usize,
                    "tag" => run.tag = v.as_str().ok_or_else(bad)?.to_string(),
                    "objective" => knobs.objective = v.as_str().ok_or_else(bad)?.to_string(),
                    "n_prefixes" => knobs.n_prefixes = v.as_integer().ok_or_else(bad)? as usize,
                    "seed" | "n_workers" | "track" | "device" | "log_every" | "ckpt_path" => {}
                    "sae" => {
                        for (k, v) in v.as_table().ok_or_else(bad)? {
                            let bad = || {
                                anyhow::anyhow!("{}: bad value for sae.{k}: {v}", path.display())
                            };
                            match k.as_str() {
                                "sparsity_coeff" => {
                                    knobs.coeff = Some(float(v).ok_or_else(bad)? as f32)
                                }
                                "exp_factor" => {
                                    run.sae.exp_factor = v.as_integer().ok_or_else(bad)? as usize
                                }
                                "d_vit" => run.sae.d_vit = v.as_integer().ok_or_else(bad)? as usize,
                                "n_reinit_samples" => {
                                    run.sae.n_reinit_samples =
                                        v.as_integer().ok_or_else(bad)? as usize
                                }
                                "normalize_w_dec" => {
                                    run.sae.normalize_w_dec = v.as_bool().ok_or_else(bad)?
                                }
                                "remove_parallel_grads" => {
                                    run.sae.remove_parallel_grads = v.as_bool().ok_or_else(bad)?
                                }
                                "activation" => {
                                    knobs.activation = activation_kind(v.as_str().ok_or_else(bad)?)
                                        .map_err(anyhow::Error::msg)?
                                }
                                "top_k" => knobs.top_k = v.as_integer().ok_or_else(bad)? as usize,
                                "momentum" => knobs.momentum = float(v).ok_or_else(bad)? as f32,
                                "aux" => knobs.aux = Some(v.as_bool().ok_or_else(bad)?),
                                "k_aux" => {
                                    knobs.aux_k.k_aux = v.as_integer().ok_or_else(bad)? as usize
                                }
                                "aux_alpha" => knobs.aux_k.alpha = float(v).ok_or_else(bad)? as f32,
                                "dead_after" => {
                                    knobs.aux_k.dead_after = v.as_integer().ok_or_else(bad)? as u64
                                }
                                "ghost_grads" if v.as_bool() == Some(false) => {}
                                "seed" => {}
                                _ => {
                                    anyhow::bail!("{}: unsupported setting sae.{k}", path.display())
                                }
                            }
                        }
                    }
                    "data" => {
                        for (k, v) in v.as_table().ok_or_else(bad)? {
                            let bad = || {
                                anyhow::anyhow!("{}: bad value for data.{k}: {v}", path.display())
                            };
                            match k.as_str() {
                                "scale_mean" => run.data.scale_mean = scale(v).ok_or_else(bad)?,
                                "scale_norm" => run.data.scale_norm = scale(v).ok_or_else(bad)?,
                                "clamp" => run.data.clamp = float(v).ok_or_else(bad)? as f32,
                                "n_random_samples" => {
                                    run.data.n_random_samples =
                                        v.as_integer().ok_or_else(bad)? as usize
                                }
                                "patches" => {
                                    run.data.patches = v
                                        .as_str()
                                        .ok_or_else(bad)?
                                        .parse()
                                        .map_err(anyhow::Error::msg)?
                                }
                                "layer" => {
                                    let text = v
                                        .as_integer()
                                        .map(|i| i.to_string())
                                        .or_else(|| v.as_str().map(String::from));
                                    run.data.layer =
                                        text.ok_or_else(bad)?.parse().map_err(anyhow::Error::msg)?
                                }
                                "shard_root" => {
                                    run.data.shard_root = v.as_str().ok_or_else(bad)?.into()
                                }
                                _ => anyhow::bail!(
                                    "{}: unsupported setting data.{k}",
                                    path.display()
                                ),
                            }
                        }
                    }
                    _ => anyhow::bail!("{}: unsupported setting {key}", path.display()),
                }
            }
            knobs.apply(&mut run);
            runs.push(run);
        }
        Ok(runs)
    }

    pub fn run(self) -> anyhow::Result<ExitCode> {
        let resuming = !self.resume.is_empty();
        let runs = if resuming {
            self.resume
                .iter()
                .map(|dir| Run::read(dir))
                .collect::<anyhow::Result<Vec<_>>>()?
        } else {
            let mut runs = self.runs()?;
            let mut rng = saev_rng::Pcg64::from_seed(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_nanos() as u64,
            );
            for run in &mut runs {
                run.id = (0..8)
                    .map(|_| char::from_digit(rng.interval(35) as u32, 36).expect("base 36"))
                    .collect();
                run.dir = self.ckpt_path.join(&run.id);
            }
            runs
        };
        // Group runs that can share batches.
        let mut groups: Vec<Vec<Run>> = Vec::new();
        for run in runs {
            match groups.iter_mut().find(|g| g[0].shares_batches_with(&run)) {
                Some(g) => g.push(run),
                None => groups.push(vec![run]),
            }
        }
        let n_saes: usize = groups.iter().map(Vec::len).sum();
        tracing::info!(
            "training {n_saes} SAEs in {} group(s) sharing batches",
            groups.len()
        );
        println!("{n_saes} SAEs in {} group(s)", groups.len());
        let cuda = self.device.available() == crate::cmd::device::Device::Cuda;
        for group in groups {
            train_group(&group, resuming, self.stop_after, cuda)?;
        }
        Ok(ExitCode::SUCCESS)
    }
}
