//! `saev steer eval`: how often editing a class's SAE latents moves the
//! probe's prediction to that class, against random latents.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use saev_probe::Probe;
use saev_sae::Sae;
use saev_shards::Layer;
use saev_steer::{evaluate, proposals, summarize, EvalConfig};
use saev_visuals::Visuals;

use crate::split::{Norm, Split};

#[derive(Subcommand)]
pub enum SteerCmd {
    /// Flip rates of class latents against random latents over a test split.
    Eval(Box<EvalArgs>),
}

/// What the dashboard and the evaluation share: the SAE, the probe, and the
/// latents they may edit.
#[derive(Args, Clone)]
pub struct SteerInputs {
    /// SAE checkpoint (its data normalization is applied to the activations).
    #[arg(long)]
    pub sae: PathBuf,
    /// Probe checkpoint (model.safetensors from `saev probe train`).
    #[arg(long)]
    pub probe: PathBuf,
    /// `saev visuals` output of this SAE on the pretraining data (a sort_by_<mode> dir
    /// or its parent): firing frequencies and largest activations.
    #[arg(long)]
    pub visuals: PathBuf,
    /// Only latents firing on fewer than this fraction of the visuals' examples are proposed.
    #[arg(long = "max-freq", default_value_t = 0.01)]
    pub max_freq: f32,
    /// Latents per class (and random latents) proposed.
    #[arg(long = "n-latents", default_value_t = 3)]
    pub n_latents: usize,
    #[arg(long = "acts.layer", default_value = "-2", allow_hyphen_values = true)]
    pub layer: Layer,
}

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    inputs: SteerInputs,
    /// Split whose class examples choose each class's latents (e.g. Flowers train).
    #[arg(long = "train-acts.shard-root")]
    train_acts: PathBuf,
    #[arg(long = "train-imgs.root")]
    train_imgs: Option<PathBuf>,
    /// Split edited and measured (e.g. Flowers test).
    #[arg(long = "test-acts.shard-root")]
    test_acts: PathBuf,
    #[arg(long = "test-imgs.root")]
    test_imgs: Option<PathBuf>,
    /// Multiples of each latent's largest seen activation to set it to.
    #[arg(long, num_args = 1.., default_values_t = [0.25, 0.5, 1.0, 2.0, 4.0])]
    scales: Vec<f32>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where to write steer_eval.csv, steer_summary.json and steer_eval.png.
    #[arg(long, default_value = "./logs/steer")]
    out: PathBuf,
}

/// Loaded inputs.
pub struct Loaded {
    pub sae: Sae,
    pub probe: Probe,
    pub visuals: Visuals,
    /// Latents that may be proposed (rare, and fired at least once).
    pub allowed: Vec<bool>,
}

impl Loaded {
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

impl SteerInputs {
    pub fn load(&self) -> anyhow::Result<Loaded> {
        let sae = crate::cmd::sae::load_any(&self.sae)?;
        if sae.data_norm.is_none() {
            tracing::warn!(
                "{} carries no data normalization; activations are used as stored",
                self.sae.display()
            );
        }
        let (probe, _) = Probe::load(&self.probe)?;
        if probe.d != sae.d_vit() {
            anyhow::bail!(
                "the probe reads {}-dim activations, the SAE {}-dim",
                probe.d,
                sae.d_vit()
            );
        }
        let root = if self.visuals.join("summary.json").is_file() {
            self.visuals.clone()
        } else {
            std::fs::read_dir(&self.visuals)
                .map_err(|e| anyhow::anyhow!("{}: {e}", self.visuals.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| p.join("summary.json").is_file())
                .ok_or_else(|| {
                    anyhow::anyhow!("{}: no saev visuals output here", self.visuals.display())
                })?
        };
        let visuals = Visuals::load(&root)?
            .ok_or_else(|| anyhow::anyhow!("{}: no saev visuals output here", root.display()))?;
        if visuals.summary.d_sae != sae.d_sae() {
            anyhow::bail!(
                "{} describes {} latents but the SAE has {}",
                root.display(),
                visuals.summary.d_sae,
                sae.d_sae()
            );
        }
        let allowed = visuals
            .sparsity_S
            .iter()
            .map(|&f| f > 0.0 && f < self.max_freq)
            .collect();
        Ok(Loaded {
            sae,
            probe,
            visuals,
            allowed,
        })
    }

    /// How activations are normalized: the SAE checkpoint's own normalization.
    pub fn norm(&self, sae: &Sae) -> Norm {
        if sae.data_norm.is_some() {
            Norm::File(self.sae.clone())
        } else {
            Norm::Estimate
        }
    }
}

impl SteerCmd {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            SteerCmd::Eval(a) => a.run(),
        }
    }
}

