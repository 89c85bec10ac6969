//! `saev train`: saev's SAE training command, same flags and sweep files.
//!
//! Settings that share data, batch size and length train together on the
//! same batches (any expansion factors); other groups run one after another.
//! Each run writes `<ckpt-path>/<run-id>/` with `sae.safetensors`, `cfg.json`,
//! `metrics.jsonl` and, at the end, `eval.json`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use saev_sae::eval::Evaluator;
use saev_sae::{Sae, SaeConfig, TrainConfig, Trainer};
use saev_shards::{loader, DataLoad, Dataset, Scale};
use serde_json::json;

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
    #[arg(long = "sae.sparsity-coeff", default_value_t = 4e-4)]
    sparsity_coeff: f32,
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
    /// Accepted for saev compatibility (the SAE step runs on the CPU for now).
    #[arg(long, default_value = "cuda")]
    device: String,
    /// Accepted for saev compatibility; saev-rs logs locally (metrics.jsonl).
    #[arg(long)]
    track: bool,
    #[arg(long = "no-track")]
    no_track: bool,
    /// Accepted for saev compatibility (loading uses one background thread).
    #[arg(long = "n-workers", default_value_t = 32)]
    n_workers: usize,
}

/// One SAE to train: everything that can differ within a sweep.
#[derive(Clone, Debug)]
struct Run {
    id: String,
    sae: SaeConfig,
    train: TrainConfig,
    seed: i64,
    tag: String,
    data: DataLoad,
    batch_size: usize,
    n_patches: u64,
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
    fn base(&self) -> anyhow::Result<Run> {
        Ok(Run {
            id: String::new(),
            sae: SaeConfig {
                d_vit: self.d_vit,
                exp_factor: self.exp_factor,
                sparsity_coeff: self.sparsity_coeff,
                n_reinit_samples: self.n_reinit_samples as usize,
                normalize_w_dec: self.normalize_w_dec && !self.no_normalize_w_dec,
                remove_parallel_grads: self.remove_parallel_grads && !self.no_remove_parallel_grads,
                seed: self.sae_seed as u64,
            },
            train: TrainConfig {
                lr: self.lr,
                n_lr_warmup: self.n_lr_warmup,
                n_sparsity_warmup: self.n_sparsity_warmup,
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
        let base = self.base()?;
        let Some(path) = &self.sweep else {
            return Ok(vec![base]);
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let points = saev_sae::sweep::grid(&text, self.seed, self.sae_seed)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let mut runs = Vec::new();
        for p in points {
            let mut run = base.clone();
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
                    "seed" | "n_workers" | "track" | "device" | "log_every" | "ckpt_path" => {}
                    "sae" => {
                        for (k, v) in v.as_table().ok_or_else(bad)? {
                            let bad = || {
                                anyhow::anyhow!("{}: bad value for sae.{k}: {v}", path.display())
                            };
                            match k.as_str() {
                                "sparsity_coeff" => {
                                    run.sae.sparsity_coeff = float(v).ok_or_else(bad)? as f32
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
            runs.push(run);
        }
        Ok(runs)
    }

    pub fn run(self) -> anyhow::Result<ExitCode> {
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
        }
        // Group runs that can share batches.
        let mut groups: Vec<Vec<Run>> = Vec::new();
        for run in runs {
            match groups.iter_mut().find(|g| {
                g[0].data == run.data
                    && g[0].batch_size == run.batch_size
                    && g[0].n_patches == run.n_patches
            }) {
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
        for group in groups {
            train_group(&group, &self.ckpt_path, self.log_every)?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn train_group(group: &[Run], ckpt_path: &Path, log_every: u64) -> anyhow::Result<()> {
    let first = &group[0];
    let ds = Arc::new(Dataset::open(first.data.clone())?);
    if ds.d_vit() != first.sae.d_vit {
        anyhow::bail!(
            "--sae.d-vit is {} but {} holds {}-dim activations",
            first.sae.d_vit,
            first.data.shard_root.display(),
            ds.d_vit()
        );
    }
    // b_dec starts at the mean of the first n_reinit_samples examples of a
    // permutation seeded by the first SAE's seed.
    let n_reinit = first.sae.n_reinit_samples.min(ds.len() as usize);
    let mut reinit = Vec::new();
    if n_reinit > 0 {
        let picks = saev_rng::Pcg64::from_seed(first.sae.seed)
            .permutation_prefix(ds.len() as usize, n_reinit);
        reinit = vec![0.0f32; n_reinit * ds.d_vit()];
        for (row, &i) in reinit.chunks_exact_mut(ds.d_vit()).zip(&picks) {
            ds.get_into(i, row)?;
        }
    }
    let mut trainers: Vec<(Run, Option<Trainer>, std::fs::File)> = Vec::new();
    for run in group {
        let dir = ckpt_path.join(&run.id);
        std::fs::create_dir_all(&dir)?;
        let mut sae = Sae::new(run.sae.clone());
        if n_reinit > 0 && run.sae.n_reinit_samples > 0 {
            sae.init_b_dec(&reinit);
        }
        let cfg = json!({
            "id": run.id, "tag": run.tag, "seed": run.seed, "lr": run.train.lr,
            "n_lr_warmup": run.train.n_lr_warmup, "n_sparsity_warmup": run.train.n_sparsity_warmup,
            "n_patches": run.n_patches, "sae_batch_size": run.batch_size, "sae": run.sae,
            "data": {"shard_root": run.data.shard_root, "patches": run.data.patches.to_string(), "layer": run.data.layer.to_string(),
                     "clamp": run.data.clamp, "n_random_samples": run.data.n_random_samples,
                     "scale_mean": format!("{:?}", run.data.scale_mean), "scale_norm": format!("{:?}", run.data.scale_norm)},
        });
        std::fs::write(dir.join("cfg.json"), serde_json::to_string_pretty(&cfg)?)?;
        ds.normalization()
            .save(&dir.join("normalization.safetensors"))?;
        let metrics = std::fs::File::create(dir.join("metrics.jsonl"))?;
        trainers.push((
            run.clone(),
            Some(Trainer::new(sae, run.train.clone())),
            metrics,
        ));
    }
    let n_steps = (first.n_patches / first.batch_size as u64).max(1);
    let shuffle = loader::ShuffleConfig {
        batch_size: first.batch_size,
        seed: first.seed as u64,
        drop_last: true,
        ..Default::default()
    };
    let bar = ProgressBar::new(n_steps * first.batch_size as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "train [{bar:30}] {pos}/{len} examples ({per_sec}, eta {eta}) {msg}",
        )
        .expect("template")
        .progress_chars("=> "),
    );
    let mut step = 0u64;
    for batch in loader::shuffled(Arc::clone(&ds), shuffle).take(n_steps as usize) {
        let batch = batch?;
        for (run, trainer, metrics) in &mut trainers {
            let Some(t) = trainer else { continue };
            let (lr, coeff) = t.schedule();
            match t.step(&batch.acts_BD) {
                Ok(l) if (step + 1).is_multiple_of(log_every) => {
                    let line = json!({"step": step, "loss": l.loss, "mse": l.mse, "l1": l.l1, "l0": l.l0, "lr": lr, "sparsity_coeff": coeff, "n_patches_seen": (step + 1) * first.batch_size as u64});
                    writeln!(metrics, "{line}")?;
                    if run.id == first.id {
                        bar.set_message(format!(
                            "loss {:.4} mse {:.4} l0 {:.1}",
                            l.loss, l.mse, l.l0
                        ));
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!("run {}: {e}", run.id);
                    t.sae
                        .save(&ckpt_path.join(&run.id).join("sae.safetensors"))?;
                    *trainer = None;
                }
            }
        }
        step += 1;
        bar.inc(first.batch_size as u64);
    }
    bar.finish_and_clear();
    for (run, trainer, _) in &trainers {
        let Some(t) = trainer else { continue };
        let dir = ckpt_path.join(&run.id);
        t.sae.save(&dir.join("sae.safetensors"))?;
        let mut ev = Evaluator::new(&t.sae);
        for batch in loader::ordered(Arc::clone(&ds), first.batch_size, 2) {
            ev.update(&t.sae, &batch?.acts_BD);
        }
        let m = ev.finish();
        tracing::info!(
            "run {}: l0 {:.2}, l1 {:.3}, mse {:.5}, explained variance {:.4}, dead {}, almost dead {}, dense {}",
            run.id, m.l0, m.l1, m.mse, m.explained_variance, m.n_dead, m.n_almost_dead, m.n_dense
        );
        std::fs::write(dir.join("eval.json"), serde_json::to_string(&m)?)?;
        println!(
            "{}: {} (explained variance {:.4}, L0 {:.1})",
            run.id,
            dir.display(),
            m.explained_variance,
            m.l0
        );
    }
    Ok(())
}
