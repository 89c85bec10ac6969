//! Writer -> reader round trips for every view, and the layout pinned byte by byte.

use saev_shards::{DataLoad, Dataset, Layer, Metadata, Patches, Scale, Store, View};

use super::common::{images, metadata, record, unscaled, value};

/// What example `i` of a view must be, computed from first principles.
fn expected(md: &Metadata, patches: Patches, layer: Layer, i: u64) -> (Vec<f32>, i64, i64) {
    let layout = md.layout().unwrap();
    let (nl, np) = (layout.n_layers as u64, layout.n_patches as u64);
    let p0 = usize::from(md.cls_token);
    let layer_list: Vec<usize> = match layer {
        Layer::Index(l) => vec![md.layer_index(l).unwrap()],
        _ => (0..layout.n_layers).collect(),
    };
    let mean = |img: u64, layers: &[usize], tokens: &[usize]| -> Vec<f32> {
        (0..layout.d_vit)
            .map(|d| {
                let mut s = 0.0f32;
                for &l in layers {
                    for &t in tokens {
                        s += value(img, l, t, d);
                    }
                }
                s / (layers.len() * tokens.len()) as f32
            })
            .collect()
    };
    let patch_tokens: Vec<usize> = (p0..p0 + np as usize).collect();
    match (patches, layer) {
        (Patches::Cls, Layer::All) => (
            mean(i / nl, &[(i % nl) as usize], &[0]),
            (i / nl) as i64,
            -1,
        ),
        (Patches::Cls, _) => (mean(i, &layer_list, &[0]), i as i64, -1),
        (Patches::Meanpool, Layer::All) => (
            mean(i / nl, &[(i % nl) as usize], &patch_tokens),
            (i / nl) as i64,
            -1,
        ),
        (Patches::Meanpool, _) => (mean(i, &layer_list, &patch_tokens), i as i64, -1),
        (Patches::Patches, Layer::All) => {
            let (img, l, p) = (i / (nl * np), (i / np) % nl, i % np);
            (
                mean(img, &[l as usize], &[p0 + p as usize]),
                img as i64,
                p as i64,
            )
        }
        (Patches::All, Layer::All) => {
            let nt = layout.n_tokens as u64;
            let (img, l, t) = (i / (nl * nt), (i / nt) % nl, i % nt);
            let patch_i = t as i64 - p0 as i64;
            (mean(img, &[l as usize], &[t as usize]), img as i64, patch_i)
        }
        (Patches::All, _) => {
            let nt = layout.n_tokens as u64;
            let (img, t) = (i / nt, i % nt);
            let patch_i = t as i64 - p0 as i64;
            (mean(img, &layer_list, &[t as usize]), img as i64, patch_i)
        }
        (Patches::Patches, _) => {
            let (img, p) = (i / np, i % np);
            (
                mean(img, &layer_list, &[p0 + p as usize]),
                img as i64,
                p as i64,
            )
        }
    }
}

fn check_all_views(md: &Metadata, n_views: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let root = record(tmp.path(), md, 3);
    let views = View::available(md);
    assert_eq!(views.len(), n_views, "{views:?}");
    for (patches, layer, len) in views {
        let ds = unscaled(&root, patches, layer);
        assert_eq!(ds.len(), len);
        for i in 0..len {
            let ex = ds.get(i).unwrap();
            let (act, image_i, patch_i) = expected(md, patches, layer, i);
            for (a, b) in ex.act.iter().zip(&act) {
                assert!(
                    (a - b).abs() <= 1e-3,
                    "({patches}, {layer})[{i}]: {a} vs {b}"
                );
            }
            assert_eq!(
                (ex.image_i, ex.patch_i),
                (image_i, patch_i),
                "({patches}, {layer})[{i}]"
            );
        }
    }
}

#[test]
fn every_view_of_a_full_store() {
    // 2 layers + all + meanpool = 4 layer choices x 3 patch choices.
    check_all_views(&metadata(&[3, -2], 4, true, 5, 11, 40), 16);
}

#[test]
fn every_view_of_a_store_without_cls() {
    // No [CLS]: only patch and meanpool views; patches start at token 0.
    check_all_views(&metadata(&[-1], 3, false, 4, 7, 9), 9);
}

#[test]
fn every_view_of_a_cls_only_store() {
    check_all_views(&metadata(&[-2], 0, true, 6, 13, 5), 6);
}

