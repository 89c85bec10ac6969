//! Training a sweep: groups of runs on shared batches, checkpoints, resume
//! and evaluation.
//!
//! Resuming reloads weights and optimizer state and replays the seeded
//! shuffled stream from the checkpoint's step, so a run ends with the
//! weights an uninterrupted run would have.

use std::io::Write;
use std::sync::Arc;

use saev_sae::eval::{EvalMetrics, Evaluator};
use saev_sae::{DataNorm, Sae, Trainer};
use saev_shards::{loader, Dataset};

use crate::engine::{Batch, Engine};
use crate::group::{group_runs, Group};
use crate::metrics::{plot_metrics, truncate, MetricsLine};
use crate::records::{health_warnings, EvalRecord, RunRecord, FORMAT_VERSION};
use crate::run::RunConfig;

/// What a run resumes from: weights, optimizer state and step in one file.
pub const CHECKPOINT: &str = "checkpoint.safetensors";

/// How to train.
#[derive(Clone, Debug, Default)]
pub struct TrainOptions {
    /// Steps on CUDA (needs the `cuda` feature; else the CPU is used).
    pub cuda: bool,
    /// Which GPU, with `cuda`.
    pub cuda_index: usize,
    /// The GPU step's matrix products (f32/TF32, or bf16 inputs).
    pub precision: saev_sae::Precision,
    /// Stop after this many steps as if interrupted (for testing resume).
    pub stop_after: Option<u64>,
    /// Check each store's shard checksums (`saev shards verify`) before
    /// training on it: a full read of the store. Without it, training still
    /// refuses missing or short shard files, a progress record that
    /// disagrees with `metadata.json`, and NaN or infinite values in the
    /// rows it reads; it cannot see finite values changed on disk.
    pub verify_shards: bool,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum RunStatus {
    /// Trained and evaluated (now or earlier).
    Finished(EvalMetrics),
    /// Its loss stopped being finite; the last checkpoint is kept.
    Diverged(String),
    /// Stopped by [`TrainOptions::stop_after`] at this step.
    Stopped { step: u64 },
}

/// One run of a sweep and how it ended.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub run: RunConfig,
    pub status: RunStatus,
    /// A finished run's [`EvalRecord::warnings`].
    pub warnings: Vec<String>,
}

/// Every run of a sweep, in the order given.
#[derive(Clone, Debug, Default)]
pub struct SweepOutcome {
    pub runs: Vec<RunOutcome>,
    /// Groups of runs that shared batches.
    pub n_groups: usize,
}

impl SweepOutcome {
    /// The runs that finished, with their evaluation.
    pub fn finished(&self) -> impl Iterator<Item = (&RunConfig, &EvalMetrics)> {
        self.runs.iter().filter_map(|o| match &o.status {
            RunStatus::Finished(m) => Some((&o.run, m)),
            _ => None,
        })
    }
}

/// Train every run: runs that read the same examples in the same order
/// train together on one pass over the data; a run with a checkpoint
/// continues from it, a finished or diverged run is reported as it ended.
/// Each run needs its `dir` (see [`crate::assign_ids`]).
pub fn train_sweep(runs: &[RunConfig], opts: &TrainOptions) -> anyhow::Result<SweepOutcome> {
    if runs.is_empty() {
        anyhow::bail!("no runs to train (an empty sweep?)");
    }
    for run in runs {
        run.validate()?;
        if run.dir.as_os_str().is_empty() {
            anyhow::bail!(
                "run {:?} has no directory (see saev_train::assign_ids)",
                run.id
            );
        }
    }
    let groups = group_runs(runs);
    tracing::info!(
        "training {} SAEs in {} group(s) sharing batches",
        runs.len(),
        groups.len()
    );
    let mut outcomes = Vec::new();
    for group in &groups {
        outcomes.extend(train_group(group, opts)?);
    }
    // Report in the order given.
    let order = |o: &RunOutcome| runs.iter().position(|r| r.id == o.run.id);
    outcomes.sort_by_key(order);
    Ok(SweepOutcome {
        runs: outcomes,
        n_groups: groups.len(),
    })
}

/// A run being trained.
struct Live {
    run: RunConfig,
    engine: Option<Engine>,
    metrics: std::fs::File,
    step: u64,
    /// The step of the last checkpoint written (`None` before the first).
    saved: Option<u64>,
}

