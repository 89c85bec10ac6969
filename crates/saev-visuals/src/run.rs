//! What `saev visuals` does, as one call: the pass over the shards (reused
//! when its checkpoint, store and settings are the same), the histogram
//! grid, pictures for the chosen latents, and `latents.json`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use saev_imaging::{Image8, ImageSource};
use saev_sae::Sae;
use saev_shards::{DataLoad, Dataset};
use sha2::{Digest, Sha256};

use crate::latents::LatentTable;
use crate::pass::{self, PassConfig};
use crate::{render, select, Visuals};

/// Everything `saev visuals` takes.
#[derive(Clone, Debug)]
pub struct VisualsConfig {
    /// The SAE: `sae.safetensors` (saev-rs) or `sae.pt` (saev).
    pub ckpt: PathBuf,
    pub data: DataLoad,
    pub pass: PassConfig,
    /// `sort_by_<mode>/` is written here.
    pub dump_to: PathBuf,
    /// Latents with log10 frequency strictly inside this range get pictures...
    pub log_freq_range: (f64, f64),
    /// ... and log10 mean value strictly inside this one.
    pub log_value_range: (f64, f64),
    /// Latents that always get pictures.
    pub include_latents: Vec<usize>,
    /// Random latents (from the ranges) that get pictures.
    pub n_latents: usize,
    pub seed: u64,
}

/// What [`run`] did.
#[derive(Clone, Debug)]
pub struct VisualsOutcome {
    /// `dump_to/sort_by_<mode>`.
    pub root: PathBuf,
    /// The pass was reused from an earlier run with the same inputs.
    pub reused: bool,
    /// The pass's figures (zero when reused).
    pub n_examples: u64,
    pub pass_seconds: f64,
    pub encode_seconds: f64,
    /// Latents in the ranges, and those drawn.
    pub n_in_ranges: usize,
    pub n_pictures: usize,
}

/// A hash of everything the pass's results depend on: the checkpoint's
/// bytes, the store's records (metadata and per-shard checksums), the data
/// view and normalization, and the pass settings.
pub fn pass_fingerprint(ckpt: &Path, data: &DataLoad, cfg: &PassConfig) -> anyhow::Result<String> {
    let mut h = Sha256::new();
    let bytes = std::fs::read(ckpt).map_err(|e| anyhow::anyhow!("{}: {e}", ckpt.display()))?;
    h.update(Sha256::digest(&bytes));
    let store = saev_shards::resolve_root(&data.shard_root)?;
    for name in [saev_shards::METADATA_FILE, saev_shards::PROGRESS_FILE] {
        h.update(std::fs::read(store.join(name)).unwrap_or_default());
    }
    h.update(serde_json::to_string(data)?.as_bytes());
    h.update(format!("{cfg:?}").as_bytes());
    Ok(format!("{:x}", h.finalize()))
}

/// Run the pass unless `root` holds one with the same fingerprint.
fn pass_or_reuse(
    cfg: &VisualsConfig,
    sae: &Sae,
    ds: &Arc<Dataset>,
    root: &Path,
    out: &mut VisualsOutcome,
) -> anyhow::Result<Visuals> {
    let fingerprint = pass_fingerprint(&cfg.ckpt, &cfg.data, &cfg.pass)?;
    if let Some(v) = Visuals::load(root)? {
        if v.summary.fingerprint == fingerprint {
            tracing::info!(
                "reusing the pass in {} (same checkpoint, store and settings)",
                root.display()
            );
            out.reused = true;
            return Ok(v);
        }
        tracing::info!(
            "{}: made from other inputs; redoing the pass",
            root.display()
        );
    }
    let progress = saev_io::Progress::new("visuals", ds.len(), "examples");
    let r = pass::run(sae, Arc::clone(ds), &cfg.pass, |done| {
        progress.set_position(done)
    })?;
    progress.finish();
    out.n_examples = r.stats.n;
    out.pass_seconds = r.seconds;
    out.encode_seconds = r.encode_seconds;
    let mut v = Visuals::from_pass(&r, &cfg.ckpt, ds.store().root(), cfg.pass.percentile);
    v.summary.fingerprint = fingerprint;
    v.save(root)?;
    Ok(v)
}

/// The pass, the pictures and the latent table. `images` are the images
/// the store was recorded from, in order; they are needed only when some
/// latent gets pictures.
pub fn run(
    cfg: &VisualsConfig,
    images: Option<&dyn ImageSource>,
) -> anyhow::Result<VisualsOutcome> {
    let sae = Sae::load_any(&cfg.ckpt)?;
    let ds = Arc::new(Dataset::open(cfg.data.clone())?);
    let root = Visuals::root(&cfg.dump_to, cfg.pass.sort_by);
    let mut out = VisualsOutcome {
        root: root.clone(),
        reused: false,
        n_examples: 0,
        pass_seconds: 0.0,
        encode_seconds: 0.0,
        n_in_ranges: 0,
        n_pictures: 0,
    };
    let v = pass_or_reuse(cfg, &sae, &ds, &root, &mut out)?;
    let hist = root.join(format!(
        "{}_activation_distributions.png",
        v.summary.n_distributions
    ));
    render::plot_distributions(&v, &hist)?;
    let (f, val) = (cfg.log_freq_range, cfg.log_value_range);
    let latents = select::choose(&v, f, val, &cfg.include_latents, cfg.n_latents, cfg.seed);
    out.n_in_ranges = select::in_ranges(&v, f, val).len();
    out.n_pictures = latents.len();
    let labels = saev_shards::Labels::load(ds.store().root())?;
    let label = |i: i64| -> String {
        let i = i as usize;
        match (&labels, images) {
            (Some(l), _) if i < l.len() => l.label(i).to_string(),
            (_, Some(list)) if i < list.len() => list.label(i),
            _ => String::new(),
        }
    };
    if !latents.is_empty() {
        let images = images.ok_or_else(|| anyhow::anyhow!(
            "no images to draw: give the images the store was recorded from (images:image-folder-dataset --images.root DIR or images:imagenet-dataset --images.root DIR)"
        ))?;
        let load = |i: i64| -> Result<Image8, String> { images.image(i as usize) };
        let progress = saev_io::Progress::new("pictures", latents.len() as u64, "latents");
        latents.par_iter().try_for_each(|&s| {
            let dir = root.join("neurons").join(s.to_string());
            let r = render::write_neuron(&v, s, &dir, &load, &label);
            progress.inc(1);
            r
        })?;
        progress.finish();
    }
    LatentTable::compute(&v, &root, &label).write(&root)?;
    Ok(out)
}
