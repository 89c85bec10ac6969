//! `--data.*`: saev's `DataLoad` flags, shared by every command that reads shards.

use std::path::PathBuf;

use clap::Args;
use saev_shards::{DataLoad, Layer, Patches, Scale};

/// saev's `DataLoad` config as tyro spells it on the command line.
#[derive(Args, Clone, Debug)]
pub struct DataArgs {
    /// Directory with .bin shards and a metadata.json file.
    #[arg(long = "data.shard-root", value_name = "DIR")]
    pub shard_root: Option<PathBuf>,
    /// Which tokens: cls, patches, all or meanpool (saev today's --data.tokens
    /// special, content, all are accepted too).
    #[arg(
        long = "data.patches",
        alias = "data.tokens",
        default_value = "patches"
    )]
    pub patches: Patches,
    /// Layer as recorded (e.g. -2), all or meanpool.
    #[arg(long = "data.layer", default_value = "-2", allow_hyphen_values = true)]
    pub layer: Layer,
    /// Clamp activations to [-clamp, clamp].
    #[arg(long = "data.clamp", default_value_t = 1e5, value_parser = crate::numbers::above_zero::<f32>)]
    pub clamp: f32,
    /// Examples used to estimate the mean and norm.
    #[arg(long = "data.n-random-samples", default_value_t = 1 << 19, value_parser = crate::numbers::at_least_one::<usize>)]
    pub n_random_samples: usize,
    /// Subtract the dataset mean: True, False, or a .safetensors/.npy file.
    #[arg(
        long = "data.scale-mean",
        default_value = "True",
        value_name = "True|False|FILE"
    )]
    pub scale_mean: Scale,
    /// Scale the mean norm to sqrt(d_vit): True, False, or a .safetensors/.npy file.
    #[arg(
        long = "data.scale-norm",
        default_value = "True",
        value_name = "True|False|FILE"
    )]
    pub scale_norm: Scale,
    /// Same as --data.scale-mean False.
    #[arg(long = "data.no-scale-mean")]
    pub no_scale_mean: bool,
    /// Same as --data.scale-norm False.
    #[arg(long = "data.no-scale-norm")]
    pub no_scale_norm: bool,
}

impl DataArgs {
    /// The library config; `dir` (a positional argument) stands in for `--data.shard-root`.
    pub fn to_config(&self, dir: Option<&PathBuf>) -> anyhow::Result<DataLoad> {
        let shard_root = dir.or(self.shard_root.as_ref()).cloned().ok_or_else(|| {
            anyhow::anyhow!("give the store directory (DIR or --data.shard-root)")
        })?;
        Ok(DataLoad {
            shard_root,
            patches: self.patches,
            layer: self.layer,
            clamp: self.clamp,
            n_random_samples: self.n_random_samples,
            scale_mean: if self.no_scale_mean {
                Scale::Off
            } else {
                self.scale_mean.clone()
            },
            scale_norm: if self.no_scale_norm {
                Scale::Off
            } else {
                self.scale_norm.clone()
            },
        })
    }
}
