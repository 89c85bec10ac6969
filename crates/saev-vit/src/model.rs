//! open_clip's `VisionTransformer`, as used by the OpenAI CLIP weights.
//!
//! ```text
//! x = conv1(pixels)                       patch embedding, no bias (a matmul here)
//! x = [class_embedding; x] + positional_embedding
//! x = ln_pre(x)
//! for each block:                         pre-LN residual blocks
//!     x = x + out_proj(attention(in_proj(ln_1(x))))
//!     x = x + c_proj(act(c_fc(ln_2(x))))
//! pooled = ln_post(x[:, 0])               [CLS]
//! embedding = pooled @ proj
//! ```
//!
//! Field names follow open_clip's state dict (`transformer.resblocks.3.attn.in_proj_weight`)
//! so the weight map in [`crate::load`] reads like a table. Linear weights are
//! stored as `[in, out]` (burn's convention, transposed from PyTorch on load).

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::{gelu, sigmoid, softmax};

use crate::config::{Activation, VitConfig};

/// `y = x @ weight + bias`, `weight` `[in, out]`.
#[derive(Module, Debug)]
pub struct Dense<B: Backend> {
    pub weight: Param<Tensor<B, 2>>,
    pub bias: Option<Param<Tensor<B, 1>>>,
}

impl<B: Backend> Dense<B> {
    /// `x` is `[rows, in]`; a single 2-D product keeps the backend's matmul fully parallel.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let y = x.matmul(self.weight.val());
        match &self.bias {
            Some(b) => y + b.val().unsqueeze::<2>(),
            None => y,
        }
    }
}

/// LayerNorm over the last dimension, two-pass variance as PyTorch computes it.
#[derive(Module, Debug)]
pub struct Norm<B: Backend> {
    pub gamma: Param<Tensor<B, 1>>,
    pub beta: Param<Tensor<B, 1>>,
    pub eps: f64,
}

impl<B: Backend> Norm<B> {
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let mean = x.clone().mean_dim(D - 1);
        let centered = x - mean;
        let var = centered.clone().powi_scalar(2).mean_dim(D - 1);
        let normed = centered / (var + self.eps).sqrt();
        normed * self.gamma.val().unsqueeze::<D>() + self.beta.val().unsqueeze::<D>()
    }
}

/// Multi-head self-attention with fused q/k/v (PyTorch's `nn.MultiheadAttention`).
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    /// `[width, 3 * width]`: q, k, v side by side.
    pub in_proj: Dense<B>,
    pub out_proj: Dense<B>,
    pub heads: usize,
}

impl<B: Backend> Attention<B> {
    pub fn forward(&self, x_BSW: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, s, w] = x_BSW.dims();
        let (h, dh) = (self.heads, w / self.heads);
        let qkv = self
            .in_proj
            .forward(x_BSW.reshape([b * s, w]))
            .reshape([b, s, 3, h, dh]);
        // Strided views [B, H, S, Dh]; the batched matmuls read them without copying.
        let head = |i: usize| {
            qkv.clone()
                .slice(s![.., .., i..i + 1, .., ..])
                .reshape([b, s, h, dh])
                .swap_dims(1, 2)
        };
        let (q, k, v) = (head(0), head(1), head(2));
        let scores = q
            .matmul(k.swap_dims(2, 3))
            .mul_scalar(1.0 / (dh as f64).sqrt());
        let att = if crate::cpu::is_flex::<B>() {
            crate::cpu::softmax_last(scores)
        } else {
            softmax(scores, 3)
        };
        let out_BHSD = att.matmul(v);
        let out = out_BHSD.swap_dims(1, 2).reshape([b * s, w]);
        self.out_proj.forward(out).reshape([b, s, w])
    }
}

/// The MLP: `c_proj(act(c_fc(x)))`.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    pub c_fc: Dense<B>,
    pub c_proj: Dense<B>,
    #[module(skip)]
    pub act: Activation,
}

