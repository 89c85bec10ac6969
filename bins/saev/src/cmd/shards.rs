//! `saev shards inspect|verify|convert|bench|synth`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use saev_shards::{bench, loader, synth, Metadata};

use crate::data_args::DataArgs;

#[derive(Subcommand)]
pub enum Shards {
    /// Print a JSON summary: metadata, shard count, bytes, views available.
    Inspect {
        /// Store directory (holding metadata.json), or a --dump-to holding one store.
        dir: PathBuf,
    },
    /// Check file sizes, NaN/Inf and checksums; exit non-zero on a problem.
    Verify { dir: PathBuf },
    /// Rewrite a store as saev's protocol 2.1 (`--to 2.1`) or the seed's layout
    /// (`--to seed`) under DUMP_TO/<hash>/; shard files are hard-linked.
    Convert {
        /// Store directory (holding metadata.json), or a --dump-to holding one store.
        dir: PathBuf,
        /// Target layout: `2.1` (saev today) or `seed`.
        #[arg(long)]
        to: saev_shards::Format,
        /// Where to create `<hash>/` (default: beside the source store).
        #[arg(long = "dump-to")]
        dump_to: Option<PathBuf>,
    },
    /// Measure the shuffled and ordered streams and a plain sequential read.
    Bench(BenchArgs),
    /// Write a store of random activations (for benchmarks and trials).
    Synth(SynthArgs),
}

#[derive(Args)]
pub struct BenchArgs {
    /// Store directory (or use --data.shard-root).
    dir: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    #[arg(long, default_value_t = 16_384, value_parser = crate::numbers::at_least_one::<usize>)]
    batch_size: usize,
    /// Seconds spent on each stream.
    #[arg(long, default_value_t = 10.0, value_parser = crate::numbers::positive::<f64>)]
    seconds: f64,
    /// Rows in the shuffle buffer.
    #[arg(long, default_value_t = 1 << 17, value_parser = crate::numbers::at_least_one::<usize>)]
    buffer_examples: usize,
    /// Consecutive examples read together by the shuffled stream.
    #[arg(long, default_value_t = 1024, value_parser = crate::numbers::at_least_one::<usize>)]
    chunk_examples: usize,
}

#[derive(Args)]
pub struct SynthArgs {
    /// Where to create `<hash>/`.
    #[arg(long = "dump-to")]
    dump_to: PathBuf,
    #[arg(long = "n-imgs", value_parser = crate::numbers::at_least_one::<u64>)]
    n_imgs: u64,
    #[arg(long = "d-vit", default_value_t = 768, value_parser = crate::numbers::at_least_one::<u64>)]
    d_vit: u64,
    #[arg(long = "n-patches-per-img", default_value_t = 196, value_parser = crate::numbers::count::<u64>)]
    n_patches_per_img: u64,
    #[arg(long = "layers", default_values_t = [-2], allow_negative_numbers = true, num_args = 1..)]
    layers: Vec<i64>,
    #[arg(long = "cls-token", default_value_t = true, action = clap::ArgAction::Set)]
    cls_token: bool,
    #[arg(long = "n-patches-per-shard", default_value_t = 2_400_000, value_parser = crate::numbers::at_least_one::<u64>)]
    n_patches_per_shard: u64,
    #[arg(long, default_value_t = 42)]
    seed: i64,
    /// Images per append (default: about 64 MB).
    #[arg(long = "images-per-batch", value_parser = crate::numbers::at_least_one::<usize>)]
    images_per_batch: Option<usize>,
}

impl Shards {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Shards::Inspect { dir } => {
                let report = saev_shards::inspect(&dir)?;
                println!("{}", serde_json::to_string_pretty(&report)?);
                Ok(ExitCode::SUCCESS)
            }
            Shards::Verify { dir } => verify(&dir),
            Shards::Convert { dir, to, dump_to } => {
                let root = saev_shards::convert(&dir, dump_to.as_deref(), to)?;
                println!("{}", root.display());
                Ok(ExitCode::SUCCESS)
            }
            Shards::Bench(args) => run_bench(args),
            Shards::Synth(args) => synth_store(args),
        }
    }
}

fn verify(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let report = saev_shards::verify_reporting(dir)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    for warning in &report.warnings {
        tracing::warn!("{warning}");
    }
    if report.ok() {
        Ok(ExitCode::SUCCESS)
    } else {
        for problem in &report.problems {
            eprintln!("problem: {problem}");
        }
        Ok(ExitCode::FAILURE)
    }
}

fn run_bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.data.to_config(args.dir.as_ref())?;
    let shuffle = loader::ShuffleConfig {
        batch_size: args.batch_size,
        buffer_examples: args.buffer_examples,
        chunk_examples: args.chunk_examples,
        ..Default::default()
    };
    tracing::info!("benchmarking for {}s per stream", args.seconds);
    let budget = Duration::from_secs_f64(args.seconds);
    let out = bench::streams(cfg, shuffle, budget)?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}

fn synth_store(args: SynthArgs) -> anyhow::Result<ExitCode> {
    let md = Metadata {
        model_family: "synthetic".into(),
        model_ckpt: "uniform-random".into(),
        layers: args.layers,
        n_patches_per_img: args.n_patches_per_img,
        cls_token: args.cls_token,
        d_vit: args.d_vit,
        seed: args.seed,
        n_imgs: args.n_imgs,
        n_patches_per_shard: args.n_patches_per_shard,
        data: "SyntheticDataset(kind='uniform')".into(),
    };
    let layout = md.layout().map_err(anyhow::Error::msg)?;
    let bar = saev_io::Progress::bytes("synth", md.n_imgs * layout.image_floats() as u64 * 4);
    let per_img = layout.image_floats() as u64 * 4;
    // Test hook: die like a killed process once this many images are recorded.
    let abort_after: Option<u64> = std::env::var("SAEV_TEST_ABORT_AFTER_IMAGES")
        .ok()
        .and_then(|v| v.parse().ok());
    let mut written = 0;
    let on_images = |n| {
        bar.inc(n * per_img);
        written += n;
        if abort_after.is_some_and(|limit| written >= limit) {
            std::process::abort();
        }
    };
    let root = synth::write_random_store(
        &args.dump_to,
        md,
        args.seed as u64,
        args.images_per_batch,
        on_images,
    )?;
    bar.finish();
    println!("{}", root.display());
    Ok(ExitCode::SUCCESS)
}
