//! Training sweeps on a small random store: resume finishes every run, and
//! a resumed run keeps the stream it was trained on.

use std::path::{Path, PathBuf};

use saev_shards::{DataLoad, Layer, Metadata, Patches};
use saev_train::{
    assign_ids, sweep, train_sweep, IdScheme, RunConfig, RunRecord, RunStatus, TrainOptions,
};

fn store(dir: &Path) -> PathBuf {
    let md = Metadata {
        model_family: "synthetic".into(),
        model_ckpt: "uniform-random".into(),
        layers: vec![-2],
        n_patches_per_img: 0,
        cls_token: true,
        d_vit: 8,
        seed: 0,
        n_imgs: 600,
        n_patches_per_shard: 2_400_000,
        data: "SyntheticDataset(kind='uniform')".into(),
    };
    saev_shards::synth::write_random_store(&dir.join("shards"), md, 0, None, |_| {}).unwrap()
}

fn base(store: &Path) -> RunConfig {
    let mut run = RunConfig {
        data: DataLoad {
            shard_root: store.to_path_buf(),
            patches: Patches::Cls,
            layer: Layer::Index(-2),
            n_random_samples: 256,
            ..DataLoad::default()
        },
        n_patches: 1200,
        batch_size: 50,
        log_every: 2,
        ckpt_every: 5,
        ..RunConfig::default()
    };
    run.sae.d_vit = 8;
    run.sae.exp_factor = 2;
    run.sae.n_reinit_samples = 128;
    run.train.n_lr_warmup = 3;
    run
}

/// Two groups (batch sizes 50 and 60) of two SAEs each.
const SWEEP: &str = "sae_batch_size = [50, 60]\n[sae]\nexp_factor = [2, 4]\n";

fn runs(store: &Path, ckpt: &Path) -> Vec<RunConfig> {
    let runs = sweep::expand(SWEEP, Path::new("test.toml"), &base(store).into()).unwrap();
    assign_ids(runs, ckpt, IdScheme::FromConfig)
}

fn weights(run: &RunConfig) -> Vec<u8> {
    std::fs::read(run.dir.join("sae.safetensors")).unwrap()
}

#[test]
fn a_resumed_sweep_finishes_every_run_of_every_group_with_uninterrupted_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let whole = runs(&store, &tmp.path().join("whole"));
    let out = train_sweep(&whole, &TrainOptions::default()).unwrap();
    assert_eq!(out.n_groups, 2);
    assert_eq!(out.finished().count(), 4);

    // Interrupted at step 7 (last checkpoint at step 5), then the second
    // group is lost as if never started.
    let parts = runs(&store, &tmp.path().join("parts"));
    let stop = TrainOptions {
        stop_after: Some(7),
        ..TrainOptions::default()
    };
    let out = train_sweep(&parts, &stop).unwrap();
    assert!(out
        .runs
        .iter()
        .all(|o| o.status == RunStatus::Stopped { step: 7 }));
    for run in &parts[1..] {
        if run.batch_size == 60 {
            std::fs::remove_dir_all(&run.dir).unwrap();
        }
    }
    let out = train_sweep(&parts, &TrainOptions::default()).unwrap();
    assert_eq!(out.finished().count(), 4, "{:?}", out.runs);
    for (a, b) in whole.iter().zip(&parts) {
        assert_eq!(a.id, b.id);
        assert!(
            weights(a) == weights(b),
            "run {} differs from the uninterrupted one",
            a.id
        );
        let eval = saev_train::EvalRecord::read(&b.dir).unwrap().unwrap();
        assert_eq!(eval.metrics.n_examples, 600);
    }
    // A finished sweep is only reported again.
    let again = train_sweep(&parts, &TrainOptions::default()).unwrap();
    assert_eq!(again.finished().count(), 4);
}

#[test]
fn runs_resumed_together_keep_the_streams_they_were_trained_on() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let single = |seed: i64, ckpt: &str| {
        let run = RunConfig {
            seed,
            ..sweep::single(&base(&store).into())
        };
        assign_ids(vec![run], &tmp.path().join(ckpt), IdScheme::FromConfig)
    };
    // Uninterrupted, each on its own stream.
    for seed in [1, 2] {
        let out = train_sweep(&single(seed, "whole"), &TrainOptions::default()).unwrap();
        assert_eq!(out.finished().count(), 1);
    }
    // Two separate invocations, interrupted, then resumed in one.
    let stop = TrainOptions {
        stop_after: Some(7),
        ..TrainOptions::default()
    };
    let mut dirs = Vec::new();
    for seed in [1, 2] {
        let run = single(seed, "parts");
        train_sweep(&run, &stop).unwrap();
        dirs.push(run[0].dir.clone());
    }
    let resumed: Vec<RunConfig> = dirs.iter().map(|d| RunRecord::read(d).unwrap()).collect();
    assert_eq!(saev_train::group_runs(&resumed).len(), 2);
    let out = train_sweep(&resumed, &TrainOptions::default()).unwrap();
    assert_eq!(out.finished().count(), 2);
    for seed in [1, 2] {
        let (a, b) = (&single(seed, "whole")[0], &single(seed, "parts")[0]);
        assert!(
            weights(a) == weights(b),
            "seed {seed}: resumed weights differ"
        );
    }
}

#[test]
fn bad_settings_and_empty_sweeps_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let mut run = sweep::single(&base(&store).into());
    run.batch_size = 0;
    let run = assign_ids(vec![run], tmp.path(), IdScheme::Random);
    let e = train_sweep(&run, &TrainOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("sae_batch_size must be at least 1"),
        "{e}"
    );
    assert!(train_sweep(&[], &TrainOptions::default()).is_err());
    let e = sweep::expand("lr = []\n", Path::new("s.toml"), &base(&store).into()).unwrap_err();
    assert!(e.to_string().contains("s.toml"), "{e}");
}
