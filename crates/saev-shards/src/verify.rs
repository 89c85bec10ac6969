//! Whole-store checks (`saev shards verify`) and summaries (`saev shards inspect`).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::kernels::all_finite;
use crate::metadata::{shard_file_name, Metadata};
use crate::store::{resolve_root, Store};
use crate::view::View;

/// Count non-finite values in `xs`.
fn count_non_finite(xs: &[f32]) -> u64 {
    if all_finite(xs) {
        0
    } else {
        xs.iter().filter(|x| !x.is_finite()).count() as u64
    }
}

/// The error for a non-finite value somewhere in image `img`: where it is first, and how many.
pub(crate) fn non_finite_error(store: &Store, img: u64) -> Error {
    let layout = store.layout();
    let values = store.image(img);
    let first = values.iter().position(|x| !x.is_finite()).unwrap_or(0);
    let d = layout.d_vit;
    Error::NonFinite {
        path: store.shard_path(layout.locate(img).0),
        count: count_non_finite(values),
        image: img,
        layer: first / d / layout.n_tokens,
        token: first / d % layout.n_tokens,
        dim: first % d,
    }
}

/// One shard file's state.
#[derive(Debug, Serialize)]
pub struct ShardReport {
    pub file: String,
    /// Images the metadata says it holds.
    pub n_imgs: u64,
    /// Apparent size.
    pub bytes: u64,
    /// Bytes actually allocated on disk (sparse files allocate less).
    pub allocated_bytes: u64,
    pub non_finite: u64,
    /// CRC-32 check against the saev-rs progress record, when there is one.
    pub crc32_ok: Option<bool>,
}

/// What `verify` found; `problems` empty means the store is good.
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub root: PathBuf,
    pub n_imgs: u64,
    pub n_shards: usize,
    pub shards: Vec<ShardReport>,
    pub non_finite: u64,
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Check sizes, values and checksums of every shard. Unreadable stores are
/// an `Err`; readable stores with bad contents are reported in `problems`.
pub fn verify(root: &Path) -> Result<VerifyReport> {
    verify_with(root, |_, _| {})
}

