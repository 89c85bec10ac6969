//! `saev sae`: SAE checkpoints: convert saev's `sae.pt`, print a summary.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use saev_sae::Sae;

#[derive(Subcommand)]
pub enum SaeCmd {
    /// Convert saev's `sae.pt` (JSON line + torch zip) to `sae.safetensors`.
    Convert {
        /// saev checkpoint.
        #[arg(long)]
        from: PathBuf,
        /// Where to write the safetensors checkpoint.
        #[arg(long)]
        to: PathBuf,
    },
    /// Print an SAE checkpoint's config, shapes, training step and the first
    /// parameter holding NaN or inf (`non_finite`, null if none) as JSON.
    Inspect { ckpt: PathBuf },
}

impl SaeCmd {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            SaeCmd::Convert { from, to } => {
                let sae = Sae::load_saev_pt(&from)?;
                sae.save(&to)?;
                println!(
                    "{} -> {} (d_vit {}, {} latents)",
                    from.display(),
                    to.display(),
                    sae.d_vit(),
                    sae.d_sae()
                );
            }
            SaeCmd::Inspect { ckpt } => {
                let sae = Sae::load_any(&ckpt)?;
                let step = match ckpt.extension().is_some_and(|e| e == "pt") {
                    true => None,
                    false => Sae::saved_step(&ckpt)?,
                };
                let summary = serde_json::json!({
                    "cfg": sae.cfg, "d_sae": sae.d_sae(), "threshold": sae.threshold,
                    "W_enc": [sae.d_vit(), sae.d_sae()], "W_dec": [sae.d_sae(), sae.d_vit()],
                    "step": step, "non_finite": sae.non_finite(),
                });
                println!("{}", serde_json::to_string_pretty(&summary)?);
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
