//! `sae.safetensors`: the four parameters under saev's names and shapes
//! (`W_enc [D, S]`, `b_enc [S]`, `W_dec [S, D]`, `b_dec [D]`), with the SAE
//! config as JSON in the safetensors metadata (key `cfg`). Written to a temp
//! file and renamed, so a crash never leaves half a checkpoint.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};

use crate::sae::{Sae, SaeConfig};

/// A checkpoint that cannot be written or read, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {why}")]
pub struct CheckpointError {
    pub path: PathBuf,
    pub why: String,
}

fn err(path: &Path, why: impl ToString) -> CheckpointError {
    CheckpointError {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

impl Sae {
    /// Save to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        let (d, s) = (self.d_vit(), self.d_sae());
        let tensors = [
            ("W_enc", view(&self.w_enc_DS, vec![d, s])),
            ("b_enc", view(&self.b_enc_S, vec![s])),
            ("W_dec", view(&self.w_dec_SD, vec![s, d])),
            ("b_dec", view(&self.b_dec_D, vec![d])),
        ];
        let cfg = serde_json::to_string(&self.cfg).expect("config serializes");
        let metadata = Some(HashMap::from([("cfg".to_string(), cfg)]));
        let bytes = safetensors::serialize(tensors, &metadata).map_err(|e| err(path, e))?;
        let mut tmp = path.to_path_buf().into_os_string();
        tmp.push(".tmp");
        std::fs::write(&tmp, bytes).map_err(|e| err(Path::new(&tmp), e))?;
        std::fs::rename(&tmp, path).map_err(|e| err(path, e))
    }

    /// Load a checkpoint written by [`Sae::save`].
    pub fn load(path: &Path) -> Result<Self, CheckpointError> {
        let bytes = std::fs::read(path).map_err(|e| err(path, e))?;
        let (_, meta) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| err(path, e))?;
        let cfg_text = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("cfg"))
            .ok_or_else(|| err(path, "no `cfg` metadata: not a saev-rs SAE checkpoint"))?;
        let cfg: SaeConfig =
            serde_json::from_str(cfg_text).map_err(|e| err(path, format!("bad cfg: {e}")))?;
        let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| err(path, e))?;
        let (d, s) = (cfg.d_vit, cfg.d_sae());
        let get = |name: &str, shape: &[usize]| -> Result<Vec<f32>, CheckpointError> {
            let t = st
                .tensor(name)
                .map_err(|_| err(path, format!("missing tensor {name}")))?;
            if t.dtype() != Dtype::F32 || t.shape() != shape {
                return Err(err(
                    path,
                    format!(
                        "{name} is {:?} {:?}, expected F32 {shape:?}",
                        t.dtype(),
                        t.shape()
                    ),
                ));
            }
            Ok(t.data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect())
        };
        Ok(Sae::from_weights(
            cfg.clone(),
            get("W_enc", &[d, s])?,
            get("b_enc", &[s])?,
            get("W_dec", &[s, d])?,
            get("b_dec", &[d])?,
        ))
    }
}

fn view(data: &[f32], shape: Vec<usize>) -> TensorView<'_> {
    TensorView::new(Dtype::F32, shape, bytemuck::cast_slice(data)).expect("shape matches data")
}
