//! The demo world that stands in for ImageNet, Flowers-102 and CLIP when no
//! data or weights are given (`cargo xtask reproduce` with no arguments).
//!
//! - [`world`]: small pictures of a coloured shape on a textured background.
//!   The "pretraining" classes are some (shape, colour) pairs; the "flowers"
//!   classes are the other pairs. Every shape and every colour appears in
//!   both, so features learned on the first set (shape and colour
//!   detectors) are what the second set's classes are made of.
//! - [`pretrain`]: a small `saev-vit` tower (same code as CLIP's, a small
//!   config) trained with burn to classify the pretraining set, then saved in
//!   open_clip's layout for `saev activations`.

pub mod pretrain;
pub mod world;
