//! saev's sweep files: TOML whose lists expand to a grid of runs
//! (`saev_sae::sweep::grid` gives the points and their seeds), with saev's
//! keys (`lr`, `sae.exp_factor`, `data.scale_norm`, ...) and ours
//! (`sae.activation`, `sae.top_k`, `objective`, ...).

use std::path::Path;

use saev_sae::{Activation, AuxK, Matryoshka};
use saev_shards::Scale;
use toml::Value;

use crate::run::RunConfig;

/// Settings that decide each other's defaults (the L1 coefficient and AuxK
/// depend on the activation), applied once a sweep point has set them all.
#[derive(Clone, Debug, PartialEq)]
pub struct Knobs {
    /// `relu`, `topk` or `batch-topk`.
    pub activation: String,
    pub top_k: usize,
    pub momentum: f32,
    /// L1 coefficient (default 4e-4 for relu, 0 for topk and batch-topk, as saev).
    pub sparsity_coeff: Option<f32>,
    /// AuxK loss (default: on for topk and batch-topk, off for relu).
    pub aux: Option<bool>,
    pub aux_k: AuxK,
    /// `vanilla` or `matryoshka`.
    pub objective: String,
    pub n_prefixes: usize,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            activation: "relu".into(),
            top_k: 32,
            momentum: 0.1,
            sparsity_coeff: None,
            aux: None,
            aux_k: AuxK {
                k_aux: 512,
                alpha: 1.0 / 32.0,
                dead_after: 10_000_000,
            },
            objective: "vanilla".into(),
            n_prefixes: 10,
        }
    }
}

impl Knobs {
    /// Set the run's activation, L1 coefficient, AuxK and objective.
    pub fn apply(&self, run: &mut RunConfig) {
        run.sae.activation = match self.activation.as_str() {
            "topk" => Activation::TopK { top_k: self.top_k },
            "batch-topk" => Activation::BatchTopK {
                top_k: self.top_k,
                momentum: self.momentum,
            },
            _ => Activation::Relu,
        };
        let relu = run.sae.activation == Activation::Relu;
        run.sae.sparsity_coeff = self.sparsity_coeff.unwrap_or(if relu { 4e-4 } else { 0.0 });
        run.train.aux = self.aux.unwrap_or(!relu).then_some(self.aux_k);
        run.train.matryoshka = (self.objective == "matryoshka").then_some(Matryoshka {
            n_prefixes: self.n_prefixes,
        });
    }
}

/// `relu`, `topk`, `batch-topk` (saev's newer spellings `top-k`, `batch-top-k` too).
pub fn activation_kind(s: &str) -> Result<String, String> {
    match s {
        "relu" => Ok("relu".into()),
        "topk" | "top-k" => Ok("topk".into()),
        "batch-topk" | "batch-top-k" => Ok("batch-topk".into()),
        _ => Err(format!(
            "unknown activation {s:?}: use relu, topk or batch-topk"
        )),
    }
}

/// The settings every point of a sweep starts from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SweepDefaults {
    pub run: RunConfig,
    pub knobs: Knobs,
}

impl From<RunConfig> for SweepDefaults {
    fn from(run: RunConfig) -> Self {
        SweepDefaults {
            run,
            knobs: Knobs::default(),
        }
    }
}

/// The one run of the defaults alone (no sweep file).
pub fn single(defaults: &SweepDefaults) -> RunConfig {
    let mut run = defaults.run.clone();
    defaults.knobs.apply(&mut run);
    run
}

/// Read and expand a sweep file; errors name it.
pub fn expand_file(path: &Path, defaults: &SweepDefaults) -> anyhow::Result<Vec<RunConfig>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    expand(&text, path, defaults)
}

/// Expand sweep `text` (read from `origin`, named in errors) into runs.
pub fn expand(
    text: &str,
    origin: &Path,
    defaults: &SweepDefaults,
) -> anyhow::Result<Vec<RunConfig>> {
    let at = |e: String| anyhow::anyhow!("{}: {e}", origin.display());
    let base = &defaults.run;
    let points = saev_sae::sweep::grid(text, base.seed, base.sae.seed as i64).map_err(at)?;
    if points.is_empty() {
        anyhow::bail!(
            "{}: the sweep has no points (an empty list?)",
            origin.display()
        );
    }
    let mut runs = Vec::new();
    for p in points {
        let mut run = base.clone();
        let mut knobs = defaults.knobs.clone();
        run.seed = p.seed;
        run.sae.seed = p.sae_seed as u64;
        for (key, v) in &p.values {
            set(&mut run, &mut knobs, key, v).map_err(at)?;
        }
        knobs.apply(&mut run);
        runs.push(run);
    }
    Ok(runs)
}

