//! `saev visuals`: saev's command, same flags (and `--sort-by` spelled right).
//!
//! The flags become a [`VisualsConfig`] for [`saev_visuals::run::run`]: one
//! ordered pass over the shards through the SAE (reused when made from the
//! same checkpoint, store and settings), then pictures and `latents.json`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use saev_activations::DataSource;
use saev_visuals::{PassConfig, SortBy, VisualsConfig};

use crate::data_args::DataArgs;

#[derive(Args)]
pub struct VisualsArgs {
    /// The SAE: sae.safetensors (saev-rs) or sae.pt (saev).
    #[arg(long, default_value = "./checkpoints/sae.pt")]
    ckpt: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Images kept per latent.
    #[arg(long = "top-k", default_value_t = 128, value_parser = crate::numbers::at_least_one::<usize>)]
    top_k: usize,
    /// Examples per SAE batch.
    #[arg(long = "sae-batch-size", default_value_t = 16384, value_parser = crate::numbers::at_least_one::<usize>)]
    sae_batch_size: usize,
    /// Accepted for saev compatibility.
    #[arg(long = "topk-batch-size", default_value_t = 16384, hide = true, value_parser = crate::numbers::at_least_one::<usize>)]
    topk_batch_size: usize,
    #[arg(long = "n-workers", default_value_t = 16, hide = true, value_parser = crate::numbers::count::<usize>)]
    n_workers: usize,
    #[arg(long, default_value_t = 1e-9, hide = true, value_parser = crate::numbers::positive::<f64>)]
    epsilon: f64,
    #[arg(long, default_value = "cuda", hide = true)]
    device: String,
    /// Rank images by the [CLS] value (cls), the sum over patches (img) or the best patch (patch).
    /// (`--sort-byt`, as the seed's README spells it, is accepted too.)
    #[arg(long = "sort-by", alias = "sort-byt", default_value = "patch")]
    sort_by: SortBy,
    /// Where to write `sort_by_<mode>/`.
    #[arg(long = "dump-to", default_value = "./data")]
    dump_to: PathBuf,
    /// Latents with log10 frequency strictly inside this range get pictures.
    #[arg(long = "log-freq-range", num_args = 2, default_values_t = [-6.0, -2.0], allow_negative_numbers = true, value_parser = crate::numbers::finite::<f64>)]
    log_freq_range: Vec<f64>,
    /// ... and log10 mean value strictly inside this one.
    #[arg(long = "log-value-range", num_args = 2, default_values_t = [-1.0, 1.0], allow_negative_numbers = true, value_parser = crate::numbers::finite::<f64>)]
    log_value_range: Vec<f64>,
    /// Latents that always get pictures.
    #[arg(long = "include-latents", num_args = 0.., value_parser = crate::numbers::count::<usize>)]
    include_latents: Vec<usize>,
    /// Latents whose value distributions are kept and plotted.
    #[arg(long = "n-distributions", default_value_t = 25, value_parser = crate::numbers::count::<usize>)]
    n_distributions: usize,
    /// Percentile estimated online for every latent.
    #[arg(long, default_value_t = 99.0, value_parser = crate::numbers::positive::<f32>)]
    percentile: f32,
    /// Random latents (from the ranges) that get pictures.
    #[arg(long = "n-latents", default_value_t = 400, value_parser = crate::numbers::count::<usize>)]
    n_latents: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[command(subcommand)]
    images: Option<ImagesArgs>,
}

#[derive(Subcommand)]
pub enum ImagesArgs {
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
    fn config(&self) -> anyhow::Result<VisualsConfig> {
        Ok(VisualsConfig {
            ckpt: self.ckpt.clone(),
            data: self.data.to_config(None)?,
            pass: PassConfig {
                sort_by: self.sort_by,
                top_k: self.top_k,
                batch_size: self.sae_batch_size,
                percentile: self.percentile,
                n_distributions: self.n_distributions,
            },
            dump_to: self.dump_to.clone(),
            log_freq_range: (self.log_freq_range[0], self.log_freq_range[1]),
            log_value_range: (self.log_value_range[0], self.log_value_range[1]),
            include_latents: self.include_latents.clone(),
            n_latents: self.n_latents,
            seed: self.seed,
        })
    }

    pub fn run(self) -> anyhow::Result<ExitCode> {
        let cfg = self.config()?;
        let store = saev_shards::resolve_root(&cfg.data.shard_root)?;
        let images = saev_activations::ImageList::for_store(source(self.images.as_ref()), &store)?;
        let images = images.as_ref().map(|l| l as &dyn saev_imaging::ImageSource);
        let out = saev_visuals::run::run(&cfg, images)?;
        if out.reused {
            println!(
                "reusing the pass in {} (delete it to redo)",
                out.root.display()
            );
        } else {
            let secs = out.pass_seconds.max(1e-9);
            println!(
                "pass: {} examples in {secs:.1} s ({:.0} examples/s; {:.0}% of it in the SAE encoder)",
                out.n_examples,
                out.n_examples as f64 / secs,
                100.0 * out.encode_seconds / secs
            );
        }
        println!(
            "{} latents in the ranges; pictures for {}",
            out.n_in_ranges, out.n_pictures
        );
        println!("wrote {}", out.root.display());
        Ok(ExitCode::SUCCESS)
    }
}

/// The images' source the flags name (`None`: the paths in `labels.json`).
fn source(images: Option<&ImagesArgs>) -> Option<DataSource> {
    match images? {
        ImagesArgs::ImageFolder { root } => Some(DataSource::ImageFolder { root: root.clone() }),
        ImagesArgs::Imagenet { root, split, .. } => Some(DataSource::Imagenet {
            root: root.clone()?,
            split: split.clone(),
        }),
    }
}
