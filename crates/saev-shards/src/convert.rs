//! Converting a store between the seed era's layout and saev's protocol 2.1.
//!
//! The shard bytes are the same in both; only `metadata.json` (and 2.1's
//! `shards.json`) differ. So conversion writes the new metadata and
//! hard-links the shard files (copying only across file systems), and it
//! keeps the source's `metadata.json` as [`ORIGIN_FILE`] so converting back
//! restores it byte for byte: nothing either format says is lost.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::metadata::{Metadata, METADATA_FILE};
use crate::progress::write_atomic;
use crate::protocol::{shard_entries, ProtocolMetadata, SHARDS_FILE};
use crate::store::Store;

/// The source store's `metadata.json`, kept by a conversion.
pub const ORIGIN_FILE: &str = "converted-from.json";

/// A store layout on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The seed's `metadata.json` (`model_family`, `n_imgs`, ...; 64-hex directory).
    Seed,
    /// saev's current protocol 2.1 (`family`, `n_examples`, ...; 8-hex directory).
    Protocol,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "seed" => Ok(Self::Seed),
            "2.1" | "protocol" => Ok(Self::Protocol),
            _ => Err(format!("expected seed or 2.1, got {s:?}")),
        }
    }
}

/// The metadata text and directory name of `store` in format `to`.
fn target(store: &Store, to: Format) -> (String, String) {
    let origin = std::fs::read_to_string(store.root().join(ORIGIN_FILE)).ok();
    let md = store.metadata();
    match to {
        Format::Protocol => {
            let kept = origin
                .and_then(|text| ProtocolMetadata::parse(&text, Path::new(ORIGIN_FILE)).ok())
                .filter(|p| same_store(&p.to_seed(), md));
            let p = kept.unwrap_or_else(|| ProtocolMetadata::from_seed(md, &dataset_root(md)));
            (p.to_json_pretty(), p.hash())
        }
        Format::Seed => {
            let kept = origin
                .and_then(|text| Metadata::parse(&text, Path::new(ORIGIN_FILE)).ok())
                .filter(|m| same_store(m, md));
            let m = kept.unwrap_or_else(|| md.clone());
            (m.to_python_json_pretty(), m.hash())
        }
    }
}

/// Equal but for the seed, which protocol 2.1 does not record.
fn same_store(a: &Metadata, b: &Metadata) -> bool {
    Metadata {
        seed: b.seed,
        ..a.clone()
    } == *b
}

/// The dataset root named in a seed-era `data` string (`...(root='/x', ...)`).
fn dataset_root(md: &Metadata) -> String {
    let after = md.data.split_once("root='").map(|(_, rest)| rest);
    after
        .and_then(|rest| rest.split_once('\''))
        .map_or_else(String::new, |(root, _)| root.to_string())
}

/// Write `src` (a store, or a directory holding one) as a store of format
/// `to` under `dump_to` (default: beside the source); returns its root.
///
/// Shard files are hard-linked when they can be (copied otherwise); a
/// target that already holds the same file or identical bytes is left alone.
pub fn convert(src: &Path, dump_to: Option<&Path>, to: Format) -> Result<PathBuf> {
    let store = Store::open(src)?;
    let (text, name) = target(&store, to);
    let beside = store.root().parent().unwrap_or(Path::new("."));
    let root = dump_to.unwrap_or(beside).join(name);
    std::fs::create_dir_all(&root).at(&root)?;
    let layout = *store.layout();
    for shard in 0..layout.n_shards() {
        link_or_copy(
            &store.shard_path(shard),
            &root.join(crate::shard_file_name(shard)),
        )?;
    }
    if to == Format::Protocol {
        let entries = shard_entries(store.metadata()).expect("checked metadata");
        // saev's writer leaves an empty last shard when the others are full.
        for entry in entries.iter().skip(layout.n_shards()) {
            let path = root.join(&entry.name);
            let file = std::fs::File::create(&path).at(&path)?;
            file.set_len(layout.shard_bytes()).at(&path)?;
        }
        let shards = serde_json::to_string_pretty(&entries).expect("entries serialize");
        write_atomic(&root.join(SHARDS_FILE), shards.as_bytes(), false)?;
    }
    for name in [crate::LABELS_FILE, crate::PATCH_LABELS_FILE] {
        let labels = store.root().join(name);
        if labels.is_file() {
            link_or_copy(&labels, &root.join(name))?;
        }
    }
    let origin = std::fs::read(store.root().join(METADATA_FILE)).at(store.root())?;
    write_atomic(&root.join(ORIGIN_FILE), &origin, false)?;
    write_atomic(&root.join(METADATA_FILE), text.as_bytes(), true)?;
    Ok(root)
}

/// Hard-link `from` to `to`, or copy it; the same file or identical bytes at `to` stay.
fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if to.exists() {
        if same_bytes(from, to)? {
            return Ok(());
        }
        std::fs::remove_file(to).at(to)?;
    }
    if std::fs::hard_link(from, to).is_err() {
        let tmp = to.with_extension("tmp");
        std::fs::copy(from, &tmp).at(to)?;
        std::fs::rename(&tmp, to).at(to)?;
    }
    Ok(())
}

/// Same inode, or equal contents compared a block at a time (shards can be
/// larger than memory).
fn same_bytes(a: &Path, b: &Path) -> Result<bool> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let (ma, mb) = (a.metadata().at(a)?, b.metadata().at(b)?);
    if (ma.dev(), ma.ino()) == (mb.dev(), mb.ino()) {
        return Ok(true);
    }
    if ma.len() != mb.len() {
        return Ok(false);
    }
    let (mut fa, mut fb) = (File::open(a).at(a)?, File::open(b).at(b)?);
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba).at(a)?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n]).at(b)?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}
