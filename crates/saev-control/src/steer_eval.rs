//! Steering a probe with SAE latents: what the evaluation and the dashboard
//! load ([`SteerInputs`]), and the flip-rate evaluation with its outputs
//! ([`run`]).

use std::path::{Path, PathBuf};

use saev_probe::Probe;
use saev_sae::Sae;
use saev_shards::Layer;
use saev_steer::{evaluate, proposals, summarize, EvalConfig, EvalRow, SummaryRow};
use saev_visuals::Visuals;
use serde::{Deserialize, Serialize};

use crate::probe_sweep::SplitSource;
use crate::split::{Norm, Split};
use crate::{write_json, FORMAT_VERSION};

/// The SAE, the probe, and the latents they may edit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SteerInputs {
    /// SAE checkpoint (its data normalization is applied to the activations).
    pub sae: PathBuf,
    /// Probe checkpoint (`model.safetensors` from the probe sweep).
    pub probe: PathBuf,
    /// The SAE's visuals on the pretraining data (a `sort_by_<mode>` dir or
    /// its parent): firing frequencies and largest activations.
    pub visuals: PathBuf,
    /// Only latents firing on fewer than this fraction of the visuals'
    /// examples are proposed.
    pub max_freq: f32,
    /// Latents per class (and random latents) proposed.
    pub n_latents: usize,
    pub layer: Layer,
}

/// [`SteerInputs`] loaded and checked against each other.
pub struct Loaded {
    pub sae: Sae,
    pub probe: Probe,
    pub visuals: Visuals,
    /// Where the visuals were read from (a `sort_by_<mode>` directory).
    pub visuals_root: PathBuf,
    /// Latents that may be proposed (rare, and fired at least once).
    pub allowed: Vec<bool>,
    /// How activations are normalized: the SAE checkpoint's own normalization.
    pub norm: Norm,
}

fn visuals_root(dir: &Path) -> anyhow::Result<PathBuf> {
    if dir.join("summary.json").is_file() {
        return Ok(dir.to_path_buf());
    }
    std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.join("summary.json").is_file())
        .ok_or_else(|| anyhow::anyhow!("{}: no saev visuals output here", dir.display()))
}

impl SteerInputs {
    pub fn load(&self) -> anyhow::Result<Loaded> {
        let sae = Sae::load_any(&self.sae)?;
        if sae.data_norm.is_none() {
            tracing::warn!(
                "{} carries no data normalization; activations are used as stored",
                self.sae.display()
            );
        }
        let (probe, _) = Probe::load(&self.probe)?;
        if probe.d != sae.d_vit() {
            anyhow::bail!(
                "{} reads {}-dim activations, the SAE {} {}-dim",
                self.probe.display(),
                probe.d,
                self.sae.display(),
                sae.d_vit()
            );
        }
        let root = visuals_root(&self.visuals)?;
        let visuals = Visuals::load(&root)?
            .ok_or_else(|| anyhow::anyhow!("{}: no saev visuals output here", root.display()))?;
        if visuals.summary.d_sae != sae.d_sae() {
            anyhow::bail!(
                "{} describes {} latents but the SAE {} has {}",
                root.display(),
                visuals.summary.d_sae,
                self.sae.display(),
                sae.d_sae()
            );
        }
        let allowed = visuals
            .sparsity_S
            .iter()
            .map(|&f| f > 0.0 && f < self.max_freq)
            .collect();
        let norm = if sae.data_norm.is_some() {
            Norm::File(self.sae.clone())
        } else {
            Norm::Estimate
        };
        Ok(Loaded {
            sae,
            probe,
            visuals,
            visuals_root: root,
            allowed,
            norm,
        })
    }
}

impl Loaded {
    /// A split in the SAE's space, checked against the probe's classes.
    pub fn split(&self, source: &SplitSource, layer: Layer) -> anyhow::Result<Split> {
        let s = source.load(layer, &self.norm)?;
        s.check_probe_classes(self.probe.c, &self.probe.classes)?;
        Ok(s)
    }

    /// Each class's proposed latents (from `train`'s class examples) and the
    /// pool random proposals are drawn from.
    pub fn proposals(&self, train: &Split, n_latents: usize) -> (Vec<Vec<usize>>, Vec<usize>) {
        let class_latents = proposals(
            &self.sae,
            &train.x_ND,
            &train.y_N,
            self.probe.c,
            n_latents,
            &self.allowed,
        );
        let pool = (0..self.allowed.len())
            .filter(|&j| self.allowed[j])
            .collect();
        (class_latents, pool)
    }
}

/// What [`run`] evaluates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SteerEvalConfig {
    pub inputs: SteerInputs,
    /// Split whose class examples choose each class's latents (e.g. Flowers train).
    pub train: SplitSource,
    /// Split edited and measured (e.g. Flowers test).
    pub test: SplitSource,
    /// Multiples of each latent's largest seen activation to set it to.
    pub scales: Vec<f32>,
    pub seed: u64,
    /// Where `steer_eval.csv`, `steer_summary.json` and `steer_eval.png` go.
    pub out: PathBuf,
}

/// One row of the summary: a kind of edit at one scale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SummaryLine {
    /// `class` (the target class's latents) or `random`.
    pub kind: String,
    pub scale: f32,
    pub n: usize,
    pub flip_rate: f64,
    pub mean_dp_target: f64,
    pub mean_dp_true: f64,
}

impl From<&SummaryRow> for SummaryLine {
    fn from(r: &SummaryRow) -> Self {
        SummaryLine {
            kind: r.kind.to_string(),
            scale: r.scale,
            n: r.n,
            flip_rate: r.flip_rate,
            mean_dp_target: r.mean_dp_target,
            mean_dp_true: r.mean_dp_true,
        }
    }
}

