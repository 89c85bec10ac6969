//! Recording a store: append `[B, L, T, D]` batches, resume after a crash.
//!
//! Shard files are created at their full size with `set_len`, which makes
//! them sparse: a 74 GB shard that holds 1,000 images takes only those
//! images' bytes on disk. Images are written with positioned writes (no
//! mmap, so a full disk is an error, not a SIGBUS), then the files are
//! synced, then the progress record is replaced. A crash at any point leaves
//! a record that names only images whose bytes are on disk; reopening the
//! store resumes at the first image it does not name, overwriting whatever a
//! half-finished batch left behind.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::metadata::{shard_file_name, Layout, Metadata, METADATA_FILE};
use crate::parts::Part;
use crate::progress::{write_atomic, Progress, ShardRecord, PROGRESS_FILE};

/// How hard the writer works to survive power loss.
#[derive(Clone, Copy, Debug)]
pub struct WriterOptions {
    /// fsync shard data before each progress record (on by default). A crashed
    /// *process* loses nothing without it; a crashed *machine* may.
    pub durable: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self { durable: true }
    }
}

/// Appends images to a store, shard after shard.
pub struct ShardWriter {
    root: PathBuf,
    md: Metadata,
    layout: Layout,
    /// The record of what this writer wrote: the store's, or its part's
    /// (shards from `span.first_shard` on, images counted from `span.first_img`).
    progress: Progress,
    span: Span,
    open_shard: Option<(usize, File)>,
    opts: WriterOptions,
}

/// The images a writer records: the whole store, or one part of it.
#[derive(Clone, Debug)]
struct Span {
    part: Option<Part>,
    first_img: u64,
    end_img: u64,
    first_shard: usize,
    record: PathBuf,
}

impl Span {
    fn new(root: &Path, layout: &Layout, part: Option<Part>) -> Span {
        match part {
            None => Span {
                part,
                first_img: 0,
                end_img: layout.n_imgs,
                first_shard: 0,
                record: root.join(PROGRESS_FILE),
            },
            Some(p) => {
                let images = p.images(layout);
                Span {
                    part,
                    first_img: images.start,
                    end_img: images.end,
                    first_shard: p.shards(layout).start,
                    record: root.join(p.record_file()),
                }
            }
        }
    }

    fn len(&self) -> u64 {
        self.end_img - self.first_img
    }
}

impl ShardWriter {
    /// Open `<dump_to>/<hash>` for `md`, creating it or resuming it.
    pub fn create(dump_to: &Path, md: Metadata, opts: WriterOptions) -> Result<Self> {
        Self::create_part(dump_to, md, None, opts)
    }

    /// As [`ShardWriter::create`], for only part `part` of the store (see
    /// [`crate::parts`]); `None` is the whole store.
    pub fn create_part(
        dump_to: &Path,
        md: Metadata,
        part: Option<Part>,
        opts: WriterOptions,
    ) -> Result<Self> {
        let root = md.store_dir(dump_to);
        Self::open_at_part(root, md, part, opts)
    }

    /// Open a store at exactly `root` (saev always uses `<dump_to>/<hash>`; tests
    /// and tools may not), creating it or resuming it.
    pub fn open_at(root: impl Into<PathBuf>, md: Metadata, opts: WriterOptions) -> Result<Self> {
        Self::open_at_part(root, md, None, opts)
    }

