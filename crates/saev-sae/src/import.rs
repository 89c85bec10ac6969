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
        (_, _, Some(d), Some(s)) if d > 0 && s > 0 => (d, s / d),
        _ => return Err("config has neither d_vit/exp_factor nor d_model/d_sae".into()),
    };
    let mut cfg = SaeConfig {
        d_vit,
        exp_factor,
        ..SaeConfig::default()
    };
    // saev today sets the width directly; it need not be a multiple of d_model.
    if let (Some(s), None) = (int("d_sae"), int("exp_factor")) {
        if s != d_vit * exp_factor {
            cfg.d_sae = Some(s);
        }
    }
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
        // Schema 5 wraps every nested config as `{"cls": Name, "params": {...}}`.
        let (act, key) = match (act.get("cls").and_then(Value::as_str), act.get("params")) {
            (Some(cls), Some(params)) => (params, class_key(cls)?),
            _ => (
                act,
                act.get("key").and_then(Value::as_str).unwrap_or("relu"),
            ),
        };
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
        let sparsity = act.get("sparsity").map(|s| s.get("params").unwrap_or(s));
        if let Some(c) = sparsity
            .and_then(|s| s.get("coeff"))
            .and_then(Value::as_f64)
        {
            cfg.sparsity_coeff = c as f32;
        }
    }
    Ok(cfg)
}

/// Schema 5's activation class names as the older `key`s.
fn class_key(cls: &str) -> Result<&'static str, String> {
    match cls {
        "Relu" => Ok("relu"),
        "TopK" => Ok("top-k"),
        "BatchTopK" => Ok("batch-top-k"),
        other => Err(format!("unknown activation class {other:?}")),
    }
}

/// The header's config and schema: schema 1 and later nest the config under
/// `cfg`; files before that are the config itself.
fn header_config(head: &Value) -> (Option<u64>, &Value) {
    match head.get("schema").and_then(Value::as_u64) {
        Some(schema) => (Some(schema), head.get("cfg").unwrap_or(head)),
        None => (None, head),
    }
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
        let (schema, cfg_json) = header_config(&head);
        if schema.is_some_and(|s| s > 5) {
            return Err(err(
                path,
                format!("schema {schema:?}: saev-rs reads schemas up to 5"),
            ));
        }
        let cfg = config_from_json(cfg_json).map_err(|e| err(path, e))?;
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
        let mut w_enc = get("W_enc", &[d, s])?;
        // burn-store ignores strides. saev initializes `W_enc = W_dec.T.clone()`
        // when `reinit_enc_dec_tranpose` (sic) is set, and torch saves that
        // column-major: the storage is then `W_enc.T`, row-major.
        let transposed = cfg_json
            .get("reinit_enc_dec_tranpose")
            .and_then(Value::as_bool);
        if transposed == Some(true) {
            w_enc = transpose(&w_enc, s, d);
        }
        let mut sae = Sae::from_weights(
            cfg.clone(),
            w_enc,
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
        // Since schema 2 saev encodes `x @ W_enc + b_enc` (no `- b_dec`, commit
        // e7ca004); ours subtracts `b_dec`, so add `b_dec @ W_enc` back to `b_enc`.
        if schema.is_some_and(|s| s >= 2) {
            fold_b_dec(&mut sae);
        }
        Ok(sae)
    }
}

/// `b_enc += b_dec @ W_enc`: the same codes from an encoder that subtracts `b_dec`.
fn fold_b_dec(sae: &mut Sae) {
    let s = sae.cfg.d_sae();
    for (row, &b) in sae.w_enc_DS.chunks_exact(s).zip(&sae.b_dec_D) {
        for (out, &w) in sae.b_enc_S.iter_mut().zip(row) {
            *out += b * w;
        }
    }
}

/// `[rows, cols]` row-major into `[cols, rows]` row-major.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = m[r * cols + c];
        }
    }
    out
}
