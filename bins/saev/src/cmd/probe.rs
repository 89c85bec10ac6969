//! `saev probe train|eval`: linear probes on [CLS] activations (the
//! original's `contrib/classification`), in the SAE's activation space.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use saev_control::probe_sweep::{self, ProbeSweepConfig, SplitSource};
use saev_control::py_float;
use saev_probe::Setting;
use saev_shards::Layer;

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
    #[arg(long = "learning-rate", default_value_t = 1e-4, value_parser = crate::numbers::positive::<f32>)]
    learning_rate: f32,
    #[arg(long = "weight-decay", default_value_t = 1e-3, value_parser = crate::numbers::non_negative::<f32>)]
    weight_decay: f32,
    #[arg(long = "n-epochs", default_value_t = 20, value_parser = crate::numbers::at_least_one::<usize>)]
    n_epochs: usize,
    #[arg(long = "batch-size", default_value_t = 512, value_parser = crate::numbers::at_least_one::<usize>)]
    batch_size: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Accepted for compatibility (activations come from shards).
    #[arg(long = "n-workers", default_value_t = 32, value_parser = crate::numbers::count::<usize>)]
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

impl ProbeCmd {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            ProbeCmd::Train(a) => a.run(),
            ProbeCmd::Eval(a) => a.run(),
        }
    }
}

impl TrainArgs {
    fn config(&self) -> anyhow::Result<ProbeSweepConfig> {
        let default = Setting {
            learning_rate: self.learning_rate,
            weight_decay: self.weight_decay,
        };
        let settings = match &self.sweep {
            Some(path) => {
                let text = crate::seed_files::read_sweep(path)?;
                probe_sweep::settings_from_sweep(&text, path, default)?
            }
            None => vec![default],
        };
        let split = |acts: &PathBuf, imgs: &Option<PathBuf>| SplitSource {
            acts: acts.clone(),
            imgs: imgs.clone(),
        };
        Ok(ProbeSweepConfig {
            train: split(&self.train_acts, &self.train_imgs),
            val: split(&self.val_acts, &self.val_imgs),
            test: self.test_acts.as_ref().map(|t| split(t, &self.test_imgs)),
            layer: self.layer,
            sae: self.sae.clone(),
            settings,
            n_epochs: self.n_epochs,
            batch_size: self.batch_size,
            seed: self.seed,
            ckpt_path: self.ckpt_path.clone(),
            log_to: self.log_to.clone(),
        })
    }

    fn run(self) -> anyhow::Result<ExitCode> {
        let cfg = self.config()?;
        println!("{} probes", cfg.settings.len());
        let out = probe_sweep::run(&cfg, |_| {})?;
        println!(
            "{} train, {} val examples, {} classes",
            out.n_train, out.n_val, out.n_classes
        );
        println!("learning_rate,weight_decay,train_acc,val_acc");
        for r in &out.results {
            let (lr, wd) = (r.setting.learning_rate, r.setting.weight_decay);
            println!(
                "{},{},{},{}",
                py_float(lr),
                py_float(wd),
                r.train_acc,
                r.val_acc
            );
        }
        let b = &out.best;
        let test = b
            .test_acc
            .map_or(String::new(), |t| format!(", test acc {:.2}%", t * 100.0));
        println!(
            "best: lr {} wd {}: val acc {:.2}%{test} -> {}",
            py_float(b.learning_rate),
            py_float(b.weight_decay),
            b.val_acc * 100.0,
            b.ckpt.parent().unwrap_or(&b.ckpt).display()
        );
        println!("results: {}", cfg.log_to.join("results.csv").display());
        Ok(ExitCode::SUCCESS)
    }
}

impl EvalArgs {
    fn run(self) -> anyhow::Result<ExitCode> {
        let split = SplitSource {
            acts: self.acts.clone(),
            imgs: self.imgs.clone(),
        };
        let e = probe_sweep::evaluate(&self.ckpt, &split, self.layer)?;
        println!("{}", serde_json::to_string(&e)?);
        Ok(ExitCode::SUCCESS)
    }
}
