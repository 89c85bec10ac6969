//! `labels.json`, the sidecar that says what each recorded image is.
//!
//! Written by `saev activations` next to `metadata.json` (saev ignores it):
//! for image `i` of the store, `targets[i]` is its class index into `classes`
//! and `paths[i]` where it came from (a file, or `<parquet file>#<row>`). The
//! probe and the visuals read labels from here instead of re-listing the
//! images.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

/// The sidecar's file name inside a store.
pub const LABELS_FILE: &str = "labels.json";

/// Class labels of every image of a store, in store order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Labels {
    /// Class names; a target is an index into this list.
    pub classes: Vec<String>,
    pub targets: Vec<u32>,
    /// Source of each image.
    pub paths: Vec<String>,
}

impl Labels {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Class name of image `i`.
    pub fn label(&self, i: usize) -> &str {
        &self.classes[self.targets[i] as usize]
    }

    /// Read `<root>/labels.json`; `None` if the store has none.
    pub fn load(root: &Path) -> Result<Option<Self>> {
        let path = root.join(LABELS_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).at(&path)?;
        let labels: Labels = serde_json::from_str(&text).map_err(|e| Error::BadMetadata {
            path: path.clone(),
            why: e.to_string(),
        })?;
        let bad = labels.paths.len() != labels.targets.len()
            || labels
                .targets
                .iter()
                .any(|&t| t as usize >= labels.classes.len());
        if bad {
            return Err(Error::BadMetadata {
                path,
                why: "targets, paths and classes do not agree".into(),
            });
        }
        Ok(Some(labels))
    }

    /// Write `<root>/labels.json` atomically.
    pub fn save(&self, root: &Path) -> Result<()> {
        let text = serde_json::to_string(self).expect("labels serialize");
        crate::progress::write_atomic(&root.join(LABELS_FILE), text.as_bytes(), true)
    }
}
