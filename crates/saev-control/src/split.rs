//! A labelled split: every [CLS] activation of a store at one layer, in
//! image order, normalized in a given space, with class targets from class
//! folders (`--*-imgs.root`) or the store's `labels.json`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use saev_shards::{loader, DataLoad, Dataset, Layer, Patches, Scale};

/// Activations `[N, D]`, targets, class names and image files.
pub struct Split {
    pub x_ND: Vec<f32>,
    pub y_N: Vec<u32>,
    pub classes: Vec<String>,
    /// Image files, when known (class folders or the sidecar's paths).
    pub images: Vec<PathBuf>,
    pub d: usize,
    pub store: PathBuf,
}

/// How activations are normalized: an SAE checkpoint or normalization file
/// (`act_mean`, `scalar`), or estimated from this store.
#[derive(Clone, Debug)]
pub enum Norm {
    File(PathBuf),
    Estimate,
}

impl Split {
    pub fn load(
        shard_root: &Path,
        layer: Layer,
        norm: &Norm,
        imgs_root: Option<&Path>,
    ) -> anyhow::Result<Split> {
        let scale = match norm {
            Norm::File(p) => Scale::File(p.clone()),
            Norm::Estimate => Scale::Estimate,
        };
        let ds = Arc::new(Dataset::open(DataLoad {
            shard_root: shard_root.to_path_buf(),
            patches: Patches::Cls,
            layer,
            scale_mean: scale.clone(),
            scale_norm: scale,
            ..DataLoad::default()
        })?);
        let d = ds.d_vit();
        let mut x_ND = Vec::with_capacity(ds.len() as usize * d);
        for b in loader::ordered(Arc::clone(&ds), 8192, 2) {
            x_ND.extend_from_slice(&b?.acts_BD);
        }
        let n = ds.len() as usize;
        let (y_N, classes, images) = match imgs_root {
            Some(root) => {
                let f = saev_imaging::ImageFolder::open(root)?;
                (
                    f.samples
                        .iter()
                        .map(|s| s.target as u32)
                        .collect::<Vec<_>>(),
                    f.classes,
                    f.samples.into_iter().map(|s| s.path).collect::<Vec<_>>(),
                )
            }
            None => {
                let l = saev_shards::Labels::load(ds.store().root())?.ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: no labels.json; give the images' class folders (--*-imgs.root)",
                        ds.store().root().display()
                    )
                })?;
                let images = l.paths.iter().map(PathBuf::from).collect();
                (l.targets, l.classes, images)
            }
        };
        if y_N.len() != n {
            anyhow::bail!(
                "{} holds {n} images but their labels list {}; are these the images the store was recorded from?",
                ds.store().root().display(),
                y_N.len()
            );
        }
        Ok(Split {
            x_ND,
            y_N,
            classes,
            images,
            d,
            store: ds.store().root().to_path_buf(),
        })
    }

    /// Write this store's estimated normalization to `path` (to reuse for other splits).
    pub fn save_estimate(shard_root: &Path, layer: Layer, path: &Path) -> anyhow::Result<()> {
        let ds = Dataset::open(DataLoad {
            shard_root: shard_root.to_path_buf(),
            patches: Patches::Cls,
            layer,
            ..DataLoad::default()
        })?;
        ds.normalization().save(path)?;
        Ok(())
    }
}

impl Split {
    /// Fail unless `other` has this split's classes in the same order,
    /// naming both stores and the classes that differ.
    pub fn check_same_classes(&self, other: &Split) -> anyhow::Result<()> {
        if self.classes == other.classes {
            return Ok(());
        }
        let only = |a: &Split, b: &Split| -> Vec<String> {
            a.classes
                .iter()
                .filter(|c| !b.classes.contains(c))
                .take(5)
                .cloned()
                .collect()
        };
        anyhow::bail!(
            "{} and {} have different classes ({} vs {}; only in the first: {:?}, only in the second: {:?})",
            self.store.display(),
            other.store.display(),
            self.classes.len(),
            other.classes.len(),
            only(self, other),
            only(other, self)
        )
    }

    /// Fail unless the probe predicts exactly this split's classes: as many
    /// (`c`), and under the same names in the same order when the probe
    /// records names. The error says which classes differ.
    pub fn check_probe_classes(&self, c: usize, probe_classes: &[String]) -> anyhow::Result<()> {
        let store = self.store.display();
        if let Some(&y) = self.y_N.iter().find(|&&y| y as usize >= c) {
            anyhow::bail!(
                "{store} has {} classes (label {y} found) but the probe predicts {c}",
                self.classes.len()
            );
        }
        if probe_classes.is_empty() || probe_classes == self.classes.as_slice() {
            if c != self.classes.len() && !self.classes.is_empty() {
                anyhow::bail!(
                    "{store} has {} classes but the probe predicts {c} (a probe trained on other classes?)",
                    self.classes.len()
                );
            }
            return Ok(());
        }
        anyhow::bail!(
            "{store}: its {} classes differ from the probe's {}: {}",
            self.classes.len(),
            probe_classes.len(),
            class_differences(&self.classes, probe_classes)
        )
    }
}

/// What differs between the data's classes and the probe's, in words:
/// classes only one side has, or the same names in another order.
fn class_differences(data: &[String], probe: &[String]) -> String {
    let only = |a: &[String], b: &[String]| -> Vec<String> {
        a.iter().filter(|c| !b.contains(c)).cloned().collect()
    };
    let show = |v: &[String]| {
        let mut s: Vec<String> = v.iter().take(5).map(|c| format!("{c:?}")).collect();
        if v.len() > 5 {
            s.push(format!("and {} more", v.len() - 5));
        }
        s.join(", ")
    };
    let (data_only, probe_only) = (only(data, probe), only(probe, data));
    let mut parts = Vec::new();
    if !probe_only.is_empty() {
        parts.push(format!("only the probe has {}", show(&probe_only)));
    }
    if !data_only.is_empty() {
        parts.push(format!("only the data has {}", show(&data_only)));
    }
    if parts.is_empty() {
        let i = data
            .iter()
            .zip(probe)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        parts.push(format!(
            "the same names in another order (class {i} is {:?} in the data, {:?} in the probe)",
            data.get(i).map_or("", |s| s.as_str()),
            probe.get(i).map_or("", |s| s.as_str())
        ));
    }
    parts.join("; ")
}
