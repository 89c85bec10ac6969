//! `saev`: the saev-rs command line. Each subcommand parses its flags (saev's
//! tyro spellings) and hands the work to a library crate.

use clap::{Parser, Subcommand};

mod alloc;
mod cmd;
mod data_args;
mod flag_list;
mod numbers;
mod pipe;
mod pyargs;
mod seed_files;
mod slurm_args;

#[derive(Parser)]
#[command(
    name = "saev",
    version,
    about = "Sparse autoencoders for vision transformers, in Rust"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Record ViT activations of an image dataset into a shard store.
    Activations(Box<cmd::activations::ActivationsArgs>),
    /// Train SAEs on activation shards (saev's flags and sweep files).
    Train(Box<cmd::train::TrainArgs>),
    /// Top images, statistics and pictures of each SAE latent.
    Visuals(Box<cmd::visuals::VisualsArgs>),
    /// Linear probes on [CLS] activations: train a sweep, evaluate (also
    /// spelled `contrib.classification`, the original's module).
    #[command(subcommand, alias = "contrib.classification")]
    Probe(cmd::probe::ProbeCmd),
    /// Steering a probe with SAE latents: the flip-rate evaluation.
    #[command(subcommand)]
    Steer(cmd::steer::SteerCmd),
    /// Serve the feature browser over visuals outputs (localhost).
    Serve(cmd::serve::ServeArgs),
    /// SAE checkpoints: convert saev's sae.pt, inspect.
    #[command(subcommand)]
    Sae(cmd::sae::SaeCmd),
    /// Inspect, check, benchmark or synthesize activation-shard stores.
    #[command(subcommand)]
    Shards(cmd::shards::Shards),
    /// Prepare datasets (Flowers-102).
    #[command(subcommand)]
    Datasets(cmd::datasets::Datasets),
    /// The whole ImageNet -> Flowers-102 experiment (or its generated demo) in one go.
    Reproduce(Box<cmd::reproduce::ReproduceArgs>),
    /// The seed's `marimo edit contrib/classification/interactive.py`: the
    /// steering dashboard on a reproduction's results.
    #[command(subcommand)]
    Marimo(cmd::marimo::MarimoCmd),
    /// Speed measurements.
    #[command(subcommand)]
    Bench(cmd::bench::Bench),
    /// Every command's numeric flags, for tests (JSON lines).
    #[command(name = "__numeric-flags", hide = true)]
    NumericFlags,
}

fn main() -> std::process::ExitCode {
    alloc::tune();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_) | Command::Marimo(_)) {
        pipe::die_quietly_on_closed_stdout();
    }
    let result = dispatch(cli);
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Activations(args) => args.run(),
        Command::Shards(cmd) => cmd.run(),
        Command::Train(args) => args.run(),
        Command::Sae(cmd) => cmd.run(),
        Command::Visuals(args) => args.run(),
        Command::Serve(args) => args.run(),
        Command::Probe(cmd) => cmd.run(),
        Command::Steer(cmd) => cmd.run(),
        Command::Bench(cmd) => cmd.run(),
        Command::Marimo(cmd) => cmd.run(),
        Command::Datasets(cmd) => cmd.run(),
        Command::Reproduce(args) => args.run(),
        Command::NumericFlags => {
            flag_list::print();
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}
