//! Architecture settings: what open_clip's `vision_cfg` and Hugging Face's
//! `CLIPVisionConfig` say, in one struct, with the OpenAI presets.

use serde::{Deserialize, Serialize};

/// The MLP's activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// `x * sigmoid(1.702 x)`: OpenAI's CLIP weights.
    QuickGelu,
    /// Exact (erf) GELU: open_clip's non-OpenAI configs.
    Gelu,
}

/// A CLIP vision tower's shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VitConfig {
    pub image_size: usize,
    pub patch_size: usize,
    /// Residual stream width (`d_vit`).
    pub width: usize,
    /// Number of residual blocks.
    pub layers: usize,
    pub heads: usize,
    /// MLP hidden width = `mlp_ratio * width`.
    pub mlp_ratio: f64,
    pub act: Activation,
    pub layer_norm_eps: f64,
    /// Width of the projected embedding; `None` when the tower has no projection.
    pub output_dim: Option<usize>,
}

impl VitConfig {
    fn openai(
        patch_size: usize,
        width: usize,
        layers: usize,
        heads: usize,
        output_dim: usize,
    ) -> Self {
        Self {
            image_size: 224,
            patch_size,
            width,
            layers,
            heads,
            mlp_ratio: 4.0,
            act: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
            output_dim: Some(output_dim),
        }
    }

    /// `ViT-B-16` (OpenAI weights, QuickGELU): 768 wide, 12 blocks, 196 patches.
    pub fn vit_b_16() -> Self {
        Self::openai(16, 768, 12, 12, 512)
    }

    /// `ViT-B-32` (OpenAI): 768 wide, 12 blocks, 49 patches.
    pub fn vit_b_32() -> Self {
        Self::openai(32, 768, 12, 12, 512)
    }

    /// `ViT-L-14` (OpenAI): 1024 wide, 24 blocks, 256 patches.
    pub fn vit_l_14() -> Self {
        Self::openai(14, 1024, 24, 16, 768)
    }

    /// A preset by open_clip architecture name (`ViT-B-16`, `ViT-B-16-quickgelu`, ...).
    pub fn preset(name: &str) -> Option<Self> {
        match name.trim_end_matches("-quickgelu") {
            "ViT-B-16" => Some(Self::vit_b_16()),
            "ViT-B-32" => Some(Self::vit_b_32()),
            "ViT-L-14" => Some(Self::vit_l_14()),
            _ => None,
        }
    }

    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Patch tokens per image (196 for ViT-B/16).
    pub fn n_patches(&self) -> usize {
        self.grid() * self.grid()
    }

    pub fn mlp_width(&self) -> usize {
        (self.width as f64 * self.mlp_ratio) as usize
    }

    /// Block index of a saev layer: `-2` is the second-to-last block.
    pub fn block_index(&self, layer: i64) -> Option<usize> {
        let n = self.layers as i64;
        let i = if layer < 0 { n + layer } else { layer };
        (0..n).contains(&i).then_some(i as usize)
    }

    /// From open_clip's `open_clip_config.json` (`model_cfg` with `vision_cfg`, `quick_gelu`, `embed_dim`).
    pub fn from_open_clip_json(v: &serde_json::Value) -> Result<Self, String> {
        let model = v.get("model_cfg").unwrap_or(v);
        let vision = model.get("vision_cfg").ok_or("no model_cfg.vision_cfg")?;
        let int = |key: &str, default: Option<usize>| -> Result<usize, String> {
            match vision.get(key) {
                Some(x) => x
                    .as_u64()
                    .map(|x| x as usize)
                    .ok_or(format!("vision_cfg.{key} is not an integer")),
                None => default.ok_or(format!("vision_cfg.{key} is missing")),
            }
        };
        let width = int("width", None)?;
        let head_width = int("head_width", Some(64))?;
        if vision.get("timm_model_name").is_some_and(|n| !n.is_null()) {
            return Err(
                "timm vision towers are not supported; only open_clip's VisionTransformer".into(),
            );
        }
        Ok(Self {
            image_size: int("image_size", Some(224))?,
            patch_size: int("patch_size", None)?,
            width,
            layers: int("layers", None)?,
            heads: width / head_width,
            mlp_ratio: vision
                .get("mlp_ratio")
                .and_then(|x| x.as_f64())
                .unwrap_or(4.0),
            act: if model
                .get("quick_gelu")
                .and_then(|x| x.as_bool())
                .unwrap_or(false)
            {
                Activation::QuickGelu
            } else {
                Activation::Gelu
            },
            layer_norm_eps: 1e-5,
            output_dim: model
                .get("embed_dim")
                .and_then(|x| x.as_u64())
                .map(|x| x as usize),
        })
    }

    /// From Hugging Face's `config.json`: vision fields at the top level
    /// (`CLIPVisionModel*`) or under `vision_config` (`CLIPModel`).
    pub fn from_hf_json(v: &serde_json::Value) -> Result<Self, String> {
        let vision = v.get("vision_config").unwrap_or(v);
        let int = |key: &str, default: Option<usize>| -> Result<usize, String> {
            match vision.get(key) {
                Some(x) => x
                    .as_u64()
                    .map(|x| x as usize)
                    .ok_or(format!("{key} is not an integer")),
                None => default.ok_or(format!("{key} is missing")),
            }
        };
        let width = int("hidden_size", Some(768))?;
        let act = match vision
            .get("hidden_act")
            .and_then(|x| x.as_str())
            .unwrap_or("quick_gelu")
        {
            "quick_gelu" => Activation::QuickGelu,
            "gelu" => Activation::Gelu,
            other => {
                return Err(format!(
                    "hidden_act {other:?} is not supported (quick_gelu or gelu)"
                ))
            }
        };
        let projection = vision
            .get("projection_dim")
            .or_else(|| v.get("projection_dim"))
            .and_then(|x| x.as_u64())
            .map(|x| x as usize);
        Ok(Self {
            image_size: int("image_size", Some(224))?,
            patch_size: int("patch_size", Some(32))?,
            width,
            layers: int("num_hidden_layers", Some(12))?,
            heads: int("num_attention_heads", Some(12))?,
            mlp_ratio: int("intermediate_size", Some(4 * width))? as f64 / width as f64,
            act,
            layer_norm_eps: vision
                .get("layer_norm_eps")
                .and_then(|x| x.as_f64())
                .unwrap_or(1e-5),
            output_dim: projection,
        })
    }
}
