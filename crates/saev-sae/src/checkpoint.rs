//! `sae.safetensors`: the four parameters under saev's names and shapes
//! (`W_enc [D, S]`, `b_enc [S]`, `W_dec [S, D]`, `b_dec [D]`), with the SAE
//! config as JSON in the safetensors metadata (key `cfg`); BatchTopK SAEs add
//! their inference `threshold` (shape `[]`, as saev's buffer), and SAEs
//! trained by `saev train` their data normalization, `act_mean [D]` and
//! `scalar []` (so `--data.scale-mean CKPT --data.scale-norm CKPT` reads other
//! shards in the SAE's space).
//!
//! `state.safetensors` holds what resuming needs besides the weights: Adam's
//! moments (`W_enc.m`, `W_enc.v`, ...), the AuxK dead-latent counters
//! (`since_fired`, u64) and, in the metadata, the step and training config.
//!
//! Both are written to a temp file and renamed, so a crash never leaves half a
//! checkpoint.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};

use crate::sae::{Sae, SaeConfig};
use crate::train::{TrainConfig, Trainer};

const PARAMS: [&str; 4] = ["W_enc", "b_enc", "W_dec", "b_dec"];

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
        let threshold = [self.threshold];
        let mut tensors = vec![
            ("W_enc", view(&self.w_enc_DS, vec![d, s])),
            ("b_enc", view(&self.b_enc_S, vec![s])),
            ("W_dec", view(&self.w_dec_SD, vec![s, d])),
            ("b_dec", view(&self.b_dec_D, vec![d])),
        ];
        if matches!(self.cfg.activation, crate::Activation::BatchTopK { .. }) {
            tensors.push(("threshold", view(&threshold, vec![])));
        }
        let scalar = [self.data_norm.as_ref().map_or(1.0, |n| n.scalar)];
        if let Some(n) = &self.data_norm {
            tensors.push(("act_mean", view(&n.act_mean, vec![d])));
            tensors.push(("scalar", view(&scalar, vec![])));
        }
        let cfg = serde_json::to_string(&self.cfg).expect("config serializes");
        write_atomic(path, tensors, HashMap::from([("cfg".to_string(), cfg)]))
    }

    /// Load either format by extension: saev's `sae.pt`, or our `.safetensors`.
    pub fn load_any(path: &Path) -> Result<Self, CheckpointError> {
        if path.extension().is_some_and(|e| e == "pt") {
            Self::load_saev_pt(path)
        } else {
            Self::load(path)
        }
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
        let get = |name: &str, shape: &[usize]| get_f32(&st, path, name, shape);
        let mut sae = Sae::from_weights(
            cfg.clone(),
            get("W_enc", &[d, s])?,
            get("b_enc", &[s])?,
            get("W_dec", &[s, d])?,
            get("b_dec", &[d])?,
        );
        if matches!(cfg.activation, crate::Activation::BatchTopK { .. }) {
            sae.threshold = get("threshold", &[])?[0];
        }
        if st.names().iter().any(|n| n.as_str() == "act_mean") {
            sae.data_norm = Some(crate::DataNorm {
                act_mean: get("act_mean", &[d])?,
                scalar: get("scalar", &[])?[0],
            });
        }
        Ok(sae)
    }
}

impl Trainer {
    /// Save the optimizer state and step (the weights go to `sae.safetensors`
    /// through [`Sae::save`]).
    pub fn save_state(&self, path: &Path) -> Result<(), CheckpointError> {
        let shapes = param_shapes(&self.sae);
        let names: Vec<(String, String)> = PARAMS
            .iter()
            .map(|p| (format!("{p}.m"), format!("{p}.v")))
            .collect();
        let mut tensors = Vec::new();
        for (((m, v), shape), (mn, vn)) in self.moments().into_iter().zip(shapes).zip(&names) {
            tensors.push((mn.as_str(), view(m, shape.clone())));
            tensors.push((vn.as_str(), view(v, shape)));
        }
        let since = bytemuck::cast_slice(&self.since_fired_S);
        tensors.push((
            "since_fired",
            TensorView::new(Dtype::U64, vec![self.since_fired_S.len()], since)
                .expect("shape matches data"),
        ));
        let meta = HashMap::from([
            ("step".to_string(), self.step.to_string()),
            (
                "train".to_string(),
                serde_json::to_string(&self.cfg).expect("config serializes"),
            ),
        ]);
        write_atomic(path, tensors, meta)
    }

    /// Resume from `sae` (loaded by [`Sae::load`]) and its `state.safetensors`.
    pub fn load_state(sae: Sae, path: &Path) -> Result<Self, CheckpointError> {
        let bytes = std::fs::read(path).map_err(|e| err(path, e))?;
        let (_, meta) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| err(path, e))?;
        let meta = meta
            .metadata()
            .clone()
            .ok_or_else(|| err(path, "no metadata: not a saev-rs training state"))?;
        let step: u64 = meta
            .get("step")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| err(path, "no step in the metadata"))?;
        let cfg: TrainConfig = meta
            .get("train")
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| err(path, "no training config in the metadata"))?;
        let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| err(path, e))?;
        let shapes = param_shapes(&sae);
        let mut moments = Vec::new();
        for (p, shape) in PARAMS.iter().zip(shapes) {
            moments.push((
                get_f32(&st, path, &format!("{p}.m"), &shape)?,
                get_f32(&st, path, &format!("{p}.v"), &shape)?,
            ));
        }
        let since = st
            .tensor("since_fired")
            .map_err(|_| err(path, "missing tensor since_fired"))?;
        let since: Vec<u64> = since
            .data()
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect();
        let moments: [(Vec<f32>, Vec<f32>); 4] = moments.try_into().expect("four parameters");
        Trainer::restore(sae, cfg, step, moments, since).map_err(|e| err(path, e))
    }
}

fn param_shapes(sae: &Sae) -> [Vec<usize>; 4] {
    let (d, s) = (sae.d_vit(), sae.d_sae());
    [vec![d, s], vec![s], vec![s, d], vec![d]]
}

fn get_f32(
    st: &safetensors::SafeTensors,
    path: &Path,
    name: &str,
    shape: &[usize],
) -> Result<Vec<f32>, CheckpointError> {
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
        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect())
}

fn write_atomic(
    path: &Path,
    tensors: Vec<(&str, TensorView<'_>)>,
    meta: HashMap<String, String>,
) -> Result<(), CheckpointError> {
    let bytes = safetensors::serialize(tensors, &Some(meta)).map_err(|e| err(path, e))?;
    saev_io::write_atomic(path, &bytes).map_err(|e| err(path, e))
}

fn view(data: &[f32], shape: Vec<usize>) -> TensorView<'_> {
    TensorView::new(Dtype::F32, shape, bytemuck::cast_slice(data)).expect("shape matches data")
}
