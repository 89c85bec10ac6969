//! Training one group of SAEs on shared batches, with checkpoints and resume.
//!
//! Each run's directory `<ckpt-path>/<run-id>/` holds:
//! - `cfg.json`: the full training config (read back by `--resume`);
//! - `sae.safetensors`: the weights (saev's names and shapes, SAE config in
//!   the metadata), `state.safetensors`: Adam's moments and the step, both
//!   rewritten atomically every `--ckpt-every` steps and at the end;
//! - `normalization.safetensors`: the data's mean and scalar;
//! - `metrics.jsonl` (every `--log-every` steps), `loss.png`, and at the end
//!   `eval.json`.
//!
//! Resuming reloads weights and optimizer state and replays the shuffled
//! stream (seeded, so deterministic) from the checkpoint's step, so the run
//! ends with the weights an uninterrupted run would have.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use saev_plot::{Figure, Panel, Series};
use saev_sae::eval::Evaluator;
use saev_sae::{Sae, SaeConfig, TrainConfig, Trainer};
use saev_shards::{loader, DataLoad, Dataset, Scale};
use serde_json::{json, Value};

/// One SAE to train: everything that can differ within a sweep.
#[derive(Clone, Debug)]
pub struct Run {
    pub id: String,
    pub dir: PathBuf,
    pub sae: SaeConfig,
    pub train: TrainConfig,
    pub seed: i64,
    pub tag: String,
    pub data: DataLoad,
    pub batch_size: usize,
    pub n_patches: u64,
    /// Metrics every this many steps, checkpoints every `ckpt_every`.
    pub log_every: u64,
    pub ckpt_every: u64,
}

fn scale_json(s: &Scale) -> Value {
    match s {
        Scale::Off => json!(false),
        Scale::Estimate => json!(true),
        Scale::File(p) => json!(p),
    }
}

fn scale_from(v: &Value) -> Option<Scale> {
    v.as_bool()
        .map(|b| if b { Scale::Estimate } else { Scale::Off })
        .or_else(|| v.as_str().map(|s| Scale::File(s.into())))
}

impl Run {
    /// Runs train together when they read the same examples in the same order.
    pub fn shares_batches_with(&self, other: &Run) -> bool {
        self.data == other.data
            && self.batch_size == other.batch_size
            && self.n_patches == other.n_patches
    }

    /// `cfg.json`; `stream_seed` seeds the group's shuffled stream (its
    /// first run's `seed`), read back as `seed` when resuming.
    pub fn to_json(&self, stream_seed: i64) -> Value {
        let d = &self.data;
        json!({
            "id": self.id, "tag": self.tag, "seed": self.seed, "stream_seed": stream_seed,
            "lr": self.train.lr, "n_lr_warmup": self.train.n_lr_warmup,
            "n_sparsity_warmup": self.train.n_sparsity_warmup,
            "n_patches": self.n_patches, "sae_batch_size": self.batch_size,
            "log_every": self.log_every, "ckpt_every": self.ckpt_every,
            "sae": self.sae, "train": self.train,
            "data": {"shard_root": d.shard_root, "patches": d.patches.to_string(),
                     "layer": d.layer.to_string(), "clamp": d.clamp,
                     "n_random_samples": d.n_random_samples,
                     "scale_mean": scale_json(&d.scale_mean), "scale_norm": scale_json(&d.scale_norm)},
        })
    }

