//! `sae.safetensors`: the four parameters under saev's names and shapes
//! (`W_enc [D, S]`, `b_enc [S]`, `W_dec [S, D]`, `b_dec [D]`), with the SAE
//! config as JSON in the safetensors metadata (key `cfg`); BatchTopK SAEs add
//! their inference `threshold` (shape `[]`, as saev's buffer), and SAEs
//! trained by `saev train` their data normalization, `act_mean [D]` and
//! `scalar []` (so `--data.scale-mean CKPT --data.scale-norm CKPT` reads other
//! shards in the SAE's space).
//!
//! `checkpoint.safetensors` is what training resumes from, in one file: the
//! same tensors and `cfg`, plus Adam's moments (`W_enc.m`, `W_enc.v`, ...),
//! the AuxK dead-latent counters (`since_fired`, u64) and, in the metadata,
//! the `step` and training config (`train`). One file renamed into place is
//! one unit: a kill at any moment leaves the previous checkpoint or the new
//! one, never the weights of one step with the optimizer state of another.
//!
//! Every file is written to a temp file and renamed, so a crash never leaves
//! half a file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};

use crate::sae::{Sae, SaeConfig};
use crate::step::TrainConfig;
use crate::train::Trainer;

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
        self.save_with(path, HashMap::new())
    }

    /// Save to `path` atomically, recording the training step it is from.
    pub fn save_at_step(&self, path: &Path, step: u64) -> Result<(), CheckpointError> {
        self.save_with(path, HashMap::from([("step".into(), step.to_string())]))
    }

    fn save_with(&self, path: &Path, meta: HashMap<String, String>) -> Result<(), CheckpointError> {
        let scalars = [
            self.threshold,
            self.data_norm.as_ref().map_or(1.0, |n| n.scalar),
        ];
        write_atomic(path, self.tensors(&scalars), self.metadata(meta))
    }

    /// The parameters (and threshold and data normalization) under saev's
    /// names; `scalars` holds the threshold and the normalization scalar.
    fn tensors<'a>(&'a self, scalars: &'a [f32; 2]) -> Vec<(String, TensorView<'a>)> {
        let (d, s) = (self.d_vit(), self.d_sae());
        let mut tensors = vec![
            ("W_enc".to_string(), view(&self.w_enc_DS, vec![d, s])),
            ("b_enc".to_string(), view(&self.b_enc_S, vec![s])),
            ("W_dec".to_string(), view(&self.w_dec_SD, vec![s, d])),
            ("b_dec".to_string(), view(&self.b_dec_D, vec![d])),
        ];
        if matches!(self.cfg.activation, crate::Activation::BatchTopK { .. }) {
            tensors.push(("threshold".into(), view(&scalars[..1], vec![])));
        }
        if let Some(n) = &self.data_norm {
            tensors.push(("act_mean".into(), view(&n.act_mean, vec![d])));
            tensors.push(("scalar".into(), view(&scalars[1..], vec![])));
        }
        tensors
    }

    fn metadata(&self, mut meta: HashMap<String, String>) -> HashMap<String, String> {
        let cfg = serde_json::to_string(&self.cfg).expect("config serializes");
        meta.insert("cfg".into(), cfg);
        meta
    }

    /// The training step a checkpoint was saved at (`None` when it does not
    /// say: saved by [`Sae::save`], or not a saev-rs checkpoint).
    pub fn saved_step(path: &Path) -> Result<Option<u64>, CheckpointError> {
        let meta = read_metadata(path)?;
        Ok(meta.get("step").and_then(|s| s.parse().ok()))
    }

    /// The first parameter holding a NaN or an infinity, by name.
    pub fn non_finite(&self) -> Option<&'static str> {
        let params: [(&'static str, &[f32]); 4] = [
            ("W_enc", &self.w_enc_DS),
            ("b_enc", &self.b_enc_S),
            ("W_dec", &self.w_dec_SD),
            ("b_dec", &self.b_dec_D),
        ];
        let threshold = ("threshold", std::slice::from_ref(&self.threshold));
        params
            .into_iter()
            .chain([threshold])
            .find(|(_, v)| v.iter().any(|x| !x.is_finite()))
            .map(|(name, _)| name)
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
    /// Save weights, optimizer state and step as one file, written to a temp
    /// file and renamed: a checkpoint is whole or absent, never weights of
    /// one step with the optimizer state of another. [`Sae::load`] reads its
    /// weights too.
    pub fn save_checkpoint(&self, path: &Path) -> Result<(), CheckpointError> {
        let scalars = [
            self.sae.threshold,
            self.sae.data_norm.as_ref().map_or(1.0, |n| n.scalar),
        ];
        let mut tensors = self.sae.tensors(&scalars);
        for ((m, v), (p, shape)) in self
            .moments()
            .into_iter()
            .zip(PARAMS.iter().zip(param_shapes(&self.sae)))
        {
            tensors.push((format!("{p}.m"), view(m, shape.clone())));
            tensors.push((format!("{p}.v"), view(v, shape)));
        }
        let since = bytemuck::cast_slice(&self.since_fired_S);
        let since = TensorView::new(Dtype::U64, vec![self.since_fired_S.len()], since)
            .expect("shape matches data");
        tensors.push(("since_fired".into(), since));
        let train = serde_json::to_string(&self.cfg).expect("config serializes");
        let meta = HashMap::from([
            ("step".to_string(), self.step.to_string()),
            ("train".to_string(), train),
        ]);
        write_atomic(path, tensors, self.sae.metadata(meta))
    }

    /// Resume from a checkpoint written by [`Trainer::save_checkpoint`].
    pub fn load_checkpoint(path: &Path) -> Result<Self, CheckpointError> {
        let sae = Sae::load(path)?;
        let meta = read_metadata(path)?;
        let step: u64 = meta
            .get("step")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| err(path, "no step in the metadata: not a training checkpoint"))?;
        let cfg: TrainConfig = meta
            .get("train")
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| err(path, "no training config in the metadata"))?;
        let bytes = std::fs::read(path).map_err(|e| err(path, e))?;
        let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| err(path, e))?;
        let mut moments = Vec::new();
        for (p, shape) in PARAMS.iter().zip(param_shapes(&sae)) {
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

    /// The first tensor of the training state (weights or Adam's moments)
    /// holding a NaN or an infinity, by name: such a state is never saved.
    pub fn non_finite(&self) -> Option<String> {
        if let Some(name) = self.sae.non_finite() {
            return Some(name.to_string());
        }
        for ((m, v), p) in self.moments().into_iter().zip(PARAMS) {
            if m.iter().any(|x| !x.is_finite()) {
                return Some(format!("{p}.m (Adam's first moment)"));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Some(format!("{p}.v (Adam's second moment)"));
            }
        }
        None
    }
}

