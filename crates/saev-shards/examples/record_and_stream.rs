//! Record a small store, read it through two of saev's views, and stream
//! shuffled batches from it.
//!
//! ```sh
//! cargo run -p saev-shards --example record_and_stream
//! ```

use std::sync::Arc;

use saev_shards::loader::{self, ShuffleConfig};
use saev_shards::{DataLoad, Dataset, Layer, Metadata, Patches, Scale, ShardWriter, WriterOptions};

fn main() -> Result<(), saev_shards::Error> {
    let dump_to = std::env::temp_dir().join("saev-shards-example");
    let md = Metadata {
        model_family: "clip".into(),
        model_ckpt: "ViT-B-16/openai".into(),
        layers: vec![-2],
        n_patches_per_img: 4,
        cls_token: true,
        d_vit: 8,
        seed: 42,
        n_imgs: 100,
        n_patches_per_shard: 200, // 40 images per shard: 3 shards
        data: "ImageFolderDataset(root='example')".into(),
    };
    // Resumes (or finds finished) a store from an earlier run of this example.
    let mut writer = ShardWriter::create(&dump_to, md, WriterOptions::default())?;
    let per_img = writer.layout().image_floats();
    while !writer.is_complete() {
        // A "ViT batch" of 7 images, [7, 1 layer, 5 tokens, 8 dims].
        let first = writer.n_written();
        let n = 7.min(100 - first) as usize;
        let acts_BLTD: Vec<f32> = (0..n * per_img)
            .map(|k| (first as f32 + (k / per_img) as f32) * 0.01 + (k % 8) as f32)
            .collect();
        writer.append(&acts_BLTD)?;
    }
    let root = writer.finish()?;
    println!("store: {}", root.display());

    for patches in [Patches::Cls, Patches::Patches] {
        let ds = Dataset::open(DataLoad {
            shard_root: root.clone(),
            patches,
            layer: Layer::Index(-2),
            scale_mean: Scale::Estimate,
            scale_norm: Scale::Estimate,
            ..DataLoad::default()
        })?;
        let ex = ds.get(5)?;
        println!(
            "{patches:>8}: {} examples; example 5 is image {} patch {}; scalar {:.3}",
            ds.len(),
            ex.image_i,
            ex.patch_i,
            ds.normalization().scalar
        );
        let cfg = ShuffleConfig {
            batch_size: 64,
            n_epochs: Some(1),
            ..ShuffleConfig::default()
        };
        let batches: Vec<usize> = loader::shuffled(Arc::new(ds), cfg)
            .map(|b| b.map(|b| b.len()))
            .collect::<Result<_, _>>()?;
        println!("          one shuffled epoch: batches of {batches:?}");
    }
    Ok(())
}
