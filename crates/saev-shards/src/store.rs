//! A store opened for reading: metadata plus one read-only mmap per shard.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::{Advice, Mmap};

use crate::error::{Error, IoContext, Result};
use crate::metadata::{shard_file_name, Layout, Metadata};
use crate::progress::Progress;
use crate::protocol::ProtocolMetadata;

/// A shard store on disk, checked and mapped.
pub struct Store {
    root: PathBuf,
    md: Metadata,
    /// saev's current metadata, for a protocol store.
    protocol: Option<ProtocolMetadata>,
    layout: Layout,
    progress: Option<Progress>,
    maps: Vec<Mmap>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("root", &self.root)
            .field("md", &self.md)
            .finish()
    }
}

/// Find the store under `path`: `path` itself, or its only `<hash>/` child.
///
/// Users often pass `--dump-to` where the store root is wanted; when that
/// directory holds exactly one store, it is unambiguous.
pub fn resolve_root(path: &Path) -> Result<PathBuf> {
    if path.join(crate::METADATA_FILE).is_file() || !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(path).at(path)? {
        let child = entry.at(path)?.path();
        if child.join(crate::METADATA_FILE).is_file() {
            found.push(child);
        }
    }
    match found.len() {
        1 => Ok(found.pop().expect("one")),
        0 => Ok(path.to_path_buf()),
        _ => {
            found.sort();
            let names: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
            Err(Error::NotAStore {
                path: path.to_path_buf(),
                why: format!(
                    "no metadata.json here, and several stores below; pick one of: {}",
                    names.join(", ")
                ),
            })
        }
    }
}

impl Store {
    /// Open a complete store for reading.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let store = Self::open_any(root)?;
        if let Some(progress) = &store.progress {
            if !progress.is_complete() {
                return Err(Error::Incomplete {
                    path: store.root.clone(),
                    written: progress.n_imgs_written,
                    total: progress.n_imgs,
                });
            }
        }
        Ok(store)
    }

    /// Open a store even if its recording is unfinished (for `verify`).
    pub fn open_any(root: impl AsRef<Path>) -> Result<Self> {
        let root = resolve_root(root.as_ref())?;
        let (md, protocol) = Metadata::load_any(&root)?;
        let layout = md.layout().expect("checked by Metadata::load");
        if protocol.is_some() {
            if let Some(entries) = crate::protocol::load_shards(&root)? {
                crate::protocol::check_shards(&root, &md, &entries)?;
            }
        }
        let progress = Progress::load(&root)?;
        if let Some(p) = &progress {
            p.check_against(&root, &layout)?;
        } else if let Some(parts) = crate::parts::statuses(&root, &layout)? {
            return Err(Error::NotAStore {
                path: root,
                why: crate::parts::describe_unfinished(&parts),
            });
        }
        // An unfinished recording has only the shards it has reached.
        let n_shards = progress
            .as_ref()
            .map_or(layout.n_shards(), |p| p.shards.len());
        let mut maps = Vec::with_capacity(n_shards);
        for shard in 0..n_shards {
            maps.push(map_shard(&root, shard, &layout)?);
        }
        Ok(Self {
            root,
            md,
            protocol,
            layout,
            progress,
            maps,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn metadata(&self) -> &Metadata {
        &self.md
    }

    /// saev's current (protocol) metadata, `None` for a seed-era store.
    pub fn protocol(&self) -> Option<&ProtocolMetadata> {
        self.protocol.as_ref()
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The saev-rs progress record, absent for stores saev wrote.
    pub fn progress(&self) -> Option<&Progress> {
        self.progress.as_ref()
    }

    /// Shard files mapped (all of them unless the recording is unfinished).
    pub fn n_mapped(&self) -> usize {
        self.maps.len()
    }

    /// Path of shard file `shard`.
    pub fn shard_path(&self, shard: usize) -> PathBuf {
        self.root.join(shard_file_name(shard))
    }

    /// Images readable: all of them for a complete store, the written ones otherwise.
    pub fn n_imgs_readable(&self) -> u64 {
        self.progress
            .as_ref()
            .map_or(self.md.n_imgs, |p| p.n_imgs_written)
    }

    /// All values of one image, `[n_layers, n_tokens, d_vit]` in C order.
    pub fn image(&self, img: u64) -> &[f32] {
        let (shard, pos) = self.layout.locate(img);
        let per_img = self.layout.image_floats();
        let floats: &[f32] = bytemuck::cast_slice(&self.maps[shard][..]);
        let start = pos as usize * per_img;
        &floats[start..start + per_img]
    }

    /// One token vector: image `img`, stored layer `layer_idx`, token `token`.
    pub fn row(&self, img: u64, layer_idx: usize, token: usize) -> &[f32] {
        let d = self.layout.d_vit;
        let start = (layer_idx * self.layout.n_tokens + token) * d;
        &self.image(img)[start..start + d]
    }

    /// The first `n_imgs` images of shard `shard`, as one slice.
    pub fn shard_images(&self, shard: usize, n_imgs: u64) -> &[f32] {
        let floats: &[f32] = bytemuck::cast_slice(&self.maps[shard][..]);
        &floats[..n_imgs as usize * self.layout.image_floats()]
    }

    /// Ask the kernel to read images `[start, end)` ahead (a hint; errors ignored).
    pub fn will_need(&self, start: u64, end: u64) {
        let bytes_per_img = self.layout.image_floats() * 4;
        let mut img = start;
        while img < end {
            let (shard, pos) = self.layout.locate(img);
            let n = (self.layout.n_imgs_per_shard - pos).min(end - img);
            let offset = pos as usize * bytes_per_img;
            let _ =
                self.maps[shard].advise_range(Advice::WillNeed, offset, n as usize * bytes_per_img);
            img += n;
        }
    }
}

fn map_shard(root: &Path, shard: usize, layout: &Layout) -> Result<Mmap> {
    let path = root.join(shard_file_name(shard));
    if !path.is_file() {
        return Err(Error::NotAStore {
            path: path.clone(),
            why: format!(
                "shard file is missing ({} images need {} shards)",
                layout.n_imgs,
                layout.n_shards()
            ),
        });
    }
    let file = File::open(&path).at(&path)?;
    let actual = file.metadata().at(&path)?.len();
    let expected = layout.shard_bytes();
    if actual < expected {
        return Err(Error::ShortShard {
            path,
            actual,
            expected,
            shape: layout.shape_text(),
        });
    }
    // SAFETY: the map is read-only; the bytes are plain f32 data, so a file
    // changed underneath us yields wrong numbers, never undefined behaviour in
    // our own code's invariants.
    let map = unsafe {
        memmap2::MmapOptions::new()
            .len(expected as usize)
            .map(&file)
    }
    .at(&path)?;
    Ok(map)
}
