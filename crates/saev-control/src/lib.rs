//! The classification-control experiment on activation stores, as a
//! library: what `saev probe train`, `saev probe eval` and `saev steer eval`
//! do.
//!
//! - [`split::Split`]: every [CLS] activation of a store, normalized in the
//!   SAE's space, with class targets from class folders or `labels.json`.
//! - [`probe_sweep::run`]: a sweep of linear probes on a train split, chosen
//!   on a validation split, measured on a test split; writes the original's
//!   `lr_*__wd_*/` checkpoints, `results.csv`, `hparam-sweeps.png` and
//!   `best.json` ([`probe_sweep::BestRecord`]).
//! - [`steer_eval::run`]: the flip-rate evaluation of editing SAE latents;
//!   writes `steer_eval.csv`, `steer_summary.json`
//!   ([`steer_eval::SteerSummary`]) and `steer_eval.png`.
//!
//! The maths lives in `saev-probe` and `saev-steer`, which know nothing of
//! stores or images.

pub mod probe_sweep;
pub mod split;
pub mod steer_eval;

/// Version of the records this crate writes.
pub const FORMAT_VERSION: u32 = 1;

/// Python's `str(float)`: `1e-05`, `0.0001`, `1.0`, `10.0` (how the original
/// names probe directories and writes numbers).
pub fn py_float(x: f32) -> String {
    let s = format!("{x:?}");
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
            format!("{m}e{sign}{digits:0>2}")
        }
        None if s.contains('.') => s,
        None => format!("{s}.0"),
    }
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
) -> anyhow::Result<T> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Write a CSV file atomically: a header, then one record per row.
pub(crate) fn write_csv<const N: usize>(
    path: &std::path::Path,
    header: [&str; N],
    rows: impl IntoIterator<Item = [String; N]>,
) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header)?;
    for row in rows {
        w.write_record(row)?;
    }
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    saev_io::write_atomic(path, &bytes)?;
    Ok(())
}

pub(crate) fn write_json<T: serde::Serialize>(path: &std::path::Path, v: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(v)?;
    saev_io::write_atomic(path, text.as_bytes())?;
    Ok(())
}