    fn open_at_part(
        root: impl Into<PathBuf>,
        md: Metadata,
        part: Option<Part>,
        opts: WriterOptions,
    ) -> Result<Self> {
        let root = root.into();
        let layout = md.layout().map_err(|why| Error::BadMetadata {
            path: root.join(METADATA_FILE),
            why,
        })?;
        let span = Span::new(&root, &layout, part);
        let progress = if root.join(METADATA_FILE).exists() {
            Self::resume_record(&root, &md, &layout, &span)?
        } else {
            // Parts may create the store at the same moment: each writes
            // the same metadata.json, atomically.
            std::fs::create_dir_all(&root).at(&root)?;
            let progress = Progress::empty(span.len());
            progress.save_as(&span.record, opts.durable)?;
            let text = md.to_python_json_pretty();
            write_atomic(&root.join(METADATA_FILE), text.as_bytes(), opts.durable)?;
            progress
        };
        // A part killed mid-write left a temp file of its own record;
        // another part's temp files may be live, so they stay.
        match part {
            Some(p) => {
                let own = p.record_file();
                crate::parts::remove_temps(&root, |name| name.starts_with(&own))?;
            }
            // A one-go recording is the store's only writer.
            None => crate::parts::remove_temps(&root, |_| true)?,
        }
        if part.is_some() && !span.record.exists() {
            progress.save_as(&span.record, opts.durable)?;
        }
        if progress.n_imgs_written > 0 {
            tracing::info!(
                root = %root.display(),
                written = progress.n_imgs_written,
                total = span.len(),
                part = %part.map_or("all".into(), |p| p.to_string()),
                "resuming recording"
            );
        }
        Ok(Self {
            root,
            md,
            layout,
            progress,
            span,
            open_shard: None,
            opts,
        })
    }

    fn resume_record(root: &Path, md: &Metadata, layout: &Layout, span: &Span) -> Result<Progress> {
        let existing = Metadata::load(root)?;
        if &existing != md {
            return Err(Error::Write {
                path: root.join(METADATA_FILE),
                why: "holds a different recording's metadata; choose another directory".into(),
            });
        }
        if let Some(part) = span.part {
            return Self::resume_part(root, layout, span, part);
        }
        if let Some(count) = crate::parts::part_count(root) {
            if Progress::load(root)?.is_none() {
                return Err(Error::Write {
                    path: root.to_path_buf(),
                    why: format!(
                        "is being recorded in {count} parts; finish each with --part I/{count} (or delete the directory to record it in one go)"
                    ),
                });
            }
        }
        match Progress::load(root)? {
            Some(progress) if progress.shards.len() <= layout.n_shards() => Ok(progress),
            Some(_) => Err(Error::BadMetadata {
                path: root.join(PROGRESS_FILE),
                why: format!(
                    "lists more shards than the {} the metadata allows",
                    layout.n_shards()
                ),
            }),
            None if root.join(shard_file_name(0)).exists() => Err(Error::Write {
                path: root.to_path_buf(),
                why: format!(
                    "already holds shards but no {PROGRESS_FILE} (recorded by saev?); \
                     refusing to overwrite them. Delete the directory to record again."
                ),
            }),
            None => Ok(Progress::empty(md.n_imgs)),
        }
    }

