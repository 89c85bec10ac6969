//! What a run directory records, as types that read back.

use std::path::Path;

use anyhow::Context;
use saev_sae::eval::EvalMetrics;
use serde::{Deserialize, Serialize};

use crate::run::RunConfig;

/// Version of the records this crate writes (`cfg.json`, `eval.json`).
pub const FORMAT_VERSION: u32 = 1;

/// `cfg.json`: the run's full config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub format_version: u32,
    #[serde(flatten)]
    pub run: RunConfig,
}

/// `eval.json`: the evaluation over the whole store after training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    pub format_version: u32,
    pub run_id: String,
    #[serde(flatten)]
    pub metrics: EvalMetrics,
    /// What looks wrong with the trained SAE although its loss stayed
    /// finite (see [`health_warnings`]); empty for a healthy run.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// A run can finish with a finite loss and still be useless (a learning
/// rate that blew the weights up: every latent dead, a loss of 1e12): say so.
pub fn health_warnings(m: &EvalMetrics) -> Vec<String> {
    let mut out = Vec::new();
    if !m.mse.is_finite() {
        out.push(format!(
            "mse is {}: the reconstructions are not finite",
            m.mse
        ));
    } else if m.explained_variance < 0.0 {
        out.push(format!(
            "explained variance is {:.4e}: the SAE reconstructs worse than the data mean (undertrained, or a learning rate too high?)",
            m.explained_variance
        ));
    }
    if !m.freqs.is_empty() && m.n_dead == m.freqs.len() {
        out.push(format!("all {} latents are dead (never fire)", m.n_dead));
    }
    out
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    let v: T = serde_json::from_slice(&bytes).with_context(|| format!("{}", path.display()))?;
    Ok(v)
}

fn check_version(path: &Path, v: u32) -> anyhow::Result<()> {
    if v != FORMAT_VERSION {
        anyhow::bail!(
            "{}: format version {v}, this saev-rs reads version {FORMAT_VERSION}",
            path.display()
        );
    }
    Ok(())
}

impl RunRecord {
    pub const FILE: &'static str = "cfg.json";

    /// Read `dir/cfg.json`; the run's `dir` is set to `dir`.
    pub fn read(dir: &Path) -> anyhow::Result<RunConfig> {
        let path = dir.join(Self::FILE);
        if !path.is_file() {
            anyhow::bail!(
                "{}: no such file (is this a run directory?)",
                path.display()
            );
        }
        let rec: RunRecord = read_json(&path)?;
        check_version(&path, rec.format_version)?;
        let mut run = rec.run;
        run.dir = dir.to_path_buf();
        Ok(run)
    }

    pub fn write(run: &RunConfig) -> anyhow::Result<()> {
        let rec = RunRecord {
            format_version: FORMAT_VERSION,
            run: run.clone(),
        };
        let text = serde_json::to_string_pretty(&rec)?;
        saev_io::write_atomic(&run.dir.join(Self::FILE), text.as_bytes())?;
        Ok(())
    }
}

impl EvalRecord {
    pub const FILE: &'static str = "eval.json";

    /// Read `dir/eval.json`, if the run finished.
    pub fn read(dir: &Path) -> anyhow::Result<Option<EvalRecord>> {
        let path = dir.join(Self::FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let rec: EvalRecord = read_json(&path)?;
        check_version(&path, rec.format_version)?;
        Ok(Some(rec))
    }

    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string(self)?;
        saev_io::write_atomic(&dir.join(Self::FILE), text.as_bytes())?;
        Ok(())
    }
}