/// The `__metadata__` of a safetensors file, from its header alone.
fn read_metadata(path: &Path) -> Result<HashMap<String, String>, CheckpointError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| err(path, e))?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(|e| err(path, e))?;
    let len = u64::from_le_bytes(len);
    if len > 100_000_000 {
        return Err(err(
            path,
            format!("header of {len} bytes: not a safetensors file"),
        ));
    }
    let mut header = vec![0u8; len as usize];
    f.read_exact(&mut header).map_err(|e| err(path, e))?;
    let mut header: HashMap<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| err(path, format!("bad header: {e}")))?;
    let meta = header.remove("__metadata__").unwrap_or_default();
    Ok(serde_json::from_value(meta).unwrap_or_default())
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
    tensors: Vec<(String, TensorView<'_>)>,
    meta: HashMap<String, String>,
) -> Result<(), CheckpointError> {
    let bytes = safetensors::serialize(tensors, &Some(meta)).map_err(|e| err(path, e))?;
    let bytes = saev_io::sorted_safetensors_header(bytes);
    saev_io::write_atomic(path, &bytes).map_err(|e| err(path, e))
}

fn view(data: &[f32], shape: Vec<usize>) -> TensorView<'_> {
    TensorView::new(Dtype::F32, shape, bytemuck::cast_slice(data)).expect("shape matches data")
}
