//! One SAE to train, and where it lives.

use std::path::{Path, PathBuf};

use saev_sae::{SaeConfig, TrainConfig};
use saev_shards::DataLoad;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Everything that can differ between the SAEs of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// The run's name, and its directory's.
    pub id: String,
    /// `<ckpt-path>/<id>`; not recorded (a run directory can be moved).
    #[serde(skip)]
    pub dir: PathBuf,
    pub tag: String,
    /// The run's own seed (a sweep gives each point its own).
    pub seed: i64,
    /// Seed of the shuffled stream the run reads: the first run's `seed` of
    /// the group it was trained in. `None` until it is grouped.
    pub stream_seed: Option<i64>,
    /// Seed of the permutation whose first examples initialize `b_dec`: the
    /// group's first SAE seed, fixed with `stream_seed`.
    #[serde(default)]
    pub reinit_seed: Option<u64>,
    pub sae: SaeConfig,
    pub train: TrainConfig,
    pub data: DataLoad,
    /// Examples per step.
    pub batch_size: usize,
    /// Training examples in all.
    pub n_patches: u64,
    /// A `metrics.jsonl` line every this many steps.
    pub log_every: u64,
    /// Checkpoints every this many steps (and at the end).
    pub ckpt_every: u64,
}

impl Default for RunConfig {
    /// saev's defaults.
    fn default() -> Self {
        RunConfig {
            id: String::new(),
            dir: PathBuf::new(),
            tag: String::new(),
            seed: 42,
            stream_seed: None,
            reinit_seed: None,
            sae: SaeConfig::default(),
            train: TrainConfig::default(),
            data: DataLoad::default(),
            batch_size: 16_384,
            n_patches: 100_000_000,
            log_every: 25,
            ckpt_every: 1000,
        }
    }
}

impl RunConfig {
    /// Steps the run takes (at least one).
    pub fn n_steps(&self) -> u64 {
        (self.n_patches / self.batch_size.max(1) as u64).max(1)
    }

    /// Reject settings no training can run with, naming the setting.
    pub fn validate(&self) -> anyhow::Result<()> {
        let positive = [
            ("sae_batch_size", self.batch_size as u64),
            ("n_patches", self.n_patches),
            ("sae.d_vit", self.sae.d_vit as u64),
            ("sae.exp_factor", self.sae.exp_factor as u64),
            ("log_every", self.log_every),
            ("ckpt_every", self.ckpt_every),
        ];
        for (name, v) in positive {
            if v == 0 {
                anyhow::bail!("run {}: {name} must be at least 1", self.id);
            }
        }
        let lr = self.train.lr;
        if !(lr.is_finite() && lr > 0.0) {
            anyhow::bail!("run {}: lr must be a positive number, not {lr}", self.id);
        }
        let c = self.sae.sparsity_coeff;
        if !(c.is_finite() && c >= 0.0) {
            anyhow::bail!("run {}: sae.sparsity_coeff must be >= 0, not {c}", self.id);
        }
        Ok(())
    }

    /// Eight base-36 characters from the config itself (not the id or the
    /// directory): the same settings always get the same id, so a sweep
    /// started again finds its runs.
    pub fn content_id(&self) -> String {
        let mut c = self.clone();
        c.id.clear();
        c.dir.clear();
        let text = serde_json::to_string(&c).unwrap_or_default();
        let digest = Sha256::digest(text.as_bytes());
        let mut n = u64::from_le_bytes(digest[..8].try_into().unwrap_or([0; 8]));
        (0..8)
            .map(|_| {
                let d = (n % 36) as u32;
                n /= 36;
                char::from_digit(d, 36).unwrap_or('0')
            })
            .collect()
    }
}

/// How [`assign_ids`] names runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdScheme {
    /// Random ids, as saev's (wandb's) are: a new directory every time.
    Random,
    /// [`RunConfig::content_id`]: rerunning a sweep resumes or skips its runs.
    FromConfig,
}

/// Give each run an id and its directory `<ckpt_path>/<id>`.
pub fn assign_ids(mut runs: Vec<RunConfig>, ckpt_path: &Path, scheme: IdScheme) -> Vec<RunConfig> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut rng = saev_rng::Pcg64::from_seed(nanos);
    for run in &mut runs {
        run.id = match scheme {
            IdScheme::FromConfig => run.content_id(),
            IdScheme::Random => (0..8)
                .map(|_| char::from_digit(rng.interval(35) as u32, 36).unwrap_or('0'))
                .collect(),
        };
        run.dir = ckpt_path.join(&run.id);
    }
    runs
}
