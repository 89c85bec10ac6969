//! `saev-rs.json`, the sidecar that makes recording resumable and checkable.
//!
//! saev's `metadata.json` says how many images a store *will* hold, not how
//! many were written, so an interrupted recording cannot be told from a
//! finished one. saev-rs keeps this record next to it: images written so far
//! and, per shard, the images it holds and the CRC-32 of their bytes. It is
//! rewritten (temp file, fsync, rename) only after the shard data it
//! describes is on disk, so it never claims more than was written. saev
//! ignores the file.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::metadata::Layout;

/// The sidecar's file name inside a store.
pub const PROGRESS_FILE: &str = "saev-rs.json";
const FORMAT: &str = "saev-rs shard progress v1";

/// One shard's entry in the record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRecord {
    pub file: String,
    /// Images written into this shard.
    pub n_imgs: u64,
    /// CRC-32 (IEEE) of those images' bytes, from the start of the file.
    pub crc32: u32,
}

/// What has been written to a store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub format: String,
    /// Images fully written; recording resumes here.
    pub n_imgs_written: u64,
    /// Images the store will hold (`metadata.n_imgs`).
    pub n_imgs: u64,
    pub shards: Vec<ShardRecord>,
}

impl Progress {
    pub(crate) fn empty(n_imgs: u64) -> Self {
        Self {
            format: FORMAT.to_string(),
            n_imgs_written: 0,
            n_imgs,
            shards: Vec::new(),
        }
    }

    /// Whether every image of the store is written.
    pub fn is_complete(&self) -> bool {
        self.n_imgs_written == self.n_imgs
    }

    /// Read `<root>/saev-rs.json`; `None` when the store has none (saev wrote it).
    pub fn load(root: &Path) -> Result<Option<Self>> {
        Self::load_file(&root.join(PROGRESS_FILE))
    }

    /// Read a record (the store's, or a part's); `None` when absent.
    pub fn load_file(path: &Path) -> Result<Option<Self>> {
        let path = path.to_path_buf();
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).at(&path)?;
        let progress: Progress = serde_json::from_str(&text).map_err(|e| Error::BadMetadata {
            path: path.clone(),
            why: e.to_string(),
        })?;
        if progress.format != FORMAT {
            return Err(Error::BadMetadata {
                path,
                why: format!("unknown format {:?}, expected {FORMAT:?}", progress.format),
            });
        }
        let summed: u64 = progress.shards.iter().map(|s| s.n_imgs).sum();
        if summed != progress.n_imgs_written {
            return Err(Error::BadMetadata {
                path,
                why: format!(
                    "shards hold {summed} images but n_imgs_written is {}",
                    progress.n_imgs_written
                ),
            });
        }
        Ok(Some(progress))
    }

    /// The record must describe the store `metadata.json` describes: the
    /// same number of images, shards filled in order to the layout's sizes.
    /// Any disagreement is an error naming both numbers (a store whose
    /// metadata was edited, or whose record belongs to another store).
    pub(crate) fn check_against(&self, root: &Path, layout: &Layout) -> Result<()> {
        let bad = |why: String| Error::BadMetadata {
            path: root.join(PROGRESS_FILE),
            why,
        };
        if self.n_imgs != layout.n_imgs {
            return Err(bad(format!(
                "records a store of {} images ({} written), but metadata.json says {} images",
                self.n_imgs, self.n_imgs_written, layout.n_imgs
            )));
        }
        if self.n_imgs_written > layout.n_imgs {
            return Err(bad(format!(
                "records {} images written, more than the {} metadata.json says",
                self.n_imgs_written, layout.n_imgs
            )));
        }
        let full = layout.n_imgs_per_shard;
        for (i, shard) in self.shards.iter().enumerate() {
            let last = i + 1 == self.shards.len();
            let expected = crate::metadata::shard_file_name(i);
            if shard.file != expected {
                return Err(bad(format!(
                    "shard {i} is named {:?}, not {expected:?}",
                    shard.file
                )));
            }
            let ok = if last {
                shard.n_imgs <= full
            } else {
                shard.n_imgs == full
            };
            if !ok {
                return Err(bad(format!(
                    "{} holds {} images, but metadata.json puts {full} in each shard",
                    shard.file, shard.n_imgs
                )));
            }
        }
        Ok(())
    }

    pub(crate) fn save(&self, root: &Path, durable: bool) -> Result<()> {
        self.save_as(&root.join(PROGRESS_FILE), durable)
    }

    pub(crate) fn save_as(&self, path: &Path, durable: bool) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("progress serializes");
        write_atomic(path, text.as_bytes(), durable)
    }
}

/// The workspace's one atomic write ([`saev_io::write_atomic_with`]),
/// durable (fsync) or not.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let durability = if durable {
        saev_io::Durability::Durable
    } else {
        saev_io::Durability::Fast
    };
    saev_io::write_atomic_with(path, bytes, durability).at(path)
}
