//! Shared by the examples: a small planted world of activations written
//! with the shard store's public writer, so the examples need no ViT.
//!
//! - `train_sweep.rs`: train a small sweep on a store and pick the best run.
//! - `probe_and_steer.rs`: train a probe and measure steering with SAE latents.
//! - `demo_reproduction.rs`: the whole demo reproduction from Rust.
//!
//! Run one with `cargo run --release -p saev-examples --example train_sweep`.

use std::path::{Path, PathBuf};

use saev_shards::{Labels, Metadata, ShardWriter, WriterOptions};

/// Width of the planted activations.
pub const D: usize = 16;

/// `n` [CLS] activations at layer -2, `x = 3 u_c + noise` for class
/// `c = i % n_classes` among `classes` (class `k` has a fixed random unit
/// direction `u_k`, the same in every store), with a `labels.json`.
pub fn planted_store(
    dump_to: &Path,
    classes: &[usize],
    n: usize,
    seed: u64,
) -> anyhow::Result<PathBuf> {
    let md = Metadata {
        model_family: "planted".into(),
        model_ckpt: "none".into(),
        layers: vec![-2],
        n_patches_per_img: 0,
        cls_token: true,
        d_vit: D as u64,
        seed: seed as i64,
        n_imgs: n as u64,
        n_patches_per_shard: 2_400_000,
        data: format!("Planted(classes={classes:?}, n={n}, seed={seed})"),
    };
    let mut writer = ShardWriter::create(dump_to, md, WriterOptions::default())?;
    let mut noise = saev_rng::Pcg64::from_seed(seed);
    let mut acts = Vec::with_capacity(n * D);
    let mut targets = Vec::with_capacity(n);
    for i in 0..n {
        let k = i % classes.len();
        let u = direction(classes[k]);
        for u_d in u {
            let e = (noise.next_u32() as f32 / u32::MAX as f32 - 0.5) * 0.6;
            acts.push(3.0 * u_d + e);
        }
        targets.push(k as u32);
    }
    writer.append(&acts)?;
    let root = writer.finish()?;
    Labels {
        classes: classes.iter().map(|c| format!("class-{c}")).collect(),
        targets,
        paths: (0..n).map(|i| format!("planted/{i}")).collect(),
    }
    .save(&root)?;
    Ok(root)
}

/// Class `k`'s unit direction.
fn direction(k: usize) -> Vec<f32> {
    let mut rng = saev_rng::Pcg64::from_seed(1000 + k as u64);
    let v: Vec<f32> = (0..D)
        .map(|_| rng.next_u32() as f32 / u32::MAX as f32 - 0.5)
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}
