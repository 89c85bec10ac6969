//! Weights from the files users download, read with burn-store.
//!
//! Two layouts are accepted, as a directory or a single file:
//!
//! | source | weights | config |
//! |---|---|---|
//! | open_clip (`timm/vit_base_patch16_clip_224.openai`, ...) | `open_clip_model.safetensors` or `open_clip_pytorch_model.bin`, keys with or without `visual.` | `open_clip_config.json` |
//! | Hugging Face transformers (`openai/clip-vit-base-patch16`, ...) | `model.safetensors` of `CLIPVisionModel`, `CLIPVisionModelWithProjection` or `CLIPModel` | `config.json` |
//!
//! Both are first renamed to open_clip's vision state-dict names (the table in
//! [`hf_to_open_clip`]), then taken one by one by [`build`], which checks every
//! shape. Missing, unexpected or wrongly shaped tensors are one error listing
//! them all by name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::prelude::*;
use burn_store::{ModuleStore, PytorchStore, SafetensorsStore};

use crate::config::VitConfig;
use crate::model::{Attention, Dense, Mlp, Norm, ResBlock, Transformer, VisionTransformer};

/// A tensor as read from a file: f32 values in C order and a shape.
#[derive(Clone, Debug)]
pub struct Raw {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Raw {
    /// The matrix transposed (PyTorch `[out, in]` to burn `[in, out]`).
    fn t(&self) -> Raw {
        let (r, c) = (self.shape[0], self.shape[1]);
        let mut data = vec![0.0; r * c];
        for i in 0..r {
            for j in 0..c {
                data[j * r + i] = self.data[i * c + j];
            }
        }
        Raw {
            shape: vec![c, r],
            data,
        }
    }
}

/// Why weights could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {why}")]
    File { path: PathBuf, why: String },
    #[error(
        "{path}: weights do not fit the {arch}:{}{}{}",
        list("missing", missing),
        list("unexpected", unexpected),
        list("wrong shape", wrong_shape)
    )]
    Mismatch {
        path: PathBuf,
        arch: String,
        missing: Vec<String>,
        unexpected: Vec<String>,
        wrong_shape: Vec<String>,
    },
}

fn list(what: &str, names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!("\n  {what} ({}): {}", names.len(), names.join(", "))
    }
}

/// Refuse weights holding NaN or infinities (a damaged download would
/// otherwise record a store of NaN), naming the tensors.
pub fn check_finite(tensors: &BTreeMap<String, Raw>, path: &Path) -> Result<(), LoadError> {
    let bad: Vec<String> = tensors
        .iter()
        .filter_map(|(name, raw)| {
            let n = raw.data.iter().filter(|x| !x.is_finite()).count();
            (n > 0).then(|| format!("{name} ({n} of {})", raw.data.len()))
        })
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    Err(LoadError::File {
        path: path.to_path_buf(),
        why: format!("tensors holding NaN or infinite values: {}", bad.join(", ")),
    })
}

/// Every tensor of a safetensors or PyTorch file, as f32.
pub fn read_tensors(path: &Path) -> Result<BTreeMap<String, Raw>, LoadError> {
    let bad = |why: String| LoadError::File {
        path: path.to_path_buf(),
        why,
    };
    if !path.is_file() {
        return Err(bad("no such file".into()));
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let snapshots = match ext {
        "safetensors" => SafetensorsStore::from_file(path)
            .get_all_snapshots()
            .cloned()
            .map_err(|e| bad(e.to_string()))?,
        "bin" | "pt" | "pth" => PytorchStore::from_file(path)
            .get_all_snapshots()
            .cloned()
            .map_err(|e| bad(e.to_string()))?,
        _ => {
            return Err(bad(
                "expected a .safetensors or PyTorch .bin/.pt/.pth file".into()
            ))
        }
    };
    let mut out = BTreeMap::new();
    for (name, snap) in snapshots {
        let data = snap.to_data().map_err(|e| bad(format!("{name}: {e}")))?;
        if !matches!(
            data.dtype,
            burn::tensor::DType::F32
                | burn::tensor::DType::F16
                | burn::tensor::DType::BF16
                | burn::tensor::DType::F64
        ) {
            // Integer buffers (HF's position_ids) are not weights.
            out.insert(
                name,
                Raw {
                    shape: data.shape.to_vec(),
                    data: Vec::new(),
                },
            );
            continue;
        }
        let shape = data.shape.to_vec();
        let values = data
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| bad(format!("{name}: {e:?}")))?;
        out.insert(
            name,
            Raw {
                shape,
                data: values,
            },
        );
    }
    Ok(out)
}

