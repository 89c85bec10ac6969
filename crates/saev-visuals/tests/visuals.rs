//! The pass against brute force on a small random store: top-k per mode,
//! frequency and mean values; and a save/load round trip.

use std::sync::Arc;

use saev_sae::{Sae, SaeConfig};
use saev_shards::{DataLoad, Dataset, Layer, Metadata, Patches, Scale};
use saev_visuals::{pass, PassConfig, SortBy, Visuals};

const P: usize = 9; // 3 x 3 patches
const D: usize = 6;

fn store(dir: &std::path::Path) -> std::path::PathBuf {
    let md = Metadata {
        model_family: "clip".into(),
        model_ckpt: "test".into(),
        layers: vec![-2],
        n_patches_per_img: P as u64,
        cls_token: true,
        d_vit: D as u64,
        seed: 0,
        n_imgs: 70,
        n_patches_per_shard: 200,
        data: "test".into(),
    };
    saev_shards::synth::write_random_store(dir, md, 3, None, |_| {}).unwrap()
}

fn dataset(root: &std::path::Path, patches: Patches) -> Arc<Dataset> {
    Arc::new(
        Dataset::open(DataLoad {
            shard_root: root.into(),
            patches,
            layer: Layer::Index(-2),
            scale_mean: Scale::Off,
            scale_norm: Scale::Off,
            ..DataLoad::default()
        })
        .unwrap(),
    )
}

fn sae() -> Sae {
    let mut sae = Sae::new(SaeConfig {
        d_vit: D,
        exp_factor: 2,
        seed: 4,
        ..SaeConfig::default()
    });
    // Some latents fire often, some rarely.
    sae.b_enc_S
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = 0.3 - 0.15 * i as f32);
    sae
}

#[test]
fn top_k_and_statistics_match_brute_force_in_all_three_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = store(tmp.path());
    let sae = sae();
    let s = sae.d_sae();
    for mode in [SortBy::Cls, SortBy::Img, SortBy::Patch] {
        let patches = if mode == SortBy::Cls {
            Patches::Cls
        } else {
            Patches::Patches
        };
        let ds = dataset(&root, patches);
        // All examples at once, for the direct computation.
        let n = ds.len() as usize;
        let mut x = vec![0.0f32; n * D];
        for (i, row) in x.chunks_mut(D).enumerate() {
            ds.get_into(i as u64, row).unwrap();
        }
        let f = sae.encode(&x);
        let p = if mode == SortBy::Cls { 1 } else { P };
        let cfg = PassConfig {
            sort_by: mode,
            top_k: 5,
            batch_size: 4 * p + 1,
            percentile: 99.0,
            n_distributions: 3,
        };
        let r = pass::run(&sae, Arc::clone(&ds), &cfg, |_| {}).unwrap();
        let v = Visuals::from_pass(&r, "sae".as_ref(), &root, 99.0);
        assert_eq!(r.n_imgs, 70);
        for lat in 0..s {
            let rank = |img: usize| -> f32 {
                let vals = (0..p).map(|j| f[(img * p + j) * s + lat]);
                match mode {
                    SortBy::Cls => f[img * s + lat],
                    SortBy::Img => vals.sum(),
                    SortBy::Patch => vals.fold(f32::NEG_INFINITY, f32::max),
                }
            };
            let mut all: Vec<(f32, i64)> = (0..70).map(|i| (rank(i), i as i64)).collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let got = v.top(lat);
            assert_eq!(got.len(), 5);
            for (j, (&(want_v, want_i), &(gi, gv))) in all.iter().zip(&got).enumerate() {
                assert_eq!(gi, want_i, "{mode} latent {lat} rank {j}");
                assert!((gv - want_v).abs() <= 1e-5 * want_v.abs().max(1.0));
                if mode != SortBy::Cls {
                    let want: Vec<f32> = (0..P)
                        .map(|q| f[(want_i as usize * P + q) * s + lat])
                        .collect();
                    assert_eq!(v.patches(lat, j), &want[..]);
                }
            }
            let col: Vec<f32> = (0..n).map(|i| f[i * s + lat]).collect();
            let fired = col.iter().filter(|&&x| x > 0.0).count();
            assert_eq!(
                v.sparsity_S[lat],
                (fired as f64 / n as f64) as f32,
                "{mode} {lat}"
            );
            let mean = col.iter().map(|&x| f64::from(x)).sum::<f64>() / fired as f64;
            if fired > 0 {
                assert!(
                    (f64::from(v.mean_values_S[lat]) - mean).abs() < 1e-5 * mean.abs().max(1.0)
                );
            } else {
                assert!(v.mean_values_S[lat].is_nan());
            }
            assert_eq!(
                v.max_values_S[lat],
                col.iter().copied().fold(f32::MIN, f32::max)
            );
            if lat < 3 {
                for img in 0..70 {
                    assert!((v.distributions_MN[lat * 70 + img] - rank(img)).abs() < 1e-5);
                }
            }
        }
        // Save and load give the same arrays back.
        let out = Visuals::root(tmp.path(), mode);
        v.save(&out).unwrap();
        let back = Visuals::load(&out).unwrap().unwrap();
        assert_eq!(back.top_img_i_SK, v.top_img_i_SK);
        assert_eq!(back.summary, v.summary);
        assert_eq!(
            back.top_patch_values_SKP.len(),
            v.top_patch_values_SKP.len()
        );
    }
    // The wrong view for a mode is a clear error.
    let e = pass::run(
        &sae,
        dataset(&root, Patches::Cls),
        &PassConfig {
            sort_by: SortBy::Patch,
            ..PassConfig::default()
        },
        |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("--data.patches patches"), "{e}");
}

