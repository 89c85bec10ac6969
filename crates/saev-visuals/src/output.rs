//! What `saev visuals` writes under `<dump-to>/sort_by_<mode>/`:
//!
//! - `topk.safetensors` (S latents, K images per latent, P patches per image,
//!   M distributions, N images):
//!   - `top_values [S, K]` f32: the ranking value of each top image (NaN pads
//!     lists shorter than K), `top_img_i [S, K]` i64 (dataset image index,
//!     -1 pads), and for `img`/`patch`, `top_patch_values [S, K, P]`: the
//!     latent on each patch of those images (row `p / 14`, column `p % 14`
//!     for ViT-B/16);
//!   - `sparsity [S]` (firing frequency over examples, saev's name),
//!     `mean_values [S]` (mean value when firing; NaN if never),
//!     `max_values [S]` (largest value seen), `percentiles [S]` (saev's
//!     online estimate of the `percentile`th percentile);
//!   - `distributions [M, N]`: each image's ranking value for latents `0..M`;
//!   - `log_hist [S, 72]` i64: per latent, counts of log10 of its positive
//!     values over all examples, bins of 1/8 decade from 1e-6 (ends open).
//! - `summary.json`: the settings and sizes above, the checkpoint and shards.
//!
//! Written through temp files and renames; `Visuals::load` reads them back,
//! which is how a second run skips the pass.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};

use crate::pass::{PassResult, SortBy};
use crate::Error;

/// `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub sort_by: SortBy,
    pub top_k: usize,
    pub d_sae: usize,
    pub n_imgs: u64,
    pub n_examples: u64,
    pub n_patches: usize,
    pub percentile: f32,
    pub n_distributions: usize,
    pub ckpt: PathBuf,
    pub shard_root: PathBuf,
    /// Hash of the checkpoint, the store and the settings the pass was made
    /// from ([`crate::run::pass_fingerprint`]); a pass is reused only when it matches.
    #[serde(default)]
    pub fingerprint: String,
}

/// The pass's results as arrays, as saved.
#[derive(Clone, Debug, PartialEq)]
pub struct Visuals {
    pub summary: Summary,
    pub top_values_SK: Vec<f32>,
    pub top_img_i_SK: Vec<i64>,
    pub top_patch_values_SKP: Vec<f32>,
    pub sparsity_S: Vec<f32>,
    pub mean_values_S: Vec<f32>,
    pub max_values_S: Vec<f32>,
    pub percentiles_S: Vec<f32>,
    pub distributions_MN: Vec<f32>,
    /// `[S, HIST_BINS]` counts of log10 values (see [`crate::stats`]).
    pub log_hist_SH: Vec<i64>,
}

fn err(path: &Path, why: impl ToString) -> Error {
    Error::File(path.to_path_buf(), why.to_string())
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect()
}

impl Visuals {
    /// Flatten a pass's results (`ckpt` and `shard_root` are recorded).
    pub fn from_pass(r: &PassResult, ckpt: &Path, shard_root: &Path, percentile: f32) -> Self {
        let (s, k) = (r.top.latents.len(), r.top.k);
        let p = r.top.payload_len;
        let mut top_values_SK = vec![f32::NAN; s * k];
        let mut top_img_i_SK = vec![-1i64; s * k];
        let mut top_patch_values_SKP = vec![f32::NAN; s * k * p];
        for (lat, e) in r.top.latents.iter().enumerate() {
            let n = e.values.len();
            top_values_SK[lat * k..lat * k + n].copy_from_slice(&e.values);
            top_img_i_SK[lat * k..lat * k + n].copy_from_slice(&e.images);
            top_patch_values_SKP[lat * k * p..lat * k * p + n * p].copy_from_slice(&e.payload);
        }
        Self {
            summary: Summary {
                sort_by: r.sort_by,
                top_k: k,
                d_sae: s,
                n_imgs: r.n_imgs,
                n_examples: r.stats.n,
                n_patches: r.n_patches,
                percentile,
                n_distributions: r.n_distributions,
                ckpt: ckpt.to_path_buf(),
                shard_root: shard_root.to_path_buf(),
                fingerprint: String::new(),
            },
            top_values_SK,
            top_img_i_SK,
            top_patch_values_SKP,
            sparsity_S: r.stats.frequency(),
            mean_values_S: r.stats.mean_value(),
            max_values_S: r.stats.max_S.clone(),
            percentiles_S: r.stats.percentiles(),
            distributions_MN: r.distributions.clone(),
            log_hist_SH: r.stats.log_hist_SH.iter().map(|&c| c as i64).collect(),
        }
    }

    /// Directory of a mode's results.
    pub fn root(dump_to: &Path, sort_by: SortBy) -> PathBuf {
        dump_to.join(format!("sort_by_{sort_by}"))
    }

