//! Run the visuals pass of a random SAE over a generated [CLS] store and
//! print the top images of a few latents:
//! `cargo run --release -p saev-visuals --example top_images`.
use std::sync::Arc;

use saev_sae::{Sae, SaeConfig};
use saev_shards::{DataLoad, Dataset, Layer, Metadata, Patches};
use saev_visuals::{pass, PassConfig, SortBy, Visuals};

fn main() {
    let dir = std::env::temp_dir().join("saev-visuals-example");
    let md = Metadata {
        model_family: "clip".into(),
        model_ckpt: "example".into(),
        layers: vec![-2],
        n_patches_per_img: 0,
        cls_token: true,
        d_vit: 32,
        seed: 0,
        n_imgs: 5000,
        n_patches_per_shard: 100_000,
        data: "example".into(),
    };
    let root =
        saev_shards::synth::write_random_store(&dir, md, 0, None, |_| {}).expect("store written");
    let ds = Arc::new(
        Dataset::open(DataLoad {
            shard_root: root.clone(),
            patches: Patches::Cls,
            layer: Layer::Index(-2),
            ..DataLoad::default()
        })
        .expect("store opens"),
    );
    let sae = Sae::new(SaeConfig {
        d_vit: 32,
        exp_factor: 4,
        ..SaeConfig::default()
    });
    let cfg = PassConfig {
        sort_by: SortBy::Cls,
        top_k: 5,
        ..PassConfig::default()
    };
    let r = pass::run(&sae, ds, &cfg, |_| {}).expect("pass");
    let v = Visuals::from_pass(&r, "random".as_ref(), &root, 99.0);
    for s in 0..4 {
        println!(
            "latent {s}: frequency {:.3}, top images {:?}",
            v.sparsity_S[s],
            v.top(s)
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
