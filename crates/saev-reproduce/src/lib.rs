//! The paper's ImageNet -> Flowers-102 classification-control experiment
//! end to end, or, with no data given, the same stages on a generated world
//! (docs/reproduce.md): what `cargo xtask reproduce` runs, as one call.
//!
//! Each stage calls the library that owns it (`saev-activations`,
//! `saev-train`, `saev-visuals`, `saev-control`) and leaves a record in
//! `<out>/stages/`; a stage whose inputs are unchanged is skipped next time,
//! and one whose inputs changed is redone with everything after it (see
//! [`stages`]). The report (`report.md`, `report.html`) shows each stage's
//! numbers, figures and the equivalent `saev` command.
//!
//! ```no_run
//! use saev_reproduce::{run, ReproduceConfig};
//! let cfg = ReproduceConfig::demo("demo".into()).quick();
//! let out = run::<burn::backend::Flex>(&cfg, &burn::backend::flex::FlexDevice)?;
//! println!("report: {}", out.report_html.display());
//! # anyhow::Ok(())
//! ```

mod choose;
mod commands;
pub mod identity;
mod pipeline;
pub mod plan;
mod report;
pub mod stages;

use std::path::PathBuf;

pub use choose::{choose_run, Choice, CHOICE_RULE};
pub use pipeline::{dashboard_config, run, run_until, stage_names};
pub use plan::DiskEstimate;

/// The real run's data and model.
#[derive(Clone, Debug, PartialEq)]
pub struct RealData {
    /// ImageNet-1K (Hugging Face parquet files or class folders).
    pub imagenet: PathBuf,
    /// Flowers-102: `train/ val/ test/` class folders, or the three official files.
    pub flowers: PathBuf,
    /// A name such as `ViT-B-16/openai`, a directory or a weights file.
    pub model_ckpt: String,
    pub model_dir: Option<PathBuf>,
}

/// What to reproduce, and where.
#[derive(Clone, Debug, PartialEq)]
pub struct ReproduceConfig {
    /// `None`: the generated demo.
    pub real: Option<RealData>,
    /// Everything goes here.
    pub out: PathBuf,
    /// Train SAEs on CUDA (needs the `cuda` feature).
    pub cuda: bool,
    /// Which GPU, with `cuda` (`--device cuda:I`): recording and training both use it.
    pub cuda_index: usize,
    /// The demo at its smallest (the end-to-end test's size).
    pub quick: bool,
    /// SAE sweep file (default: the preprint's, or the demo's).
    pub sweep: Option<PathBuf>,
    /// Training examples per SAE (default: saev's 100M; the demo's own).
    pub n_patches: Option<u64>,
    /// Latents firing on at most this fraction of pretraining images are
    /// steering candidates (default 0.01; 0.25 in the 24-class demo world).
    pub max_freq: Option<f32>,
    /// Refuse to start a real run when the disk cannot hold it.
    pub disk_check: bool,
    /// Stop after this stage (one Slurm job per stage); [`run`] then
    /// fails with [`stages::StoppedAfter`], which [`run_until`] turns into `Ok`.
    pub until: Option<String>,
}

impl ReproduceConfig {
    /// The GPU this run uses (`None`: the CPU).
    pub fn gpu(&self) -> Option<usize> {
        self.cuda.then_some(self.cuda_index)
    }

    /// The generated demo, written to `out`.
    pub fn demo(out: PathBuf) -> ReproduceConfig {
        ReproduceConfig {
            real: None,
            out,
            cuda: false,
            cuda_index: 0,
            quick: false,
            sweep: None,
            n_patches: None,
            max_freq: None,
            disk_check: true,
            until: None,
        }
    }

    /// The demo at its smallest.
    pub fn quick(mut self) -> ReproduceConfig {
        self.quick = true;
        self
    }

    pub fn is_demo(&self) -> bool {
        self.real.is_none()
    }
}

/// What a run gives back (everything is also in the report).
#[derive(Clone, Debug)]
pub struct ReproduceOutcome {
    pub out: PathBuf,
    pub report_md: PathBuf,
    pub report_html: PathBuf,
    /// The chosen SAE's run directory.
    pub sae_dir: PathBuf,
    pub probe_test_acc: Option<f64>,
    /// Flip rates at 4x the latents' largest activation.
    pub class_flip_4x: Option<f64>,
    pub random_flip_4x: Option<f64>,
    /// Commands to look at the results.
    pub dashboard: String,
    pub browser: String,
    /// Stages that ran in this call (the rest were skipped).
    pub stages_run: Vec<String>,
    pub seconds: f64,
}
