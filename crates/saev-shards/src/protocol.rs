//! Stores of saev's current release: `metadata.json` protocol "2.1".
//!
//! saev (OSU-NLP-Group/saev, `src/saev/data/shards.py`, class `Metadata`)
//! renamed the seed-era fields and added four, but kept the shard layout:
//! `acts%06d.bin`, raw little-endian f32 of shape `[examples_per_shard,
//! n_layers, tokens_per_example, d_model]`, [CLS] first. So a protocol store
//! is read through the same [`Layout`](crate::Layout) as a seed-era one, by
//! way of [`ProtocolMetadata::to_seed`].
//!
//! | protocol 2.1                 | seed era              |
//! |------------------------------|-----------------------|
//! | `family`                     | `model_family`        |
//! | `ckpt`                       | `model_ckpt`          |
//! | `content_tokens_per_example` | `n_patches_per_img`   |
//! | `d_model`                    | `d_vit`               |
//! | `n_examples`                 | `n_imgs`              |
//! | `max_tokens_per_shard`       | `n_patches_per_shard` |
//!
//! saev writes the file with `orjson.dumps(md, option=OPT_INDENT_2)` (dataclass
//! fields in declaration order, no trailing newline) and names the directory
//! after the first 8 hex digits of the sha256 of the compact `orjson.dumps`
//! (`shards.py:134-135`). serde_json's compact and pretty printers produce the
//! same bytes for these field types, so both are reproduced exactly here.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::metadata::Metadata;

/// The shard index saev writes next to `metadata.json`.
pub const SHARDS_FILE: &str = "shards.json";

/// The protocols saev's `Metadata` accepts (`shards.py:85`).
pub const PROTOCOLS: [&str; 3] = ["1.0.0", "1.1", "2.1"];

/// saev's `shards.Metadata`, field for field and in its order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolMetadata {
    /// Model family (`clip`, `dinov2`, `siglip`, ...).
    pub family: String,
    pub ckpt: String,
    /// Recorded layers as the user wrote them.
    pub layers: Vec<i64>,
    /// Content (patch) tokens per example, not counting [CLS].
    pub content_tokens_per_example: u64,
    pub cls_token: bool,
    pub d_model: u64,
    pub n_examples: u64,
    /// Capacity of one shard in token vectors (all layers and tokens).
    pub max_tokens_per_shard: u64,
    /// base64 of a Python pickle of the dataset config: kept opaque.
    pub data: String,
    /// `str()` of the dataset root.
    pub dataset: String,
    /// How patch labels were aggregated from pixels (`majority`, `prefer-fg`).
    pub pixel_agg: String,
    pub dtype: String,
    pub protocol: String,
}

/// One entry of `shards.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardEntry {
    pub name: String,
    pub n_examples: u64,
}

impl ProtocolMetadata {
    /// Parse and check the text of a protocol `metadata.json`; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let bad = |why: String| Error::BadMetadata {
            path: path.to_path_buf(),
            why,
        };
        let md: Self = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if !PROTOCOLS.contains(&md.protocol.as_str()) {
            return Err(bad(format!(
                "unknown protocol {:?}; saev-rs reads {}",
                md.protocol,
                PROTOCOLS.join(", ")
            )));
        }
        if md.dtype != "float32" {
            return Err(bad(format!(
                "dtype {:?}: only float32 shards exist",
                md.dtype
            )));
        }
        md.to_seed().layout().map_err(bad)?;
        Ok(md)
    }

    /// The same store described in the seed era's terms (what [`crate::Layout`] reads).
    ///
    /// The seed era's `seed` has no counterpart and is 0; `data` carries the
    /// opaque pickle.
    pub fn to_seed(&self) -> Metadata {
        Metadata {
            model_family: self.family.clone(),
            model_ckpt: self.ckpt.clone(),
            layers: self.layers.clone(),
            n_patches_per_img: self.content_tokens_per_example,
            cls_token: self.cls_token,
            d_vit: self.d_model,
            seed: 0,
            n_imgs: self.n_examples,
            n_patches_per_shard: self.max_tokens_per_shard,
            data: self.data.clone(),
        }
    }

    /// A protocol-2.1 description of a seed-era store; `dataset` is the
    /// dataset root to record (the seed era's `data` string is kept as is).
    pub fn from_seed(md: &Metadata, dataset: &str) -> Self {
        Self {
            family: md.model_family.clone(),
            ckpt: md.model_ckpt.clone(),
            layers: md.layers.clone(),
            content_tokens_per_example: md.n_patches_per_img,
            cls_token: md.cls_token,
            d_model: md.d_vit,
            n_examples: md.n_imgs,
            max_tokens_per_shard: md.n_patches_per_shard,
            data: md.data.clone(),
            dataset: dataset.to_string(),
            pixel_agg: "majority".into(),
            dtype: "float32".into(),
            protocol: "2.1".into(),
        }
    }

    /// The file exactly as saev writes it (`OPT_INDENT_2`, no trailing newline).
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("metadata serializes")
    }

    /// The compact `orjson.dumps`, the bytes that are hashed.
    pub fn to_json_compact(&self) -> String {
        serde_json::to_string(self).expect("metadata serializes")
    }

    /// The store's directory name: 8 hex digits of the sha256 of the compact dump.
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(self.to_json_compact().as_bytes());
        digest[..4].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Whether a `metadata.json` text is saev's current format (it names a `protocol`).
