//! A sweep of linear probes on [CLS] activations (the original's
//! `contrib/classification/train.py`), in the SAE's activation space.

use std::path::{Path, PathBuf};

use saev_probe::{train_sweep, EpochLog, Probe, Setting, SweepConfig};
use saev_shards::Layer;
use serde::{Deserialize, Serialize};

use crate::split::{Norm, Split};
use crate::{py_float, read_json, write_json, FORMAT_VERSION};

/// A split: its store and, optionally, the class folders it was recorded
/// from (else the store's `labels.json` gives the classes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitSource {
    pub acts: PathBuf,
    pub imgs: Option<PathBuf>,
}

impl SplitSource {
    pub fn load(&self, layer: Layer, norm: &Norm) -> anyhow::Result<Split> {
        Split::load(&self.acts, layer, norm, self.imgs.as_deref())
    }
}

/// What [`run`] trains.
#[derive(Clone, Debug)]
pub struct ProbeSweepConfig {
    pub train: SplitSource,
    pub val: SplitSource,
    /// The best setting's accuracy on it is reported.
    pub test: Option<SplitSource>,
    /// Layer of the [CLS] activations (the SAE's).
    pub layer: Layer,
    /// SAE checkpoint whose data normalization the probes use (so edits of
    /// its latents mean the same to both); without it, the train store's
    /// own estimate is used for every split.
    pub sae: Option<PathBuf>,
    pub settings: Vec<Setting>,
    pub n_epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    /// Probe checkpoints: `<ckpt_path>/lr_*__wd_*/model.safetensors`.
    pub ckpt_path: PathBuf,
    /// `results.csv`, `hparam-sweeps.png`, `best.json`.
    pub log_to: PathBuf,
}

/// A probe's `cfg.json` (and the `cfg` entry of its checkpoint's metadata).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeRecord {
    pub format_version: u32,
    pub learning_rate: f32,
    pub weight_decay: f32,
    pub n_epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    pub layer: Layer,
    pub train_acts: PathBuf,
    pub val_acts: PathBuf,
    /// The normalization file the probe's inputs were scaled with.
    pub normalization: PathBuf,
    pub train_acc: f64,
    pub val_acc: f64,
}

/// `best.json`: the chosen setting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BestRecord {
    pub format_version: u32,
    pub learning_rate: f32,
    pub weight_decay: f32,
    pub train_acc: f64,
    pub val_acc: f64,
    pub test_acc: Option<f64>,
    /// The chosen probe's `model.safetensors`.
    pub ckpt: PathBuf,
    pub rule: String,
}

impl BestRecord {
    pub const FILE: &'static str = "best.json";

    pub fn read(log_to: &Path) -> anyhow::Result<BestRecord> {
        read_json(&log_to.join(Self::FILE))
    }
}

/// One setting's result.
#[derive(Clone, Debug, PartialEq)]
pub struct SettingResult {
    pub setting: Setting,
    pub train_acc: f64,
    pub val_acc: f64,
    pub ckpt: PathBuf,
}

/// What [`run`] returns (and wrote).
#[derive(Clone, Debug)]
pub struct ProbeSweepOutcome {
    pub results: Vec<SettingResult>,
    pub best: BestRecord,
    pub n_train: usize,
    pub n_val: usize,
    pub n_classes: usize,
}

/// The original's directory name: `lr_<lr>__wd_<wd>` with dots as underscores.
pub fn setting_dir(s: &Setting) -> String {
    format!(
        "lr_{}__wd_{}",
        py_float(s.learning_rate),
        py_float(s.weight_decay)
    )
    .replace('.', "_")
}

/// The rule [`run`] chooses by.
pub const BEST_RULE: &str =
    "highest validation accuracy after the last epoch (ties: earlier setting)";

/// A probe sweep file (`learning_rate` and `weight_decay` lists) as
/// settings; keys it does not set come from `default`.
pub fn settings_from_sweep(
    text: &str,
    origin: &Path,
    default: Setting,
) -> anyhow::Result<Vec<Setting>> {
    let at = |e: String| anyhow::anyhow!("{}: {e}", origin.display());
    let points = saev_sae::sweep::grid(text, 0, 0).map_err(at)?;
    if points.is_empty() {
        return Err(at("the sweep has no points (an empty list?)".into()));
    }
    let mut settings = Vec::new();
    for p in &points {
        let mut s = default;
        for (k, v) in &p.values {
            let num = v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
            let num = num.ok_or_else(|| at(format!("bad value for {k}: {v}")))? as f32;
            match k.as_str() {
                "learning_rate" => s.learning_rate = num,
                "weight_decay" => s.weight_decay = num,
                _ => {
                    return Err(at(format!(
                        "a probe sweep varies learning_rate and weight_decay only, not {k}"
                    )))
                }
            }
        }
        settings.push(s);
    }
    Ok(settings)
}

