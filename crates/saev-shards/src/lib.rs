//! saev's activation shards, byte for byte, and fast ways to read them.
//!
//! A *store* is a directory `<dump_to>/<hash>/` with saev's `metadata.json`
//! and raw little-endian f32 files `acts000000.bin`, ... of shape
//! `[n_imgs_per_shard, n_layers, n_tokens, d_vit]` (see `docs/formats.md`).
//! Stores written here are read by saev and the other way round.
//!
//! - [`ShardWriter`] records a store: append `[B, L, T, D]` batches; crash-safe
//!   and resumable through the `saev-rs.json` sidecar.
//! - [`Store`] maps a store for reading; [`Dataset`] is saev's
//!   `activations.Dataset` on top of it (views, clamp, normalization), and
//!   [`Dataset::get`] returns what saev's `__getitem__` returns.
//! - [`loader::shuffled`] and [`loader::ordered`] stream contiguous `[B, D]`
//!   batches from a background thread.
//! - [`convert()`] rewrites a store between the seed's layout and saev's
//!   current protocol 2.1 ([`protocol`]), linking the shard files.
//! - [`verify()`] and [`inspect()`] check and summarize a store.
//!
//! This crate knows nothing of tensors or models: it moves f32s.
//!
//! ```no_run
//! use std::sync::Arc;
//! use saev_shards::{DataLoad, Dataset, Layer, Patches, loader};
//!
//! let ds = Dataset::open(DataLoad {
//!     shard_root: "shards/ac89246f".into(),
//!     patches: Patches::Cls,
//!     layer: Layer::Index(-2),
//!     ..DataLoad::default()
//! })?;
//! for batch in loader::shuffled(Arc::new(ds), loader::ShuffleConfig::default()).take(10) {
//!     let batch = batch?;
//!     println!("{} examples of {} dims", batch.len(), batch.d_vit);
//! }
//! # Ok::<(), saev_shards::Error>(())
//! ```

#[cfg(target_endian = "big")]
compile_error!("saev shards are little-endian f32; big-endian hosts are not supported");

pub mod bench;
pub mod convert;
mod dataset;
mod error;
mod kernels;
mod labels;
pub mod loader;
mod metadata;
pub mod normalize;
pub mod parts;
mod progress;
pub mod protocol;
mod pyjson;
mod serde_impls;
mod store;
pub mod synth;
mod verify;
mod view;
mod writer;

pub use convert::{convert, Format};
pub use dataset::{DataLoad, Dataset, Example};
pub use error::{Error, Result};
pub use kernels::all_finite;
pub use labels::{Labels, LABELS_FILE};
pub use metadata::{python_repr, shard_file_name, Layout, Metadata, METADATA_FILE};
pub use normalize::{Normalization, Scale};
pub use parts::{Part, PartStatus};
pub use progress::{Progress, ShardRecord, PROGRESS_FILE};
pub use protocol::{PatchLabels, ProtocolMetadata, ShardEntry, PATCH_LABELS_FILE, SHARDS_FILE};
pub use store::{resolve_root, Store};
pub use verify::{
    inspect, verify, verify_reporting, verify_with, InspectReport, ShardReport, VerifyReport,
    ViewSummary,
};
pub use view::{Layer, Patches, View};
pub use writer::{ShardWriter, WriterOptions};
