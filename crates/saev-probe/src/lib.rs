//! Linear probes: `logits = x W^T + b` (PyTorch's `nn.Linear` layout, `W [C, D]`),
//! trained with cross-entropy and PyTorch's AdamW, many settings at once on
//! the same batches (the original's `contrib/classification`).
//!
//! - [`Probe`]: the classifier, its predictions and probabilities, and its
//!   checkpoint (`model.safetensors`).
//! - [`train_sweep`]: every `(learning rate, weight decay)` setting trained in
//!   parallel, with train and validation accuracy per epoch.
//!
//! Knows nothing of shards or images: examples are `&[f32]` rows and `u32`
//! class targets.

mod probe;
mod train;

pub use probe::{softmax, Probe, ProbeError};
pub use train::{train_sweep, EpochLog, Setting, SweepConfig};
