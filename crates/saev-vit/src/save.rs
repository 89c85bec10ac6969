//! Writing a tower in open_clip's layout (`open_clip_model.safetensors` with
//! `visual.*` names and PyTorch shapes, plus `open_clip_config.json`), so a
//! model trained here loads anywhere open_clip towers load, `saev
//! activations --model-ckpt DIR` included. The inverse of [`crate::load`].

use std::collections::HashMap;
use std::path::Path;

use burn::prelude::*;
use safetensors::tensor::{Dtype, TensorView};

use crate::config::Activation;
use crate::model::{Dense, Norm, VisionTransformer};

/// A tensor's shape and values.
type Named = (Vec<usize>, Vec<f32>);

fn data<B: Backend, const D: usize>(t: Tensor<B, D>) -> Named {
    let shape = t.dims().to_vec();
    let v = t
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("f32 tensor");
    (shape, v)
}

/// `[rows, cols]` row-major transposed.
fn transpose((shape, v): (Vec<usize>, Vec<f32>)) -> (Vec<usize>, Vec<f32>) {
    let (r, c) = (shape[0], shape[1]);
    let mut out = vec![0.0; r * c];
    for i in 0..r {
        for j in 0..c {
            out[j * r + i] = v[i * c + j];
        }
    }
    (vec![c, r], out)
}

/// Save `vit` into directory `dir` as open_clip would lay it out.
pub fn save_open_clip<B: Backend>(vit: &VisionTransformer<B>, dir: &Path) -> std::io::Result<()> {
    let cfg = &vit.config;
    let (w, p) = (cfg.width, cfg.patch_size);
    let mut t: Vec<(String, Named)> = Vec::new();
    let mut put = |name: &str, x: (Vec<usize>, Vec<f32>)| t.push((format!("visual.{name}"), x));
    let linear = |d: &Dense<B>| {
        (
            transpose(data(d.weight.val())),
            d.bias.as_ref().map(|b| data(b.val())),
        )
    };
    let norm = |n: &Norm<B>| (data(n.gamma.val()), data(n.beta.val()));
    // conv1: ours [3 p p, w] -> PyTorch [w, 3, p, p].
    let (_, conv) = transpose(data(vit.conv1.val()));
    put("conv1.weight", (vec![w, 3, p, p], conv));
    put("class_embedding", data(vit.class_embedding.val()));
    put("positional_embedding", data(vit.positional_embedding.val()));
    let (g, b) = norm(&vit.ln_pre);
    put("ln_pre.weight", g);
    put("ln_pre.bias", b);
    for (i, blk) in vit.transformer.resblocks.iter().enumerate() {
        let pre = format!("transformer.resblocks.{i}");
        let (g, b) = norm(&blk.ln_1);
        put(&format!("{pre}.ln_1.weight"), g);
        put(&format!("{pre}.ln_1.bias"), b);
        for (name, d) in [
            ("attn.in_proj", &blk.attn.in_proj),
            ("attn.out_proj", &blk.attn.out_proj),
            ("mlp.c_fc", &blk.mlp.c_fc),
            ("mlp.c_proj", &blk.mlp.c_proj),
        ] {
            let (wt, bias) = linear(d);
            // nn.MultiheadAttention names its fused projection in_proj_weight / in_proj_bias.
            let (wn, bn) = if name == "attn.in_proj" {
                (
                    format!("{pre}.attn.in_proj_weight"),
                    format!("{pre}.attn.in_proj_bias"),
                )
            } else {
                (format!("{pre}.{name}.weight"), format!("{pre}.{name}.bias"))
            };
            put(&wn, wt);
            if let Some(bias) = bias {
                put(&bn, bias);
            }
        }
        let (g, b) = norm(&blk.ln_2);
        put(&format!("{pre}.ln_2.weight"), g);
        put(&format!("{pre}.ln_2.bias"), b);
    }
    let (g, b) = norm(&vit.ln_post);
    put("ln_post.weight", g);
    put("ln_post.bias", b);
    if let Some(proj) = &vit.proj {
        put("proj", data(proj.val()));
    }
    std::fs::create_dir_all(dir)?;
    let views: Vec<(String, TensorView<'_>)> = t
        .iter()
        .map(|(n, (s, v))| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), bytemuck::cast_slice(v)).expect("shape"),
            )
        })
        .collect();
    let bytes = safetensors::serialize(views, &None::<HashMap<String, String>>)
        .map_err(std::io::Error::other)?;
    let json = serde_json::json!({
        "model_cfg": {
            "embed_dim": cfg.output_dim,
            "quick_gelu": cfg.act == Activation::QuickGelu,
            "vision_cfg": {
                "image_size": cfg.image_size, "layers": cfg.layers, "width": w,
                "head_width": w / cfg.heads, "patch_size": p, "mlp_ratio": cfg.mlp_ratio,
            },
        },
        "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]},
    });
    let write = |name: &str, b: &[u8]| saev_io::write_atomic(&dir.join(name), b);
    write("open_clip_model.safetensors", &bytes)?;
    write(
        "open_clip_config.json",
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )
}
