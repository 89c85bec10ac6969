//! Recording a store in parts: part `I` of `N` writes a contiguous range of
//! whole shards into the same store directory a one-machine run uses, and
//! keeps its own record, `saev-rs.part-I-of-N.json` (the same format as
//! `saev-rs.json`, for its shards only). Parts need only a shared file
//! system: no part touches another's shards or record. The part that
//! finishes last (any part that finds every record complete) writes the
//! store's `saev-rs.json`, the concatenation of the parts' records, so the
//! finished store is the one a single run would have left.

use std::ops::Range;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::metadata::Layout;
use crate::progress::{Progress, PROGRESS_FILE};

/// Part `index` (0-based) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    pub index: usize,
    pub count: usize,
}

impl Part {
    /// `I/N` with `0 <= I < N`.
    pub fn parse(text: &str) -> std::result::Result<Part, String> {
        let bad = || format!("{text:?}: give the part as I/N, 0 <= I < N (e.g. 0/4)");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index >= count {
            return Err(bad());
        }
        Ok(Part { index, count })
    }

    /// The part's record inside the store.
    pub fn record_file(&self) -> String {
        format!("saev-rs.part-{}-of-{}.json", self.index, self.count)
    }

    /// Its shards: an even split of the store's, in order.
    pub fn shards(&self, layout: &Layout) -> Range<usize> {
        let n = layout.n_shards();
        (n * self.index / self.count)..(n * (self.index + 1) / self.count)
    }

    /// Its images: those of its shards.
    pub fn images(&self, layout: &Layout) -> Range<u64> {
        let s = self.shards(layout);
        let at = |shard: usize| (shard as u64 * layout.n_imgs_per_shard).min(layout.n_imgs);
        at(s.start)..at(s.end)
    }
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// One part's state, as `verify` and `inspect` report it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartStatus {
    pub part: String,
    /// Images the part holds once finished, and those written.
    pub n_imgs: u64,
    pub n_imgs_written: u64,
    /// `false` when the part has not started (no record).
    pub started: bool,
}

impl PartStatus {
    pub fn is_complete(&self) -> bool {
        self.n_imgs_written == self.n_imgs
    }
}

/// The parts a store is being recorded in, if any record says so (the
/// largest `N` of the records found).
pub fn part_count(root: &Path) -> Option<usize> {
    let entries = std::fs::read_dir(root).ok()?;
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|name| {
            let rest = name.strip_prefix("saev-rs.part-")?.strip_suffix(".json")?;
            Part::parse(&rest.replace("-of-", "/"))
                .ok()
                .map(|p| p.count)
        })
        .max()
}

/// Every part's state, when the store is recorded in parts.
pub fn statuses(root: &Path, layout: &Layout) -> Result<Option<Vec<PartStatus>>> {
    let Some(count) = part_count(root) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for index in 0..count {
        let part = Part { index, count };
        let record = Progress::load_file(&root.join(part.record_file()))?;
        let images = part.images(layout);
        out.push(PartStatus {
            part: part.to_string(),
            n_imgs: images.end - images.start,
            n_imgs_written: record.as_ref().map_or(0, |r| r.n_imgs_written),
            started: record.is_some(),
        });
    }
    Ok(Some(out))
}

/// Which parts are unfinished, in words (`parts 1/3 (0 of 40 images), 2/3 (not started)`).
pub fn describe_unfinished(statuses: &[PartStatus]) -> String {
    let left: Vec<String> = statuses
        .iter()
        .filter(|s| !s.is_complete())
        .map(|s| match s.started {
            true => format!("{} ({} of {} images)", s.part, s.n_imgs_written, s.n_imgs),
            false => format!("{} (not started)", s.part),
        })
        .collect();
    format!("recorded in parts; unfinished: {}", left.join(", "))
}

/// Remove the `*.tmp` files in `root` whose names `pick` accepts.
pub(crate) fn remove_temps(root: &Path, pick: impl Fn(&str) -> bool) -> Result<()> {
    let entries = std::fs::read_dir(root).map_err(|e| Error::Io {
        path: root.to_path_buf(),
        source: e,
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") && pick(&name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// If every part's record is complete, write the store's `saev-rs.json`
/// from them and return `true`.
pub(crate) fn merge_if_complete(
    root: &Path,
    layout: &Layout,
    count: usize,
    durable: bool,
) -> Result<bool> {
    let mut whole = Progress::empty(layout.n_imgs);
    for index in 0..count {
        let part = Part { index, count };
        let path = root.join(part.record_file());
        let Some(record) = Progress::load_file(&path)? else {
            return Ok(false);
        };
        if !record.is_complete() {
            return Ok(false);
        }
        if record.shards.len() != part.shards(layout).len() {
            return Err(Error::BadMetadata {
                path,
                why: format!(
                    "lists {} shards, but part {part} has {}",
                    record.shards.len(),
                    part.shards(layout).len()
                ),
            });
        }
        whole.n_imgs_written += record.n_imgs_written;
        whole.shards.extend(record.shards);
    }
    whole.check_against(root, layout)?;
    // Every part is done: temp files killed parts left are stale (all but
    // those of a concurrent merge, which writes saev-rs.json itself).
    remove_temps(root, |name| !name.starts_with(PROGRESS_FILE))?;
    whole.save(root, durable)?;
    tracing::info!(root = %root.display(), "all {count} parts recorded: {PROGRESS_FILE} written");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_split_whole_shards_evenly_and_cover_the_store_once() {
        let layout = Layout {
            n_imgs: 25,
            n_layers: 1,
            n_tokens: 1,
            n_patches: 0,
            cls_token: true,
            d_vit: 4,
            n_imgs_per_shard: 4,
        };
        assert_eq!(layout.n_shards(), 7);
        let parts: Vec<Range<u64>> = (0..3)
            .map(|i| Part { index: i, count: 3 }.images(&layout))
            .collect();
        assert_eq!(parts, [0..8, 8..16, 16..25]);
        // More parts than shards: some parts are empty.
        let empty = Part { index: 0, count: 8 }.images(&layout);
        assert!(empty.is_empty());
        assert_eq!(Part::parse("2/3"), Ok(Part { index: 2, count: 3 }));
        assert!(Part::parse("3/3").is_err() && Part::parse("x").is_err());
    }
}
