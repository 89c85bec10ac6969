//! What each SAE latent means: saev's `visuals`.
//!
//! - [`pass::run`]: one ordered pass over activation shards through an SAE,
//!   keeping per latent its top-k images ([`topk`], ranked by [CLS], by the
//!   image's summed patches or by its best patch) and firing statistics
//!   ([`stats`]: frequency, mean value, maximum, saev's online percentile).
//! - [`output::Visuals`]: those results as saved under
//!   `<dump-to>/sort_by_<mode>/` (safetensors + JSON), loaded back to skip the
//!   pass on a second run.
//! - [`render`]: the pictures: top images at 448 px with patch heatmaps,
//!   `neurons/<latent>/` folders, and a grid of value histograms.
//!
//! Knows shards and SAEs, and images only as decoded pixels handed in by the
//! caller (so any dataset reader works).

pub mod latents;
pub mod output;
pub mod pass;
mod plasma;
pub mod render;
pub mod run;
pub mod select;
pub mod stats;
pub mod topk;

pub use latents::{LatentRow, LatentTable};
pub use output::{Summary, Visuals};
pub use pass::{PassConfig, PassResult, SortBy};
pub use run::{VisualsConfig, VisualsOutcome};

/// Errors, naming the file or image at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
    #[error("{0}: {1}")]
    File(std::path::PathBuf, String),
    #[error("image {0}: {1}")]
    Image(i64, String),
    #[error(transparent)]
    Shards(#[from] saev_shards::Error),
}
