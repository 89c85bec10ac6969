//! Train a linear probe in an SAE's space and measure how often editing
//! the SAE's latents steers it: the classification-control experiment on
//! a planted world of activations.
//!
//! `cargo run --release -p saev-examples --example probe_and_steer [OUT_DIR]`

use std::path::Path;

use saev_control::probe_sweep::{self, ProbeSweepConfig, SplitSource};
use saev_control::steer_eval::{self, SteerEvalConfig, SteerInputs};
use saev_probe::Setting;
use saev_shards::{DataLoad, Layer, Patches};
use saev_train::{assign_ids, sweep, train_sweep, IdScheme, RunConfig, TrainOptions};
use saev_visuals::{PassConfig, SortBy, VisualsConfig};

/// Probe test accuracy and the flip rates of class and random latents at 4x.
pub struct Figures {
    pub test_acc: f64,
    pub class_flip: f64,
    pub random_flip: f64,
}

fn cls(store: &Path) -> DataLoad {
    DataLoad {
        shard_root: store.to_path_buf(),
        patches: Patches::Cls,
        layer: Layer::Index(-2),
        ..DataLoad::default()
    }
}

pub fn run(out: &Path, n: usize) -> anyhow::Result<Figures> {
    let planted = saev_examples::planted_store;
    // Pretraining: 12 concepts. The "flowers": 4 of them, three splits.
    let pre = planted(
        &out.join("shards/pre"),
        &(0..12).collect::<Vec<_>>(),
        12 * n,
        1,
    )?;
    let classes = [2, 5, 7, 9];
    let split = |name: &str, seed| -> anyhow::Result<SplitSource> {
        let dir = out.join("shards").join(name);
        let acts = planted(&dir, &classes, 4 * n / 2, seed)?;
        Ok(SplitSource { acts, imgs: None })
    };
    let (train, val, test) = (split("train", 2)?, split("val", 3)?, split("test", 4)?);

    // 1. An SAE on the pretraining activations.
    let mut run = RunConfig {
        data: cls(&pre),
        n_patches: 200 * (12 * n) as u64 / 100,
        batch_size: 100,
        ..RunConfig::default()
    };
    run.sae.d_vit = saev_examples::D;
    run.sae.exp_factor = 2;
    run.sae.n_reinit_samples = 256;
    run.train.n_lr_warmup = 10;
    run.train.lr = 3e-3;
    let runs = assign_ids(
        vec![sweep::single(&run.into())],
        &out.join("saes"),
        IdScheme::FromConfig,
    );
    train_sweep(&runs, &TrainOptions::default())?;
    let sae = runs[0].dir.join("sae.safetensors");

    // 2. Its latents' frequencies and largest values (no pictures needed).
    let vis = VisualsConfig {
        ckpt: sae.clone(),
        data: cls(&pre),
        pass: PassConfig {
            sort_by: SortBy::Cls,
            top_k: 8,
            batch_size: 1024,
            percentile: 99.0,
            n_distributions: 0,
        },
        dump_to: out.join("features"),
        log_freq_range: (-6.0, 0.0),
        log_value_range: (-3.0, 3.0),
        include_latents: Vec::new(),
        n_latents: 0,
        seed: 0,
    };
    let visuals = saev_visuals::run::run(&vis, None)?;

    // 3. Probes in the SAE's space, best on validation.
    let probes = probe_sweep::run(
        &ProbeSweepConfig {
            train: train.clone(),
            val,
            test: Some(test.clone()),
            layer: Layer::Index(-2),
            sae: Some(sae.clone()),
            settings: vec![
                Setting {
                    learning_rate: 1e-2,
                    weight_decay: 1e-3,
                },
                Setting {
                    learning_rate: 3e-2,
                    weight_decay: 1e-3,
                },
            ],
            n_epochs: 10,
            batch_size: 64,
            seed: 0,
            ckpt_path: out.join("probes"),
            log_to: out.join("logs/probe"),
        },
        |_| {},
    )?;
    println!(
        "probe: {:.1}% on test",
        100.0 * probes.best.test_acc.unwrap_or(0.0)
    );

    // 4. Steering: each class's top latents set to 0.5-4x their largest value.
    let steer = steer_eval::run(&SteerEvalConfig {
        inputs: SteerInputs {
            sae,
            probe: probes.best.ckpt.clone(),
            visuals: visuals.root,
            max_freq: 0.5,
            n_latents: 2,
            layer: Layer::Index(-2),
        },
        train,
        test,
        scales: vec![0.5, 1.0, 2.0, 4.0],
        seed: 0,
        out: out.join("logs/steer"),
    })?;
    let flip = |kind| steer.summary.line(kind, 4.0).map_or(0.0, |l| l.flip_rate);
    let figures = Figures {
        test_acc: probes.best.test_acc.unwrap_or(0.0),
        class_flip: flip("class"),
        random_flip: flip("random"),
    };
    println!(
        "at 4x: class latents flip {:.1}% of predictions, random latents {:.1}%",
        100.0 * figures.class_flip,
        100.0 * figures.random_flip
    );
    Ok(figures)
}

#[cfg_attr(test, allow(dead_code))]
fn main() -> anyhow::Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "example-steer".into());
    run(Path::new(&out), 400)?;
    Ok(())
}
