//! Dataset preparation for saev: turn official dataset downloads into the
//! `ImageFolder` trees (`<split>/<class>/<image>`) that saev reads.
//!
//! - [`flowers102`] prepares Oxford Flowers-102 (`102flowers.tgz`,
//!   `imagelabels.mat`, `setid.mat`) into `train/`, `val/` and `test/`,
//!   streaming straight from the tarball; [`flowers102::download`] fetches the
//!   three files with the system `curl`.
//! - [`mat`] reads the numeric arrays of MATLAB v5 `.mat` files (what
//!   `scipy.io.savemat` and MATLAB's default `-v7` write), which is how
//!   Flowers-102 ships its labels and splits.
//! - [`imagenet`] reads Hugging Face's ImageNet-1K parquet files offline, in
//!   `datasets`' order.
//!
//! ```no_run
//! let dir = std::path::Path::new("/data/flowers102");
//! saev_datasets::flowers102::download(dir)?;
//! let summary = saev_datasets::flowers102::prepare(dir)?;
//! println!("{} train, {} val, {} test images in {} classes",
//!          summary.train, summary.val, summary.test, summary.classes);
//! # Ok::<(), saev_datasets::Error>(())
//! ```

mod error;
pub mod flowers102;
pub mod imagenet;
pub mod mat;

pub use error::{Error, Result};