    /// Read a run back from its directory's `cfg.json`.
    pub fn read(dir: &Path) -> anyhow::Result<Run> {
        let path = dir.join("cfg.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("{}: {e} (is this a run directory?)", path.display()))?;
        let bad = |what: &str| anyhow::anyhow!("{}: missing or bad {what}", path.display());
        let v: Value =
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let d = &v["data"];
        let data = DataLoad {
            shard_root: d["shard_root"]
                .as_str()
                .ok_or_else(|| bad("data.shard_root"))?
                .into(),
            patches: d["patches"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("data.patches"))?,
            layer: d["layer"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("data.layer"))?,
            clamp: d["clamp"].as_f64().ok_or_else(|| bad("data.clamp"))? as f32,
            n_random_samples: d["n_random_samples"]
                .as_u64()
                .ok_or_else(|| bad("data.n_random_samples"))?
                as usize,
            scale_mean: scale_from(&d["scale_mean"]).ok_or_else(|| bad("data.scale_mean"))?,
            scale_norm: scale_from(&d["scale_norm"]).ok_or_else(|| bad("data.scale_norm"))?,
        };
        Ok(Run {
            id: v["id"].as_str().ok_or_else(|| bad("id"))?.to_string(),
            dir: dir.to_path_buf(),
            sae: serde_json::from_value(v["sae"].clone()).map_err(|_| bad("sae"))?,
            train: serde_json::from_value(v["train"].clone()).map_err(|_| bad("train"))?,
            seed: v["stream_seed"]
                .as_i64()
                .ok_or_else(|| bad("stream_seed"))?,
            tag: v["tag"].as_str().unwrap_or_default().to_string(),
            data,
            batch_size: v["sae_batch_size"]
                .as_u64()
                .ok_or_else(|| bad("sae_batch_size"))? as usize,
            n_patches: v["n_patches"].as_u64().ok_or_else(|| bad("n_patches"))?,
            log_every: v["log_every"].as_u64().unwrap_or(25).max(1),
            ckpt_every: v["ckpt_every"].as_u64().unwrap_or(1000).max(1),
        })
    }
}

/// Where a run's steps execute: the `gemm` CPU step, or burn on CUDA.
enum Engine {
    Cpu(Box<Trainer>),
    #[cfg(feature = "cuda")]
    Cuda(Box<saev_sae::BurnTrainer<burn::backend::Cuda>>),
}

impl Engine {
    fn new(t: Trainer, cuda: bool) -> Self {
        #[cfg(feature = "cuda")]
        if cuda {
            let device = burn::backend::cuda::CudaDevice::default();
            return Engine::Cuda(Box::new(saev_sae::BurnTrainer::from_trainer(&t, &device)));
        }
        let _ = cuda;
        Engine::Cpu(Box::new(t))
    }

    fn step(&mut self, x_BD: &[f32]) -> Result<saev_sae::Losses, saev_sae::NonFiniteLoss> {
        match self {
            Engine::Cpu(t) => t.step(x_BD),
            #[cfg(feature = "cuda")]
            Engine::Cuda(t) => t.step(x_BD),
        }
    }

    fn schedule(&self) -> (f32, f32) {
        match self {
            Engine::Cpu(t) => t.schedule(),
            #[cfg(feature = "cuda")]
            Engine::Cuda(t) => t.schedule(),
        }
    }

    fn step_count(&self) -> u64 {
        match self {
            Engine::Cpu(t) => t.step,
            #[cfg(feature = "cuda")]
            Engine::Cuda(t) => t.step,
        }
    }

    /// The training state on the host (a download for CUDA runs).
    fn host(&self) -> std::borrow::Cow<'_, Trainer> {
        match self {
            Engine::Cpu(t) => std::borrow::Cow::Borrowed(t),
            #[cfg(feature = "cuda")]
            Engine::Cuda(t) => std::borrow::Cow::Owned(t.to_trainer()),
        }
    }
}

/// A run being trained.
struct Live {
    run: Run,
    trainer: Option<Engine>,
    metrics: std::fs::File,
}

/// Mean of the first `n` examples of a permutation seeded by `seed`
/// (saev's `b_dec` initialization), as rows.
fn reinit_rows(ds: &Dataset, n: usize, seed: u64) -> anyhow::Result<Vec<f32>> {
    let picks = saev_rng::Pcg64::from_seed(seed).permutation_prefix(ds.len() as usize, n);
    let mut rows = vec![0.0f32; n * ds.d_vit()];
    for (row, &i) in rows.chunks_exact_mut(ds.d_vit()).zip(&picks) {
        ds.get_into(i, row)?;
    }
    Ok(rows)
}

/// Keep the metric lines of steps before `step` (a resumed run rewrites the rest).
fn truncate_metrics(path: &Path, step: u64) -> anyhow::Result<std::fs::File> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let kept: String = old
        .lines()
        .filter(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .and_then(|v| v["step"].as_u64())
                .is_some_and(|s| s < step)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let tmp = path.with_extension("jsonl.tmp");
    std::fs::write(&tmp, kept)?;
    std::fs::rename(&tmp, path)?;
    Ok(std::fs::OpenOptions::new().append(true).open(path)?)
}

