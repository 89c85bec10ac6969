//! saev's `activations.Dataset`: a view of a store plus clamping and normalization.
//!
//! Every example is `(clamp(x, -c, c) - act_mean) / scalar`, computed in f32
//! in that order, as saev does it with torch. `act_mean` and `scalar` come
//! from [`DataLoad::scale_mean`] and [`DataLoad::scale_norm`]; see
//! [`crate::normalize`] for how they are estimated.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::normalize::{self, Normalization, Scale};
use crate::store::Store;
use crate::view::{Layer, LayerPick, Patches, Source, TokenPick, View};

/// saev's `DataLoad` config: which store, which view, which normalization.
/// Serializes with saev's spellings (`"cls"`, `"-2"`, `true`/`false`/path).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DataLoad {
    /// The store directory (holding `metadata.json`).
    pub shard_root: PathBuf,
    pub patches: Patches,
    pub layer: Layer,
    /// Values are clamped to `[-clamp, clamp]` before normalizing.
    pub clamp: f32,
    /// Examples used to estimate the mean and norm.
    pub n_random_samples: usize,
    pub scale_mean: Scale,
    pub scale_norm: Scale,
}

impl Default for DataLoad {
    /// saev's defaults.
    fn default() -> Self {
        Self {
            shard_root: PathBuf::from("./shards"),
            patches: Patches::Patches,
            layer: Layer::Index(-2),
            clamp: 1e5,
            n_random_samples: 1 << 19,
            scale_mean: Scale::Estimate,
            scale_norm: Scale::Estimate,
        }
    }
}

/// One example, as saev's `Dataset.__getitem__` returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    pub act: Vec<f32>,
    pub image_i: i64,
    pub patch_i: i64,
}

/// A normalized view of a store.
#[derive(Debug)]
pub struct Dataset {
    cfg: DataLoad,
    store: Arc<Store>,
    view: View,
    norm: Normalization,
}

impl Dataset {
    /// Open the store, check the view and compute or load the normalization.
    pub fn open(cfg: DataLoad) -> Result<Self> {
        let store = Arc::new(Store::open(&cfg.shard_root)?);
        Self::with_store(store, cfg)
    }

    /// Build on an already opened store (several views can share one).
    pub fn with_store(store: Arc<Store>, cfg: DataLoad) -> Result<Self> {
        let view = View::new(
            store.metadata(),
            store.n_imgs_readable(),
            cfg.patches,
            cfg.layer,
        )
        .map_err(|why| Error::BadView {
            path: store.root().to_path_buf(),
            why,
        })?;
        let mut ds = Self {
            norm: Normalization::identity(view.d_vit()),
            cfg,
            store,
            view,
        };
        ds.norm = normalize::resolve(&ds)?;
        Ok(ds)
    }

    pub fn config(&self) -> &DataLoad {
        &self.cfg
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn view(&self) -> &View {
        &self.view
    }

    /// The mean and scalar in use.
    pub fn normalization(&self) -> &Normalization {
        &self.norm
    }

    /// Number of examples.
    pub fn len(&self) -> u64 {
        self.view.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn d_vit(&self) -> usize {
        self.view.d_vit()
    }

    /// Example `i`, normalized.
    pub fn get(&self, i: u64) -> Result<Example> {
        let mut act = vec![0.0; self.d_vit()];
        let (image_i, patch_i) = self.get_into(i, &mut act)?;
        Ok(Example {
            act,
            image_i,
            patch_i,
        })
    }

    /// Example `i`, normalized, written into `out` (`d_vit` long); returns `(image_i, patch_i)`.
    pub fn get_into(&self, i: u64, out: &mut [f32]) -> Result<(i64, i64)> {
        assert!(
            i < self.len(),
            "example {i} out of range for {} examples",
            self.len()
        );
        let src = self.view.source(i);
        self.raw_into(&src, out)?;
        self.check_finite(&src, out)?;
        self.norm.apply(self.cfg.clamp, out);
        Ok((src.image_i, src.patch_i))
    }

    /// Examples `start..start + n` into `out_ND` (row-major), normalized; their
    /// `image_i` and `patch_i` are pushed onto the two vectors.
    pub fn get_range(
        &self,
        start: u64,
        out_ND: &mut [f32],
        image_i: &mut Vec<i64>,
        patch_i: &mut Vec<i64>,
    ) -> Result<()> {
        // Row by row, so each row is checked and normalized while in L1.
        for (k, row) in out_ND.chunks_exact_mut(self.d_vit()).enumerate() {
            let src = self.view.source(start + k as u64);
            self.raw_into(&src, row)?;
            self.check_finite(&src, row)?;
            self.norm.apply(self.cfg.clamp, row);
            image_i.push(src.image_i);
            patch_i.push(src.patch_i);
        }
        Ok(())
    }

    /// Example `i` clamped but not normalized (what saev averages to estimate the mean).
    pub(crate) fn clamped_into(&self, i: u64, out: &mut [f32]) -> Result<()> {
        let src = self.view.source(i);
        self.raw_into(&src, out)?;
        self.check_finite(&src, out)?;
        crate::kernels::clamp(out, self.cfg.clamp);
        Ok(())
    }

    /// The stored values behind `src`, averaged where the view says so.
    fn raw_into(&self, src: &Source, out: &mut [f32]) -> Result<()> {
        let layout = self.view.layout();
        let layers = match src.layer {
            LayerPick::One(l) => l..l + 1,
            LayerPick::Mean => 0..layout.n_layers,
        };
        let tokens = match src.token {
            TokenPick::One(t) => t..t + 1,
            TokenPick::MeanPatches => layout.first_patch()..layout.n_tokens,
        };
        let mut n = 0u32;
        for l in layers {
            for t in tokens.clone() {
                let row = self.store.row(src.img, l, t);
                if n == 0 {
                    out.copy_from_slice(row);
                } else {
                    out.iter_mut().zip(row).for_each(|(o, x)| *o += x);
                }
                n += 1;
            }
        }
        if n > 1 {
            let n = n as f32;
            out.iter_mut().for_each(|x| *x /= n);
        }
        Ok(())
    }

    /// A raw row must be finite (a NaN or Inf anywhere in a mean's inputs
    /// leaves the mean non-finite too).
    fn check_finite(&self, src: &Source, row: &[f32]) -> Result<()> {
        if crate::kernels::all_finite(row) {
            Ok(())
        } else {
            Err(crate::verify::non_finite_error(&self.store, src.img))
        }
    }
}