fn float(v: &Value) -> Option<f64> {
    v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
}

fn uint(v: &Value) -> Option<u64> {
    v.as_integer().and_then(|i| u64::try_from(i).ok())
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(String::from)
}

fn scale(v: &Value) -> Option<Scale> {
    v.as_bool()
        .map(|b| if b { Scale::Estimate } else { Scale::Off })
        .or_else(|| v.as_str().map(|s| Scale::File(s.into())))
}

/// One top-level key.
fn set(run: &mut RunConfig, knobs: &mut Knobs, key: &str, v: &Value) -> Result<(), String> {
    let bad = || format!("bad value for {key}: {v}");
    match key {
        "lr" => run.train.lr = float(v).ok_or_else(bad)? as f32,
        "n_lr_warmup" => run.train.n_lr_warmup = uint(v).ok_or_else(bad)?,
        "n_sparsity_warmup" => run.train.n_sparsity_warmup = uint(v).ok_or_else(bad)?,
        "n_patches" => run.n_patches = uint(v).ok_or_else(bad)?,
        "sae_batch_size" => run.batch_size = uint(v).ok_or_else(bad)? as usize,
        "tag" => run.tag = text(v).ok_or_else(bad)?,
        "objective" => knobs.objective = text(v).ok_or_else(bad)?,
        "n_prefixes" => knobs.n_prefixes = uint(v).ok_or_else(bad)? as usize,
        // Set per point by the grid, or not about the SAE.
        "seed" | "n_workers" | "track" | "device" | "log_every" | "ckpt_path" => {}
        "sae" | "data" => {
            let table = v.as_table().ok_or_else(bad)?;
            for (k, v) in table {
                if key == "sae" {
                    set_sae(run, knobs, k, v)?;
                } else {
                    set_data(run, k, v)?;
                }
            }
        }
        _ => return Err(format!("unsupported setting {key}")),
    }
    Ok(())
}

fn set_sae(run: &mut RunConfig, knobs: &mut Knobs, k: &str, v: &Value) -> Result<(), String> {
    let bad = || format!("bad value for sae.{k}: {v}");
    let sae = &mut run.sae;
    match k {
        "sparsity_coeff" => knobs.sparsity_coeff = Some(float(v).ok_or_else(bad)? as f32),
        "exp_factor" => sae.exp_factor = uint(v).ok_or_else(bad)? as usize,
        "d_vit" => sae.d_vit = uint(v).ok_or_else(bad)? as usize,
        "n_reinit_samples" => sae.n_reinit_samples = uint(v).ok_or_else(bad)? as usize,
        "normalize_w_dec" => sae.normalize_w_dec = v.as_bool().ok_or_else(bad)?,
        "remove_parallel_grads" => sae.remove_parallel_grads = v.as_bool().ok_or_else(bad)?,
        "activation" => knobs.activation = activation_kind(v.as_str().ok_or_else(bad)?)?,
        "top_k" => knobs.top_k = uint(v).ok_or_else(bad)? as usize,
        "momentum" => knobs.momentum = float(v).ok_or_else(bad)? as f32,
        "aux" => knobs.aux = Some(v.as_bool().ok_or_else(bad)?),
        "k_aux" => knobs.aux_k.k_aux = uint(v).ok_or_else(bad)? as usize,
        "aux_alpha" => knobs.aux_k.alpha = float(v).ok_or_else(bad)? as f32,
        "dead_after" => knobs.aux_k.dead_after = uint(v).ok_or_else(bad)?,
        "ghost_grads" if v.as_bool() == Some(false) => {}
        "seed" => {}
        _ => return Err(format!("unsupported setting sae.{k}")),
    }
    Ok(())
}

fn set_data(run: &mut RunConfig, k: &str, v: &Value) -> Result<(), String> {
    let bad = || format!("bad value for data.{k}: {v}");
    let d = &mut run.data;
    match k {
        "scale_mean" => d.scale_mean = scale(v).ok_or_else(bad)?,
        "scale_norm" => d.scale_norm = scale(v).ok_or_else(bad)?,
        "clamp" => d.clamp = float(v).ok_or_else(bad)? as f32,
        "n_random_samples" => d.n_random_samples = uint(v).ok_or_else(bad)? as usize,
        "patches" => d.patches = v.as_str().ok_or_else(bad)?.parse()?,
        "layer" => {
            let t = v.as_integer().map(|i| i.to_string()).or_else(|| text(v));
            d.layer = t.ok_or_else(bad)?.parse()?;
        }
        "shard_root" => d.shard_root = v.as_str().ok_or_else(bad)?.into(),
        _ => return Err(format!("unsupported setting data.{k}")),
    }
    Ok(())
}
