//! The image datasets `saev activations` can record, in saev's image order.

use std::path::PathBuf;

use rayon::prelude::*;
use saev_datasets::imagenet::ParquetImages;
use saev_imaging::{Image8, ImageFolder};
use saev_shards::python_repr;

use crate::Error;

/// Where images come from (`data:image-folder-dataset`, `data:imagenet-dataset`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSource {
    /// Class folders: `root/<class>/<image>`, in torchvision's `ImageFolder` order.
    ImageFolder { root: PathBuf },
    /// ImageNet-1K, offline: Hugging Face's `ILSVRC/imagenet-1k` parquet files
    /// (`<split>-*.parquet` in `root`, `root/data` or `root/<split>`), in the
    /// order `datasets` yields them (saev's order), or else class folders
    /// `root/<split>/<wnid>/<image>` (or `root/<wnid>/...`).
    Imagenet { root: PathBuf, split: String },
}

/// How the listed images are stored.
#[derive(Clone, Debug)]
pub enum Images {
    Files(Vec<PathBuf>),
    Parquet(ParquetImages),
}

/// The listed images of a source, with labels.
#[derive(Clone, Debug)]
pub struct ImageList {
    pub classes: Vec<String>,
    pub targets: Vec<u32>,
    /// Printable origin of each image (a path, or `file.parquet#row`).
    pub origins: Vec<String>,
    pub images: Images,
}

impl DataSource {
    /// saev's `str(cfg.data)`, which goes into `metadata.json` (and so the store's hash).
    pub fn saev_repr(&self) -> String {
        match self {
            DataSource::ImageFolder { root } => {
                format!(
                    "ImageFolderDataset(root={})",
                    python_repr(&root.to_string_lossy())
                )
            }
            DataSource::Imagenet { split, .. } => {
                format!(
                    "ImagenetDataset(name='ILSVRC/imagenet-1k', split={})",
                    python_repr(split)
                )
            }
        }
    }

    /// List the images, in the order saev records them.
    pub fn list(&self) -> Result<ImageList, Error> {
        let folder = match self {
            DataSource::ImageFolder { root } => ImageFolder::open(root)?,
            DataSource::Imagenet { root, split } => {
                if !saev_datasets::imagenet::find_split_files(root, split).is_empty() {
                    let parquet = ParquetImages::open(root, split)?;
                    let targets = parquet
                        .labels()?
                        .into_iter()
                        .map(|l| {
                            u32::try_from(l).map_err(|_| {
                                Error::Config(format!("negative label {l} in {}", root.display()))
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    let mut origins = Vec::with_capacity(targets.len());
                    for (file, &n) in parquet.files.iter().zip(&parquet.rows) {
                        origins.extend((0..n).map(|i| format!("{}#{i}", file.display())));
                    }
                    return Ok(ImageList {
                        classes: parquet.classes.clone(),
                        targets,
                        origins,
                        images: Images::Parquet(parquet),
                    });
                }
                let split_dir = root.join(split);
                ImageFolder::open(if split_dir.is_dir() {
                    split_dir
                } else {
                    root.clone()
                })?
            }
        };
        Ok(ImageList {
            origins: folder
                .samples
                .iter()
                .map(|s| s.path.to_string_lossy().into_owned())
                .collect(),
            targets: folder.samples.iter().map(|s| s.target as u32).collect(),
            images: Images::Files(folder.samples.into_iter().map(|s| s.path).collect()),
            classes: folder.classes,
        })
    }
}

impl ImageList {
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Decode image `i` as saev's datasets load it:
    /// `Image.open(p).convert("RGB")` (see [`Image8::open_rgb`]).
    pub fn image(&self, i: usize) -> Result<Image8, Error> {
        match &self.images {
            Images::Files(paths) => Ok(Image8::open_rgb(&paths[i])?),
            Images::Parquet(parquet) => {
                let rows = parquet.read(i, i + 1)?;
                let row = rows
                    .first()
                    .ok_or_else(|| Error::Config(format!("no image {i} in the parquet files")))?;
                Ok(Image8::decode_rgb(&row.bytes)
                    .map_err(|why| saev_imaging::Error::Decode(PathBuf::from(&row.origin), why))?)
            }
        }
    }

    /// Class name of image `i`.
    pub fn label(&self, i: usize) -> &str {
        &self.classes[self.targets[i] as usize]
    }

    /// Decode images `start..end` (converted to RGB, as [`ImageList::image`])
    /// in parallel (on the current rayon pool),
    /// handing each with its `per_img`-long slice of `out` to `each`.
    pub fn decode_batch(
        &self,
        start: usize,
        end: usize,
        out: &mut [f32],
        per_img: usize,
        each: impl Fn(&Image8, &mut [f32]) + Sync,
    ) -> Result<(), Error> {
        let slots = out.par_chunks_mut(per_img);
        match &self.images {
            Images::Files(paths) => slots.zip(&paths[start..end]).try_for_each(|(o, path)| {
                each(&Image8::open_rgb(path)?, o);
                Ok(())
            }),
            Images::Parquet(parquet) => {
                let rows = parquet.read(start, end)?;
                slots.zip(&rows).try_for_each(|(o, row)| {
                    let img = Image8::decode_rgb(&row.bytes).map_err(|why| {
                        saev_imaging::Error::Decode(PathBuf::from(&row.origin), why)
                    })?;
                    each(&img, o);
                    Ok(())
                })
            }
        }
    }
}

impl saev_imaging::ImageSource for ImageList {
    fn len(&self) -> usize {
        ImageList::len(self)
    }
    fn image(&self, i: usize) -> Result<Image8, String> {
        ImageList::image(self, i).map_err(|e| e.to_string())
    }
    fn label(&self, i: usize) -> String {
        ImageList::label(self, i).to_string()
    }
}

impl ImageList {
    /// The images whose paths `labels.json` beside the store records, when
    /// they are all files (`None` otherwise).
    pub fn from_labels(store: &std::path::Path) -> Result<Option<ImageList>, saev_shards::Error> {
        let Some(l) = saev_shards::Labels::load(store)? else {
            return Ok(None);
        };
        if !l.paths.iter().all(|p| std::path::Path::new(p).is_file()) {
            return Ok(None);
        }
        Ok(Some(ImageList {
            classes: l.classes.clone(),
            targets: l.targets.clone(),
            origins: l.paths.clone(),
            images: Images::Files(l.paths.iter().map(PathBuf::from).collect()),
        }))
    }
}

impl ImageList {
    /// The images a store was recorded from, in order: `source`'s, or else
    /// those whose paths `labels.json` beside the store records.
    pub fn for_store(
        source: Option<DataSource>,
        store: &std::path::Path,
    ) -> Result<Option<ImageList>, Error> {
        match source {
            Some(s) => Ok(Some(s.list()?)),
            None => Ok(ImageList::from_labels(store)?),
        }
    }
}