fn validate(cfg: &ProbeSweepConfig) -> anyhow::Result<()> {
    if cfg.settings.is_empty() {
        anyhow::bail!("no probe settings to train");
    }
    if cfg.n_epochs == 0 || cfg.batch_size == 0 {
        anyhow::bail!("n_epochs and batch_size must be at least 1");
    }
    for s in &cfg.settings {
        let ok = |x: f32| x.is_finite() && x >= 0.0;
        if !(ok(s.learning_rate) && s.learning_rate > 0.0 && ok(s.weight_decay)) {
            anyhow::bail!(
                "bad probe setting: learning rate {} must be > 0 and weight decay {} >= 0",
                s.learning_rate,
                s.weight_decay
            );
        }
    }
    Ok(())
}

/// The normalization every split is read with: the SAE's, or the train
/// store's estimate saved next to the probes.
fn normalization(cfg: &ProbeSweepConfig) -> anyhow::Result<PathBuf> {
    if let Some(p) = &cfg.sae {
        return Ok(p.clone());
    }
    let p = cfg.ckpt_path.join("normalization.safetensors");
    Split::save_estimate(&cfg.train.acts, cfg.layer, &p)?;
    Ok(p)
}

/// Train the sweep, choose the best setting on validation accuracy, write
/// every output; `on_epoch` sees each epoch's accuracies.
pub fn run(
    cfg: &ProbeSweepConfig,
    mut on_epoch: impl FnMut(&EpochLog),
) -> anyhow::Result<ProbeSweepOutcome> {
    validate(cfg)?;
    for dir in [&cfg.ckpt_path, &cfg.log_to] {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    }
    let norm_path = normalization(cfg)?;
    let norm = Norm::File(norm_path.clone());
    let train = cfg.train.load(cfg.layer, &norm)?;
    let val = cfg.val.load(cfg.layer, &norm)?;
    train.check_same_classes(&val)?;
    let test = match &cfg.test {
        Some(t) => {
            let test = t.load(cfg.layer, &norm)?;
            train.check_same_classes(&test)?;
            Some(test)
        }
        None => None,
    };
    let sweep = SweepConfig {
        n_epochs: cfg.n_epochs,
        batch_size: cfg.batch_size,
        seed: cfg.seed,
    };
    let progress = saev_io::Progress::new("probes", cfg.n_epochs as u64, "epochs");
    let mut last = None;
    let c = train.classes.len();
    let mut probes = train_sweep(
        &train.x_ND,
        &train.y_N,
        &val.x_ND,
        &val.y_N,
        train.d,
        c,
        &cfg.settings,
        &sweep,
        |log| {
            let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max) * 100.0;
            let (t, v) = (best(&log.train_acc), best(&log.val_acc));
            tracing::info!(
                "epoch: {}, max train acc: {t:.3}, max val acc: {v:.3}",
                log.epoch
            );
            progress.set_message(format!("best val acc {v:.1}%"));
            progress.inc(1);
            on_epoch(log);
            last = Some(log.clone());
        },
    );
    progress.finish();
    let last = last.ok_or_else(|| anyhow::anyhow!("no epoch ran"))?;
    let norm_path = std::fs::canonicalize(&norm_path)?;
    let mut results = Vec::new();
    for (i, (s, p)) in cfg.settings.iter().zip(&mut probes).enumerate() {
        p.classes = train.classes.clone();
        let dir = cfg.ckpt_path.join(setting_dir(s));
        std::fs::create_dir_all(&dir)?;
        let rec = ProbeRecord {
            format_version: FORMAT_VERSION,
            learning_rate: s.learning_rate,
            weight_decay: s.weight_decay,
            n_epochs: cfg.n_epochs,
            batch_size: cfg.batch_size,
            seed: cfg.seed,
            layer: cfg.layer,
            train_acts: cfg.train.acts.clone(),
            val_acts: cfg.val.acts.clone(),
            normalization: norm_path.clone(),
            train_acc: last.train_acc[i],
            val_acc: last.val_acc[i],
        };
        let ckpt = dir.join("model.safetensors");
        p.save(&ckpt, &[("cfg", serde_json::to_string(&rec)?)])?;
        write_json(&dir.join("cfg.json"), &rec)?;
        results.push(SettingResult {
            setting: *s,
            train_acc: rec.train_acc,
            val_acc: rec.val_acc,
            ckpt,
        });
    }
    write_results_csv(&results, &cfg.log_to.join("results.csv"))?;
    plot_sweep(&results, &cfg.log_to.join("hparam-sweeps.png"))?;
    let best = choose_best(&results);
    let b = &results[best];
    let test_acc = test.map(|t| probes[best].accuracy(&t.x_ND, &t.y_N));
    let best = BestRecord {
        format_version: FORMAT_VERSION,
        learning_rate: b.setting.learning_rate,
        weight_decay: b.setting.weight_decay,
        train_acc: b.train_acc,
        val_acc: b.val_acc,
        test_acc,
        ckpt: b.ckpt.clone(),
        rule: BEST_RULE.into(),
    };
    write_json(&cfg.log_to.join(BestRecord::FILE), &best)?;
    Ok(ProbeSweepOutcome {
        results,
        best,
        n_train: train.y_N.len(),
        n_val: val.y_N.len(),
        n_classes: c,
    })
}