/// [`verify`] with the workspace's progress reporting (a bar on a
/// terminal, else a log line at least every 30 s): a full read of the store.
pub fn verify_reporting(root: &Path) -> Result<VerifyReport> {
    let bar = saev_io::Progress::bytes("verify", 0);
    let report = verify_with(root, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish();
    Ok(report)
}

/// [`verify`], calling `on_progress(bytes_checked, bytes_total)` after each shard.
pub fn verify_with(root: &Path, mut on_progress: impl FnMut(u64, u64)) -> Result<VerifyReport> {
    let root = resolve_root(root)?;
    let md = Metadata::load(&root)?;
    let layout = md.layout().expect("checked by load");
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let store = match Store::open_any(&root) {
        Ok(store) => Some(store),
        Err(e @ (Error::ShortShard { .. } | Error::NotAStore { .. } | Error::Io { .. })) => {
            problems.push(e.to_string());
            None
        }
        Err(e) => return Err(e),
    };
    let mut shards = Vec::new();
    let mut total_non_finite = 0;
    if let Some(store) = &store {
        let total_bytes = store.n_imgs_readable() * layout.image_floats() as u64 * 4;
        let mut done_bytes = 0;
        let progress = store.progress();
        if let Some(p) = progress {
            if !p.is_complete() {
                problems.push(
                    Error::Incomplete {
                        path: root.clone(),
                        written: p.n_imgs_written,
                        total: p.n_imgs,
                    }
                    .to_string(),
                );
            }
        } else {
            warnings.push("no saev-rs.json (recorded by saev?): checksums not checked".into());
        }
        for shard in 0..store.n_mapped() {
            let path = store.shard_path(shard);
            let written = progress.map_or(layout.imgs_in_shard(shard), |p| {
                p.shards.get(shard).map_or(0, |s| s.n_imgs)
            });
            let values = store.shard_images(shard, written);
            let non_finite = count_non_finite(values);
            if non_finite > 0 {
                problems.push(format!(
                    "{}: {non_finite} NaN or Inf values",
                    path.display()
                ));
            }
            total_non_finite += non_finite;
            let crc32_ok = progress.and_then(|p| p.shards.get(shard)).map(|record| {
                let ok = crc32fast::hash(bytemuck::cast_slice(values)) == record.crc32;
                if !ok {
                    problems.push(format!(
                        "{}: checksum mismatch: the first {} images changed since they were recorded",
                        path.display(),
                        record.n_imgs
                    ));
                }
                ok
            });
            done_bytes += values.len() as u64 * 4;
            on_progress(done_bytes, total_bytes);
            let meta = std::fs::metadata(&path).ok();
            shards.push(ShardReport {
                file: shard_file_name(shard),
                n_imgs: layout.imgs_in_shard(shard),
                bytes: meta.as_ref().map_or(0, |m| m.len()),
                allocated_bytes: meta.as_ref().map_or(0, |m| m.blocks() * 512),
                non_finite,
                crc32_ok,
            });
        }
    }
    let extra = root.join(shard_file_name(layout.n_shards()));
    if extra.exists() {
        warnings.push(format!(
            "{} is beyond the {} shards the metadata needs (saev opens an empty next shard when one fills up exactly); it is ignored",
            extra.display(),
            layout.n_shards()
        ));
    }
    Ok(VerifyReport {
        root,
        n_imgs: md.n_imgs,
        n_shards: layout.n_shards(),
        shards,
        non_finite: total_non_finite,
        problems,
        warnings,
    })
}

/// One view in an inspect summary.
#[derive(Debug, Serialize)]
pub struct ViewSummary {
    pub patches: String,
    pub layer: String,
    pub len: u64,
}

/// What `inspect` prints.
#[derive(Debug, Serialize)]
pub struct InspectReport {
    pub root: PathBuf,
    /// The store in seed-era terms (for a protocol store, its translation).
    pub metadata: Metadata,
    /// saev's current metadata, for a protocol-2.1 store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<crate::protocol::ProtocolMetadata>,
    /// The directory name the metadata implies (64 hex for the seed's layout, 8 for 2.1).
    pub hash: String,
    pub hash_matches_dir: bool,
    pub n_tokens: usize,
    pub n_imgs_per_shard: u64,
    pub n_shards: usize,
    pub bytes: u64,
    pub allocated_bytes: u64,
    pub complete: Option<bool>,
    /// Each part's state, for a store recorded in parts (`--part I/N`).
    pub parts: Option<Vec<crate::parts::PartStatus>>,
    pub n_imgs_written: Option<u64>,
    pub views: Vec<ViewSummary>,
}

/// Summarize a store without reading its values.
pub fn inspect(root: &Path) -> Result<InspectReport> {
    let root = resolve_root(root)?;
    let (md, protocol) = Metadata::load_any(&root)?;
    let layout = md.layout().expect("checked by load");
    let progress = crate::progress::Progress::load(&root)?;
    if let Some(p) = &progress {
        p.check_against(&root, &layout)?;
    }
    let (mut bytes, mut allocated) = (0, 0);
    for shard in 0..layout.n_shards() {
        if let Ok(meta) = std::fs::metadata(root.join(shard_file_name(shard))) {
            bytes += meta.len();
            allocated += meta.blocks() * 512;
        }
    }
    let hash = protocol.as_ref().map_or_else(|| md.hash(), |p| p.hash());
    Ok(InspectReport {
        protocol,
        hash_matches_dir: root
            .file_name()
            .is_some_and(|n| n.to_string_lossy() == hash),
        hash,
        n_tokens: layout.n_tokens,
        n_imgs_per_shard: layout.n_imgs_per_shard,
        n_shards: layout.n_shards(),
        bytes,
        allocated_bytes: allocated,
        complete: progress.as_ref().map(|p| p.is_complete()),
        parts: crate::parts::statuses(&root, &layout)?,
        n_imgs_written: progress.as_ref().map(|p| p.n_imgs_written),
        views: View::available(&md)
            .into_iter()
            .map(|(p, l, len)| ViewSummary {
                patches: p.to_string(),
                layer: l.to_string(),
                len,
            })
            .collect(),
        metadata: md,
        root,
    })
}
