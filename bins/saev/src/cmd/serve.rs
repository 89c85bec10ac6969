//! `saev serve DIR...`: the feature browser over `saev visuals` outputs, on
//! localhost unless told otherwise.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use std::io::Write;

#[derive(Args)]
pub struct ServeArgs {
    /// `saev visuals` outputs: a --dump-to directory or a sort_by_<mode> directory.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// Address to listen on (127.0.0.1: this machine only).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    port: u16,
}

impl ServeArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let mut sources = Vec::new();
        for d in &self.dirs {
            sources.extend(saev_web::browse::Source::open_all(d)?);
        }
        let n = sources.len();
        let app = saev_web::browse::router(sources);
        saev_web::serve(app, &self.host, self.port, |addr| {
            println!("feature browser: http://{addr}/ ({n} visuals output(s)); Ctrl-C stops");
            let _ = std::io::stdout().flush();
        })?;
        Ok(ExitCode::SUCCESS)
    }
}
