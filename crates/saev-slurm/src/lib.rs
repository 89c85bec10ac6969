//! Slurm for saev-rs: a command that works in parts (`--part I/N`) becomes
//! one array job whose task `I` runs that command with `--part I/N`, through
//! `sbatch`, the scheduler saev's users already run (no scheduler of our own).
//!
//! - [`SlurmConfig`]: the `--slurm.*` flags (parts, partition, account,
//!   time, GPUs, CPUs, memory, extra sbatch options, wait, dry run);
//! - [`submit`]: writes the batch script to `<log_dir>/<name>.sbatch` (to
//!   read or edit) and submits it, unless a dry run; logs go to
//!   `<log_dir>/<job>_<task>.{out,err}`;
//! - [`wait`]: polls `squeue` until the job has left the queue, then reads
//!   each task's exit status (`<job>_<task>.exit`, written by the script
//!   itself, so it works without Slurm accounting).
//!
//! A failed or cancelled task is redone by submitting the same command
//! again: parts that finished have nothing left to do, the others resume.

mod script;
mod submit;

pub use script::{parts, render, shell_quote, JobSpec};
pub use submit::{submit, wait, wait_all_ok, Submitted, TaskResult};

use serde::{Deserialize, Serialize};

/// How to submit: saev-rs's `--slurm.*` flags.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SlurmConfig {
    /// Array tasks, each one part of the work.
    pub parts: usize,
    pub partition: Option<String>,
    pub account: Option<String>,
    /// `--time` (e.g. `04:00:00`).
    pub time: Option<String>,
    pub gpus_per_task: Option<u32>,
    pub cpus_per_task: Option<u32>,
    /// `--mem` (e.g. `64G`).
    pub mem: Option<String>,
    /// More sbatch options, split on whitespace (`--qos=high --constraint=a100`).
    pub extra: Vec<String>,
    /// Wait for the job, then fail unless every task succeeded.
    pub wait: bool,
    /// Write the batch script, submit nothing.
    pub dry_run: bool,
}
