//! Helpers every saev-rs crate shares, one per concern:
//!
//! - [`write_atomic`]: a file is either its old or its new contents, never
//!   half of one (temp file in the same directory, fsync, rename);
//! - [`Progress`]: an indicatif bar when stderr is a terminal, else a
//!   tracing line at least every 30 s (under `nohup`, a batch scheduler or a
//!   pipe), with the same counts, rate, message and time left;
//! - [`sorted_safetensors_header`]: the same checkpoint, the same bytes.
//!
//! No ML or image dependencies: the shard store uses it too.

mod atomic;
mod progress;
mod safetensors_header;
pub mod sys;

pub use atomic::{remove_stale_temps, write_atomic, write_atomic_with, Durability};
pub use progress::{human, Progress};
pub use safetensors_header::sorted_safetensors_header;
