//! saev's sparse autoencoders, for other Rust code to build on.
//!
//! - [`Sae`] and [`SaeConfig`]: the ReLU SAE exactly as saev defines it
//!   (weights `W_enc [D, S]`, `b_enc [S]`, `W_dec [S, D]`, `b_dec [D]`),
//!   plus the TopK and BatchTopK [`Activation`]s, the AuxK loss and the
//!   Matryoshka objective ([`objective`]).
//! - [`Trainer`]: saev's training step (unit-norm decoder rows, parallel
//!   gradient removal, Adam with linear warm-ups) with gradients written out
//!   by hand and matrix products through `gemm`, so a step on the CPU costs
//!   little more than its four products. [`gradients`] exposes the step's
//!   gradients for checking.
//!
//! Knows nothing of images or shards: batches are `&[f32]` rows.
//!
//! ```
//! use saev_sae::{Sae, SaeConfig, TrainConfig, Trainer};
//! let sae = Sae::new(SaeConfig { d_vit: 8, exp_factor: 4, ..SaeConfig::default() });
//! let mut trainer = Trainer::new(sae, TrainConfig { lr: 1e-3, n_lr_warmup: 10, n_sparsity_warmup: 10, ..TrainConfig::default() });
//! let batch = vec![0.5f32; 16 * 8];
//! let losses = trainer.step(&batch).expect("finite loss");
//! assert!(losses.mse.is_finite());
//! ```

mod activation;
mod aux_k;
mod batch_cut;
pub mod bench;
mod checkpoint;
pub mod codes;
mod dense;
mod density;
mod encode;
pub mod eval;
pub mod gpu;
mod import;
mod matmul;
pub mod nan_null;
pub mod objective;
pub mod optim;
mod sae;
pub mod sparse;
mod step;
pub mod sweep;
mod train;

pub use activation::Activation;
pub use checkpoint::CheckpointError;
pub use codes::SparseCodes;
pub use dense::{gradients, step_gradients, step_gradients_on};
pub use gpu::{BurnTrainer, Precision, StepKernels};
pub use matmul::{matmul, matmul_into, View};
pub use objective::{AuxK, Matryoshka};
pub use sae::{DataNorm, Losses, Sae, SaeConfig};
pub use step::{
    prefixes_at, remove_parallel, warmup, Grads, NonFiniteLoss, StepOptions, StepOutput, StepPath,
    TrainConfig, Workspace,
};
pub use train::Trainer;
