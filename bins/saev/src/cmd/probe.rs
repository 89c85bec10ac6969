//! `saev probe train|eval`: linear probes on [CLS] activations (the
//! original's `contrib/classification`), in the SAE's activation space.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use saev_probe::{train_sweep, Probe, Setting, SweepConfig};
use saev_shards::Layer;
use serde_json::json;

use crate::split::{Norm, Split};

#[derive(Subcommand)]
pub enum ProbeCmd {
    /// Train a sweep of linear probes (all settings on the same batches).
    Train(Box<TrainArgs>),
    /// Accuracy of a probe checkpoint on a split.
    Eval(EvalArgs),
}

#[derive(Args)]
pub struct TrainArgs {
    #[arg(long = "train-acts.shard-root")]
    train_acts: PathBuf,
    #[arg(long = "val-acts.shard-root")]
    val_acts: PathBuf,
    /// Optional test split: the best setting's accuracy on it is reported.
    #[arg(long = "test-acts.shard-root")]
    test_acts: Option<PathBuf>,
    /// Class folders of the images each store was recorded from (default: the store's labels.json).
    #[arg(long = "train-imgs.root")]
    train_imgs: Option<PathBuf>,
    #[arg(long = "val-imgs.root")]
    val_imgs: Option<PathBuf>,
    #[arg(long = "test-imgs.root")]
    test_imgs: Option<PathBuf>,
    /// Layer of the [CLS] activations (the SAE's layer).
    #[arg(long = "acts.layer", default_value = "-2", allow_hyphen_values = true)]
    layer: Layer,
    /// SAE checkpoint whose data normalization the probe uses (recommended:
    /// edits of SAE latents then mean the same to both). Without it, the
    /// train store's own estimate is used for every split.
    #[arg(long)]
    sae: Option<PathBuf>,
    /// Sweep file (learning_rate and weight_decay lists).
    #[arg(long)]
    sweep: Option<PathBuf>,
    #[arg(long = "learning-rate", default_value_t = 1e-4)]
    learning_rate: f32,
    #[arg(long = "weight-decay", default_value_t = 1e-3)]
    weight_decay: f32,
    #[arg(long = "n-epochs", default_value_t = 20)]
    n_epochs: usize,
    #[arg(long = "batch-size", default_value_t = 512)]
    batch_size: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Accepted for compatibility (activations come from shards).
    #[arg(long = "n-workers", default_value_t = 32)]
    n_workers: usize,
    #[arg(long, default_value = "cuda", hide = true)]
    device: String,
    #[arg(
        long = "ckpt-path",
        default_value = "./checkpoints/contrib/classification"
    )]
    ckpt_path: PathBuf,
    #[arg(long = "log-to", default_value = "./logs/contrib/classification")]
    log_to: PathBuf,
}

#[derive(Args)]
pub struct EvalArgs {
    /// A probe's model.safetensors.
    #[arg(long)]
    ckpt: PathBuf,
    #[arg(long = "acts.shard-root")]
    acts: PathBuf,
    #[arg(long = "imgs.root")]
    imgs: Option<PathBuf>,
    #[arg(long = "acts.layer", default_value = "-2", allow_hyphen_values = true)]
    layer: Layer,
}

/// Python's `str(float)`: `1e-05`, `0.0001`, `1.0`, `10.0`.
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

/// The original's directory name: `lr_<lr>__wd_<wd>` with dots as underscores.
pub fn setting_dir(s: &Setting) -> String {
    format!(
        "lr_{}__wd_{}",
        py_float(s.learning_rate),
        py_float(s.weight_decay)
    )
    .replace('.', "_")
}

