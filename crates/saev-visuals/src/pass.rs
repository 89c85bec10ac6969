//! The pass over the shards: every example through the SAE, in order, once.
//!
//! Three ways to rank images for a latent (saev's `--sort-by`):
//! - `cls`: the latent's value on the image's [CLS] token (a [CLS] view);
//! - `img`: the latent summed over the image's patches;
//! - `patch`: the latent's largest value over the image's patches; one entry
//!   per image (saev's patch mode could list an image twice).
//!
//! Patch modes keep, with every top image, the latent's value on each of its
//! patches (for heatmaps).

use std::sync::Arc;

use saev_sae::Sae;
use saev_shards::{loader, Dataset, Patches};

use crate::stats::LatentStats;
use crate::topk::TopK;
use crate::Error;

/// How images are ranked for a latent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortBy {
    Cls,
    Img,
    Patch,
}

impl std::str::FromStr for SortBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cls" => Ok(SortBy::Cls),
            "img" => Ok(SortBy::Img),
            "patch" => Ok(SortBy::Patch),
            _ => Err(format!("unknown sort {s:?}: use cls, img or patch")),
        }
    }
}

impl std::fmt::Display for SortBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SortBy::Cls => "cls",
            SortBy::Img => "img",
            SortBy::Patch => "patch",
        })
    }
}

/// Settings of the pass.
#[derive(Clone, Debug)]
pub struct PassConfig {
    pub sort_by: SortBy,
    /// Images kept per latent.
    pub top_k: usize,
    /// Examples per SAE batch (rounded down to whole images).
    pub batch_size: usize,
    /// Percentile tracked by the online estimator.
    pub percentile: f32,
    /// Latents `0..n` whose every value is kept.
    pub n_distributions: usize,
}

impl Default for PassConfig {
    /// saev's defaults.
    fn default() -> Self {
        Self {
            sort_by: SortBy::Patch,
            top_k: 128,
            batch_size: 16 * 1024,
            percentile: 99.0,
            n_distributions: 25,
        }
    }
}

/// What the pass found.
#[derive(Clone, Debug)]
pub struct PassResult {
    pub sort_by: SortBy,
    pub top: TopK,
    pub stats: LatentStats,
    /// Images seen and patches per image (1 for `cls`).
    pub n_imgs: u64,
    pub n_patches: usize,
    /// `[n_distributions, n_imgs]`: each image's ranking value for the
    /// first latents (for `cls`, the [CLS] values: every example).
    pub distributions: Vec<f32>,
    pub n_distributions: usize,
    /// Seconds in the SAE encoder, and in the whole pass.
    pub encode_seconds: f64,
    pub seconds: f64,
}

/// Run `sae` over `ds` in order. `on_batch(examples_done)` reports progress.
pub fn run(
    sae: &Sae,
    ds: Arc<Dataset>,
    cfg: &PassConfig,
    mut on_batch: impl FnMut(u64),
) -> Result<PassResult, Error> {
    let s = sae.d_sae();
    if ds.d_vit() != sae.d_vit() {
        return Err(Error::Config(format!(
            "the SAE reads {}-dim activations but the shards hold {}-dim ones",
            sae.d_vit(),
            ds.d_vit()
        )));
    }
    let view = *ds.view();
    let p = match (cfg.sort_by, view.patches) {
        (SortBy::Cls, Patches::Cls) => 1,
        (SortBy::Cls, other) => {
            return Err(Error::Config(format!(
                "--sort-by cls needs --data.patches cls (got {other})"
            )))
        }
        (_, Patches::Patches) => ds.store().metadata().n_patches_per_img as usize,
        (mode, other) => {
            return Err(Error::Config(format!(
                "--sort-by {mode} needs --data.patches patches (got {other})"
            )))
        }
    };
    let n_examples = ds.len();
    let n_imgs = n_examples / p as u64;
    let batch = (cfg.batch_size / p).max(1) * p;
    let payload = if cfg.sort_by == SortBy::Cls { 0 } else { p };
    let mut top = TopK::new(s, cfg.top_k, payload);
    let mut stats = LatentStats::new(s, cfg.percentile, n_examples);
    let m_dist = cfg.n_distributions.min(s);
    let mut distributions = vec![0.0f32; m_dist * n_imgs as usize];
    let mut done = 0u64;
    let start = std::time::Instant::now();
    let mut encode_seconds = 0.0;
    for b in loader::ordered(Arc::clone(&ds), batch, 2) {
        let b = b?;
        let t = std::time::Instant::now();
        let acts_BS = sae.encode(&b.acts_BD);
        encode_seconds += t.elapsed().as_secs_f64();
        stats.update(&acts_BS);
        let m = b.len() / p;
        let images: Vec<i64> = (0..m).map(|i| b.image_i[i * p]).collect();
        if p > 1 && (0..b.len()).any(|r| b.image_i[r] != images[r / p]) {
            return Err(Error::Config(
                "patch rows are not grouped by image: is this store complete?".into(),
            ));
        }
        let rank_MS: std::borrow::Cow<[f32]> = match cfg.sort_by {
            SortBy::Cls => std::borrow::Cow::Borrowed(&acts_BS),
            mode => {
                let mut r = vec![
                    if mode == SortBy::Img {
                        0.0
                    } else {
                        f32::NEG_INFINITY
                    };
                    m * s
                ];
                for (row_i, row) in acts_BS.chunks_exact(s).enumerate() {
                    let out = &mut r[(row_i / p) * s..(row_i / p + 1) * s];
                    if mode == SortBy::Img {
                        out.iter_mut().zip(row).for_each(|(o, v)| *o += v);
                    } else {
                        out.iter_mut().zip(row).for_each(|(o, &v)| *o = o.max(v));
                    }
                }
                std::borrow::Cow::Owned(r)
            }
        };
        top.update(&rank_MS, &images, |mi, lat, out| {
            for (j, o) in out.iter_mut().enumerate() {
                *o = acts_BS[(mi * p + j) * s + lat];
            }
        });
        for (mi, &img) in images.iter().enumerate() {
            for lat in 0..m_dist {
                distributions[lat * n_imgs as usize + img as usize] = rank_MS[mi * s + lat];
            }
        }
        done += b.len() as u64;
        on_batch(done);
    }
    Ok(PassResult {
        sort_by: cfg.sort_by,
        top,
        stats,
        n_imgs,
        n_patches: p,
        distributions,
        n_distributions: m_dist,
        encode_seconds,
        seconds: start.elapsed().as_secs_f64(),
    })
}
