//! Splits whose classes disagree with each other or with the probe are
//! errors naming the store and the classes, never a panic.

use std::path::{Path, PathBuf};

use saev_control::probe_sweep::{self, ProbeSweepConfig, SplitSource};
use saev_control::split::Split;
use saev_probe::Setting;
use saev_shards::{Layer, Metadata};

/// A [CLS] store of `classes.len() * per_class` random images and class
/// folders listing them (the files are only listed, never decoded).
fn split(dir: &Path, classes: &[&str], per_class: usize) -> SplitSource {
    let n = classes.len() * per_class;
    let md = Metadata {
        model_family: "synthetic".into(),
        model_ckpt: "uniform-random".into(),
        layers: vec![-2],
        n_patches_per_img: 0,
        cls_token: true,
        d_vit: 8,
        seed: 0,
        n_imgs: n as u64,
        n_patches_per_shard: 2_400_000,
        data: format!("{}", dir.display()),
    };
    let acts =
        saev_shards::synth::write_random_store(&dir.join("acts"), md, 0, None, |_| {}).unwrap();
    let imgs = dir.join("imgs");
    for c in classes {
        std::fs::create_dir_all(imgs.join(c)).unwrap();
        for i in 0..per_class {
            std::fs::write(imgs.join(c).join(format!("{i}.png")), b"").unwrap();
        }
    }
    SplitSource {
        acts,
        imgs: Some(imgs),
    }
}

fn config(tmp: &Path, train: SplitSource, val: SplitSource) -> ProbeSweepConfig {
    ProbeSweepConfig {
        train,
        val,
        test: None,
        layer: Layer::Index(-2),
        sae: None,
        settings: vec![Setting {
            learning_rate: 1e-3,
            weight_decay: 0.0,
        }],
        n_epochs: 2,
        batch_size: 4,
        seed: 0,
        ckpt_path: tmp.join("probes"),
        log_to: tmp.join("logs"),
    }
}

#[test]
fn a_val_split_with_other_classes_is_refused_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let train = split(&tmp.path().join("train"), &["daisy", "rose", "tulip"], 4);
    let val = split(&tmp.path().join("val"), &["daisy", "rose", "violet"], 2);
    let e = probe_sweep::run(&config(tmp.path(), train.clone(), val), |_| {}).unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("different classes") && msg.contains("tulip") && msg.contains("violet"),
        "{msg}"
    );
    // The same classes train and write every record.
    let val = split(&tmp.path().join("val2"), &["daisy", "rose", "tulip"], 2);
    let out = probe_sweep::run(&config(tmp.path(), train, val), |_| {}).unwrap();
    assert_eq!(out.n_classes, 3);
    let best = probe_sweep::BestRecord::read(&tmp.path().join("logs")).unwrap();
    assert_eq!(best, out.best);
    assert!(best.ckpt.is_file());
}

#[test]
fn labels_beyond_the_probe_are_an_error_not_a_panic() {
    let s = Split {
        x_ND: vec![0.0; 3 * 2],
        y_N: vec![0, 1, 2],
        classes: vec!["a".into(), "b".into(), "c".into()],
        images: Vec::new(),
        d: 2,
        store: PathBuf::from("flowers-test"),
    };
    let e = s.check_probe_classes(2, &[]).unwrap_err().to_string();
    assert!(
        e.contains("flowers-test") && e.contains("predicts 2"),
        "{e}"
    );
    let e = s
        .check_probe_classes(3, &["a".into(), "b".into(), "z".into()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("differ from the probe's"), "{e}");
    assert!(
        e.contains(r#"only the probe has "z""#) && e.contains(r#"only the data has "c""#),
        "{e}"
    );
    // An extra class, with names or without.
    let four: Vec<String> = ["a", "b", "c", "d"].map(String::from).into();
    let e = s.check_probe_classes(4, &four).unwrap_err().to_string();
    assert!(e.contains(r#"only the probe has "d""#), "{e}");
    let e = s.check_probe_classes(4, &[]).unwrap_err().to_string();
    assert!(e.contains("has 3 classes but the probe predicts 4"), "{e}");
    // Renamed by order only.
    let swapped: Vec<String> = ["b", "a", "c"].map(String::from).into();
    let e = s.check_probe_classes(3, &swapped).unwrap_err().to_string();
    assert!(
        e.contains(r#"class 0 is "a" in the data, "b" in the probe"#),
        "{e}"
    );
    assert!(s.check_probe_classes(3, &s.classes).is_ok());
}
