//! torchvision's `ImageFolder`: `root/<class>/**/<image>`, in its exact order.
//!
//! Classes are the sorted names of `root`'s subdirectories (symlinks
//! followed); within a class, `os.walk` directories in sorted order, files in
//! sorted order, keeping names whose lowercase ends with one of
//! [`IMG_EXTENSIONS`]. Python sorts strings by code point, which is the byte
//! order of UTF-8, so Rust's `String` order agrees.

use std::path::{Path, PathBuf};

use crate::Error;

/// torchvision's `IMG_EXTENSIONS`.
pub const IMG_EXTENSIONS: [&str; 9] = [
    ".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp",
];

/// One image: its file and class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    pub path: PathBuf,
    pub target: usize,
}

/// The images of a class-folder dataset, in torchvision's order.
#[derive(Clone, Debug)]
pub struct ImageFolder {
    pub root: PathBuf,
    pub classes: Vec<String>,
    pub samples: Vec<Sample>,
}

fn has_image_extension(name: &str) -> bool {
    let lower = name.to_lowercase();
    IMG_EXTENSIONS.iter().any(|ext| lower.ends_with(ext))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `os.walk(dir, followlinks=True)` sorted by directory path: `(dir, sorted file names)`.
fn walk_sorted(dir: &Path, out: &mut Vec<(String, Vec<String>)>) -> Result<(), Error> {
    let mut files = Vec::new();
    let mut subdirs = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::Io(dir.to_path_buf(), e))?;
    for entry in entries {
        let path = entry.map_err(|e| Error::Io(dir.to_path_buf(), e))?.path();
        if path.is_dir() {
            subdirs.push(path);
        } else {
            files.push(file_name(&path));
        }
    }
    files.sort();
    out.push((dir.to_string_lossy().into_owned(), files));
    for sub in subdirs {
        walk_sorted(&sub, out)?;
    }
    Ok(())
}

impl ImageFolder {
    /// List `root` the way `torchvision.datasets.ImageFolder(root)` does.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, Error> {
        let root = root.into();
        let entries = std::fs::read_dir(&root).map_err(|e| Error::Io(root.clone(), e))?;
        let mut classes = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| Error::Io(root.clone(), e))?.path();
            if path.is_dir() {
                classes.push(file_name(&path));
            }
        }
        classes.sort();
        if classes.is_empty() {
            return Err(Error::Folder(
                root,
                "no class folders found (expected root/<class>/<image>)".into(),
            ));
        }
        let mut samples = Vec::new();
        let mut empty = Vec::new();
        for (target, class) in classes.iter().enumerate() {
            let mut dirs = Vec::new();
            walk_sorted(&root.join(class), &mut dirs)?;
            dirs.sort_by(|a, b| a.0.cmp(&b.0));
            let before = samples.len();
            for (dir, files) in dirs {
                for name in files.into_iter().filter(|n| has_image_extension(n)) {
                    samples.push(Sample {
                        path: Path::new(&dir).join(name),
                        target,
                    });
                }
            }
            if samples.len() == before {
                empty.push(class.clone());
            }
        }
        if !empty.is_empty() {
            return Err(Error::Folder(
                root,
                format!(
                    "no valid image file in class folder(s) {}; supported extensions: {}",
                    empty.join(", "),
                    IMG_EXTENSIONS.join(", ")
                ),
            ));
        }
        Ok(Self {
            root,
            classes,
            samples,
        })
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}