impl<B: Backend> Mlp<B> {
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let hidden = self.c_fc.forward(x);
        let hidden = match self.act {
            Activation::QuickGelu if crate::cpu::is_flex::<B>() => crate::cpu::quick_gelu(hidden),
            Activation::QuickGelu => hidden.clone() * sigmoid(hidden.mul_scalar(1.702)),
            Activation::Gelu => gelu(hidden),
        };
        self.c_proj.forward(hidden)
    }
}

/// One pre-LN residual block (open_clip's `ResidualAttentionBlock`).
#[derive(Module, Debug)]
pub struct ResBlock<B: Backend> {
    pub ln_1: Norm<B>,
    pub attn: Attention<B>,
    pub ln_2: Norm<B>,
    pub mlp: Mlp<B>,
}

impl<B: Backend> ResBlock<B> {
    pub fn forward(&self, x_BSW: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, s, w] = x_BSW.dims();
        let x = x_BSW.clone() + self.attn.forward(self.ln_1.forward(x_BSW));
        let mlp = self
            .mlp
            .forward(self.ln_2.forward(x.clone()).reshape([b * s, w]));
        x + mlp.reshape([b, s, w])
    }
}

/// The residual blocks (open_clip's `transformer.resblocks`).
#[derive(Module, Debug)]
pub struct Transformer<B: Backend> {
    pub resblocks: Vec<ResBlock<B>>,
}

/// A CLIP vision tower.
#[derive(Module, Debug)]
pub struct VisionTransformer<B: Backend> {
    /// The patch embedding as a matrix `[3 * patch * patch, width]` (conv1 flattened).
    pub conv1: Param<Tensor<B, 2>>,
    pub class_embedding: Param<Tensor<B, 1>>,
    /// `[1 + n_patches, width]`.
    pub positional_embedding: Param<Tensor<B, 2>>,
    pub ln_pre: Norm<B>,
    pub transformer: Transformer<B>,
    pub ln_post: Norm<B>,
    /// `[width, output_dim]`.
    pub proj: Option<Param<Tensor<B, 2>>>,
    #[module(skip)]
    pub config: VitConfig,
}

/// What a forward pass returns.
#[derive(Debug, Clone)]
pub struct VitOutput<B: Backend> {
    /// Residual stream after each requested block, `[B, 1 + n_patches, width]`, [CLS] first.
    pub residuals: Vec<Tensor<B, 3>>,
    /// `ln_post` of the last block's [CLS], `[B, width]` (when the pass ran to the end).
    pub pooled: Option<Tensor<B, 2>>,
    /// `pooled @ proj`, `[B, output_dim]`.
    pub embeddings: Option<Tensor<B, 2>>,
}

fn zeros1<B: Backend>(n: usize, device: &B::Device) -> Param<Tensor<B, 1>> {
    Param::from_tensor(Tensor::zeros([n], device))
}

fn random2<B: Backend>(shape: [usize; 2], scale: f64, device: &B::Device) -> Param<Tensor<B, 2>> {
    let dist = burn::tensor::Distribution::Normal(0.0, scale);
    Param::from_tensor(Tensor::random(shape, dist, device))
}

fn dense<B: Backend>(d_in: usize, d_out: usize, device: &B::Device) -> Dense<B> {
    Dense {
        weight: random2([d_in, d_out], (d_in as f64).powf(-0.5), device),
        bias: Some(zeros1(d_out, device)),
    }
}

fn norm<B: Backend>(width: usize, eps: f64, device: &B::Device) -> Norm<B> {
    Norm {
        gamma: Param::from_tensor(Tensor::ones([width], device)),
        beta: zeros1(width, device),
        eps,
    }
}