/// `loss.png` from `metrics.jsonl`: loss, mse, L1 and L0 against step.
pub fn plot_metrics(dir: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(dir.join("metrics.jsonl"))?;
    let rows: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let series = |key: &str| -> Series {
        Series::line(
            key,
            rows.iter()
                .filter_map(|r| Some((r["step"].as_f64()?, r[key].as_f64()?)))
                .collect(),
        )
    };
    // Log axes only where values span a decade or more.
    let panel = |title: &str, y: &str, s: Series| {
        let (lo, hi) = s
            .points
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
        let p = Panel::new(title, "step", y).series(s);
        if lo > 0.0 && hi / lo >= 10.0 {
            p.log_y()
        } else {
            p
        }
    };
    let mut fig = Figure::new(2).title(format!(
        "run {}",
        dir.file_name().unwrap_or_default().to_string_lossy()
    ));
    fig = fig
        .panel(panel("loss", "loss", series("loss")))
        .panel(panel("reconstruction", "mse", series("mse")))
        .panel(panel("L1", "l1", series("l1")))
        .panel(panel("L0", "active latents", series("l0")));
    if rows
        .iter()
        .any(|r| r["aux"].as_f64().is_some_and(|a| a > 0.0))
    {
        fig = fig.panel(panel("AuxK", "aux", series("aux")));
    }
    fig.save(&dir.join("loss.png"))?;
    Ok(())
}

fn checkpoint(live: &[Live]) -> anyhow::Result<()> {
    for l in live {
        if let Some(e) = &l.trainer {
            let t = e.host();
            t.sae.save(&l.run.dir.join("sae.safetensors"))?;
            t.save_state(&l.run.dir.join("state.safetensors"))?;
        }
        plot_metrics(&l.run.dir)?;
    }
    Ok(())
}

