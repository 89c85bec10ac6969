//! `saev activations`: saev's recording command, same flags.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use saev_activations::{record, DataSource, RecordConfig};

use crate::cmd::device::Device;

use crate::pyargs::py_bool;

#[derive(Args)]
pub struct ActivationsArgs {
    /// Where to write shards (a `<hash>/` directory is made inside).
    #[arg(long = "dump-to", default_value = "./shards")]
    dump_to: PathBuf,
    /// Which model family (clip).
    #[arg(long = "model-family", default_value = "clip")]
    model_family: String,
    /// A model name (ViT-B-16/openai), a directory or a weights file.
    #[arg(long = "model-ckpt", default_value = "ViT-L-14/openai")]
    model_ckpt: String,
    /// Where named models live (default $SAEV_MODELS, else ~/.cache/saev-rs/models).
    #[arg(long = "model-dir")]
    model_dir: Option<PathBuf>,
    /// Images per ViT batch (default 1024 on cuda, 32 on cpu).
    #[arg(long = "vit-batch-size", value_parser = crate::numbers::at_least_one::<usize>)]
    vit_batch_size: Option<usize>,
    /// Threads decoding and preprocessing images.
    #[arg(long = "n-workers", default_value_t = 8, value_parser = crate::numbers::count::<usize>)]
    n_workers: usize,
    /// Width of the ViT's residual stream.
    #[arg(long = "d-vit", default_value_t = 1024, value_parser = crate::numbers::at_least_one::<usize>)]
    d_vit: usize,
    /// Layers to record (saev's numbering; -2 is the second-to-last block).
    #[arg(long = "layers", default_values_t = [-2], allow_negative_numbers = true, num_args = 1..)]
    layers: Vec<i64>,
    /// Patch tokens per image; 0 records [CLS] only (197 times less disk).
    #[arg(long = "n-patches-per-img", default_value_t = 256, value_parser = crate::numbers::count::<usize>)]
    n_patches_per_img: usize,
    #[arg(long = "cls-token", default_value = "True", value_parser = py_bool)]
    cls_token: bool,
    /// Token vectors per shard file (Python integer syntax, e.g. 2_400_000).
    #[arg(long = "n-patches-per-shard", default_value = "2_400_000", value_parser = crate::numbers::at_least_one::<u64>)]
    n_patches_per_shard: u64,
    #[arg(long, default_value_t = 42)]
    seed: i64,
    /// cpu, cuda or cuda:I (GPU I: parts started by hand take one each).
    #[arg(long, default_value = "cuda")]
    device: Device,
    /// Record only part I (0-based) of N: a contiguous range of whole
    /// shards, into the same store; once every part has finished, the store
    /// is the one a single run writes. Parts resume on their own.
    #[arg(long, global = true, value_name = "I/N", value_parser = saev_shards::Part::parse)]
    part: Option<saev_shards::Part>,
    #[command(flatten)]
    slurm: crate::slurm_args::SlurmArgs,
    /// Accepted for saev compatibility; saev-rs never downloads weights.
    #[arg(long, hide = true)]
    ssl: bool,
    #[arg(long = "no-ssl", hide = true)]
    no_ssl: bool,
    #[command(subcommand)]
    data: Option<DataArgs>,
}

#[derive(Subcommand)]
enum DataArgs {
    /// Class folders: root/<class>/<image>.
    #[command(name = "data:image-folder-dataset")]
    ImageFolder {
        /// Where the class folders with images are.
        #[arg(long = "data.root")]
        root: PathBuf,
    },
    /// ImageNet-1K as class folders: root/<split>/<wnid>/<image>.
    #[command(name = "data:imagenet-dataset")]
    Imagenet {
        #[arg(long = "data.root")]
        root: PathBuf,
        #[arg(long = "data.split", default_value = "train")]
        split: String,
        /// Accepted for saev compatibility (only ILSVRC/imagenet-1k).
        #[arg(long = "data.name", default_value = "ILSVRC/imagenet-1k")]
        name: String,
    },
}

impl ActivationsArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let data = match self.data {
            Some(DataArgs::ImageFolder { root }) => DataSource::ImageFolder { root },
            Some(DataArgs::Imagenet { root, split, .. }) => DataSource::Imagenet { root, split },
            None => anyhow::bail!(
                "choose the images: `data:image-folder-dataset --data.root DIR` or `data:imagenet-dataset --data.root DIR`"
            ),
        };
        if self.slurm.submitting() {
            if self.part.is_some() {
                anyhow::bail!("give --slurm or --part, not both (each Slurm task gets its --part)");
            }
            let dump_to = self.dump_to.clone();
            let check = move || {
                let report = saev_shards::verify(&saev_shards::resolve_root(&dump_to)?)?;
                if !report.ok() {
                    anyhow::bail!("the store does not verify: {}", report.problems.join("; "));
                }
                Ok(())
            };
            self.slurm.submit("activations", &self.dump_to, check)?;
            return Ok(ExitCode::SUCCESS);
        }
        let device = self.device.available();
        let cfg = RecordConfig {
            data,
            dump_to: self.dump_to,
            model_family: self.model_family,
            model_ckpt: self.model_ckpt,
            model_dir: self.model_dir,
            vit_batch_size: self
                .vit_batch_size
                .unwrap_or(device.default_vit_batch_size()),
            n_workers: self.n_workers,
            d_vit: self.d_vit,
            layers: self.layers,
            n_patches_per_img: self.n_patches_per_img,
            cls_token: self.cls_token,
            n_patches_per_shard: self.n_patches_per_shard,
            seed: self.seed,
            part: self.part,
        };
        let bar = saev_io::Progress::new("recording", 0, "images");
        let on_progress = |p: saev_activations::Progress| {
            bar.set_length(p.total);
            bar.set_position(p.done);
        };
        let summary = crate::with_backend!(device, B, |dev| record::<B>(&cfg, &dev, on_progress))?;
        bar.finish();
        let per_s = summary.recorded as f64 / summary.seconds;
        println!("store:    {}", summary.root.display());
        println!(
            "images:   {} ({} recorded now, {} already there)",
            summary.n_imgs, summary.recorded, summary.resumed_at
        );
        println!(
            "time:     {:.1} s, {per_s:.2} images/s ({:.1} s in the ViT forward pass)",
            summary.seconds, summary.forward_seconds
        );
        Ok(ExitCode::SUCCESS)
    }
}
