//! `saev visuals`: saev's command, same flags (and `--sort-by` spelled right).
//!
//! One ordered pass over the shards through the SAE (skipped when its
//! results exist), then pictures: `neurons/<latent>/` for the latents in the
//! frequency and value ranges, and a grid of value histograms.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use saev_activations::DataSource;
use saev_shards::Dataset;
use saev_visuals::{pass, render, select, PassConfig, SortBy, Visuals};

use crate::data_args::DataArgs;

#[derive(Args)]
pub struct VisualsArgs {
    /// The SAE: sae.safetensors (saev-rs) or sae.pt (saev).
    #[arg(long, default_value = "./checkpoints/sae.pt")]
    ckpt: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Images kept per latent.
    #[arg(long = "top-k", default_value_t = 128)]
    top_k: usize,
    /// Examples per SAE batch.
    #[arg(long = "sae-batch-size", default_value_t = 16384)]
    sae_batch_size: usize,
    /// Accepted for saev compatibility.
    #[arg(long = "topk-batch-size", default_value_t = 16384, hide = true)]
    topk_batch_size: usize,
    #[arg(long = "n-workers", default_value_t = 16, hide = true)]
    n_workers: usize,
    #[arg(long, default_value_t = 1e-9, hide = true)]
    epsilon: f64,
    #[arg(long, default_value = "cuda", hide = true)]
    device: String,
    /// Rank images by the [CLS] value (cls), the sum over patches (img) or the best patch (patch).
    #[arg(long = "sort-by", default_value = "patch")]
    sort_by: SortBy,
    /// Where to write `sort_by_<mode>/`.
    #[arg(long = "dump-to", default_value = "./data")]
    dump_to: PathBuf,
    /// Latents with log10 frequency strictly inside this range get pictures.
    #[arg(long = "log-freq-range", num_args = 2, default_values_t = [-6.0, -2.0], allow_negative_numbers = true)]
    log_freq_range: Vec<f64>,
    /// ... and log10 mean value strictly inside this one.
    #[arg(long = "log-value-range", num_args = 2, default_values_t = [-1.0, 1.0], allow_negative_numbers = true)]
    log_value_range: Vec<f64>,
    /// Latents that always get pictures.
    #[arg(long = "include-latents", num_args = 0..)]
    include_latents: Vec<usize>,
    /// Latents whose value distributions are kept and plotted.
    #[arg(long = "n-distributions", default_value_t = 25)]
    n_distributions: usize,
    /// Percentile estimated online for every latent.
    #[arg(long, default_value_t = 99.0)]
    percentile: f32,
    /// Random latents (from the ranges) that get pictures.
    #[arg(long = "n-latents", default_value_t = 400)]
    n_latents: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[command(subcommand)]
    images: Option<ImagesArgs>,
}

#[derive(Subcommand)]
enum ImagesArgs {
    /// Class folders: root/<class>/<image>.
    #[command(name = "images:image-folder-dataset")]
    ImageFolder {
        #[arg(long = "images.root")]
        root: PathBuf,
    },
    /// ImageNet-1K (parquet files or class folders under --images.root; without
    /// it, the image paths recorded in the store's labels.json).
    #[command(name = "images:imagenet-dataset")]
    Imagenet {
        #[arg(long = "images.root")]
        root: Option<PathBuf>,
        #[arg(long = "images.split", default_value = "train")]
        split: String,
        #[arg(
            long = "images.name",
            default_value = "ILSVRC/imagenet-1k",
            hide = true
        )]
        name: String,
    },
}