/// The vision tower's tensors under open_clip's names, from either layout;
/// names of other towers (text) are dropped.
pub fn to_open_clip_names(tensors: BTreeMap<String, Raw>) -> BTreeMap<String, Raw> {
    let is_hf = tensors.keys().any(|k| k.starts_with("vision_model."));
    if is_hf {
        return hf_to_open_clip(tensors);
    }
    let has_prefix = tensors.keys().any(|k| k.starts_with("visual."));
    tensors
        .into_iter()
        .filter_map(|(k, v)| match k.strip_prefix("visual.") {
            Some(rest) => Some((rest.to_string(), v)),
            None if !has_prefix => Some((k, v)),
            None => None, // text tower, logit_scale, ...
        })
        .collect()
}

/// Hugging Face `CLIPVision*` names to open_clip's, fusing q/k/v:
///
/// | Hugging Face (`vision_model.` + ...) | open_clip |
/// |---|---|
/// | `embeddings.class_embedding` | `class_embedding` |
/// | `embeddings.patch_embedding.weight` | `conv1.weight` |
/// | `embeddings.position_embedding.weight` | `positional_embedding` |
/// | `pre_layrnorm.*` / `post_layernorm.*` | `ln_pre.*` / `ln_post.*` |
/// | `encoder.layers.{i}.layer_norm1.*` / `layer_norm2.*` | `transformer.resblocks.{i}.ln_1.*` / `ln_2.*` |
/// | `encoder.layers.{i}.self_attn.{q,k,v}_proj.*` | `...attn.in_proj_weight` / `in_proj_bias` (stacked q, k, v) |
/// | `encoder.layers.{i}.self_attn.out_proj.*` | `...attn.out_proj.*` |
/// | `encoder.layers.{i}.mlp.fc1.*` / `fc2.*` | `...mlp.c_fc.*` / `c_proj.*` |
/// | `visual_projection.weight` (no prefix) `[out, width]` | `proj` `[width, out]` |
fn hf_to_open_clip(tensors: BTreeMap<String, Raw>) -> BTreeMap<String, Raw> {
    let mut out = BTreeMap::new();
    let mut qkv: BTreeMap<(String, String), [Option<Raw>; 3]> = BTreeMap::new();
    for (key, raw) in tensors {
        if key == "visual_projection.weight" {
            out.insert("proj".to_string(), raw.t());
            continue;
        }
        let Some(k) = key.strip_prefix("vision_model.") else {
            continue; // text_model.*, text_projection, logit_scale
        };
        if k == "embeddings.position_ids" {
            continue; // an index buffer, not a weight
        }
        let k = k
            .replace("embeddings.class_embedding", "class_embedding")
            .replace("embeddings.patch_embedding.weight", "conv1.weight")
            .replace(
                "embeddings.position_embedding.weight",
                "positional_embedding",
            )
            .replace("pre_layrnorm.", "ln_pre.")
            .replace("post_layernorm.", "ln_post.")
            .replace("encoder.layers.", "transformer.resblocks.")
            .replace(".layer_norm1.", ".ln_1.")
            .replace(".layer_norm2.", ".ln_2.")
            .replace(".self_attn.out_proj.", ".attn.out_proj.")
            .replace(".mlp.fc1.", ".mlp.c_fc.")
            .replace(".mlp.fc2.", ".mlp.c_proj.");
        let fused = [("q_proj", 0), ("k_proj", 1), ("v_proj", 2)]
            .into_iter()
            .find_map(|(name, i)| {
                k.split_once(&format!(".self_attn.{name}."))
                    .map(|(block, what)| (block.to_string(), what.to_string(), i))
            });
        match fused {
            Some((block, what, i)) => qkv.entry((block, what)).or_default()[i] = Some(raw),
            None => {
                out.insert(k, raw);
            }
        }
    }
    for ((block, what), parts) in qkv {
        let name = format!("{block}.attn.in_proj_{what}");
        if let [Some(q), Some(k), Some(v)] = parts {
            let mut shape = q.shape.clone();
            shape[0] *= 3;
            let data = [q.data, k.data, v.data].concat();
            out.insert(name, Raw { shape, data });
        } else {
            // Leave a marker so the missing part is reported by name.
            out.insert(
                format!("{name} (incomplete q/k/v)"),
                Raw {
                    shape: vec![],
                    data: vec![],
                },
            );
        }
    }
    out
}

