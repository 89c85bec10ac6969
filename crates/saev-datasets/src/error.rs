//! The crate's one error type. Every variant names the file or directory it
//! is about, so a message alone tells the user what to fix.

use std::path::PathBuf;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading, writing or renaming `path` failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `path` is not a MAT-file this crate can read, or lacks what was asked.
    #[error("{}: {what}", path.display())]
    Mat { path: PathBuf, what: String },

    /// The dataset files are readable but disagree with each other or with
    /// the dataset's documented layout (e.g. an image in two splits).
    #[error("{}: {what}", path.display())]
    Invalid { path: PathBuf, what: String },

    /// Some of a dataset's official files are not in `dir`.
    #[error(
        "{}: missing {}; download {} into this directory",
        dir.display(),
        missing.join(", "),
        urls.join(" and ")
    )]
    MissingFiles {
        dir: PathBuf,
        missing: Vec<String>,
        urls: Vec<String>,
    },

    /// The system `curl` could not be run or failed.
    #[error("{what}; download {url} by hand into {}", dir.display())]
    Download {
        url: String,
        dir: PathBuf,
        what: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