/// Mean of the first `n` examples of a permutation seeded by `seed`
/// (saev's `b_dec` initialization), as rows.
fn reinit_rows(ds: &Dataset, n: usize, seed: u64) -> anyhow::Result<Vec<f32>> {
    let n = n.min(ds.len() as usize);
    let picks = saev_rng::Pcg64::from_seed(seed).permutation_prefix(ds.len() as usize, n);
    let mut rows = vec![0.0f32; n * ds.d_vit()];
    for (row, &i) in rows.chunks_exact_mut(ds.d_vit()).zip(&picks) {
        ds.get_into(i, row)?;
    }
    Ok(rows)
}

fn check_fits(group: &Group, ds: &Dataset) -> anyhow::Result<()> {
    let first = &group[0];
    for run in group {
        if ds.d_vit() != run.sae.d_vit {
            anyhow::bail!(
                "run {}: sae.d_vit is {} but {} holds {}-dim activations",
                run.id,
                run.sae.d_vit,
                first.data.shard_root.display(),
                ds.d_vit()
            );
        }
    }
    if (first.batch_size as u64) > ds.len() {
        anyhow::bail!(
            "{} holds {} examples, fewer than one batch (sae_batch_size {})",
            first.data.shard_root.display(),
            ds.len(),
            first.batch_size
        );
    }
    Ok(())
}

fn verify_store(root: &std::path::Path) -> anyhow::Result<()> {
    let report = saev_shards::verify_reporting(root)?;
    if !report.ok() {
        anyhow::bail!(
            "{} failed verification, nothing trained:\n  {}",
            report.root.display(),
            report.problems.join("\n  ")
        );
    }
    for w in &report.warnings {
        tracing::warn!("{}: {w}", report.root.display());
    }
    tracing::info!("{}: checksums and values verified", report.root.display());
    Ok(())
}

/// What a run's directory says about it.
enum Found {
    Ended(RunStatus, Vec<String>),
    Resume(Box<Trainer>),
    Fresh,
}

fn inspect(run: &RunConfig) -> anyhow::Result<Found> {
    let diverged = run.dir.join("diverged.txt");
    if diverged.is_file() {
        let why = std::fs::read_to_string(&diverged).unwrap_or_default();
        let status = RunStatus::Diverged(why.trim().to_string());
        return Ok(Found::Ended(status, Vec::new()));
    }
    if let Some(rec) = EvalRecord::read(&run.dir)? {
        return Ok(Found::Ended(RunStatus::Finished(rec.metrics), rec.warnings));
    }
    if run.dir.join(RunRecord::FILE).is_file() {
        let recorded = RunRecord::read(&run.dir)?;
        if recorded != *run {
            anyhow::bail!(
                "{} belongs to a run with other settings than run {}; move it away or resume it by itself",
                run.dir.display(),
                run.id
            );
        }
    }
    saev_io::remove_stale_temps(&run.dir)?;
    let ckpt = run.dir.join(CHECKPOINT);
    if !ckpt.is_file() {
        if run.dir.join("state.safetensors").is_file() {
            anyhow::bail!(
                "{}: a checkpoint of an older saev-rs (sae.safetensors + state.safetensors, whose steps cannot be checked against each other); train this run again in a new directory",
                run.dir.display()
            );
        }
        return Ok(Found::Fresh);
    }
    let t = Trainer::load_checkpoint(&ckpt)?;
    // A kill between the checkpoint's rename and the export's leaves an
    // older sae.safetensors: the checkpoint is the truth.
    let export = run.dir.join("sae.safetensors");
    let exported = match export.is_file() {
        true => Sae::saved_step(&export)?,
        false => None,
    };
    if exported != Some(t.step) {
        tracing::info!(
            "run {}: sae.safetensors rewritten from the step-{} checkpoint",
            run.id,
            t.step
        );
        t.sae.save_at_step(&export, t.step)?;
    }
    Ok(Found::Resume(Box::new(t)))
}

