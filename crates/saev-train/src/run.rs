//! One SAE to train, and where it lives.

use std::path::{Path, PathBuf};

use saev_sae::{Activation, SaeConfig, TrainConfig};
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

fn positive(name: &str, v: f32) -> Result<(), String> {
    match v.is_finite() && v > 0.0 {
        true => Ok(()),
        false => Err(format!("{name} must be a positive number, not {v}")),
    }
}

fn at_least_zero(name: &str, v: f32) -> Result<(), String> {
    match v.is_finite() && v >= 0.0 {
        true => Ok(()),
        false => Err(format!("{name} must be a number >= 0, not {v}")),
    }
}

fn fraction(name: &str, v: f32) -> Result<(), String> {
    match v > 0.0 && v <= 1.0 {
        true => Ok(()),
        false => Err(format!("{name} must be in (0, 1], not {v}")),
    }
}

impl RunConfig {
    /// Steps the run takes (at least one).
    pub fn n_steps(&self) -> u64 {
        (self.n_patches / self.batch_size.max(1) as u64).max(1)
    }

    /// Reject settings no training can run with (zero sizes, NaN or
    /// negative rates, fractions outside (0, 1]), naming the setting.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.check()
            .map_err(|why| anyhow::anyhow!("run {}: {why}", self.id))
    }

    fn check(&self) -> Result<(), String> {
        let (sae, train) = (&self.sae, &self.train);
        let mut counts = vec![
            ("sae_batch_size", self.batch_size as u64),
            ("n_patches", self.n_patches),
            ("sae.d_vit", sae.d_vit as u64),
            ("sae.exp_factor", sae.exp_factor as u64),
            ("log_every", self.log_every),
            ("ckpt_every", self.ckpt_every),
            ("data.n_random_samples", self.data.n_random_samples as u64),
        ];
        match sae.activation {
            Activation::Relu => {}
            Activation::TopK { top_k } => counts.push(("sae.top_k", top_k as u64)),
            Activation::BatchTopK { top_k, momentum } => {
                counts.push(("sae.top_k", top_k as u64));
                fraction("sae.momentum", momentum)?;
            }
        }
        if let Some(aux) = train.aux {
            counts.push(("sae.k_aux", aux.k_aux as u64));
            counts.push(("sae.dead_after", aux.dead_after));
            at_least_zero("sae.aux_alpha", aux.alpha)?;
        }
        if let Some(m) = train.matryoshka {
            counts.push(("objective.n_prefixes", m.n_prefixes as u64));
        }
        for (name, v) in counts {
            if v == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        if sae
            .d_vit
            .checked_mul(sae.exp_factor)
            .is_none_or(|s| s > 1 << 31)
        {
            return Err(format!(
                "sae.d_vit x sae.exp_factor ({} x {}) is too wide",
                sae.d_vit, sae.exp_factor
            ));
        }
        positive("lr", train.lr)?;
        at_least_zero("sae.sparsity_coeff", sae.sparsity_coeff)?;
        let clamp = self.data.clamp;
        if clamp.is_nan() || clamp <= 0.0 {
            return Err(format!(
                "data.clamp must be above 0 (inf for none), not {clamp}"
            ));
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
