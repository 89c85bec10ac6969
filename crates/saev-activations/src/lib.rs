//! `saev activations`: run a CLIP ViT over an image dataset and record the
//! residual stream of chosen layers ([CLS] and patches) into a saev shard
//! store, with a labels sidecar. Composes `saev-imaging` (decoding and
//! preprocessing), `saev-vit` (the model) and `saev-shards` (the store).

mod data;
mod record;

pub use data::{DataSource, ImageList, Images};
pub use record::{record, Progress, RecordConfig, Summary};

/// Everything that can stop a recording, each naming its file or flag.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Image(#[from] saev_imaging::Error),
    #[error(transparent)]
    Shards(#[from] saev_shards::Error),
    #[error(transparent)]
    Dataset(#[from] saev_datasets::Error),
    #[error(transparent)]
    Load(#[from] saev_vit::LoadError),
    #[error(transparent)]
    Resolve(#[from] saev_vit::ResolveError),
    #[error("{0}")]
    Config(String),
}