impl<B: Backend> VisionTransformer<B> {
    /// Random weights (for benchmarks and tests): normal with fan-in scaling.
    pub fn random(config: &VitConfig, device: &B::Device) -> Self {
        let w = config.width;
        let p = config.patch_size;
        let resblocks = (0..config.layers)
            .map(|_| ResBlock {
                ln_1: norm(w, config.layer_norm_eps, device),
                attn: Attention {
                    in_proj: dense(w, 3 * w, device),
                    out_proj: dense(w, w, device),
                    heads: config.heads,
                },
                ln_2: norm(w, config.layer_norm_eps, device),
                mlp: Mlp {
                    c_fc: dense(w, config.mlp_width(), device),
                    c_proj: dense(config.mlp_width(), w, device),
                    act: config.act,
                },
            })
            .collect();
        Self {
            conv1: random2([3 * p * p, w], (3.0 * (p * p) as f64).powf(-0.5), device),
            class_embedding: Param::from_tensor(Tensor::random(
                [w],
                burn::tensor::Distribution::Normal(0.0, 0.02),
                device,
            )),
            positional_embedding: random2([config.n_patches() + 1, w], 0.01, device),
            ln_pre: norm(w, config.layer_norm_eps, device),
            transformer: Transformer { resblocks },
            ln_post: norm(w, config.layer_norm_eps, device),
            proj: config
                .output_dim
                .map(|d| random2([w, d], (w as f64).powf(-0.5), device)),
            config: config.clone(),
        }
    }

    /// Tokens entering the first block: `[B, 1 + n_patches, width]`.
    pub fn embed(&self, pixels_BCHW: Tensor<B, 4>) -> Tensor<B, 3> {
        let [b, c, hh, ww] = pixels_BCHW.dims();
        let p = self.config.patch_size;
        let (gh, gw) = (hh / p, ww / p);
        let w = self.config.width;
        // Non-overlapping patches, flattened as conv1's weight is: (channel, row, column).
        let patches = pixels_BCHW
            .reshape([b, c, gh, p, gw, p])
            .permute([0, 2, 4, 1, 3, 5])
            .reshape([b * gh * gw, c * p * p]);
        let x = patches.matmul(self.conv1.val()).reshape([b, gh * gw, w]);
        let cls = self
            .class_embedding
            .val()
            .reshape([1, 1, w])
            .expand([b, 1, w]);
        let x = Tensor::cat(vec![cls, x], 1) + self.positional_embedding.val().unsqueeze::<3>();
        self.ln_pre.forward(x)
    }

    /// The full forward pass, keeping the residual stream after the blocks in
    /// `blocks` (indices from 0; see [`VitConfig::block_index`] for saev's -2).
    pub fn forward(&self, pixels_BCHW: Tensor<B, 4>, blocks: &[usize]) -> VitOutput<B> {
        self.run(pixels_BCHW, blocks, true)
    }

    /// Only as far as the last block in `blocks`: what recording activations needs.
    pub fn forward_residuals(
        &self,
        pixels_BCHW: Tensor<B, 4>,
        blocks: &[usize],
    ) -> Vec<Tensor<B, 3>> {
        self.run(pixels_BCHW, blocks, false).residuals
    }

    fn run(&self, pixels_BCHW: Tensor<B, 4>, blocks: &[usize], to_end: bool) -> VitOutput<B> {
        let last = if to_end {
            self.config.layers
        } else {
            blocks.iter().max().map_or(0, |&i| i + 1)
        };
        let mut x = self.embed(pixels_BCHW);
        let mut kept: Vec<(usize, Tensor<B, 3>)> = Vec::new();
        for (i, block) in self.transformer.resblocks.iter().enumerate().take(last) {
            x = block.forward(x);
            if blocks.contains(&i) {
                kept.push((i, x.clone()));
            }
        }
        let residuals = blocks
            .iter()
            .map(|i| {
                kept.iter()
                    .find(|(j, _)| j == i)
                    .expect("requested block ran")
                    .1
                    .clone()
            })
            .collect();
        if !to_end {
            return VitOutput {
                residuals,
                pooled: None,
                embeddings: None,
            };
        }
        let [b, _, w] = x.dims();
        let pooled = self
            .ln_post
            .forward(x.slice(s![.., 0..1, ..]).reshape([b, w]));
        let embeddings = self.proj.as_ref().map(|p| pooled.clone().matmul(p.val()));
        VitOutput {
            residuals,
            pooled: Some(pooled),
            embeddings,
        }
    }
}
