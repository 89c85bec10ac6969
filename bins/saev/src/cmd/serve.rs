//! `saev serve DIR...`: the feature browser over `saev visuals` outputs;
//! `saev serve steer ...`: the steering dashboard. Both on localhost unless
//! told otherwise.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use saev_control::probe_sweep::SplitSource;

use crate::cmd::steer::SteerInputArgs;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ServeArgs {
    /// `saev visuals` outputs: a --dump-to directory or a sort_by_<mode> directory.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    #[command(flatten)]
    addr: Addr,
    #[command(subcommand)]
    page: Option<Page>,
}

#[derive(Args, Clone)]
struct Addr {
    /// Address to listen on (127.0.0.1: this machine only).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    port: u16,
}

#[derive(Subcommand)]
enum Page {
    /// The steering dashboard: edit SAE latents of test images, watch the probe.
    Steer(Box<SteerArgs>),
}

#[derive(Args)]
struct SteerArgs {
    #[command(flatten)]
    inputs: SteerInputArgs,
    /// The examples to steer (e.g. Flowers-102 test [CLS] activations).
    #[arg(long)]
    acts: PathBuf,
    /// Their images' class folders (default: the store's labels.json).
    #[arg(long)]
    imgs: Option<PathBuf>,
    /// Examples that choose each class's latents (default: --acts).
    #[arg(long = "train-acts")]
    train_acts: Option<PathBuf>,
    #[arg(long = "train-imgs")]
    train_imgs: Option<PathBuf>,
    #[command(flatten)]
    addr: Addr,
}

impl ServeArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        if let Some(Page::Steer(s)) = self.page {
            return s.run();
        }
        let mut sources = Vec::new();
        for d in &self.dirs {
            sources.extend(saev_web::browse::Source::open_all(d)?);
        }
        let n = sources.len();
        let app = saev_web::browse::router(sources);
        saev_web::serve(app, &self.addr.host, self.addr.port, |addr| {
            println!("feature browser: http://{addr}/ ({n} visuals output(s)); Ctrl-C stops");
            let _ = std::io::stdout().flush();
        })?;
        Ok(ExitCode::SUCCESS)
    }
}

impl SteerArgs {
    fn run(self) -> anyhow::Result<ExitCode> {
        let l = self.inputs.config().load()?;
        let layer = self.inputs.layer;
        let source = |acts: &PathBuf, imgs: &Option<PathBuf>| SplitSource {
            acts: acts.clone(),
            imgs: imgs.clone(),
        };
        let test = l.split(&source(&self.acts, &self.imgs), layer)?;
        // Class latents come from --train-acts, or from the examples themselves.
        let train = match &self.train_acts {
            Some(root) => Some(l.split(&source(root, &self.train_imgs), layer)?),
            None => None,
        };
        let n = test.y_N.len();
        let data = saev_web::steer::SteerData::new(l, test, train.as_ref(), self.inputs.n_latents);
        saev_web::serve(
            saev_web::steer::router(data),
            &self.addr.host,
            self.addr.port,
            |addr| {
                println!("steering dashboard: http://{addr}/ ({n} examples); Ctrl-C stops");
                let _ = std::io::stdout().flush();
            },
        )?;
        Ok(ExitCode::SUCCESS)
    }
}
