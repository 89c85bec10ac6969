//! The image datasets `saev activations` can record, in saev's image order.

use std::path::{Path, PathBuf};

use saev_imaging::ImageFolder;
use saev_shards::python_repr;

/// Where images come from (`data:image-folder-dataset`, `data:imagenet-dataset`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSource {
    /// Class folders: `root/<class>/<image>`, in torchvision's `ImageFolder` order.
    ImageFolder { root: PathBuf },
    /// ImageNet-1K in the class-folder layout: `root/<split>/<wnid>/<image>`
    /// (or `root/<wnid>/...` when `root` already is the split).
    Imagenet { root: PathBuf, split: String },
}

/// The listed images of a source.
#[derive(Clone, Debug)]
pub struct ImageList {
    pub classes: Vec<String>,
    pub paths: Vec<PathBuf>,
    pub targets: Vec<u32>,
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
    pub fn list(&self) -> Result<ImageList, saev_imaging::Error> {
        let folder = match self {
            DataSource::ImageFolder { root } => ImageFolder::open(root)?,
            DataSource::Imagenet { root, split } => {
                let split_dir = root.join(split);
                let dir: &Path = if split_dir.is_dir() { &split_dir } else { root };
                ImageFolder::open(dir)?
            }
        };
        Ok(ImageList {
            paths: folder.samples.iter().map(|s| s.path.clone()).collect(),
            targets: folder.samples.iter().map(|s| s.target as u32).collect(),
            classes: folder.classes,
        })
    }
}