/// Highest validation accuracy; ties go to the earlier setting.
pub fn choose_best(results: &[SettingResult]) -> usize {
    (0..results.len())
        .max_by(|&a, &b| {
            let (va, vb) = (results[a].val_acc, results[b].val_acc);
            va.total_cmp(&vb).then(b.cmp(&a))
        })
        .unwrap_or(0)
}

/// `results.csv`: `learning_rate,weight_decay,train_acc,val_acc`, numbers
/// as the original writes them.
pub fn write_results_csv(results: &[SettingResult], path: &Path) -> anyhow::Result<()> {
    let header = ["learning_rate", "weight_decay", "train_acc", "val_acc"];
    let rows = results.iter().map(|r| {
        [
            py_float(r.setting.learning_rate),
            py_float(r.setting.weight_decay),
            r.train_acc.to_string(),
            r.val_acc.to_string(),
        ]
    });
    crate::write_csv(path, header, rows)
}

/// The original's chart: rows train/val accuracy, columns learning rate /
/// weight decay, log x axes, one point per setting.
fn plot_sweep(results: &[SettingResult], path: &Path) -> anyhow::Result<()> {
    use saev_plot::{Figure, Panel, Series, Style};
    let pts = |x: fn(&Setting) -> f32, y: fn(&SettingResult) -> f64| -> Series {
        let mut v: Vec<(f64, f64)> = results
            .iter()
            .map(|r| (f64::from(x(&r.setting)) + 1e-9, y(r)))
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        Series::line("", v).with_style(Style::Points)
    };
    let lr = |s: &Setting| s.learning_rate;
    let wd = |s: &Setting| s.weight_decay;
    let train = |r: &SettingResult| r.train_acc;
    let val = |r: &SettingResult| r.val_acc;
    let panel =
        |title: &str, x: &str, y: &str, s: Series| Panel::new(title, x, y).series(s).log_x();
    Figure::new(2)
        .title("probe sweep: accuracy after the last epoch")
        .panel(panel(
            "train accuracy",
            "learning rate",
            "train_acc",
            pts(lr, train),
        ))
        .panel(panel(
            "train accuracy",
            "weight decay",
            "train_acc",
            pts(wd, train),
        ))
        .panel(panel(
            "validation accuracy",
            "learning rate",
            "val_acc",
            pts(lr, val),
        ))
        .panel(panel(
            "validation accuracy",
            "weight decay",
            "val_acc",
            pts(wd, val),
        ))
        .save(path)?;
    Ok(())
}

/// A probe checkpoint's accuracy on a split (`saev probe eval`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeEval {
    pub accuracy: f64,
    pub n: usize,
    pub ckpt: PathBuf,
    pub acts: PathBuf,
}

/// Evaluate `ckpt` on `split`, normalized as the probe was trained.
pub fn evaluate(ckpt: &Path, split: &SplitSource, layer: Layer) -> anyhow::Result<ProbeEval> {
    let (probe, meta) = Probe::load(ckpt)?;
    let rec: Option<ProbeRecord> = meta.get("cfg").and_then(|c| serde_json::from_str(c).ok());
    let norm = match rec {
        Some(r) if !r.normalization.as_os_str().is_empty() => Norm::File(r.normalization),
        _ => Norm::Estimate,
    };
    let s = split.load(layer, &norm)?;
    s.check_probe_classes(probe.c, &probe.classes)?;
    Ok(ProbeEval {
        accuracy: probe.accuracy(&s.x_ND, &s.y_N),
        n: s.y_N.len(),
        ckpt: ckpt.to_path_buf(),
        acts: s.store,
    })
}
