//! Train a small sweep of SAEs on a store and pick the best run.
//!
//! `cargo run --release -p saev-examples --example train_sweep [OUT_DIR]`

use std::path::{Path, PathBuf};

use saev_shards::{DataLoad, Layer, Patches};
use saev_train::{assign_ids, sweep, train_sweep, IdScheme, RunConfig, TrainOptions};

/// Two learning rates x two expansion factors, on shared batches.
const SWEEP: &str = r#"
lr = [1e-3, 3e-3]
n_lr_warmup = 10
[sae]
exp_factor = [2, 4]
sparsity_coeff = 1e-3
"#;

/// The best run's directory and explained variance.
pub fn run(out: &Path, n_imgs: usize, n_patches: u64) -> anyhow::Result<(PathBuf, f64)> {
    let store = saev_examples::planted_store(&out.join("shards"), &[0, 1, 2, 3, 4, 5], n_imgs, 0)?;
    // Every setting the sweep file leaves alone comes from here.
    let mut base = RunConfig {
        data: DataLoad {
            shard_root: store,
            patches: Patches::Cls,
            layer: Layer::Index(-2),
            ..DataLoad::default()
        },
        n_patches,
        batch_size: 100,
        log_every: 5,
        ..RunConfig::default()
    };
    base.sae.d_vit = saev_examples::D;
    base.sae.n_reinit_samples = 256;
    let runs = sweep::expand(SWEEP, Path::new("inline sweep"), &base.into())?;
    // Ids from the settings: running this again finds (and skips) the runs.
    let runs = assign_ids(runs, &out.join("checkpoints"), IdScheme::FromConfig);
    let outcome = train_sweep(&runs, &TrainOptions::default())?;
    println!(
        "{} SAEs in {} group(s)",
        outcome.runs.len(),
        outcome.n_groups
    );
    for (run, m) in outcome.finished() {
        println!(
            "{}: lr {} exp {}: L0 {:.1}, explained variance {:.3}",
            run.id, run.train.lr, run.sae.exp_factor, m.l0, m.explained_variance
        );
    }
    let (best, m) = outcome
        .finished()
        .max_by(|a, b| a.1.explained_variance.total_cmp(&b.1.explained_variance))
        .ok_or_else(|| anyhow::anyhow!("no run finished"))?;
    println!("best: {} ({})", best.id, best.dir.display());
    Ok((best.dir.clone(), m.explained_variance))
}

#[cfg_attr(test, allow(dead_code))]
fn main() -> anyhow::Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "example-sweep".into());
    run(Path::new(&out), 6_000, 600_000)?;
    Ok(())
}
