//! Image input for saev-rs: decoding, open_clip's CLIP preprocessing exactly
//! as Pillow and torchvision compute it, and torchvision's `ImageFolder`
//! file order (so image indices agree with saev's).
//!
//! No tensors here: images in, `Vec<f32>` out.

mod folder;
mod image;
mod resample;
mod transform;

pub use folder::{ImageFolder, Sample, IMG_EXTENSIONS};
pub use image::{Image8, Mode};
pub use resample::{resize, Filter};
pub use transform::{
    crop_offset, pil_resize, shortest_side_size, ClipTransform, OPENAI_MEAN, OPENAI_STD,
};

use std::path::PathBuf;

/// Errors naming the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
    #[error("{0}: cannot decode image: {1}")]
    Decode(PathBuf, String),
    #[error("{0}: {1}")]
    Folder(PathBuf, String),
}

/// Images in a fixed order (the order a store was recorded in), with a
/// label each: what pictures of latents are drawn from.
pub trait ImageSource: Sync {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Image `i`, decoded; the error says which file failed and why.
    fn image(&self, i: usize) -> Result<Image8, String>;
    /// Its class name (empty when unknown).
    fn label(&self, i: usize) -> String;
}