#[test]
fn a_pass_is_reused_only_for_the_same_checkpoint_store_and_settings() {
    use saev_visuals::VisualsConfig;
    let tmp = tempfile::tempdir().unwrap();
    let store_a = store(&tmp.path().join("a"));
    let md = Metadata {
        seed: 9,
        ..saev_shards::Store::open(&store_a)
            .unwrap()
            .metadata()
            .clone()
    };
    let store_b =
        saev_shards::synth::write_random_store(&tmp.path().join("b"), md, 7, None, |_| {}).unwrap();
    let ckpt_1 = tmp.path().join("sae1.safetensors");
    let ckpt_2 = tmp.path().join("sae2.safetensors");
    sae().save(&ckpt_1).unwrap();
    let mut other = sae();
    other.b_enc_S.iter_mut().for_each(|b| *b += 0.05);
    other.save(&ckpt_2).unwrap();
    let cfg = |ckpt: &std::path::Path, store: &std::path::Path, top_k: usize| VisualsConfig {
        ckpt: ckpt.into(),
        data: DataLoad {
            shard_root: store.into(),
            patches: Patches::Patches,
            layer: Layer::Index(-2),
            scale_mean: Scale::Off,
            scale_norm: Scale::Off,
            ..DataLoad::default()
        },
        pass: PassConfig {
            sort_by: SortBy::Img,
            top_k,
            batch_size: 64,
            percentile: 99.0,
            n_distributions: 2,
        },
        dump_to: tmp.path().join("features"),
        log_freq_range: (-6.0, -2.0),
        log_value_range: (-1.0, 1.0),
        include_latents: Vec::new(),
        n_latents: 0,
        seed: 0,
    };
    let run = |c: VisualsConfig| saev_visuals::run::run(&c, None).unwrap();
    assert!(!run(cfg(&ckpt_1, &store_a, 4)).reused);
    assert!(run(cfg(&ckpt_1, &store_a, 4)).reused);
    // Same width, other weights: a new pass, not the old pictures.
    let out = run(cfg(&ckpt_2, &store_a, 4));
    assert!(!out.reused);
    let v = Visuals::load(&out.root).unwrap().unwrap();
    assert_eq!(v.summary.ckpt, ckpt_2);
    // Another store, or other settings.
    assert!(!run(cfg(&ckpt_2, &store_b, 4)).reused);
    assert!(!run(cfg(&ckpt_2, &store_b, 5)).reused);
    assert!(run(cfg(&ckpt_2, &store_b, 5)).reused);
    let table = saev_visuals::LatentTable::read(&out.root).unwrap();
    assert_eq!(table.latents.len(), D * 2);
}
