//! `saev marimo edit contrib/classification/interactive.py`: the seed's
//! last command (`uv run marimo edit ...`, the original's steering notebook)
//! opens our steering dashboard on the reproduction's results instead.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum MarimoCmd {
    /// The steering dashboard on a reproduction's SAE, probe and splits (the
    /// notebook's role).
    Edit(EditArgs),
}

#[derive(Args)]
pub struct EditArgs {
    /// The original's notebook (only `contrib/classification/interactive.py` is known).
    notebook: PathBuf,
    /// The reproduction to open (default ./reproduce, else ./demo).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 8000)]
    port: u16,
}

impl MarimoCmd {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let MarimoCmd::Edit(a) = self;
        if !a
            .notebook
            .ends_with("contrib/classification/interactive.py")
        {
            anyhow::bail!(
                "{}: saev-rs knows the original's contrib/classification/interactive.py only",
                a.notebook.display()
            );
        }
        let out = a.out.unwrap_or_else(|| {
            let real = PathBuf::from("reproduce");
            if real.join("stages/steer.json").is_file() {
                real
            } else {
                PathBuf::from("demo")
            }
        });
        let cfg = saev_reproduce::dashboard_config(&out)?;
        let l = cfg.inputs.load()?;
        let test = l.split(&cfg.test, cfg.inputs.layer)?;
        let train = l.split(&cfg.train, cfg.inputs.layer)?;
        let n = test.y_N.len();
        let n_latents = cfg.inputs.n_latents;
        let data = saev_web::steer::SteerData::new(l, test, Some(&train), n_latents);
        let app = saev_web::steer::router(data);
        saev_web::serve(app, &a.host, a.port, |addr| {
            println!(
                "steering dashboard: http://{addr}/ ({n} examples of {}); Ctrl-C stops",
                out.display()
            );
            let _ = std::io::stdout().flush();
        })?;
        Ok(ExitCode::SUCCESS)
    }
}