/// `steer_summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SteerSummary {
    pub format_version: u32,
    pub summary: Vec<SummaryLine>,
    pub n_examples: usize,
    pub n_classes: usize,
    pub rare_latents: usize,
    pub max_freq: f32,
    pub n_latents: usize,
    /// Each class's proposed latents.
    pub class_latents: Vec<Vec<usize>>,
    pub test_acc: f64,
}

impl SteerSummary {
    pub const FILE: &'static str = "steer_summary.json";

    pub fn read(out: &Path) -> anyhow::Result<SteerSummary> {
        crate::read_json(&out.join(Self::FILE))
    }

    /// The summary line of `kind` at `scale`.
    pub fn line(&self, kind: &str, scale: f32) -> Option<&SummaryLine> {
        self.summary
            .iter()
            .find(|l| l.kind == kind && l.scale == scale)
    }
}

/// What [`run`] returns.
pub struct SteerEvalOutcome {
    pub rows: Vec<EvalRow>,
    pub summary: SteerSummary,
    pub seconds: f64,
}

/// Propose latents per class on `train`, edit every `test` example toward
/// every other class at every scale (class latents and random ones), and
/// write the CSV, the summary and the figure.
pub fn run(cfg: &SteerEvalConfig) -> anyhow::Result<SteerEvalOutcome> {
    if cfg.scales.is_empty() || cfg.scales.iter().any(|s| !s.is_finite()) {
        anyhow::bail!(
            "steering needs at least one finite scale, not {:?}",
            cfg.scales
        );
    }
    let l = cfg.inputs.load()?;
    let train = l.split(&cfg.train, cfg.inputs.layer)?;
    let test = l.split(&cfg.test, cfg.inputs.layer)?;
    let n_allowed = l.allowed.iter().filter(|&&a| a).count();
    if n_allowed == 0 {
        anyhow::bail!(
            "no latent fires on fewer than {} of the visuals' examples; raise max_freq",
            cfg.inputs.max_freq
        );
    }
    let (class_latents, pool) = l.proposals(&train, cfg.inputs.n_latents);
    let ecfg = EvalConfig {
        scales: cfg.scales.clone(),
        seed: cfg.seed,
    };
    let start = std::time::Instant::now();
    let max_S = &l.visuals.max_values_S;
    let rows = evaluate(
        &l.sae,
        &l.probe,
        &test.x_ND,
        &test.y_N,
        &class_latents,
        max_S,
        &pool,
        &ecfg,
    );
    let seconds = start.elapsed().as_secs_f64();
    let summary_rows = summarize(&rows, &ecfg.scales);
    std::fs::create_dir_all(&cfg.out).map_err(|e| anyhow::anyhow!("{}: {e}", cfg.out.display()))?;
    write_rows_csv(&rows, &cfg.out.join("steer_eval.csv"))?;
    let summary = SteerSummary {
        format_version: FORMAT_VERSION,
        summary: summary_rows.iter().map(SummaryLine::from).collect(),
        n_examples: test.y_N.len(),
        n_classes: l.probe.c,
        rare_latents: n_allowed,
        max_freq: cfg.inputs.max_freq,
        n_latents: cfg.inputs.n_latents,
        class_latents,
        test_acc: l.probe.accuracy(&test.x_ND, &test.y_N),
    };
    write_json(&cfg.out.join(SteerSummary::FILE), &summary)?;
    plot(&summary, &ecfg.scales, &cfg.out.join("steer_eval.png"))?;
    Ok(SteerEvalOutcome {
        rows,
        summary,
        seconds,
    })
}

/// `steer_eval.csv`: one line per edit.
fn write_rows_csv(rows: &[EvalRow], path: &Path) -> anyhow::Result<()> {
    let header = [
        "example",
        "true_class",
        "target",
        "kind",
        "scale",
        "pred_before",
        "pred_after",
        "p_target_before",
        "p_target_after",
        "p_true_before",
        "p_true_after",
    ];
    let rows = rows.iter().map(|r| {
        [
            r.example.to_string(),
            r.true_class.to_string(),
            r.target.to_string(),
            r.kind.to_string(),
            r.scale.to_string(),
            r.pred_before.to_string(),
            r.pred_after.to_string(),
            r.p_target_before.to_string(),
            r.p_target_after.to_string(),
            r.p_true_before.to_string(),
            r.p_true_after.to_string(),
        ]
    });
    crate::write_csv(path, header, rows)
}

fn plot(summary: &SteerSummary, scales: &[f32], path: &Path) -> anyhow::Result<()> {
    use saev_plot::{Figure, Panel, Series, Style};
    let series = |kind: &str, f: fn(&SummaryLine) -> f64| {
        let name = if kind == "class" {
            "target class's latents"
        } else {
            "random rare latents"
        };
        let points = scales
            .iter()
            .filter_map(|&s| summary.line(kind, s).map(|r| (f64::from(s), f(r))))
            .collect();
        Series::line(name, points).with_style(Style::LinePoints)
    };
    let x = "scale (x latent's max activation)";
    let flip = |r: &SummaryLine| r.flip_rate;
    let dp = |r: &SummaryLine| r.mean_dp_target;
    Figure::new(2)
        .title("steering the probe with SAE latents")
        .panel(
            Panel::new("prediction becomes the target", x, "flip rate")
                .series(series("class", flip))
                .series(series("random", flip))
                .log_x(),
        )
        .panel(
            Panel::new("probability of the target", x, "mean change")
                .series(series("class", dp))
                .series(series("random", dp))
                .log_x(),
        )
        .save(path)?;
    Ok(())
}
