//! Where a ViT-B/16 block spends its time on the CPU (flex backend is eager,
//! so wall-clock per operation is meaningful).
//!
//! ```sh
//! cargo run --release -p saev-vit --example profile_block
//! ```

use std::time::Instant;

use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, softmax};
use saev_vit::{VisionTransformer, VitConfig};

type B = Flex;

fn time<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    println!("{what:>28}: {:7.1} ms", t.elapsed().as_secs_f64() * 1e3);
    out
}

fn main() {
    let device = Default::default();
    let cfg = VitConfig::vit_b_16();
    let vit = VisionTransformer::<B>::random(&cfg, &device);
    let (b, s, w) = (16, 197, 768);
    let x = Tensor::<B, 3>::random(
        [b, s, w],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let block = &vit.transformer.resblocks[0];
    for _ in 0..2 {
        let t0 = Instant::now();
        let h = time("ln_1", || block.ln_1.forward(x.clone()));
        let h2 = h.reshape([b * s, w]);
        let qkv = time("qkv matmul + bias", || {
            block.attn.in_proj.forward(h2.clone())
        });
        let qkv5 = qkv.reshape([b, s, 3, 12, 64]);
        let head = |i: usize| {
            qkv5.clone()
                .slice(s![.., .., i..i + 1, .., ..])
                .reshape([b, s, 12, 64])
                .swap_dims(1, 2)
        };
        let (q, k, v) = (head(0), head(1), head(2));
        let _ = &v;
        let scores = time("q @ k^T", || q.clone().matmul(k.clone().swap_dims(2, 3)));
        let scores = time("scale", || scores.mul_scalar(0.125));
        let att = time("softmax (burn)", || softmax(scores.clone(), 3));
        let _ = time("attention total (fast path)", || {
            block.attn.forward(x.clone())
        });
        let o = time("att @ v", || att.matmul(v));
        let o = time("swap + reshape", || o.swap_dims(1, 2).reshape([b * s, w]));
        let o = time("out_proj", || block.attn.out_proj.forward(o));
        let x2 = time("residual add", || x.clone() + o.reshape([b, s, w]));
        let h = time("ln_2", || {
            block.ln_2.forward(x2.clone()).reshape([b * s, w])
        });
        let hid = time("c_fc matmul + bias", || block.mlp.c_fc.forward(h));
        let hid = time("quickgelu (burn ops)", || {
            hid.clone() * sigmoid(hid.mul_scalar(1.702))
        });
        let _ = time("mlp total (fast path)", || {
            block
                .mlp
                .forward(block.ln_2.forward(x2.clone()).reshape([b * s, w]))
        });
        let y = time("c_proj matmul + bias", || block.mlp.c_proj.forward(hid));
        let _ = time("residual add", || x2 + y.reshape([b, s, w]));
        let _ = time("q @ (k^T * s) contiguous", || {
            q.clone()
                .matmul(k.clone().swap_dims(2, 3).mul_scalar(0.125))
        });
        let _ = time("q*s @ k^T", || {
            q.clone()
                .mul_scalar(0.125)
                .matmul(k.clone().swap_dims(2, 3))
        });
        let bare = time("bare qkv matmul", || {
            h2.clone().matmul(block.attn.in_proj.weight.val())
        });
        let _ = time("bias add alone", || {
            bare + block
                .attn
                .in_proj
                .bias
                .as_ref()
                .unwrap()
                .val()
                .unsqueeze::<2>()
        });
        println!(
            "{:>28}: {:7.1} ms\n",
            "block total",
            t0.elapsed().as_secs_f64() * 1e3
        );
    }
}
