//! CLIP vision transformers in burn, exactly as open_clip computes them.
//!
//! - [`VitConfig`]: the architecture, with OpenAI presets (`ViT-B-16`, `ViT-B-32`,
//!   `ViT-L-14`) and readers for open_clip's and Hugging Face's config files.
//! - [`VisionTransformer`]: the model, generic over the burn backend; its
//!   forward pass returns the residual stream after any blocks you ask for
//!   (all tokens, [CLS] first) and the pooled and projected outputs.
//! - [`load_pretrained`]: weights from a directory or file as users download
//!   them (open_clip safetensors or `.bin`, Hugging Face `CLIPVisionModel*` /
//!   `CLIPModel`), and [`resolve_model`] for saev's `--model-ckpt` names.
//!
//! ## Layer numbering
//!
//! saev hooks `transformer.resblocks[i]` with Python indexing, so layer `-2`
//! is the output of the second-to-last block (block 10 of 0..12 for ViT-B,
//! "layer 11" in the paper); [`VitConfig::block_index`] does the conversion.
//! Hugging Face's `hidden_states` has one more entry at the front (the
//! embeddings after `pre_layrnorm`, before any block), so block `i`'s output is
//! `hidden_states[i + 1]`; saev's `-2` is `hidden_states[-2]` either way.

pub mod bench;
mod config;
mod cpu;
pub mod load;
mod model;
mod resolve;
pub mod save;

pub use config::{Activation, VitConfig};
pub use load::LoadError;
pub use model::{Attention, Dense, Mlp, Norm, ResBlock, Transformer, VisionTransformer, VitOutput};
pub use resolve::{load_pretrained, resolve_model, ModelFiles, ResolveError};
pub use save::save_open_clip;