    fn resume_part(root: &Path, layout: &Layout, span: &Span, part: Part) -> Result<Progress> {
        if let Some(record) = Progress::load_file(&span.record)? {
            let n_shards = part.shards(layout).len();
            if record.n_imgs != span.len() || record.shards.len() > n_shards {
                return Err(Error::BadMetadata {
                    path: span.record.clone(),
                    why: format!(
                        "records {} images in {} shards, but part {part} has {} images in {n_shards}",
                        record.n_imgs,
                        record.shards.len(),
                        span.len()
                    ),
                });
            }
            return Ok(record);
        }
        // The whole store finished already (by parts or in one go): this
        // part's share of its record.
        if let Some(whole) = Progress::load(root)?.filter(|p| p.is_complete()) {
            let shards = whole.shards[part.shards(layout)].to_vec();
            return Ok(Progress {
                n_imgs_written: span.len(),
                n_imgs: span.len(),
                shards,
                ..whole
            });
        }
        Ok(Progress::empty(span.len()))
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn metadata(&self) -> &Metadata {
        &self.md
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Images fully written by this writer's part (the whole store's, when
    /// it records the whole store).
    pub fn n_written(&self) -> u64 {
        self.progress.n_imgs_written
    }

    /// The index in the store of the next image to append.
    pub fn next_image(&self) -> u64 {
        self.span.first_img + self.progress.n_imgs_written
    }

    /// The images this writer records: the whole store, or its part's.
    pub fn images(&self) -> std::ops::Range<u64> {
        self.span.first_img..self.span.end_img
    }

    /// Whether all the images of this writer's part are written.
    pub fn is_complete(&self) -> bool {
        self.progress.is_complete()
    }

    /// Append whole images, `acts_BLTD` in C order `[B, n_layers, n_tokens, d_vit]`.
    pub fn append(&mut self, acts_BLTD: &[f32]) -> Result<()> {
        let per_img = self.layout.image_floats();
        if !acts_BLTD.len().is_multiple_of(per_img) {
            return Err(Error::Write {
                path: self.root.clone(),
                why: format!(
                    "batch of {} values is not whole images of {} layers x {} tokens x {} dims",
                    acts_BLTD.len(),
                    self.layout.n_layers,
                    self.layout.n_tokens,
                    self.layout.d_vit
                ),
            });
        }
        let n_new = (acts_BLTD.len() / per_img) as u64;
        if self.n_written() + n_new > self.span.len() {
            return Err(Error::Write {
                path: self.root.clone(),
                why: format!(
                    "cannot append {n_new} images: {} of {} already written",
                    self.n_written(),
                    self.span.len()
                ),
            });
        }
        let mut rest = acts_BLTD;
        let mut touched = Vec::new();
        while !rest.is_empty() {
            let (shard, pos) = self.layout.locate(self.next_image());
            let take = ((self.layout.n_imgs_per_shard - pos) as usize).min(rest.len() / per_img);
            let (head, tail) = rest.split_at(take * per_img);
            let bytes: &[u8] = bytemuck::cast_slice(head);
            let offset = pos * per_img as u64 * 4;
            let path = self.root.join(shard_file_name(shard));
            self.shard_file(shard)?
                .write_all_at(bytes, offset)
                .at(&path)?;
            self.record_written(shard, pos, take as u64, bytes);
            if !touched.contains(&shard) {
                touched.push(shard);
            }
            rest = tail;
        }
        if self.opts.durable {
            for shard in touched {
                let path = self.root.join(shard_file_name(shard));
                self.shard_file(shard)?.sync_data().at(&path)?;
            }
        }
        self.progress.save_as(&self.span.record, self.opts.durable)
    }

    fn record_written(&mut self, shard: usize, pos: u64, n: u64, bytes: &[u8]) {
        let shard_file = shard_file_name(shard);
        let shard = shard - self.span.first_shard;
        if self.progress.shards.len() == shard {
            self.progress.shards.push(ShardRecord {
                file: shard_file,
                n_imgs: 0,
                crc32: 0,
            });
        }
        let record = &mut self.progress.shards[shard];
        debug_assert_eq!(record.n_imgs, pos);
        let mut hasher = crc32fast::Hasher::new_with_initial(record.crc32);
        hasher.update(bytes);
        record.crc32 = hasher.finalize();
        record.n_imgs += n;
        self.progress.n_imgs_written += n;
    }

    /// The open file of `shard`, created at full (sparse) size if new.
    fn shard_file(&mut self, shard: usize) -> Result<&File> {
        if self.open_shard.as_ref().map(|(i, _)| *i) != Some(shard) {
            let path = self.root.join(shard_file_name(shard));
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .at(&path)?;
            let len = file.metadata().at(&path)?.len();
            if len < self.layout.shard_bytes() {
                file.set_len(self.layout.shard_bytes()).at(&path)?;
            }
            tracing::debug!(path = %path.display(), "opened shard");
            self.open_shard = Some((shard, file));
        }
        Ok(&self.open_shard.as_ref().expect("just opened").1)
    }

    /// Close the store (or the part); an error if images are missing. The
    /// part that finds every part complete writes the store's record.
    pub fn finish(self) -> Result<PathBuf> {
        if !self.is_complete() {
            return Err(Error::Incomplete {
                path: self.root,
                written: self.progress.n_imgs_written,
                total: self.span.len(),
            });
        }
        if let Some(part) = self.span.part {
            crate::parts::merge_if_complete(
                &self.root,
                &self.layout,
                part.count,
                self.opts.durable,
            )?;
        }
        Ok(self.root)
    }
}