fn settings(args: &TrainArgs) -> anyhow::Result<Vec<Setting>> {
    let Some(path) = &args.sweep else {
        return Ok(vec![Setting {
            learning_rate: args.learning_rate,
            weight_decay: args.weight_decay,
        }]);
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let points = saev_sae::sweep::grid(&text, 0, 0)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let num = |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
    points
        .iter()
        .map(|p| {
            let mut s = Setting {
                learning_rate: args.learning_rate,
                weight_decay: args.weight_decay,
            };
            for (k, v) in &p.values {
                let bad = || anyhow::anyhow!("{}: bad value for {k}: {v}", path.display());
                match k.as_str() {
                    "learning_rate" => s.learning_rate = num(v).ok_or_else(bad)? as f32,
                    "weight_decay" => s.weight_decay = num(v).ok_or_else(bad)? as f32,
                    _ => anyhow::bail!(
                        "{}: a probe sweep varies learning_rate and weight_decay only, not {k}",
                        path.display()
                    ),
                }
            }
            Ok(s)
        })
        .collect()
}

impl ProbeCmd {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            ProbeCmd::Train(a) => a.run(),
            ProbeCmd::Eval(a) => a.run(),
        }
    }
}

impl TrainArgs {
    fn run(self) -> anyhow::Result<ExitCode> {
        let settings = settings(&self)?;
        std::fs::create_dir_all(&self.ckpt_path)?;
        std::fs::create_dir_all(&self.log_to)?;
        let norm = match &self.sae {
            Some(p) => Norm::File(p.clone()),
            None => {
                let p = self.ckpt_path.join("normalization.safetensors");
                Split::save_estimate(&self.train_acts, self.layer, &p)?;
                Norm::File(p)
            }
        };
        let train = Split::load(
            &self.train_acts,
            self.layer,
            &norm,
            self.train_imgs.as_deref(),
        )?;
        let val = Split::load(&self.val_acts, self.layer, &norm, self.val_imgs.as_deref())?;
        if train.classes != val.classes {
            anyhow::bail!(
                "train and val have different classes ({} vs {})",
                train.classes.len(),
                val.classes.len()
            );
        }
        println!(
            "{} probes ({} train, {} val examples, {} classes, D {})",
            settings.len(),
            train.y_N.len(),
            val.y_N.len(),
            train.classes.len(),
            train.d
        );
        let cfg = SweepConfig {
            n_epochs: self.n_epochs,
            batch_size: self.batch_size,
            seed: self.seed,
        };
        let bar = indicatif::ProgressBar::new(self.n_epochs as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("probes [{bar:30}] epoch {pos}/{len} {msg}")
                .expect("template")
                .progress_chars("=> "),
        );
        let mut last = None;
        let mut probes = train_sweep(
            &train.x_ND,
            &train.y_N,
            &val.x_ND,
            &val.y_N,
            train.d,
            train.classes.len(),
            &settings,
            &cfg,
            |log| {
                let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max) * 100.0;
                tracing::info!(
                    "epoch: {}, max train acc: {:.3}, max val acc: {:.3}",
                    log.epoch,
                    best(&log.train_acc),
                    best(&log.val_acc)
                );
                bar.set_message(format!("best val acc {:.1}%", best(&log.val_acc)));
                bar.inc(1);
                last = Some(log.clone());
            },
        );
        bar.finish_and_clear();
        let last = last.ok_or_else(|| anyhow::anyhow!("--n-epochs must be at least 1"))?;
        let norm_path = match &norm {
            Norm::File(p) => std::fs::canonicalize(p)?,
            Norm::Estimate => PathBuf::new(),
        };
        let mut csv = String::from("learning_rate,weight_decay,train_acc,val_acc\n");
        for (i, (s, p)) in settings.iter().zip(&mut probes).enumerate() {
            p.classes = train.classes.clone();
            let dir = self.ckpt_path.join(setting_dir(s));
            std::fs::create_dir_all(&dir)?;
            let cfg_json = json!({
                "learning_rate": s.learning_rate, "weight_decay": s.weight_decay, "n_epochs": self.n_epochs,
                "batch_size": self.batch_size, "seed": self.seed, "layer": self.layer.to_string(),
                "train_acts": self.train_acts, "val_acts": self.val_acts, "normalization": norm_path,
                "train_acc": last.train_acc[i], "val_acc": last.val_acc[i],
            });
            p.save(
                &dir.join("model.safetensors"),
                &[("cfg", cfg_json.to_string())],
            )?;
            std::fs::write(
                dir.join("cfg.json"),
                serde_json::to_string_pretty(&cfg_json)?,
            )?;
            csv += &format!(
                "{},{},{},{}\n",
                py_float(s.learning_rate),
                py_float(s.weight_decay),
                last.train_acc[i],
                last.val_acc[i]
            );
        }
        std::fs::write(self.log_to.join("results.csv"), &csv)?;
        plot_sweep(
            &settings,
            &last.train_acc,
            &last.val_acc,
            &self.log_to.join("hparam-sweeps.png"),
        )?;
        let best = (0..settings.len())
            .max_by(|&a, &b| last.val_acc[a].total_cmp(&last.val_acc[b]).then(b.cmp(&a)))
            .expect("one setting");
        let s = settings[best];
        let best_dir = self.ckpt_path.join(setting_dir(&s));
        let test_acc = match &self.test_acts {
            Some(root) => {
                let test = Split::load(root, self.layer, &norm, self.test_imgs.as_deref())?;
                Some(probes[best].accuracy(&test.x_ND, &test.y_N))
            }
            None => None,
        };
        let summary = json!({
            "learning_rate": s.learning_rate, "weight_decay": s.weight_decay,
            "train_acc": last.train_acc[best], "val_acc": last.val_acc[best], "test_acc": test_acc,
            "ckpt": best_dir.join("model.safetensors"), "rule": "highest validation accuracy after the last epoch (ties: earlier setting)",
        });
        std::fs::write(
            self.log_to.join("best.json"),
            serde_json::to_string_pretty(&summary)?,
        )?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{csv}")?;
        writeln!(
            out,
            "best: lr {} wd {}: val acc {:.2}%{} -> {}",
            py_float(s.learning_rate),
            py_float(s.weight_decay),
            last.val_acc[best] * 100.0,
            test_acc.map_or(String::new(), |t| format!(", test acc {:.2}%", t * 100.0)),
            best_dir.display()
        )?;
        writeln!(
            out,
            "results: {}",
            self.log_to.join("results.csv").display()
        )?;
        Ok(ExitCode::SUCCESS)
    }
}

