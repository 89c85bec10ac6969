//! Training sweeps of sparse autoencoders on activation shards: what
//! `saev train` does, as a library.
//!
//! - [`RunConfig`]: one SAE to train (SAE, optimizer, data, batch, length),
//!   written to its run directory as `cfg.json` ([`RunRecord`]).
//! - [`sweep::expand`]: saev's sweep files (TOML, lists expand to a grid)
//!   into run configs.
//! - [`train_sweep`]: trains every run, grouping the runs that read the same
//!   examples in the same order so they share one pass over the data; each
//!   run continues from its checkpoint if it has one and is skipped if it
//!   finished, so calling it again after an interrupt finishes the sweep.
//!
//! ```no_run
//! use saev_train::{sweep, train_sweep, RunConfig, TrainOptions};
//! let mut base = RunConfig::default();
//! base.data.shard_root = "shards/ac89246f".into();
//! let runs = sweep::expand_file("configs/preprint/classification.toml".as_ref(), &base.into())?;
//! let runs = saev_train::assign_ids(runs, "checkpoints".as_ref(), saev_train::IdScheme::FromConfig);
//! let outcome = train_sweep(&runs, &TrainOptions::default())?;
//! let best = outcome.finished().max_by(|a, b| {
//!     a.1.explained_variance.total_cmp(&b.1.explained_variance)
//! });
//! # anyhow::Ok(())
//! ```
//!
//! Each run directory `<ckpt-path>/<run-id>/` holds `cfg.json`,
//! `sae.safetensors` (weights and data normalization, with the step they
//! are from), `normalization.safetensors`, `metrics.jsonl`, `loss.png`;
//! while training, `checkpoint.safetensors` ([`CHECKPOINT`]: weights, Adam's
//! moments and the step in one file, what resuming reads); once finished,
//! `eval.json` ([`EvalRecord`], with [`health_warnings`]); if it diverged,
//! `diverged.txt` saying when and why (its last finite checkpoint kept).
//!
//! A checkpoint is never written with a NaN or infinity in the weights or
//! the optimizer state: such a run stops as diverged instead.

mod engine;
mod group;
mod metrics;
mod records;
mod run;
pub mod sweep;
mod train;

pub use group::{group_runs, part, Group};
pub use metrics::{plot_metrics, MetricsLine};
pub use records::{health_warnings, EvalRecord, RunRecord, FORMAT_VERSION};
pub use run::{assign_ids, IdScheme, RunConfig};
pub use train::{train_sweep, RunOutcome, RunStatus, SweepOutcome, TrainOptions, CHECKPOINT};
