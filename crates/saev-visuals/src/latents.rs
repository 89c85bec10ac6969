//! `latents.json`: one row per latent for the feature browser (frequency,
//! mean and largest value, the most common labels among its top images).

use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::output::Visuals;
use crate::Error;

/// Version of `latents.json`.
pub const FORMAT_VERSION: u32 = 1;

/// One latent's row. Values are `None` where the latent never fired.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatentRow {
    pub latent: usize,
    pub freq: Option<f32>,
    pub mean: Option<f32>,
    pub max: Option<f32>,
    /// Up to three `label (count)` among its top 32 images.
    pub top_labels: Vec<String>,
    /// Whether `neurons/<latent>/` holds its pictures.
    pub pictures: bool,
}

/// `latents.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatentTable {
    pub format_version: u32,
    pub latents: Vec<LatentRow>,
}

impl LatentTable {
    pub const FILE: &'static str = "latents.json";

    /// The table of `v` (saved under `root`), labels from `label`.
    pub fn compute(
        v: &Visuals,
        root: &Path,
        label: &(dyn Fn(i64) -> String + Sync),
    ) -> LatentTable {
        let finite = |x: f32| x.is_finite().then_some(x);
        let latents = (0..v.summary.d_sae)
            .into_par_iter()
            .map(|s| LatentRow {
                latent: s,
                freq: finite(v.sparsity_S[s]),
                mean: finite(v.mean_values_S[s]),
                max: finite(v.max_values_S[s]),
                top_labels: top_labels(v, s, label),
                pictures: root
                    .join("neurons")
                    .join(s.to_string())
                    .join("metadata.json")
                    .is_file(),
            })
            .collect();
        LatentTable {
            format_version: FORMAT_VERSION,
            latents,
        }
    }

    pub fn write(&self, root: &Path) -> Result<(), Error> {
        let path = root.join(Self::FILE);
        let text =
            serde_json::to_string(self).map_err(|e| Error::File(path.clone(), e.to_string()))?;
        saev_io::write_atomic(&path, text.as_bytes()).map_err(|e| Error::File(path, e.to_string()))
    }

    pub fn read(root: &Path) -> Result<LatentTable, Error> {
        let path = root.join(Self::FILE);
        let bytes = std::fs::read(&path).map_err(|e| Error::File(path.clone(), e.to_string()))?;
        let t: LatentTable =
            serde_json::from_slice(&bytes).map_err(|e| Error::File(path.clone(), e.to_string()))?;
        if t.format_version != FORMAT_VERSION {
            let why = format!(
                "format version {}, expected {FORMAT_VERSION}",
                t.format_version
            );
            return Err(Error::File(path, why));
        }
        Ok(t)
    }
}

/// The three most common labels among a latent's top 32 images.
fn top_labels(v: &Visuals, s: usize, label: &(dyn Fn(i64) -> String + Sync)) -> Vec<String> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for (img, _) in v.top(s).into_iter().take(32) {
        let l = label(img);
        match counts.iter_mut().find(|c| c.0 == l) {
            Some(c) => c.1 += 1,
            None => counts.push((l, 1)),
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    counts
        .iter()
        .take(3)
        .map(|c| format!("{} ({})", c.0, c.1))
        .collect()
}