/// Train one group (runs sharing a stream), each run from where it stopped.
fn train_group(group: &Group, opts: &TrainOptions) -> anyhow::Result<Vec<RunOutcome>> {
    let first = &group[0];
    if opts.verify_shards {
        verify_store(&first.data.shard_root)?;
    }
    let ds = Arc::new(Dataset::open(first.data.clone())?);
    check_fits(group, &ds)?;
    let norm = ds.normalization();
    let data_norm = DataNorm {
        act_mean: norm.act_mean.clone(),
        scalar: norm.scalar,
    };
    // b_dec starts at the mean of the first n_reinit_samples examples of a
    // permutation seeded by the group's first SAE seed (computed once; a
    // part of a group keeps the whole group's seed, `reinit_seed`).
    let mut reinit: Option<Vec<f32>> = None;
    let mut outcomes = Vec::new();
    let mut live: Vec<Live> = Vec::new();
    for run in group {
        std::fs::create_dir_all(&run.dir)?;
        let mut trainer = match inspect(run)? {
            Found::Ended(status, warnings) => {
                outcomes.push(RunOutcome {
                    run: run.clone(),
                    status,
                    warnings,
                });
                continue;
            }
            Found::Resume(t) => *t,
            Found::Fresh => {
                let mut sae = Sae::new(run.sae.clone());
                if run.sae.n_reinit_samples > 0 {
                    if reinit.is_none() {
                        let n = first.sae.n_reinit_samples.max(1);
                        let seed = first.reinit_seed.unwrap_or(first.sae.seed);
                        reinit = Some(reinit_rows(&ds, n, seed)?);
                    }
                    sae.init_b_dec(reinit.as_deref().unwrap_or_default());
                }
                RunRecord::write(run)?;
                Trainer::new(sae, run.train.clone())
            }
        };
        trainer.sae.data_norm = Some(data_norm.clone());
        norm.save(&run.dir.join("normalization.safetensors"))?;
        let metrics = truncate(&run.dir.join("metrics.jsonl"), trainer.step)?;
        let saved = (trainer.step > 0).then_some(trainer.step);
        live.push(Live {
            run: run.clone(),
            saved,
            step: trainer.step,
            engine: Some(Engine::new(trainer, opts)),
            metrics,
        });
    }
    // Runs stopped at different steps (some resumed, some new) continue
    // separately, each from its own step of the same stream.
    live.sort_by_key(|l| l.step);
    while !live.is_empty() {
        let start = live[0].step;
        let n_same = live.iter().take_while(|l| l.step == start).count();
        let rest = live.split_off(n_same);
        outcomes.extend(train_from(live, start, &ds, opts)?);
        live = rest;
    }
    Ok(outcomes)
}

/// Save each live run's checkpoint, then its weights as `sae.safetensors`;
/// a run whose state is no longer finite stops as diverged instead, and its
/// last checkpoint stays.
fn checkpoint(live: &mut [Live], step: u64) -> anyhow::Result<()> {
    for l in live.iter_mut() {
        // A GPU run's divergence since its last logged step shows here.
        if let Some(Err(err)) = l.engine.as_ref().map(Engine::losses) {
            let why = format!("{err}; {}", kept(l.saved));
            stop_diverged(l, &why)?;
        }
        if let Some(e) = &l.engine {
            let t = e.host();
            if let Some(name) = t.non_finite() {
                let why = format!(
                    "SAE training diverged by step {step}: {name} holds NaN or infinite values although the loss was finite; {}",
                    kept(l.saved)
                );
                stop_diverged(l, &why)?;
            } else {
                t.save_checkpoint(&l.run.dir.join(CHECKPOINT))?;
                t.sae
                    .save_at_step(&l.run.dir.join("sae.safetensors"), t.step)?;
                l.saved = Some(t.step);
            }
        }
        plot_metrics(&l.run.dir)?;
    }
    Ok(())
}

fn kept(saved: Option<u64>) -> String {
    match saved {
        Some(step) => format!("the checkpoint of step {step} is kept"),
        None => "no checkpoint was written before".to_string(),
    }
}

/// Record why a run stopped and stop stepping it; its files stay as they are.
fn stop_diverged(l: &mut Live, why: &str) -> anyhow::Result<()> {
    tracing::error!("run {}: {why}", l.run.id);
    saev_io::write_atomic(
        &l.run.dir.join("diverged.txt"),
        format!("{why}\n").as_bytes(),
    )?;
    l.engine = None;
    Ok(())
}

/// Train runs that all stopped at step `start`, to the end (or `stop_after`).
fn train_from(
    mut live: Vec<Live>,
    start: u64,
    ds: &Arc<Dataset>,
    opts: &TrainOptions,
) -> anyhow::Result<Vec<RunOutcome>> {
    let first = live[0].run.clone();
    let n_steps = first.n_steps();
    let batch_size = first.batch_size as u64;
    if start > 0 {
        tracing::info!(
            "resuming {} run(s) at step {start} of {n_steps}",
            live.len()
        );
    }
    let shuffle = loader::ShuffleConfig {
        batch_size: first.batch_size,
        seed: first.stream_seed.unwrap_or(first.seed) as u64,
        drop_last: true,
        ..Default::default()
    };
    let progress = saev_io::Progress::new("train", n_steps * batch_size, "examples");
    progress.start_at(start * batch_size);
    let stream = loader::shuffled(Arc::clone(ds), shuffle)
        .take(n_steps as usize)
        .skip(start as usize);
    let mut step = start;
    let workspace = std::cell::RefCell::new(saev_sae::Workspace::default());
    for b in stream {
        let b = b?;
        let batch = Batch::new(&b.acts_BD, &workspace);
        for l in &mut live {
            train_step(l, step, &batch, &first, &progress)?;
        }
        step += 1;
        progress.inc(batch_size);
        if step.is_multiple_of(first.ckpt_every) && step < n_steps {
            checkpoint(&mut live, step)?;
        }
        if opts.stop_after == Some(step) {
            // As if killed here: the last periodic checkpoint stays.
            progress.finish();
            tracing::info!("stopped at step {step} (stop_after)");
            return Ok(stopped(live, step));
        }
    }
    progress.finish();
    checkpoint(&mut live, step)?;
    live.into_iter().map(|l| evaluate(l, ds)).collect()
}

