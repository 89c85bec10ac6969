//! Reading saev's own checkpoints: `sae.pt` is a JSON config line followed
//! by a `torch.save` zip of the state dict (saev's `nn.dump`). The zip is
//! read by burn-store's PyTorch reader, so no Python is needed.
//!
//! Both saev's preprint config (`d_vit`, `exp_factor`, ...) and its newer one
//! (`d_model`, `d_sae`, `activation`) are understood.

use std::io::Write;
use std::path::Path;

use serde_json::Value;

use crate::activation::Activation;
use crate::checkpoint::CheckpointError;
use crate::sae::{Sae, SaeConfig};

fn err(path: &Path, why: impl ToString) -> CheckpointError {
    CheckpointError {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

/// saev's JSON config line as ours.
fn config_from_json(v: &Value) -> Result<SaeConfig, String> {
    let int = |k: &str| v.get(k).and_then(Value::as_u64).map(|x| x as usize);
    let (d_vit, exp_factor) = match (
        int("d_vit"),
        int("exp_factor"),
        int("d_model"),
        int("d_sae"),
    ) {
        (Some(d), Some(e), _, _) => (d, e),
        (_, _, Some(d), Some(s)) if d > 0 && s % d == 0 => (d, s / d),
        (_, _, Some(d), Some(s)) => {
            return Err(format!("d_sae {s} is not a multiple of d_model {d}"))
        }
        _ => return Err("config has neither d_vit/exp_factor nor d_model/d_sae".into()),
    };
    let mut cfg = SaeConfig {
        d_vit,
        exp_factor,
        ..SaeConfig::default()
    };
    if let Some(c) = v.get("sparsity_coeff").and_then(Value::as_f64) {
        cfg.sparsity_coeff = c as f32;
    }
    if let Some(n) = int("n_reinit_samples") {
        cfg.n_reinit_samples = n;
    }
    for (key, slot) in [
        ("normalize_w_dec", &mut cfg.normalize_w_dec),
        ("remove_parallel_grads", &mut cfg.remove_parallel_grads),
    ] {
        if let Some(b) = v.get(key).and_then(Value::as_bool) {
            *slot = b;
        }
    }
    if let Some(s) = v.get("seed").and_then(Value::as_u64) {
        cfg.seed = s;
    }
    if let Some(act) = v.get("activation").filter(|a| a.is_object()) {
        let key = act.get("key").and_then(Value::as_str).unwrap_or("relu");
        let top_k = act.get("top_k").and_then(Value::as_u64).unwrap_or(32) as usize;
        cfg.activation = match key {
            "relu" => Activation::Relu,
            "top-k" | "topk" => Activation::TopK { top_k },
            "batch-top-k" | "batch-topk" => Activation::BatchTopK {
                top_k,
                momentum: act.get("momentum").and_then(Value::as_f64).unwrap_or(0.1) as f32,
            },
            other => return Err(format!("unknown activation {other:?}")),
        };
        if let Some(c) = act
            .get("sparsity")
            .and_then(|s| s.get("coeff"))
            .and_then(Value::as_f64)
        {
            cfg.sparsity_coeff = c as f32;
        }
    }
    Ok(cfg)
}

impl Sae {
    /// Load saev's `sae.pt` (see the module docs).
    pub fn load_saev_pt(path: &Path) -> Result<Self, CheckpointError> {
        let bytes = std::fs::read(path).map_err(|e| err(path, e))?;
        let nl = bytes
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| err(path, "no JSON config line: not a saev checkpoint"))?;
        let head: Value = serde_json::from_slice(&bytes[..nl])
            .map_err(|e| err(path, format!("first line is not saev's JSON config: {e}")))?;
        let cfg = config_from_json(&head).map_err(|e| err(path, e))?;
        // The torch zip after the line, as a file of its own for the reader.
        let mut zip = tempfile::NamedTempFile::new().map_err(|e| err(path, e))?;
        zip.write_all(&bytes[nl + 1..]).map_err(|e| err(path, e))?;
        zip.flush().map_err(|e| err(path, e))?;
        let reader = burn_store::pytorch::PytorchReader::new(zip.path())
            .map_err(|e| err(path, format!("reading the torch state dict: {e}")))?;
        let (d, s) = (cfg.d_vit, cfg.d_sae());
        let get = |name: &str, shape: &[usize]| -> Result<Vec<f32>, CheckpointError> {
            let t = reader
                .get(name)
                .ok_or_else(|| err(path, format!("state dict has no {name}")))?;
            if t.shape.as_slice() != shape {
                return Err(err(
                    path,
                    format!("{name} is {:?}, expected {shape:?}", t.shape.as_slice()),
                ));
            }
            let data = t
                .to_data()
                .map_err(|e| err(path, format!("{name}: {e:?}")))?;
            data.convert::<f32>()
                .to_vec::<f32>()
                .map_err(|e| err(path, format!("{name}: {e:?}")))
        };
        let mut sae = Sae::from_weights(
            cfg.clone(),
            get("W_enc", &[d, s])?,
            get("b_enc", &[s])?,
            get("W_dec", &[s, d])?,
            get("b_dec", &[d])?,
        );
        if let (Activation::BatchTopK { .. }, Some(t)) =
            (cfg.activation, reader.get("activation.threshold"))
        {
            let v = t
                .to_data()
                .map_err(|e| err(path, format!("threshold: {e:?}")))?
                .convert::<f32>()
                .to_vec::<f32>()
                .map_err(|e| err(path, format!("threshold: {e:?}")))?;
            sae.threshold = v.first().copied().unwrap_or(0.0);
        }
        Ok(sae)
    }
}
