//! The linear classifier and its checkpoint.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use saev_sae::{matmul, View};
use safetensors::tensor::{Dtype, TensorView};

/// A probe file that cannot be read or written, naming it.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {why}")]
pub struct ProbeError {
    pub path: PathBuf,
    pub why: String,
}

/// `logits = x W^T + b`.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    pub d: usize,
    pub c: usize,
    pub w_CD: Vec<f32>,
    pub b_C: Vec<f32>,
    /// Class names, `c` of them (may be empty).
    pub classes: Vec<String>,
}

impl Probe {
    /// PyTorch's `nn.Linear` initialization: weight and bias uniform in
    /// `±1/sqrt(d)` (kaiming_uniform with `a = sqrt(5)`).
    pub fn new(d: usize, c: usize, seed: u64) -> Self {
        let mut rng = saev_rng::Pcg64::from_seed(seed);
        let bound = 1.0 / (d as f64).sqrt();
        let mut uni =
            || (((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0) * bound;
        Self {
            d,
            c,
            w_CD: (0..c * d).map(|_| uni() as f32).collect(),
            b_C: (0..c).map(|_| uni() as f32).collect(),
            classes: Vec::new(),
        }
    }

    /// Logits `[N, C]` of rows `x_ND`.
    pub fn logits(&self, x_ND: &[f32]) -> Vec<f32> {
        let n = x_ND.len() / self.d;
        let mut out: Vec<f32> = self.b_C.iter().copied().cycle().take(n * self.c).collect();
        matmul(
            &mut out,
            View::new(x_ND, n, self.d),
            View::new(&self.w_CD, self.c, self.d).t(),
            true,
        );
        out
    }

    /// Predicted class of each row.
    pub fn predict(&self, x_ND: &[f32]) -> Vec<u32> {
        self.logits(x_ND).chunks_exact(self.c).map(argmax).collect()
    }

    /// Fraction of rows predicted as their target.
    pub fn accuracy(&self, x_ND: &[f32], y_N: &[u32]) -> f64 {
        let hits = self
            .predict(x_ND)
            .iter()
            .zip(y_N)
            .filter(|(p, y)| p == y)
            .count();
        hits as f64 / y_N.len().max(1) as f64
    }

    /// Save `weight [C, D]` and `bias [C]` (PyTorch's names) with the class
    /// names and `extra` metadata, atomically.
    pub fn save(&self, path: &Path, extra: &[(&str, String)]) -> Result<(), ProbeError> {
        let err = |why: String| ProbeError {
            path: path.to_path_buf(),
            why,
        };
        let tensors = [
            (
                "weight",
                TensorView::new(
                    Dtype::F32,
                    vec![self.c, self.d],
                    bytemuck::cast_slice(&self.w_CD),
                )
                .expect("shape"),
            ),
            (
                "bias",
                TensorView::new(Dtype::F32, vec![self.c], bytemuck::cast_slice(&self.b_C))
                    .expect("shape"),
            ),
        ];
        let mut meta: HashMap<String, String> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        meta.insert(
            "classes".into(),
            serde_json::to_string(&self.classes).expect("json"),
        );
        let bytes = safetensors::serialize(tensors, &Some(meta)).map_err(|e| err(e.to_string()))?;
        let bytes = saev_io::sorted_safetensors_header(bytes);
        saev_io::write_atomic(path, &bytes).map_err(|e| err(e.to_string()))
    }

    /// Load a probe and its metadata.
    pub fn load(path: &Path) -> Result<(Self, HashMap<String, String>), ProbeError> {
        let err = |why: String| ProbeError {
            path: path.to_path_buf(),
            why,
        };
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let (_, meta) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| err(e.to_string()))?;
        let meta = meta.metadata().clone().unwrap_or_default();
        let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| err(e.to_string()))?;
        let get = |name: &str| -> Result<(Vec<usize>, Vec<f32>), ProbeError> {
            let t = st
                .tensor(name)
                .map_err(|_| err(format!("no tensor {name}: not a probe checkpoint")))?;
            if t.dtype() != Dtype::F32 {
                return Err(err(format!("{name} is {:?}, expected F32", t.dtype())));
            }
            Ok((
                t.shape().to_vec(),
                t.data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().expect("4")))
                    .collect(),
            ))
        };
        let (ws, w) = get("weight")?;
        let (bs, b) = get("bias")?;
        if ws.len() != 2 || bs != [ws[0]] {
            return Err(err(format!(
                "weight {ws:?} and bias {bs:?} do not form a linear layer"
            )));
        }
        let classes: Vec<String> = meta
            .get("classes")
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default();
        Ok((
            Self {
                d: ws[1],
                c: ws[0],
                w_CD: w,
                b_C: b,
                classes,
            },
            meta,
        ))
    }
}

/// Index of the largest value (first on ties).
pub(crate) fn argmax(xs: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in xs.iter().enumerate() {
        if v > xs[best] {
            best = i;
        }
    }
    best as u32
}

/// Softmax of one row of logits, in f64 for stability.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f64> = logits.iter().map(|&l| f64::from(l - m).exp()).collect();
    let z: f64 = e.iter().sum();
    e.iter().map(|v| (v / z) as f32).collect()
}

impl Probe {
    /// Class probabilities of one example.
    pub fn probs(&self, x_D: &[f32]) -> Vec<f32> {
        softmax(&self.logits(x_D))
    }
}
