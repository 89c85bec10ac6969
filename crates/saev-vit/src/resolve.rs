//! Finding a model's files: a directory, a file, or a name like `ViT-B-16/openai`.

use std::path::{Path, PathBuf};

use burn::prelude::*;

use crate::config::VitConfig;
use crate::load::{self, LoadError};
use crate::model::VisionTransformer;

/// Where a model's weights and config are.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFiles {
    pub weights: PathBuf,
    /// `open_clip_config.json` or `config.json`, when there is one.
    pub config: Option<PathBuf>,
}

/// A model that cannot be found, with what to download and where to put it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ResolveError(pub String);

/// Known names: (open_clip name, Hugging Face repository with open_clip files, transformers repository).
const KNOWN: [(&str, &str, &str); 3] = [
    (
        "ViT-B-16/openai",
        "timm/vit_base_patch16_clip_224.openai",
        "openai/clip-vit-base-patch16",
    ),
    (
        "ViT-B-32/openai",
        "timm/vit_base_patch32_clip_224.openai",
        "openai/clip-vit-base-patch32",
    ),
    (
        "ViT-L-14/openai",
        "timm/vit_large_patch14_clip_224.openai",
        "openai/clip-vit-large-patch14",
    ),
];

const WEIGHT_FILES: [&str; 4] = [
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.bin",
    "model.safetensors",
    "pytorch_model.bin",
];

/// The directory where named models live: `$SAEV_MODELS`, else `~/.cache/saev-rs/models`.
pub fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SAEV_MODELS") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/saev-rs/models")
}

fn files_in(dir: &Path) -> Option<ModelFiles> {
    let weights = WEIGHT_FILES
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())?;
    Some(ModelFiles {
        config: config_beside(&weights),
        weights,
    })
}

fn config_beside(weights: &Path) -> Option<PathBuf> {
    let dir = weights.parent()?;
    let open_clip = dir.join("open_clip_config.json");
    let hf = dir.join("config.json");
    let name = weights.file_name()?.to_string_lossy();
    if name.starts_with("open_clip") && open_clip.is_file() {
        Some(open_clip)
    } else if hf.is_file() {
        Some(hf)
    } else if open_clip.is_file() {
        Some(open_clip)
    } else {
        None
    }
}

/// Resolve `--model-ckpt`: a weights file, a directory holding one, or a name
/// looked up under `model_dir` (default [`models_dir`]) as `<model_dir>/<name>/`.
pub fn resolve_model(ckpt: &str, model_dir: Option<&Path>) -> Result<ModelFiles, ResolveError> {
    let path = Path::new(ckpt);
    if path.is_file() {
        return Ok(ModelFiles {
            weights: path.to_path_buf(),
            config: config_beside(path),
        });
    }
    if path.is_dir() {
        return files_in(path).ok_or_else(|| {
            ResolveError(format!(
                "{}: no weights found; expected one of {}",
                path.display(),
                WEIGHT_FILES.join(", ")
            ))
        });
    }
    let root = model_dir.map_or_else(models_dir, Path::to_path_buf);
    let dir = root.join(ckpt);
    if let Some(files) = files_in(&dir) {
        return Ok(files);
    }
    let mut msg = format!(
        "model {ckpt:?} not found: {} holds none of {}.\n",
        dir.display(),
        WEIGHT_FILES.join(", ")
    );
    match KNOWN.iter().find(|(name, _, _)| *name == ckpt) {
        Some((_, open_clip_repo, hf_repo)) => msg.push_str(&format!(
            "Download open_clip_model.safetensors and open_clip_config.json from https://huggingface.co/{open_clip_repo} \
             (or model.safetensors and config.json from https://huggingface.co/{hf_repo}) into {}/.",
            dir.display()
        )),
        None => msg.push_str(&format!(
            "Put an open_clip (open_clip_model.safetensors + open_clip_config.json) or Hugging Face \
             (model.safetensors + config.json) CLIP checkpoint into {}/, or pass a path.",
            dir.display()
        )),
    }
    msg.push_str(
        " The models directory is $SAEV_MODELS or --model-dir (default ~/.cache/saev-rs/models).",
    );
    Err(ResolveError(msg))
}

/// Load a tower from resolved files: config from its JSON when present, else
/// inferred from the tensor shapes (OpenAI conventions).
pub fn load_pretrained<B: Backend>(
    files: &ModelFiles,
    device: &B::Device,
) -> Result<VisionTransformer<B>, LoadError> {
    let tensors = load::read_tensors(&files.weights)?;
    load::check_finite(&tensors, &files.weights)?;
    let tensors = load::to_open_clip_names(tensors);
    let config = match &files.config {
        Some(path) => {
            let bad = |why: String| LoadError::File {
                path: path.clone(),
                why,
            };
            let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
            let json: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
            let parsed = if json.get("model_cfg").is_some() || json.get("vision_cfg").is_some() {
                VitConfig::from_open_clip_json(&json)
            } else {
                VitConfig::from_hf_json(&json)
            };
            parsed.map_err(bad)?
        }
        None => load::infer_config(&tensors).ok_or_else(|| LoadError::File {
            path: files.weights.clone(),
            why: "no config file beside it and the tensors do not look like a CLIP vision tower"
                .into(),
        })?,
    };
    load::build(&config, tensors, &files.weights, device)
}