/// Takes tensors by name, checking shapes and remembering what went wrong.
struct Taker<'a, B: Backend> {
    tensors: BTreeMap<String, Raw>,
    missing: Vec<String>,
    wrong_shape: Vec<String>,
    device: &'a B::Device,
}

impl<B: Backend> Taker<'_, B> {
    fn raw(&mut self, name: &str, shape: &[usize]) -> Option<Raw> {
        match self.tensors.remove(name) {
            None => {
                self.missing.push(name.to_string());
                None
            }
            Some(raw)
                if raw.shape.iter().product::<usize>() != shape.iter().product::<usize>()
                    || raw.data.is_empty() =>
            {
                self.wrong_shape
                    .push(format!("{name} is {:?}, expected {shape:?}", raw.shape));
                None
            }
            Some(raw) => Some(raw),
        }
    }

    fn param<const D: usize>(
        &mut self,
        raw: Option<Raw>,
        shape: [usize; D],
    ) -> Param<Tensor<B, D>> {
        let data = raw.map_or_else(|| vec![0.0; shape.iter().product()], |r| r.data);
        Param::from_tensor(Tensor::from_data(TensorData::new(data, shape), self.device))
    }

    fn exact<const D: usize>(&mut self, name: &str, shape: [usize; D]) -> Param<Tensor<B, D>> {
        let raw = self.raw(name, &shape).filter(|r| {
            let ok = r.shape == shape;
            if !ok {
                self.wrong_shape
                    .push(format!("{name} is {:?}, expected {shape:?}", r.shape));
            }
            ok
        });
        self.param(raw, shape)
    }

    /// A PyTorch `Linear` (`weight` `[out, in]`, `bias` `[out]`) as `[in, out]`.
    fn linear(&mut self, weight: &str, bias: &str, d_in: usize, d_out: usize) -> Dense<B> {
        let w = self
            .raw(weight, &[d_out, d_in])
            .filter(|r| r.shape == [d_out, d_in])
            .map(|r| r.t());
        Dense {
            weight: self.param(w, [d_in, d_out]),
            bias: Some(self.exact(bias, [d_out])),
        }
    }

    fn norm(&mut self, prefix: &str, width: usize, eps: f64) -> Norm<B> {
        Norm {
            gamma: self.exact(&format!("{prefix}.weight"), [width]),
            beta: self.exact(&format!("{prefix}.bias"), [width]),
            eps,
        }
    }
}

