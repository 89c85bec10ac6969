//! Helpers shared by the tests: small metadata and deterministic values.

use std::path::Path;

use saev_shards::{DataLoad, Dataset, Layer, Metadata, Patches, Scale, ShardWriter, WriterOptions};

/// A small store: `n_imgs` images of `layers` x (`n_patches` + cls) tokens x `d` dims.
pub fn metadata(
    layers: &[i64],
    n_patches: u64,
    cls: bool,
    d: u64,
    n_imgs: u64,
    per_shard: u64,
) -> Metadata {
    Metadata {
        model_family: "clip".into(),
        model_ckpt: "ViT-B-16/openai".into(),
        layers: layers.to_vec(),
        n_patches_per_img: n_patches,
        cls_token: cls,
        d_vit: d,
        seed: 42,
        n_imgs,
        n_patches_per_shard: per_shard,
        data: "ImageFolderDataset(root='/data/test')".into(),
    }
}

/// A value that encodes where it lives: image, layer, token, dim (small
/// enough for saev's 1e3 sanity limit on up to 99 images).
pub fn value(img: u64, layer: usize, token: usize, dim: usize) -> f32 {
    img as f32 * 10.0 + layer as f32 + token as f32 * 0.1 + dim as f32 * 0.001
}

/// All values of images `start..end` in `[B, L, T, D]` order.
pub fn images(md: &Metadata, start: u64, end: u64) -> Vec<f32> {
    let layout = md.layout().unwrap();
    let mut out = Vec::new();
    for img in start..end {
        for l in 0..layout.n_layers {
            for t in 0..layout.n_tokens {
                for d in 0..layout.d_vit {
                    out.push(value(img, l, t, d));
                }
            }
        }
    }
    out
}

/// Record a whole store at `root` in batches of `batch` images; returns its directory.
pub fn record(root: &Path, md: &Metadata, batch: u64) -> std::path::PathBuf {
    let mut w = ShardWriter::open_at(root, md.clone(), WriterOptions { durable: false }).unwrap();
    let mut start = 0;
    while start < md.n_imgs {
        let end = (start + batch).min(md.n_imgs);
        w.append(&images(md, start, end)).unwrap();
        start = end;
    }
    w.finish().unwrap()
}

/// A view of the store at `root` without normalization (raw values).
pub fn unscaled(root: &Path, patches: Patches, layer: Layer) -> Dataset {
    Dataset::open(DataLoad {
        shard_root: root.to_path_buf(),
        patches,
        layer,
        scale_mean: Scale::Off,
        scale_norm: Scale::Off,
        ..DataLoad::default()
    })
    .unwrap()
}
