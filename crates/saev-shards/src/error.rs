//! Errors that name the file and say what is wrong with it.

use std::path::PathBuf;

/// Everything that can go wrong reading or writing a shard store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a shard store: {why}")]
    NotAStore { path: PathBuf, why: String },
    #[error("{path}: malformed metadata: {why}")]
    BadMetadata { path: PathBuf, why: String },
    #[error(
        "{path}: is {actual} bytes, but metadata.json says it holds {expected} bytes ({shape})"
    )]
    ShortShard {
        path: PathBuf,
        actual: u64,
        expected: u64,
        shape: String,
    },
    #[error("{path}: {why}")]
    BadView { path: PathBuf, why: String },
    #[error("{path}: {count} non-finite value(s) (NaN or Inf), first in image {image}, layer index {layer}, token {token}, dimension {dim}")]
    NonFinite {
        path: PathBuf,
        count: u64,
        image: u64,
        layer: usize,
        token: usize,
        dim: usize,
    },
    #[error("{path}: recording is incomplete: {written} of {total} images written; run the recording again to resume it")]
    Incomplete {
        path: PathBuf,
        written: u64,
        total: u64,
    },
    #[error("{path}: {why}")]
    Scale { path: PathBuf, why: String },
    #[error("{path}: {why}")]
    Write { path: PathBuf, why: String },
}

/// Short for `Result<T, saev_shards::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach a path to an I/O error.
pub(crate) trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }
}