/// Build a tower from open_clip-named tensors, or list everything that does not fit.
pub fn build<B: Backend>(
    config: &VitConfig,
    tensors: BTreeMap<String, Raw>,
    source: &Path,
    device: &B::Device,
) -> Result<VisionTransformer<B>, LoadError> {
    let (w, p, m, eps) = (
        config.width,
        config.patch_size,
        config.mlp_width(),
        config.layer_norm_eps,
    );
    let mut t = Taker::<B> {
        tensors,
        missing: Vec::new(),
        wrong_shape: Vec::new(),
        device,
    };
    // conv1 [width, 3, p, p] flattened to [width, 3 p p], then transposed for x @ W.
    let conv = t
        .raw("conv1.weight", &[w, 3, p, p])
        .filter(|r| r.shape == [w, 3, p, p])
        .map(|r| {
            Raw {
                shape: vec![w, 3 * p * p],
                data: r.data,
            }
            .t()
        });
    let conv1 = t.param(conv, [3 * p * p, w]);
    let class_embedding = t.exact("class_embedding", [w]);
    let positional_embedding = t.exact("positional_embedding", [config.n_patches() + 1, w]);
    let ln_pre = t.norm("ln_pre", w, eps);
    let resblocks = (0..config.layers)
        .map(|i| {
            let pre = format!("transformer.resblocks.{i}");
            ResBlock {
                ln_1: t.norm(&format!("{pre}.ln_1"), w, eps),
                attn: Attention {
                    in_proj: t.linear(
                        &format!("{pre}.attn.in_proj_weight"),
                        &format!("{pre}.attn.in_proj_bias"),
                        w,
                        3 * w,
                    ),
                    out_proj: t.linear(
                        &format!("{pre}.attn.out_proj.weight"),
                        &format!("{pre}.attn.out_proj.bias"),
                        w,
                        w,
                    ),
                    heads: config.heads,
                },
                ln_2: t.norm(&format!("{pre}.ln_2"), w, eps),
                mlp: Mlp {
                    c_fc: t.linear(
                        &format!("{pre}.mlp.c_fc.weight"),
                        &format!("{pre}.mlp.c_fc.bias"),
                        w,
                        m,
                    ),
                    c_proj: t.linear(
                        &format!("{pre}.mlp.c_proj.weight"),
                        &format!("{pre}.mlp.c_proj.bias"),
                        m,
                        w,
                    ),
                    act: config.act,
                },
            }
        })
        .collect();
    let ln_post = t.norm("ln_post", w, eps);
    let proj = config.output_dim.map(|d| t.exact("proj", [w, d]));
    let unexpected: Vec<String> = t.tensors.keys().cloned().collect();
    if !(t.missing.is_empty() && unexpected.is_empty() && t.wrong_shape.is_empty()) {
        return Err(LoadError::Mismatch {
            path: source.to_path_buf(),
            arch: format!(
                "configured tower (width {w}, {} blocks, patch {p}, {} patches, output {:?})",
                config.layers,
                config.n_patches(),
                config.output_dim
            ),
            missing: t.missing,
            unexpected,
            wrong_shape: t.wrong_shape,
        });
    }
    Ok(VisionTransformer {
        conv1,
        class_embedding,
        positional_embedding,
        ln_pre,
        transformer: Transformer { resblocks },
        ln_post,
        proj,
        config: config.clone(),
    })
}

/// Guess the architecture from open_clip-named tensors (when no config file is at hand):
/// OpenAI conventions (QuickGELU, 64-wide heads, LayerNorm eps 1e-5).
pub fn infer_config(tensors: &BTreeMap<String, Raw>) -> Option<VitConfig> {
    let conv = &tensors.get("conv1.weight")?.shape;
    let pos = &tensors.get("positional_embedding")?.shape;
    let (width, patch) = (conv[0], conv[2]);
    let grid = ((pos[0] - 1) as f64).sqrt() as usize;
    let layers = (0..)
        .take_while(|i| tensors.contains_key(&format!("transformer.resblocks.{i}.ln_1.weight")))
        .count();
    let mlp = tensors
        .get("transformer.resblocks.0.mlp.c_fc.weight")?
        .shape[0];
    Some(VitConfig {
        image_size: grid * patch,
        patch_size: patch,
        width,
        layers,
        heads: width / 64,
        mlp_ratio: mlp as f64 / width as f64,
        act: crate::config::Activation::QuickGelu,
        layer_norm_eps: 1e-5,
        output_dim: tensors.get("proj").map(|p| p.shape[1]),
    })
}
