//! `metrics.jsonl` (one line every `log_every` steps) and `loss.png`.

use std::path::Path;

use saev_plot::{Figure, Panel, Series};
use serde::{Deserialize, Serialize};

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsLine {
    pub step: u64,
    pub loss: f32,
    pub mse: f32,
    pub l1: f32,
    pub l0: f32,
    pub aux: f32,
    pub lr: f32,
    pub sparsity_coeff: f32,
    pub n_patches_seen: u64,
}

/// The lines of `path` (unreadable lines, e.g. a torn last line, are dropped).
pub fn read_lines(path: &Path) -> Vec<MetricsLine> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Keep the lines of steps before `step` (a resumed run rewrites the rest)
/// and open the file for appending.
pub(crate) fn truncate(path: &Path, step: u64) -> anyhow::Result<std::fs::File> {
    let mut kept = String::new();
    for line in read_lines(path).into_iter().filter(|l| l.step < step) {
        kept += &serde_json::to_string(&line)?;
        kept.push('\n');
    }
    saev_io::write_atomic_with(path, kept.as_bytes(), saev_io::Durability::Fast)?;
    Ok(std::fs::OpenOptions::new().append(true).open(path)?)
}

/// A panel of one metric against step, with a log axis where the values
/// span a decade or more.
fn panel(title: &str, y: &str, rows: &[MetricsLine], f: fn(&MetricsLine) -> f32) -> Panel {
    let points: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| (r.step as f64, f64::from(f(r))))
        .filter(|p| p.1.is_finite())
        .collect();
    let (lo, hi) = points
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let p = Panel::new(title, "step", y).series(Series::line(y, points));
    if lo > 0.0 && hi / lo >= 10.0 {
        p.log_y()
    } else {
        p
    }
}

/// `dir/loss.png` from `dir/metrics.jsonl`: loss, MSE, L1 and L0 (and AuxK
/// when used) against step. Nothing is drawn before the first line.
pub fn plot_metrics(dir: &Path) -> anyhow::Result<()> {
    let rows = read_lines(&dir.join("metrics.jsonl"));
    if rows.is_empty() {
        return Ok(());
    }
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    let mut fig = Figure::new(2)
        .title(format!("run {name}"))
        .panel(panel("loss", "loss", &rows, |r| r.loss))
        .panel(panel("reconstruction", "mse", &rows, |r| r.mse))
        .panel(panel("L1", "l1", &rows, |r| r.l1))
        .panel(panel("L0", "active latents", &rows, |r| r.l0));
    if rows.iter().any(|r| r.aux > 0.0) {
        fig = fig.panel(panel("AuxK", "aux", &rows, |r| r.aux));
    }
    fig.save(&dir.join("loss.png"))?;
    Ok(())
}