/// Train a group of runs on the same batches (fresh, or resumed from their
/// checkpoints), then evaluate each.
pub fn train_group(
    group: &[Run],
    resume: bool,
    stop_after: Option<u64>,
    cuda: bool,
) -> anyhow::Result<()> {
    let first = &group[0];
    let ds = Arc::new(Dataset::open(first.data.clone())?);
    for run in group {
        if ds.d_vit() != run.sae.d_vit {
            anyhow::bail!(
                "run {}: --sae.d-vit is {} but {} holds {}-dim activations",
                run.id,
                run.sae.d_vit,
                first.data.shard_root.display(),
                ds.d_vit()
            );
        }
    }
    if (first.batch_size as u64) > ds.len() {
        anyhow::bail!(
            "{} holds {} examples, fewer than one batch (--sae-batch-size {})",
            first.data.shard_root.display(),
            ds.len(),
            first.batch_size
        );
    }
    // b_dec starts at the mean of the first n_reinit_samples examples of a
    // permutation seeded by the first SAE's seed.
    let n_reinit = first.sae.n_reinit_samples.min(ds.len() as usize);
    let reinit = if n_reinit > 0 && !resume {
        reinit_rows(&ds, n_reinit, first.sae.seed)?
    } else {
        Vec::new()
    };
    let mut live: Vec<Live> = Vec::new();
    for run in group {
        if resume && run.dir.join("diverged.txt").is_file() {
            println!(
                "run {}: diverged earlier (diverged.txt), not resumed",
                run.id
            );
            continue;
        }
        std::fs::create_dir_all(&run.dir)?;
        let state = run.dir.join("state.safetensors");
        let mut trainer = if resume && state.is_file() {
            let sae = Sae::load(&run.dir.join("sae.safetensors"))?;
            Trainer::load_state(sae, &state)?
        } else {
            let mut sae = Sae::new(run.sae.clone());
            if !reinit.is_empty() && run.sae.n_reinit_samples > 0 {
                sae.init_b_dec(&reinit);
            } else if resume && run.sae.n_reinit_samples > 0 && n_reinit > 0 {
                sae.init_b_dec(&reinit_rows(&ds, n_reinit, first.sae.seed)?);
            }
            Trainer::new(sae, run.train.clone())
        };
        let norm = ds.normalization();
        trainer.sae.data_norm = Some(saev_sae::DataNorm {
            act_mean: norm.act_mean.clone(),
            scalar: norm.scalar,
        });
        if !resume {
            let cfg = run.to_json(first.seed);
            std::fs::write(
                run.dir.join("cfg.json"),
                serde_json::to_string_pretty(&cfg)?,
            )?;
        }
        ds.normalization()
            .save(&run.dir.join("normalization.safetensors"))?;
        let metrics = truncate_metrics(&run.dir.join("metrics.jsonl"), trainer.step)?;
        live.push(Live {
            run: run.clone(),
            trainer: Some(Engine::new(trainer, cuda)),
            metrics,
        });
    }
    if live.is_empty() {
        return Ok(());
    }
    let first = &live[0].run.clone();
    let (log_every, ckpt_every) = (first.log_every, first.ckpt_every);
    let steps: Vec<u64> = live
        .iter()
        .map(|l| l.trainer.as_ref().map_or(0, Engine::step_count))
        .collect();
    let start = steps[0];
    if let Some((l, _)) = live.iter().zip(&steps).find(|(_, &s)| s != start) {
        anyhow::bail!(
            "runs {} and {} stopped at different steps; resume them separately",
            live[0].run.id,
            l.run.id
        );
    }
    let n_steps = (first.n_patches / first.batch_size as u64).max(1);
    if resume {
        println!(
            "resuming {} run(s) at step {start} of {n_steps}",
            live.len()
        );
    }
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
    bar.set_position(start * first.batch_size as u64);
    bar.reset_eta();
    let mut step = start;
    let stream = loader::shuffled(Arc::clone(&ds), shuffle)
        .take(n_steps as usize)
        .skip(start as usize);
    for batch in stream {
        let batch = batch?;
        for l in &mut live {
            let Some(t) = &mut l.trainer else { continue };
            let (lr, coeff) = t.schedule();
            match t.step(&batch.acts_BD) {
                Ok(loss) if (step + 1).is_multiple_of(log_every) => {
                    let line = json!({"step": step, "loss": loss.loss, "mse": loss.mse, "l1": loss.l1, "l0": loss.l0, "aux": loss.aux, "lr": lr, "sparsity_coeff": coeff, "n_patches_seen": (step + 1) * first.batch_size as u64});
                    writeln!(l.metrics, "{line}")?;
                    if l.run.id == first.id {
                        bar.set_message(format!(
                            "loss {:.4} mse {:.4} l0 {:.1}",
                            loss.loss, loss.mse, loss.l0
                        ));
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!("run {}: {e}", l.run.id);
                    bar.println(format!("run {} stopped: {e}", l.run.id));
                    t.host().sae.save(&l.run.dir.join("sae.safetensors"))?;
                    std::fs::write(l.run.dir.join("diverged.txt"), format!("{e}\n"))?;
                    l.trainer = None;
                }
            }
        }
        step += 1;
        bar.inc(first.batch_size as u64);
        if step.is_multiple_of(ckpt_every) && step < n_steps {
            checkpoint(&live)?;
        }
        if stop_after == Some(step) {
            bar.finish_and_clear();
            println!("stopped at step {step} (--stop-after)");
            return Ok(());
        }
    }
    bar.finish_and_clear();
    checkpoint(&live)?;
    for l in &live {
        let Some(e) = &l.trainer else { continue };
        let t = e.host();
        let dir = &l.run.dir;
        let mut ev = Evaluator::new(&t.sae);
        for batch in loader::ordered(Arc::clone(&ds), first.batch_size, 2) {
            ev.update(&t.sae, &batch?.acts_BD);
        }
        let m = ev.finish();
        tracing::info!(
            "run {}: l0 {:.2}, l1 {:.3}, mse {:.5}, explained variance {:.4}, dead {}, almost dead {}, dense {}",
            l.run.id, m.l0, m.l1, m.mse, m.explained_variance, m.n_dead, m.n_almost_dead, m.n_dense
        );
        std::fs::write(dir.join("eval.json"), serde_json::to_string(&m)?)?;
        println!(
            "{}: {} (explained variance {:.4}, L0 {:.1})",
            l.run.id,
            dir.display(),
            m.explained_variance,
            m.l0
        );
    }
    Ok(())
}
