//! Dataset normalization: `scale_mean` and `scale_norm`.
//!
//! saev subtracts an estimate of the dataset mean and divides by a scalar so
//! the mean L2 norm becomes `sqrt(d_vit)` ("Scaling Monosemanticity"). The
//! estimate uses the first `n_random_samples` examples of
//! `np.random.default_rng(seed=42).permutation(len)`, clamped but otherwise
//! raw; [`saev_rng`] reproduces that permutation, so the same examples are
//! used. Sums are accumulated in f64 (saev uses f32 torch reductions; the
//! results agree to about 1e-7 relative).
//!
//! saev's checks are kept: an error if any sampled value exceeds 1e3 in
//! magnitude, if any mean component exceeds 1e3, or if the mean norm does.
//!
//! Unlike saev, a `scale_mean` file and an estimated `scale_norm` work
//! together (saev's `if/elif` ignores the file in that case).

use std::path::{Path, PathBuf};

use crate::dataset::Dataset;
use crate::error::{Error, IoContext, Result};

/// saev's `bool | str` for `scale_mean` / `scale_norm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scale {
    /// `False`: no mean subtracted / no scaling.
    Off,
    /// `True`: estimate from random examples.
    Estimate,
    /// A path: load it (`.safetensors` or `.npy`).
    File(PathBuf),
}

impl std::str::FromStr for Scale {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "True" | "true" => Self::Estimate,
            "False" | "false" => Self::Off,
            path => Self::File(PathBuf::from(path)),
        })
    }
}

/// The seed saev hard-codes for the estimation permutation.
pub const ESTIMATE_SEED: u64 = 42;
/// saev's limit on any value used in the estimate.
pub const ABNORMAL: f64 = 1e3;

/// `(x - act_mean) / scalar`.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalization {
    pub act_mean: Vec<f32>,
    pub scalar: f32,
}

impl Normalization {
    /// No change: zero mean, scalar one.
    pub fn identity(d_vit: usize) -> Self {
        Self {
            act_mean: vec![0.0; d_vit],
            scalar: 1.0,
        }
    }

    pub fn is_identity(&self) -> bool {
        self.scalar == 1.0 && self.act_mean.iter().all(|&m| m == 0.0)
    }

    /// Clamp and normalize rows of `d_vit` values in place, in saev's f32 order.
    pub fn apply(&self, clamp: f32, acts_ND: &mut [f32]) {
        if self.is_identity() {
            crate::kernels::clamp(acts_ND, clamp);
        } else {
            crate::kernels::normalize(acts_ND, &self.act_mean, self.scalar, clamp);
        }
    }