pub fn is_protocol(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("protocol").cloned())
        .is_some()
}

/// `shards.json` for a store of `md`'s layout: one entry per shard file.
///
/// saev's writer closes a shard when it is full and opens the next one, so a
/// store whose examples fill its shards exactly ends with an empty shard file
/// listed with `n_examples: 0` (`shards.py`, `ShardWriter.flush`).
pub fn shard_entries(md: &Metadata) -> std::result::Result<Vec<ShardEntry>, String> {
    let layout = md.layout()?;
    let n_files = layout.n_imgs / layout.n_imgs_per_shard + 1;
    Ok((0..n_files as usize)
        .map(|shard| ShardEntry {
            name: crate::shard_file_name(shard),
            n_examples: layout.imgs_in_shard(shard),
        })
        .collect())
}

/// Read `<root>/shards.json`, if the store has one.
pub fn load_shards(root: &Path) -> Result<Option<Vec<ShardEntry>>> {
    let path = root.join(SHARDS_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).at(&path)?;
    let entries = serde_json::from_str(&text).map_err(|e| Error::BadMetadata {
        path: path.clone(),
        why: e.to_string(),
    })?;
    Ok(Some(entries))
}

/// Check `shards.json` against the layout: saev's readers trust it for the
/// number of examples per file.
pub fn check_shards(path: &Path, md: &Metadata, entries: &[ShardEntry]) -> Result<()> {
    let layout = md.layout().expect("checked metadata");
    for (shard, entry) in entries.iter().enumerate() {
        let expected = crate::shard_file_name(shard);
        if entry.name != expected || entry.n_examples != layout.imgs_in_shard(shard) {
            return Err(Error::BadMetadata {
                path: path.join(SHARDS_FILE),
                why: format!(
                    "entry {shard} is {:?} with {} examples; the metadata implies {expected:?} with {}",
                    entry.name,
                    entry.n_examples,
                    layout.imgs_in_shard(shard)
                ),
            });
        }
    }
    let listed: u64 = entries.iter().map(|e| e.n_examples).sum();
    if listed != layout.n_imgs {
        return Err(Error::BadMetadata {
            path: path.join(SHARDS_FILE),
            why: format!(
                "lists {listed} examples; metadata.json says {}",
                layout.n_imgs
            ),
        });
    }
    Ok(())
}

/// saev's per-patch labels file (written when the dataset has segmentations).
pub const PATCH_LABELS_FILE: &str = "labels.bin";

/// `labels.bin`: one `u8` class per content token, `[n_examples, content_tokens_per_example]`
/// in C order, no [CLS] column, not sharded (saev's `shards.py`, `LabelsWriter`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchLabels {
    pub n_examples: u64,
    pub n_patches: usize,
    pub labels: Vec<u8>,
}

impl PatchLabels {
    /// Label of patch `patch` (content-token index) of example `example`.
    pub fn get(&self, example: u64, patch: usize) -> u8 {
        self.labels[example as usize * self.n_patches + patch]
    }

    /// Read `<root>/labels.bin` for a store of `md`'s shape; `None` if absent.
    pub fn load(root: &Path, md: &Metadata) -> Result<Option<Self>> {
        let path = root.join(PATCH_LABELS_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let labels = std::fs::read(&path).at(&path)?;
        let n_patches = md.n_patches_per_img as usize;
        let expected = md.n_imgs as usize * n_patches;
        if labels.len() != expected {
            return Err(Error::BadMetadata {
                path,
                why: format!(
                    "{} bytes; {} examples x {n_patches} patches need {expected}",
                    labels.len(),
                    md.n_imgs
                ),
            });
        }
        Ok(Some(Self {
            n_examples: md.n_imgs,
            n_patches,
            labels,
        }))
    }
}