/// The original's chart: rows train/val accuracy, columns learning rate /
/// weight decay, log x axes, one point per setting.
fn plot_sweep(settings: &[Setting], train: &[f64], val: &[f64], path: &Path) -> anyhow::Result<()> {
    use saev_plot::{Figure, Panel, Series, Style};
    let pts = |x: &dyn Fn(&Setting) -> f32, y: &[f64]| -> Vec<(f64, f64)> {
        let mut v: Vec<(f64, f64)> = settings
            .iter()
            .zip(y)
            .map(|(s, &a)| (f64::from(x(s)) + 1e-9, a))
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v
    };
    let lr = |s: &Setting| s.learning_rate;
    let wd = |s: &Setting| s.weight_decay;
    let dots = |name: &str, p: Vec<(f64, f64)>| Series::line(name, p).with_style(Style::Points);
    Figure::new(2)
        .title("probe sweep: accuracy after the last epoch")
        .panel(
            Panel::new("train accuracy", "learning rate", "train_acc")
                .series(dots("", pts(&lr, train)))
                .log_x(),
        )
        .panel(
            Panel::new("train accuracy", "weight decay", "train_acc")
                .series(dots("", pts(&wd, train)))
                .log_x(),
        )
        .panel(
            Panel::new("validation accuracy", "learning rate", "val_acc")
                .series(dots("", pts(&lr, val)))
                .log_x(),
        )
        .panel(
            Panel::new("validation accuracy", "weight decay", "val_acc")
                .series(dots("", pts(&wd, val)))
                .log_x(),
        )
        .save(path)?;
    Ok(())
}

impl EvalArgs {
    fn run(self) -> anyhow::Result<ExitCode> {
        let (probe, meta) = Probe::load(&self.ckpt)?;
        let cfg: serde_json::Value = meta
            .get("cfg")
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default();
        let norm = match cfg["normalization"].as_str() {
            Some(p) if !p.is_empty() => Norm::File(p.into()),
            _ => Norm::Estimate,
        };
        let split = Split::load(&self.acts, self.layer, &norm, self.imgs.as_deref())?;
        let acc = probe.accuracy(&split.x_ND, &split.y_N);
        println!(
            "{}",
            json!({"accuracy": acc, "n": split.y_N.len(), "ckpt": self.ckpt, "acts": split.store})
        );
        Ok(ExitCode::SUCCESS)
    }
}