    /// Save as safetensors with tensors `act_mean` `[d_vit]` and `scalar` `[]`.
    pub fn save(&self, path: &Path) -> Result<()> {
        use safetensors::tensor::{Dtype, TensorView};
        let mean: &[u8] = bytemuck::cast_slice(&self.act_mean);
        let scalar = self.scalar.to_le_bytes();
        let tensors = [
            (
                "act_mean",
                TensorView::new(Dtype::F32, vec![self.act_mean.len()], mean).expect("shape"),
            ),
            (
                "scalar",
                TensorView::new(Dtype::F32, vec![], &scalar).expect("shape"),
            ),
        ];
        let bytes = safetensors::serialize(tensors, &None).map_err(|e| Error::Scale {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        crate::progress::write_atomic(path, &bytes, false)
    }
}

/// The normalization `ds`'s config asks for.
pub(crate) fn resolve(ds: &Dataset) -> Result<Normalization> {
    let cfg = ds.config();
    let d = ds.d_vit();
    let mut norm = Normalization::identity(d);
    if let Scale::File(path) = &cfg.scale_mean {
        norm.act_mean = load_values(path, "act_mean", Some(d))?;
    }
    if let Scale::File(path) = &cfg.scale_norm {
        norm.scalar = load_values(path, "scalar", None)?[0];
    }
    if cfg.scale_mean != Scale::Estimate && cfg.scale_norm != Scale::Estimate {
        return Ok(norm);
    }
    if ds.is_empty() {
        return Err(Error::Scale {
            path: ds.store().root().to_path_buf(),
            why: "cannot estimate normalization from an empty view".into(),
        });
    }
    let picks = saev_rng::Pcg64::from_seed(ESTIMATE_SEED)
        .permutation_prefix(ds.len() as usize, cfg.n_random_samples);
    tracing::info!(n = picks.len(), "estimating activation mean and norm");
    let root = ds.store().root();
    let abnormal = |why: String| Error::Scale {
        path: root.to_path_buf(),
        why,
    };

    let mut row = vec![0.0f32; d];
    if cfg.scale_mean == Scale::Estimate {
        let mut sum = vec![0.0f64; d];
        for &i in &picks {
            ds.clamped_into(i, &mut row)?;
            check_abnormal(&row, i).map_err(abnormal)?;
            sum.iter_mut()
                .zip(&row)
                .for_each(|(s, &x)| *s += f64::from(x));
        }
        norm.act_mean = sum
            .iter()
            .map(|s| (s / picks.len() as f64) as f32)
            .collect();
        if norm.act_mean.iter().any(|&m| f64::from(m) > ABNORMAL) {
            return Err(abnormal(
                "an abnormally large activation is distorting the activation mean (a mean component exceeds 1e3)".into(),
            ));
        }
    }
    if cfg.scale_norm == Scale::Estimate {
        let mut total = 0.0f64;
        for &i in &picks {
            ds.clamped_into(i, &mut row)?;
            check_abnormal(&row, i).map_err(abnormal)?;
            let sq: f64 = row
                .iter()
                .zip(&norm.act_mean)
                .map(|(&x, &m)| f64::from(x - m).powi(2))
                .sum();
            total += sq.sqrt();
        }
        let l2_mean = (total / picks.len() as f64) as f32;
        if f64::from(l2_mean) > ABNORMAL {
            return Err(abnormal(format!(
                "an abnormally large activation is distorting the mean L2 norm ({l2_mean})"
            )));
        }
        norm.scalar = l2_mean / (d as f32).sqrt();
    }
    Ok(norm)
}

fn check_abnormal(row: &[f32], i: u64) -> std::result::Result<(), String> {
    match row.iter().find(|x| f64::from(x.abs()) > ABNORMAL) {
        Some(x) => Err(format!(
            "example {i} has an abnormally large activation ({x}) that would distort the normalization; \
             lower --data.clamp or turn off --data.scale-mean/--data.scale-norm"
        )),
        None => Ok(()),
    }
}

/// Load a mean vector or scalar from `.safetensors` (tensor `name`, or the
/// only tensor) or `.npy` (f32 or f64, little-endian).
pub fn load_values(path: &Path, name: &str, want_len: Option<usize>) -> Result<Vec<f32>> {
    let bad = |why: String| Error::Scale {
        path: path.to_path_buf(),
        why,
    };
    let bytes = std::fs::read(path).at(path)?;
    let values = match path.extension().and_then(|e| e.to_str()) {
        Some("safetensors") => {
            let st =
                safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
            let names = st.names();
            let key = if names.iter().any(|n| *n == name) {
                name.to_string()
            } else if names.len() == 1 {
                names[0].to_string()
            } else {
                return Err(bad(format!("no tensor named {name:?}; found {names:?}")));
            };
            let t = st.tensor(&key).map_err(|e| bad(e.to_string()))?;
            decode(
                t.dtype() == safetensors::Dtype::F64,
                t.dtype() == safetensors::Dtype::F32,
                t.data(),
            )
            .ok_or_else(|| {
                bad(format!(
                    "tensor {key:?} is {:?}; expected F32 or F64",
                    t.dtype()
                ))
            })?
        }
        Some("npy") => parse_npy(&bytes).map_err(bad)?,
        _ => {
            return Err(bad(
                "unsupported file type; use .safetensors or .npy (from a torch .pt file: \
                 numpy.save('mean.npy', torch.load('mean.pt').numpy()))"
                    .into(),
            ))
        }
    };
    match want_len {
        Some(n) if values.len() != n => Err(bad(format!(
            "has {} values, expected d_vit = {n}",
            values.len()
        ))),
        None if values.len() != 1 => Err(bad(format!(
            "has {} values, expected one scalar",
            values.len()
        ))),
        _ => Ok(values),
    }
}

fn decode(f64_: bool, f32_: bool, data: &[u8]) -> Option<Vec<f32>> {
    if f32_ {
        Some(
            data.chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect(),
        )
    } else if f64_ {
        Some(
            data.chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap()) as f32)
                .collect(),
        )
    } else {
        None
    }
}

/// The data of a NumPy `.npy` file holding a little-endian f32/f64 array.
fn parse_npy(bytes: &[u8]) -> std::result::Result<Vec<f32>, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ if bytes.len() >= 12 => (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        ),
        _ => return Err("truncated .npy header".into()),
    };
    let header = std::str::from_utf8(
        bytes
            .get(start..start + header_len)
            .ok_or("truncated .npy header")?,
    )
    .map_err(|_| "bad .npy header")?;
    if header.contains("'fortran_order': True") {
        return Err("Fortran-ordered .npy arrays are not supported".into());
    }
    let data = &bytes[start + header_len..];
    let f32_ = header.contains("'<f4'");
    let f64_ = header.contains("'<f8'");
    decode(f64_, f32_, data)
        .ok_or_else(|| format!("dtype must be '<f4' or '<f8'; header is {header}"))
}