#[test]
fn layout_pinned_byte_by_byte() {
    // Build shards by hand: offset of (img, layer, token, dim) in shard img / per_shard
    // is (((img % per_shard) * L + layer) * T + token) * D * 4.
    let md = metadata(&[0, 5], 2, true, 3, 5, 13); // T = 3, per shard = 13 / 2 / 3 = 2 images
    let layout = md.layout().unwrap();
    assert_eq!(
        (layout.n_tokens, layout.n_imgs_per_shard, layout.n_shards()),
        (3, 2, 3)
    );
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::write(root.join("metadata.json"), md.to_python_json_pretty()).unwrap();
    for shard in 0..3u64 {
        let mut bytes = vec![0u8; 2 * 2 * 3 * 3 * 4];
        for img in shard * 2..(shard * 2 + 2).min(5) {
            for l in 0..2 {
                for t in 0..3 {
                    for d in 0..3 {
                        let off = ((((img % 2) as usize * 2 + l) * 3 + t) * 3 + d) * 4;
                        bytes[off..off + 4].copy_from_slice(&value(img, l, t, d).to_le_bytes());
                    }
                }
            }
        }
        std::fs::write(root.join(format!("acts{shard:06}.bin")), bytes).unwrap();
    }
    let store = Store::open(root).unwrap();
    assert_eq!(
        store.row(3, 1, 2),
        &[value(3, 1, 2, 0), value(3, 1, 2, 1), value(3, 1, 2, 2)]
    );
    // Our writer produces exactly these files.
    let tmp2 = tempfile::tempdir().unwrap();
    let ours = record(tmp2.path(), &md, 2);
    for shard in 0..3 {
        let name = format!("acts{shard:06}.bin");
        assert_eq!(
            std::fs::read(ours.join(&name)).unwrap(),
            std::fs::read(root.join(&name)).unwrap()
        );
    }
    let ds = unscaled(root, Patches::Patches, Layer::Index(5));
    assert_eq!(
        ds.get(7).unwrap().act,
        vec![value(3, 1, 2, 0), value(3, 1, 2, 1), value(3, 1, 2, 2)]
    );
}

#[test]
fn shard_files_are_sparse_and_full_size() {
    // 10 images per shard of 4 x 1 x 1000 floats: 40 kB per image, 400 kB per shard.
    let md = metadata(&[-2], 0, true, 10_000, 3, 10);
    let tmp = tempfile::tempdir().unwrap();
    let root = record(tmp.path(), &md, 3);
    let meta = std::fs::metadata(root.join("acts000000.bin")).unwrap();
    assert_eq!(meta.len(), 10 * 10_000 * 4);
    use std::os::unix::fs::MetadataExt;
    assert!(
        meta.blocks() * 512 < meta.len() / 2,
        "allocated {} of {}",
        meta.blocks() * 512,
        meta.len()
    );
    assert_eq!(images(&md, 2, 3), Store::open(&root).unwrap().image(2));
}

#[test]
fn normalization_estimate_and_file_round_trip() {
    let md = metadata(&[-2], 4, true, 6, 9, 50);
    let tmp = tempfile::tempdir().unwrap();
    let root = record(tmp.path(), &md, 4);
    let cfg = DataLoad {
        shard_root: root.clone(),
        patches: Patches::Patches,
        layer: Layer::Index(-2),
        scale_mean: Scale::Estimate,
        scale_norm: Scale::Estimate,
        n_random_samples: 1 << 19,
        clamp: 1e5,
    };
    let ds = Dataset::open(cfg.clone()).unwrap();
    // With every example sampled, the normalized data has mean 0 and mean norm sqrt(d).
    let d = ds.d_vit();
    let (mut mean, mut norm) = (vec![0.0f64; d], 0.0f64);
    for i in 0..ds.len() {
        let act = ds.get(i).unwrap().act;
        mean.iter_mut().zip(&act).for_each(|(m, x)| *m += *x as f64);
        norm += act.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    }
    assert!(
        mean.iter().all(|m| (m / ds.len() as f64).abs() < 1e-4),
        "{mean:?}"
    );
    assert!((norm / ds.len() as f64 - (d as f64).sqrt()).abs() < 1e-4);

    // Saved and loaded from a file, it normalizes identically.
    let file = tmp.path().join("norm.safetensors");
    ds.normalization().save(&file).unwrap();
    let loaded = Dataset::open(DataLoad {
        scale_mean: Scale::File(file.clone()),
        scale_norm: Scale::File(file),
        ..cfg
    })
    .unwrap();
    assert_eq!(loaded.normalization(), ds.normalization());
    assert_eq!(loaded.get(17).unwrap(), ds.get(17).unwrap());
}