impl VisualsArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let sae = crate::cmd::sae::load_any(&self.ckpt)?;
        let ds = Arc::new(Dataset::open(self.data.to_config(None)?)?);
        let root = Visuals::root(&self.dump_to, self.sort_by);
        let v = match Visuals::load(&root)? {
            Some(v) if v.summary.top_k == self.top_k && v.summary.d_sae == sae.d_sae() => {
                println!("reusing the pass in {} (delete it to redo)", root.display());
                v
            }
            _ => {
                let cfg = PassConfig {
                    sort_by: self.sort_by,
                    top_k: self.top_k,
                    batch_size: self.sae_batch_size,
                    percentile: self.percentile,
                    n_distributions: self.n_distributions,
                };
                let bar = ProgressBar::new(ds.len());
                bar.set_style(
                    ProgressStyle::with_template(
                        "visuals [{bar:30}] {pos}/{len} examples ({per_sec}, eta {eta})",
                    )
                    .expect("template")
                    .progress_chars("=> "),
                );
                let start = std::time::Instant::now();
                let r = pass::run(&sae, Arc::clone(&ds), &cfg, |done| bar.set_position(done))?;
                bar.finish_and_clear();
                let secs = start.elapsed().as_secs_f64();
                println!(
                    "pass: {} examples in {secs:.1} s ({:.0} examples/s; {:.0}% of it in the SAE encoder)",
                    r.stats.n,
                    r.stats.n as f64 / secs,
                    100.0 * r.encode_seconds / r.seconds.max(1e-9)
                );
                let v = Visuals::from_pass(&r, &self.ckpt, ds.store().root(), self.percentile);
                v.save(&root)?;
                v
            }
        };
        let hist = root.join(format!(
            "{}_activation_distributions.png",
            v.summary.n_distributions
        ));
        render::plot_distributions(&v, &hist)?;
        let [f0, f1] = [self.log_freq_range[0], self.log_freq_range[1]];
        let [v0, v1] = [self.log_value_range[0], self.log_value_range[1]];
        let latents = select::choose(
            &v,
            (f0, f1),
            (v0, v1),
            &self.include_latents,
            self.n_latents,
            self.seed,
        );
        println!(
            "{} latents in the ranges; pictures for {}",
            select::in_ranges(&v, (f0, f1), (v0, v1)).len(),
            latents.len()
        );
        let images = self.image_list(ds.store().root())?;
        let labels = saev_shards::Labels::load(ds.store().root())?;
        let load = |i: i64| -> Result<saev_imaging::Image8, String> {
            match &images {
                Some(list) => list.image(i as usize).map_err(|e| e.to_string()),
                None => Err("no images: give images:image-folder-dataset --images.root DIR or images:imagenet-dataset --images.root DIR".into()),
            }
        };
        let label = |i: i64| -> String {
            match (&labels, &images) {
                (Some(l), _) if (i as usize) < l.len() => l.label(i as usize).to_string(),
                (_, Some(list)) if (i as usize) < list.len() => list.label(i as usize).to_string(),
                _ => String::new(),
            }
        };
        if images.is_none() && !latents.is_empty() {
            anyhow::bail!("{}", load(0).unwrap_err());
        }
        let bar = ProgressBar::new(latents.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("pictures [{bar:30}] {pos}/{len} latents (eta {eta})")
                .expect("template")
                .progress_chars("=> "),
        );
        latents.par_iter().try_for_each(|&s| {
            let dir = root.join("neurons").join(s.to_string());
            let r = render::write_neuron(&v, s, &dir, &load, &label);
            bar.inc(1);
            r
        })?;
        bar.finish_and_clear();
        write_latent_table(&v, &root, &label)?;
        println!("wrote {}", root.display());
        Ok(ExitCode::SUCCESS)
    }

    /// The images, in the order they were recorded.
    fn image_list(
        &self,
        store: &std::path::Path,
    ) -> anyhow::Result<Option<saev_activations::ImageList>> {
        let source = match &self.images {
            Some(ImagesArgs::ImageFolder { root }) => {
                DataSource::ImageFolder { root: root.clone() }
            }
            Some(ImagesArgs::Imagenet {
                root: Some(root),
                split,
                ..
            }) => DataSource::Imagenet {
                root: root.clone(),
                split: split.clone(),
            },
            _ => {
                // The paths recorded next to the shards, when they are files.
                let Some(l) = saev_shards::Labels::load(store)? else {
                    return Ok(None);
                };
                if !l.paths.iter().all(|p| std::path::Path::new(p).is_file()) {
                    return Ok(None);
                }
                return Ok(Some(saev_activations::ImageList {
                    classes: l.classes.clone(),
                    targets: l.targets.clone(),
                    origins: l.paths.clone(),
                    images: saev_activations::Images::Files(
                        l.paths.iter().map(PathBuf::from).collect(),
                    ),
                }));
            }
        };
        Ok(Some(source.list()?))
    }
}

/// `latents.json`: one row per latent for the browser (frequency, mean and
/// largest value, the most common labels among its top images).
fn write_latent_table(
    v: &Visuals,
    root: &std::path::Path,
    label: &(dyn Fn(i64) -> String + Sync),
) -> anyhow::Result<()> {
    let rows: Vec<serde_json::Value> = (0..v.summary.d_sae)
        .into_par_iter()
        .map(|s| {
            let mut counts: Vec<(String, usize)> = Vec::new();
            for (img, _) in v.top(s).into_iter().take(32) {
                let l = label(img);
                match counts.iter_mut().find(|c| c.0 == l) {
                    Some(c) => c.1 += 1,
                    None => counts.push((l, 1)),
                }
            }
            counts.sort_by_key(|c| std::cmp::Reverse(c.1));
            let f = |x: f32| if x.is_finite() { serde_json::json!(x) } else { serde_json::Value::Null };
            serde_json::json!({
                "latent": s,
                "freq": f(v.sparsity_S[s]),
                "mean": f(v.mean_values_S[s]),
                "max": f(v.max_values_S[s]),
                "top_labels": counts.iter().take(3).map(|c| format!("{} ({})", c.0, c.1)).collect::<Vec<_>>(),
                "pictures": root.join("neurons").join(s.to_string()).join("metadata.json").is_file(),
            })
        })
        .collect();
    saev_visuals::output::write_atomic(
        &root.join("latents.json"),
        serde_json::to_string(&rows)?.as_bytes(),
    )?;
    Ok(())
}