impl EvalArgs {
    fn run(self) -> anyhow::Result<ExitCode> {
        let l = self.inputs.load()?;
        let norm = self.inputs.norm(&l.sae);
        let train = Split::load(
            &self.train_acts,
            self.inputs.layer,
            &norm,
            self.train_imgs.as_deref(),
        )?;
        let test = Split::load(
            &self.test_acts,
            self.inputs.layer,
            &norm,
            self.test_imgs.as_deref(),
        )?;
        let n_allowed = l.allowed.iter().filter(|&&a| a).count();
        if n_allowed == 0 {
            anyhow::bail!(
                "no latent fires on fewer than {} of the visuals' examples; raise --max-freq",
                self.inputs.max_freq
            );
        }
        let (class_latents, pool) = l.proposals(&train, self.inputs.n_latents);
        let cfg = EvalConfig {
            scales: self.scales.clone(),
            seed: self.seed,
        };
        let start = std::time::Instant::now();
        let rows = evaluate(
            &l.sae,
            &l.probe,
            &test.x_ND,
            &test.y_N,
            &class_latents,
            &l.visuals.max_values_S,
            &pool,
            &cfg,
        );
        let summary = summarize(&rows, &cfg.scales);
        std::fs::create_dir_all(&self.out)?;
        let mut csv = String::from("example,true_class,target,kind,scale,pred_before,pred_after,p_target_before,p_target_after,p_true_before,p_true_after\n");
        for r in &rows {
            csv += &format!(
                "{},{},{},{},{},{},{},{},{},{},{}\n",
                r.example,
                r.true_class,
                r.target,
                r.kind,
                r.scale,
                r.pred_before,
                r.pred_after,
                r.p_target_before,
                r.p_target_after,
                r.p_true_before,
                r.p_true_after
            );
        }
        saev_visuals::output::write_atomic(&self.out.join("steer_eval.csv"), csv.as_bytes())?;
        let json = serde_json::json!({
            "summary": summary, "n_examples": test.y_N.len(), "n_classes": l.probe.c,
            "rare_latents": n_allowed, "max_freq": self.inputs.max_freq, "n_latents": self.inputs.n_latents,
            "class_latents": class_latents, "test_acc": l.probe.accuracy(&test.x_ND, &test.y_N),
        });
        saev_visuals::output::write_atomic(
            &self.out.join("steer_summary.json"),
            serde_json::to_string_pretty(&json)?.as_bytes(),
        )?;
        plot(&summary, &cfg.scales, &self.out.join("steer_eval.png"))?;
        println!(
            "{} edits in {:.1} s ({} examples x {} other classes x {} scales x class/random)",
            rows.len(),
            start.elapsed().as_secs_f64(),
            test.y_N.len(),
            l.probe.c - 1,
            cfg.scales.len()
        );
        println!(
            "{:>8} {:>8} {:>10} {:>12} {:>12}",
            "kind", "scale", "flip rate", "dp(target)", "dp(true)"
        );
        for s in &summary {
            println!(
                "{:>8} {:>8} {:>9.1}% {:>12.4} {:>12.4}",
                s.kind,
                s.scale,
                100.0 * s.flip_rate,
                s.mean_dp_target,
                s.mean_dp_true
            );
        }
        println!("wrote {}", self.out.display());
        Ok(ExitCode::SUCCESS)
    }
}

fn plot(
    summary: &[saev_steer::SummaryRow],
    scales: &[f32],
    path: &std::path::Path,
) -> anyhow::Result<()> {
    use saev_plot::{Figure, Panel, Series, Style};
    let series = |kind: &str, f: &dyn Fn(&saev_steer::SummaryRow) -> f64| {
        let name = if kind == "class" {
            "target class's latents"
        } else {
            "random rare latents"
        };
        Series::line(
            name,
            scales
                .iter()
                .filter_map(|&s| {
                    summary
                        .iter()
                        .find(|r| r.kind == kind && r.scale == s)
                        .map(|r| (f64::from(s), f(r)))
                })
                .collect(),
        )
        .with_style(Style::LinePoints)
    };
    Figure::new(2)
        .title("steering the probe with SAE latents")
        .panel(
            Panel::new(
                "prediction becomes the target",
                "scale (x latent's max activation)",
                "flip rate",
            )
            .series(series("class", &|r| r.flip_rate))
            .series(series("random", &|r| r.flip_rate))
            .log_x(),
        )
        .panel(
            Panel::new(
                "probability of the target",
                "scale (x latent's max activation)",
                "mean change",
            )
            .series(series("class", &|r| r.mean_dp_target))
            .series(series("random", &|r| r.mean_dp_target))
            .log_x(),
        )
        .save(path)?;
    Ok(())
}
