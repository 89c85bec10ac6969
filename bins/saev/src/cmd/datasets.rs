//! `saev datasets flowers102`: the official files to class folders.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use saev_datasets::flowers102;

#[derive(Subcommand)]
pub enum Datasets {
    /// Turn 102flowers.tgz, imagelabels.mat and setid.mat into train/ val/ test/ class folders
    /// (downloading them from the Oxford VGG site when absent).
    Flowers102 {
        /// Holds (or will hold) the three files; the split folders are made here.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Never download; fail if a file is missing.
        #[arg(long = "no-download")]
        no_download: bool,
    },
}

impl Datasets {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Datasets::Flowers102 { dir, no_download } => {
                std::fs::create_dir_all(&dir)?;
                let missing = flowers102::FILES.iter().any(|f| !dir.join(f).is_file());
                if missing && !no_download {
                    // A no-op when the folders are already prepared.
                    flowers102::download(&dir)?;
                }
                let summary = flowers102::prepare(&dir)?;
                if summary.already_prepared {
                    println!("{}: already prepared", dir.display());
                }
                println!(
                    "{}: train {} / val {} / test {} images in {} classes",
                    dir.display(),
                    summary.train,
                    summary.val,
                    summary.test,
                    summary.classes
                );
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}