    /// Write `topk.safetensors` and `summary.json` into `root`.
    pub fn save(&self, root: &Path) -> Result<(), Error> {
        std::fs::create_dir_all(root).map_err(|e| err(root, e))?;
        let sm = &self.summary;
        let (s, k, p) = (sm.d_sae, sm.top_k, sm.n_patches);
        let mut tensors = vec![
            ("top_values", f32v(&self.top_values_SK, vec![s, k])),
            (
                "top_img_i",
                TensorView::new(
                    Dtype::I64,
                    vec![s, k],
                    bytemuck::cast_slice(&self.top_img_i_SK),
                )
                .expect("shape"),
            ),
            ("sparsity", f32v(&self.sparsity_S, vec![s])),
            ("mean_values", f32v(&self.mean_values_S, vec![s])),
            ("max_values", f32v(&self.max_values_S, vec![s])),
            ("percentiles", f32v(&self.percentiles_S, vec![s])),
            (
                "distributions",
                f32v(
                    &self.distributions_MN,
                    vec![sm.n_distributions, sm.n_imgs as usize],
                ),
            ),
        ];
        tensors.push((
            "log_hist",
            TensorView::new(
                Dtype::I64,
                vec![s, crate::stats::HIST_BINS],
                bytemuck::cast_slice(&self.log_hist_SH),
            )
            .expect("shape"),
        ));
        if sm.sort_by != SortBy::Cls {
            tensors.push((
                "top_patch_values",
                f32v(&self.top_patch_values_SKP, vec![s, k, p]),
            ));
        }
        let bytes = safetensors::serialize(tensors, &None::<HashMap<String, String>>)
            .map_err(|e| err(root, e))?;
        write_atomic(&root.join("topk.safetensors"), &bytes)?;
        let json = serde_json::to_string_pretty(&self.summary).expect("summary serializes");
        write_atomic(&root.join("summary.json"), json.as_bytes())
    }

    /// Read what [`Visuals::save`] wrote (`None` if the pass has not run).
    pub fn load(root: &Path) -> Result<Option<Self>, Error> {
        let (sj, st) = (root.join("summary.json"), root.join("topk.safetensors"));
        if !sj.is_file() || !st.is_file() {
            return Ok(None);
        }
        let summary: Summary =
            serde_json::from_slice(&std::fs::read(&sj).map_err(|e| err(&sj, e))?)
                .map_err(|e| err(&sj, e))?;
        let bytes = std::fs::read(&st).map_err(|e| err(&st, e))?;
        let t = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| err(&st, e))?;
        let get = |name: &str| -> Result<Vec<u8>, Error> {
            Ok(t.tensor(name)
                .map_err(|_| err(&st, format!("missing tensor {name}")))?
                .data()
                .to_vec())
        };
        let top_patch_values_SKP = if summary.sort_by == SortBy::Cls {
            Vec::new()
        } else {
            f32s(&get("top_patch_values")?)
        };
        let v = Self {
            top_values_SK: f32s(&get("top_values")?),
            top_img_i_SK: i64s(&get("top_img_i")?),
            log_hist_SH: i64s(&get("log_hist")?),
            top_patch_values_SKP,
            sparsity_S: f32s(&get("sparsity")?),
            mean_values_S: f32s(&get("mean_values")?),
            max_values_S: f32s(&get("max_values")?),
            percentiles_S: f32s(&get("percentiles")?),
            distributions_MN: f32s(&get("distributions")?),
            summary,
        };
        if v.top_values_SK.len() != v.summary.d_sae * v.summary.top_k {
            return Err(err(&st, "top_values does not match summary.json"));
        }
        Ok(Some(v))
    }

    /// Latent `s`'s top images and values (padding dropped).
    pub fn top(&self, s: usize) -> Vec<(i64, f32)> {
        let k = self.summary.top_k;
        (0..k)
            .map(|j| (self.top_img_i_SK[s * k + j], self.top_values_SK[s * k + j]))
            .filter(|&(i, _)| i >= 0)
            .collect()
    }

    /// Patch values of latent `s`'s `j`th top image (empty for `cls`).
    pub fn patches(&self, s: usize, j: usize) -> &[f32] {
        let (k, p) = (self.summary.top_k, self.summary.n_patches);
        if self.top_patch_values_SKP.is_empty() {
            return &[];
        }
        &self.top_patch_values_SKP[(s * k + j) * p..(s * k + j + 1) * p]
    }
}

fn i64s(b: &[u8]) -> Vec<i64> {
    b.chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

fn f32v(v: &[f32], shape: Vec<usize>) -> TensorView<'_> {
    TensorView::new(Dtype::F32, shape, bytemuck::cast_slice(v)).expect("shape matches data")
}

/// Write `bytes` to `path` atomically (the workspace's [`saev_io::write_atomic`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    saev_io::write_atomic(path, bytes).map_err(|e| err(path, e))
}