fn train_step(
    l: &mut Live,
    step: u64,
    batch: &Batch,
    first: &RunConfig,
    progress: &saev_io::Progress,
) -> anyhow::Result<()> {
    let Some(e) = &mut l.engine else {
        return Ok(());
    };
    let (lr, sparsity_coeff) = e.schedule();
    let logged = (step + 1).is_multiple_of(l.run.log_every);
    // The GPU reports a non-finite loss when its losses are read, here.
    let result = e.step(batch).and_then(|()| match logged {
        true => e.losses().map(Some),
        false => Ok(None),
    });
    match result {
        Ok(Some(loss)) => {
            let line = MetricsLine {
                step,
                loss: loss.loss,
                mse: loss.mse,
                l1: loss.l1,
                l0: loss.l0,
                aux: loss.aux,
                lr,
                sparsity_coeff,
                n_patches_seen: (step + 1) * first.batch_size as u64,
            };
            writeln!(l.metrics, "{}", serde_json::to_string(&line)?)?;
            if l.run.id == first.id {
                progress.set_message(format!(
                    "loss {:.4} mse {:.4} l0 {:.1}",
                    loss.loss, loss.mse, loss.l0
                ));
            }
        }
        Ok(None) => {}
        Err(err) => diverged(l, &err, progress)?,
    }
    Ok(())
}

fn diverged(
    l: &mut Live,
    err: &saev_sae::NonFiniteLoss,
    progress: &saev_io::Progress,
) -> anyhow::Result<()> {
    progress.println(format!("run {} stopped: {err}", l.run.id));
    let why = format!("{err}; {}", kept(l.saved));
    stop_diverged(l, &why)
}

fn stopped(live: Vec<Live>, step: u64) -> Vec<RunOutcome> {
    live.into_iter()
        .map(|l| RunOutcome {
            status: match l.engine {
                Some(_) => RunStatus::Stopped { step },
                None => RunStatus::Diverged(diverged_why(&l.run)),
            },
            run: l.run,
            warnings: Vec::new(),
        })
        .collect()
}

fn diverged_why(run: &RunConfig) -> String {
    let text = std::fs::read_to_string(run.dir.join("diverged.txt")).unwrap_or_default();
    text.trim().to_string()
}

/// Evaluate a trained run over the whole store and write `eval.json`.
fn evaluate(l: Live, ds: &Arc<Dataset>) -> anyhow::Result<RunOutcome> {
    let Some(e) = &l.engine else {
        let why = diverged_why(&l.run);
        return Ok(RunOutcome {
            run: l.run,
            status: RunStatus::Diverged(why),
            warnings: Vec::new(),
        });
    };
    let t = e.host();
    let mut ev = Evaluator::new(&t.sae);
    for b in loader::ordered(Arc::clone(ds), l.run.batch_size, 2) {
        ev.update(&t.sae, &b?.acts_BD);
    }
    let m = ev.finish();
    tracing::info!(
        "run {}: l0 {:.2}, l1 {:.3}, mse {:.5}, explained variance {:.4}, dead {}, almost dead {}, dense {}",
        l.run.id, m.l0, m.l1, m.mse, m.explained_variance, m.n_dead, m.n_almost_dead, m.n_dense
    );
    let warnings = health_warnings(&m);
    for w in &warnings {
        tracing::warn!("run {}: {w}", l.run.id);
    }
    let rec = EvalRecord {
        format_version: FORMAT_VERSION,
        run_id: l.run.id.clone(),
        metrics: m,
        warnings,
    };
    rec.write(&l.run.dir)?;
    // Finished: the optimizer state is no longer needed (sae.safetensors
    // holds the weights), and it is twice their size.
    std::fs::remove_file(l.run.dir.join(CHECKPOINT))?;
    Ok(RunOutcome {
        run: l.run.clone(),
        status: RunStatus::Finished(rec.metrics),
        warnings: rec.warnings,
    })
}
