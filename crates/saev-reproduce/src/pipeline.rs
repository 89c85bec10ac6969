//! The stages, in order, each a call into the library that owns it.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use saev_activations::{record, DataSource, RecordConfig};
use saev_control::probe_sweep::{self, BestRecord, ProbeSweepConfig, SplitSource};
use saev_control::steer_eval::{self, SteerEvalConfig, SteerInputs, SteerSummary};
use saev_probe::Setting;
use saev_sae::SaeConfig;
use saev_shards::{DataLoad, Layer, Patches};
use saev_train::{assign_ids, sweep, train_sweep, IdScheme, RunConfig, TrainOptions};
use saev_visuals::{PassConfig, SortBy, VisualsConfig};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::identity::{file_hash, store_id, tree_listing};
use crate::plan::{self, DiskEstimate};
use crate::stages::{Stage, Stages};
use crate::{choose_run, commands, report, ReproduceConfig, ReproduceOutcome};

/// The preprint's SAE sweep, embedded so the real run works from any directory.
const PREPRINT_SWEEP: &str = include_str!("../../../configs/preprint/classification.toml");
/// The demo's sweep: the preprint's shape, sized for a 64-wide ViT and a
/// world of a few dozen concepts (stronger L1, smaller expansion).
const DEMO_SWEEP: &str = include_str!("../../../configs/demo/sweep.toml");
const PROBE_SWEEP: &str = include_str!("../../../configs/probe/sweep.toml");

/// The demo world's image counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorldOut {
    pub pretrain_images: usize,
    pub flowers: [usize; 3],
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PretrainOut {
    pub config: saev_demo::pretrain::PretrainConfig,
    pub epochs: Vec<saev_demo::pretrain::EpochStats>,
    pub model: PathBuf,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordOut {
    pub store: PathBuf,
    pub n_imgs: u64,
}

/// One SAE of the sweep, as the report's table shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    pub id: String,
    pub dir: PathBuf,
    pub lr: f32,
    pub sparsity_coeff: f32,
    pub exp_factor: usize,
    pub l0: f64,
    pub explained_variance: f64,
    pub mse: f64,
    pub n_dead: usize,
    pub n_dense: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainOut {
    pub runs: Vec<RunRow>,
    /// The chosen run's directory.
    pub chosen: PathBuf,
    pub rule: String,
}

/// The steering stage's outputs: the summary, and the evaluation's config
/// (what the dashboard opens, see [`crate::dashboard_config`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SteerOut {
    pub summary: SteerSummary,
    pub config: SteerEvalConfig,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowersOut {
    pub root: PathBuf,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowerStores {
    pub train: PathBuf,
    pub val: PathBuf,
    pub test: PathBuf,
}

/// Everything the stages produced, for the report.
pub(crate) struct Results {
    pub pretrain: Option<PretrainOut>,
    pub record: RecordOut,
    pub train: TrainOut,
    pub visuals_root: PathBuf,
    pub probe: BestRecord,
    pub steer: SteerSummary,
}

/// Sizes and paths of one run.
struct Ctx<'a> {
    cfg: &'a ReproduceConfig,
    out: PathBuf,
    demo: bool,
    quick: bool,
    d_vit: usize,
    expected: Vec<(&'static str, f64)>,
}

impl Ctx<'_> {
    fn stage(
        &self,
        name: &'static str,
        inputs: serde_json::Value,
        outputs: &[&str],
    ) -> Stage<'static> {
        Stage {
            after: consumes(name),
            name,
            expected_seconds: self
                .expected
                .iter()
                .find(|e| e.0 == name)
                .map_or(0.0, |e| e.1),
            inputs,
            outputs: outputs.iter().map(|o| self.out.join(o)).collect(),
        }
    }

    fn model(&self) -> (String, Option<PathBuf>) {
        match &self.cfg.real {
            None => (
                self.out
                    .join("models/demo-vit")
                    .to_string_lossy()
                    .into_owned(),
                None,
            ),
            Some(r) => (r.model_ckpt.clone(), r.model_dir.clone()),
        }
    }

    fn record_config(&self, data: DataSource, dump_to: PathBuf) -> RecordConfig {
        let (model_ckpt, model_dir) = self.model();
        RecordConfig {
            data,
            dump_to,
            model_family: "clip".into(),
            model_ckpt,
            model_dir,
            vit_batch_size: if self.demo {
                64
            } else if self.cfg.cuda {
                1024
            } else {
                32
            },
            n_workers: 8,
            d_vit: self.d_vit,
            layers: vec![-2],
            n_patches_per_img: 0,
            cls_token: true,
            n_patches_per_shard: 2_400_000,
            seed: 42,
            part: None,
        }
    }

    fn model_identity(&self) -> anyhow::Result<String> {
        let (ckpt, dir) = self.model();
        let files = saev_vit::resolve_model(&ckpt, dir.as_deref())?;
        tree_listing(&files.weights)
    }
}

/// The earlier stages each stage reads the outputs of.
fn consumes(stage: &str) -> &'static [&'static str] {
    match stage {
        "pretrain" => &["world"],
        "record-pretrain" => &["world", "pretrain"],
        "train-saes" => &["record-pretrain"],
        "visuals" => &["train-saes", "record-pretrain"],
        "flowers" => &["world"],
        "record-flowers" => &["flowers", "pretrain"],
        "probe" => &["record-flowers", "train-saes"],
        "steer" => &["probe", "visuals", "train-saes", "record-flowers"],
        _ => &[],
    }
}

/// Width of the model's residual stream.
fn model_width(ckpt: &str, model_dir: Option<&Path>) -> anyhow::Result<usize> {
    let files = saev_vit::resolve_model(ckpt, model_dir)?;
    let device = burn::backend::flex::FlexDevice;
    let vit = saev_vit::load_pretrained::<burn::backend::Flex>(&files, &device)?;
    Ok(vit.config.width)
}

fn record_store<B: Backend>(rc: &RecordConfig, device: &B::Device) -> anyhow::Result<RecordOut> {
    let progress = saev_io::Progress::new("record", 0, "images");
    let s = record::<B>(rc, device, |p| {
        progress.set_length(p.total);
        progress.set_position(p.done);
    })?;
    progress.finish();
    Ok(RecordOut {
        store: s.root,
        n_imgs: s.n_imgs,
    })
}

/// Run every stage (skipping those done on the same inputs) and write the report.
/// [`run`] up to and including stage `cfg.until` (all of it when `None`):
/// `Ok(None)` when it stopped there, else the finished run's outcome.
pub fn run_until<B: Backend>(
    cfg: &ReproduceConfig,
    device: &B::Device,
) -> anyhow::Result<Option<ReproduceOutcome>> {
    match run::<B>(cfg, device) {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.downcast_ref::<crate::stages::StoppedAfter>().is_some() => {
            println!("{e}");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The stages of a run, in order.
pub fn stage_names(cfg: &ReproduceConfig) -> Vec<&'static str> {
    plan::expected_seconds(cfg.is_demo(), cfg.quick, cfg.cuda)
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

pub fn run<B: Backend>(
    cfg: &ReproduceConfig,
    device: &B::Device,
) -> anyhow::Result<ReproduceOutcome> {
    std::fs::create_dir_all(&cfg.out).map_err(|e| anyhow::anyhow!("{}: {e}", cfg.out.display()))?;
    let out = std::fs::canonicalize(&cfg.out)?;
    let demo = cfg.is_demo();
    let d_vit = match &cfg.real {
        None => 64,
        Some(r) => model_width(&r.model_ckpt, r.model_dir.as_deref())?,
    };
    let ctx = Ctx {
        cfg,
        out: out.clone(),
        demo,
        quick: cfg.quick,
        d_vit,
        expected: plan::expected_seconds(demo, cfg.quick, cfg.cuda),
    };
    if !demo && cfg.disk_check {
        check_disk(&out, d_vit)?;
    }
    let kind = match (demo, cfg.quick) {
        (true, true) => "quick demo",
        (true, false) => "demo",
        _ => "real",
    };
    let device_name = match cfg.gpu() {
        Some(i) => format!("cuda:{i}"),
        None => "cpu".to_string(),
    };
    println!(
        "saev reproduce: {kind} run in {} ({} stages, device {device_name})",
        out.display(),
        ctx.expected.len()
    );
    let mut st = Stages::new(out.join("stages"), ctx.expected.len())?;
    st.until = cfg.until.clone();
    let (pretrain, pre_images, flowers_root) = if demo {
        let (p, images) = demo_world(&ctx, &mut st)?;
        (Some(p), images, out.join("world/flowers"))
    } else {
        let r = cfg.real.as_ref().expect("real run");
        let images = DataSource::Imagenet {
            root: r.imagenet.clone(),
            split: "train".into(),
        };
        (None, images, r.flowers.clone())
    };
    let record = record_pretrain::<B>(&ctx, &mut st, &pre_images, device)?;
    let train = train_saes(&ctx, &mut st, &record)?;
    let sae = train.chosen.join("sae.safetensors");
    let vis = visuals_config(&ctx, &sae, &record.store);
    let visuals_root = visuals(&ctx, &mut st, &vis, &pre_images)?;
    let fl_root = flowers(&ctx, &mut st, &flowers_root)?;
    let stores = record_flowers::<B>(&ctx, &mut st, &fl_root, device)?;
    let (probe_cfg, probe) = probe(&ctx, &mut st, &stores, &fl_root, &sae)?;
    let steer_cfg = steer_config(&ctx, &sae, &probe, &visuals_root, &probe_cfg);
    let steer = steer(&ctx, &mut st, &steer_cfg, &vis, &pre_images)?;
    let dashboard = commands::dashboard(&steer_cfg);
    let browser = commands::browser(&vis.dump_to);
    let results = Results {
        pretrain,
        record,
        train,
        visuals_root,
        probe,
        steer,
    };
    let model = if demo {
        "generated demo ViT".to_string()
    } else {
        ctx.model().0
    };
    let rep = report::Report {
        out: &out,
        demo,
        model,
        d_vit,
        device: &device_name,
        timings: &st.timings,
        results: &results,
        dashboard: &dashboard,
        browser: &browser,
    };
    let (report_md, report_html) = rep.write()?;
    let flip = |kind: &str| results.steer.line(kind, 4.0).map(|l| l.flip_rate);
    Ok(ReproduceOutcome {
        out,
        report_md,
        report_html,
        sae_dir: results.train.chosen.clone(),
        probe_test_acc: results.probe.test_acc,
        class_flip_4x: flip("class"),
        random_flip_4x: flip("random"),
        dashboard,
        browser,
        stages_run: st.ran.clone(),
        seconds: st.elapsed(),
    })
}

/// Refuse to start when the disk cannot hold the run.
fn check_disk(out: &Path, d_vit: usize) -> anyhow::Result<()> {
    let need = DiskEstimate::preprint(d_vit);
    let Some(free) = plan::free_bytes(out) else {
        return Ok(());
    };
    println!(
        "disk: {} needed, {:.0} GB free in {}",
        need.describe(),
        free as f64 / 1e9,
        out.display()
    );
    if (free as f64) < need.total() {
        anyhow::bail!(
            "{} has {:.0} GB free but the run needs {}; free space, choose another --out, or pass --no-disk-check",
            out.display(),
            free as f64 / 1e9,
            need.describe()
        );
    }
    Ok(())
}

/// Stages 1-2 of the demo: the world and its ViT.
fn demo_world(ctx: &Ctx, st: &mut Stages) -> anyhow::Result<(PretrainOut, DataSource)> {
    use saev_demo::world::{write_set, Set};
    let world = ctx.out.join("world");
    let (n_pre, n_fl) = if ctx.quick {
        (40, [12, 6, 12])
    } else {
        (80, [20, 10, 20])
    };
    let inputs = json!({"n_pretrain": n_pre, "n_flowers": n_fl, "side": 32});
    st.run(ctx.stage("world", inputs, &["world"]), || {
        let a = write_set(&world.join("pretrain"), Set::Pretrain, n_pre, 32, 1)?;
        let mut fl = [0; 3];
        for (k, (split, seed)) in [("train", 2), ("val", 3), ("test", 4)]
            .into_iter()
            .enumerate()
        {
            let dir = world.join("flowers").join(split);
            fl[k] = write_set(&dir, Set::Flowers, n_fl[k], 32, seed)?;
        }
        let out = WorldOut {
            pretrain_images: a,
            flowers: fl,
        };
        Ok((out, Vec::new()))
    })?;
    let vit_dir = ctx.out.join("models/demo-vit");
    let pcfg = saev_demo::pretrain::PretrainConfig {
        epochs: if ctx.quick { 4 } else { 10 },
        ..Default::default()
    };
    let inputs = json!({"config": pcfg});
    let pre = st.run(ctx.stage("pretrain", inputs, &["models/demo-vit"]), || {
        let on_epoch = |e: &saev_demo::pretrain::EpochStats| {
            let acc = 100.0 * e.train_acc;
            println!(
                "  epoch {}: loss {:.3}, train accuracy {acc:.1}%",
                e.epoch, e.loss
            );
        };
        let epochs =
            saev_demo::pretrain::pretrain(&world.join("pretrain"), &vit_dir, &pcfg, on_epoch)
                .map_err(anyhow::Error::msg)?;
        let out = PretrainOut {
            config: pcfg.clone(),
            epochs,
            model: vit_dir.clone(),
        };
        Ok((out, Vec::new()))
    })?;
    let images = DataSource::ImageFolder {
        root: world.join("pretrain"),
    };
    Ok((pre, images))
}

fn images_root(images: &DataSource) -> &Path {
    match images {
        DataSource::ImageFolder { root } | DataSource::Imagenet { root, .. } => root,
    }
}

/// Pretraining-set [CLS] activations at layer -2.
fn record_pretrain<B: Backend>(
    ctx: &Ctx,
    st: &mut Stages,
    images: &DataSource,
    device: &B::Device,
) -> anyhow::Result<RecordOut> {
    let rc = ctx.record_config(images.clone(), ctx.out.join("shards/pretrain"));
    let command = commands::record(&rc);
    let inputs = json!({
        "command": command,
        "images": tree_listing(images_root(images))?,
        "model": ctx.model_identity()?,
    });
    st.run(
        ctx.stage("record-pretrain", inputs, &["shards/pretrain"]),
        || Ok((record_store::<B>(&rc, device)?, vec![command.clone()])),
    )
}

/// The SAE sweep, then one checkpoint by the documented rule.
fn train_saes(ctx: &Ctx, st: &mut Stages, rec: &RecordOut) -> anyhow::Result<TrainOut> {
    let sweep_text = match &ctx.cfg.sweep {
        Some(p) => {
            std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
        }
        None if ctx.demo => DEMO_SWEEP.to_string(),
        None => PREPRINT_SWEEP.to_string(),
    };
    let demo_patches = if ctx.quick { 120_000 } else { 400_000 };
    let n_patches = ctx
        .cfg
        .n_patches
        .unwrap_or(if ctx.demo { demo_patches } else { 100_000_000 });
    // saev's 16,384, or the whole store when it is smaller (stand-in data).
    let batch_size = if ctx.demo {
        512
    } else {
        16_384.min(rec.n_imgs as usize)
    };
    let base = RunConfig {
        data: DataLoad {
            shard_root: rec.store.clone(),
            patches: Patches::Cls,
            layer: Layer::Index(-2),
            ..DataLoad::default()
        },
        sae: SaeConfig {
            d_vit: ctx.d_vit,
            n_reinit_samples: if ctx.demo { 4096 } else { 524_288 },
            ..SaeConfig::default()
        },
        n_patches,
        batch_size,
        log_every: if ctx.demo { 5 } else { 25 },
        ..RunConfig::default()
    };
    let ckpts = ctx.out.join("checkpoints/saes");
    let sweep_path = ctx.out.join("sweep.toml");
    let inputs = json!({"sweep": sweep_text, "base": base, "store": store_id(&rec.store)?});
    st.run(
        ctx.stage("train-saes", inputs, &["checkpoints/saes"]),
        || {
            saev_io::write_atomic(&sweep_path, sweep_text.as_bytes())?;
            let runs = sweep::expand(&sweep_text, &sweep_path, &base.clone().into())?;
            // Ids from the configs: a rerun finds every run and finishes the sweep.
            let runs = assign_ids(runs, &ckpts, IdScheme::FromConfig);
            let opts = TrainOptions {
                cuda: ctx.cfg.cuda,
                cuda_index: ctx.cfg.cuda_index,
                precision: saev_sae::Precision::F32,
                stop_after: None,
                // The stores were recorded and checked by this run.
                verify_shards: false,
            };
            let outcome = train_sweep(&runs, &opts)?;
            let finished: Vec<_> = outcome.finished().collect();
            let choice = choose_run(&finished, ctx.d_vit)
                .ok_or_else(|| anyhow::anyhow!("no SAE finished"))?;
            let rows = finished
                .iter()
                .map(|(r, m)| RunRow {
                    id: r.id.clone(),
                    dir: r.dir.clone(),
                    lr: r.train.lr,
                    sparsity_coeff: r.sae.sparsity_coeff,
                    exp_factor: r.sae.exp_factor,
                    l0: m.l0,
                    explained_variance: m.explained_variance,
                    mse: m.mse,
                    n_dead: m.n_dead,
                    n_dense: m.n_dense,
                })
                .collect();
            let out = TrainOut {
                runs: rows,
                chosen: finished[choice.index].0.dir.clone(),
                rule: choice.rule.into(),
            };
            Ok((
                out,
                vec![commands::train(&sweep_path, &base, &ckpts, ctx.cfg.gpu())],
            ))
        },
    )
}

fn visuals_config(ctx: &Ctx, sae: &Path, store: &Path) -> VisualsConfig {
    let (freq, value, n) = if ctx.demo {
        ((-3.0, 0.0), (-2.0, 2.0), 48)
    } else {
        ((-2.5, -1.5), (0.0, 1.0), 400)
    };
    VisualsConfig {
        ckpt: sae.to_path_buf(),
        data: DataLoad {
            shard_root: store.to_path_buf(),
            patches: Patches::Cls,
            layer: Layer::Index(-2),
            ..DataLoad::default()
        },
        pass: PassConfig {
            sort_by: SortBy::Cls,
            top_k: if ctx.demo { 16 } else { 128 },
            batch_size: 16_384,
            percentile: 99.0,
            n_distributions: 25,
        },
        dump_to: ctx.out.join("features"),
        log_freq_range: freq,
        log_value_range: value,
        include_latents: Vec::new(),
        n_latents: n,
        seed: 42,
    }
}

/// Visuals of the chosen SAE on the pretraining images.
fn visuals(
    ctx: &Ctx,
    st: &mut Stages,
    vis: &VisualsConfig,
    images: &DataSource,
) -> anyhow::Result<PathBuf> {
    let command = commands::visuals(vis, images);
    let inputs = json!({"command": command, "sae": file_hash(&vis.ckpt)?, "store": store_id(&vis.data.shard_root)?});
    st.run(ctx.stage("visuals", inputs, &["features"]), || {
        let list = images.list()?;
        let out = saev_visuals::run::run(vis, Some(&list))?;
        Ok((out.root, vec![command.clone()]))
    })
}

/// Flowers-102 class folders (made from the official files when absent).
fn flowers(ctx: &Ctx, st: &mut Stages, root: &Path) -> anyhow::Result<PathBuf> {
    let ready = root.join("train").is_dir() && root.join("test").is_dir();
    let inputs = json!({"root": root, "ready": ready});
    let out = st.run(ctx.stage("flowers", inputs, &[]), || {
        if ready {
            return Ok((FlowersOut { root: root.into() }, Vec::new()));
        }
        saev_datasets::flowers102::prepare(root)?;
        Ok((
            FlowersOut { root: root.into() },
            vec![commands::flowers(root)],
        ))
    })?;
    Ok(out.root)
}

/// Flowers [CLS] activations per split.
fn record_flowers<B: Backend>(
    ctx: &Ctx,
    st: &mut Stages,
    root: &Path,
    device: &B::Device,
) -> anyhow::Result<FlowerStores> {
    let splits = ["train", "val", "test"];
    let configs: Vec<RecordConfig> = splits
        .iter()
        .map(|s| {
            let data = DataSource::ImageFolder { root: root.join(s) };
            ctx.record_config(data, ctx.out.join(format!("shards/flowers-{s}")))
        })
        .collect();
    let cmds: Vec<String> = configs.iter().map(commands::record).collect();
    let listings = splits
        .iter()
        .map(|s| tree_listing(&root.join(s)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let inputs = json!({"commands": cmds, "images": listings, "model": ctx.model_identity()?});
    let dirs = [
        "shards/flowers-train",
        "shards/flowers-val",
        "shards/flowers-test",
    ];
    st.run(ctx.stage("record-flowers", inputs, &dirs), || {
        let mut stores = Vec::new();
        for rc in &configs {
            stores.push(record_store::<B>(rc, device)?.store);
        }
        let [train, val, test] =
            <[PathBuf; 3]>::try_from(stores).map_err(|_| anyhow::anyhow!("three splits"))?;
        Ok((FlowerStores { train, val, test }, cmds.clone()))
    })
}

/// The probe sweep in the SAE's space.
fn probe(
    ctx: &Ctx,
    st: &mut Stages,
    stores: &FlowerStores,
    fl_root: &Path,
    sae: &Path,
) -> anyhow::Result<(ProbeSweepConfig, BestRecord)> {
    let sweep_path = ctx.out.join("probe-sweep.toml");
    let default = Setting {
        learning_rate: 1e-4,
        weight_decay: 1e-3,
    };
    let split = |acts: &Path, name: &str| SplitSource {
        acts: acts.to_path_buf(),
        imgs: Some(fl_root.join(name)),
    };
    let cfg = ProbeSweepConfig {
        train: split(&stores.train, "train"),
        val: split(&stores.val, "val"),
        test: Some(split(&stores.test, "test")),
        layer: Layer::Index(-2),
        sae: Some(sae.to_path_buf()),
        settings: probe_sweep::settings_from_sweep(PROBE_SWEEP, &sweep_path, default)?,
        n_epochs: 20,
        batch_size: 512,
        seed: 42,
        ckpt_path: ctx.out.join("checkpoints/probes"),
        log_to: ctx.out.join("logs/probe"),
    };
    let command = commands::probe(&cfg, &sweep_path);
    let ids = [&stores.train, &stores.val, &stores.test]
        .iter()
        .map(|s| store_id(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let inputs = json!({"command": command, "sae": file_hash(sae)?, "stores": ids});
    let best = st.run(
        ctx.stage("probe", inputs, &["checkpoints/probes", "logs/probe"]),
        || {
            saev_io::write_atomic(&sweep_path, PROBE_SWEEP.as_bytes())?;
            let out = probe_sweep::run(&cfg, |_| {})?;
            Ok((out.best, vec![command.clone()]))
        },
    )?;
    Ok((cfg, best))
}

fn steer_config(
    ctx: &Ctx,
    sae: &Path,
    best: &BestRecord,
    visuals_root: &Path,
    probe: &ProbeSweepConfig,
) -> SteerEvalConfig {
    // "Rare" is relative to the world: ImageNet has 1,000 classes, the demo
    // 24, where one shape or colour is in a sixth of the images.
    let max_freq = ctx
        .cfg
        .max_freq
        .unwrap_or(if ctx.demo { 0.25 } else { 0.01 });
    SteerEvalConfig {
        inputs: SteerInputs {
            sae: sae.to_path_buf(),
            probe: best.ckpt.clone(),
            visuals: visuals_root.to_path_buf(),
            max_freq,
            n_latents: 3,
            layer: Layer::Index(-2),
        },
        train: probe.train.clone(),
        test: probe.test.clone().unwrap_or_else(|| probe.val.clone()),
        scales: vec![0.25, 0.5, 1.0, 2.0, 4.0],
        seed: 0,
        out: ctx.out.join("logs/steer"),
    }
}

/// The flip-rate experiment, then pictures of every proposed latent so the
/// dashboard shows what each slider means (the visuals pass is reused).
fn steer(
    ctx: &Ctx,
    st: &mut Stages,
    cfg: &SteerEvalConfig,
    vis: &VisualsConfig,
    images: &DataSource,
) -> anyhow::Result<SteerSummary> {
    let command = commands::steer(cfg);
    let summary_json = cfg.inputs.visuals.join("summary.json");
    let inputs = json!({
        "command": command,
        "sae": file_hash(&cfg.inputs.sae)?,
        "probe": file_hash(&cfg.inputs.probe)?,
        "visuals": file_hash(&summary_json)?,
    });
    let out = st.run(ctx.stage("steer", inputs, &["logs/steer"]), || {
        let out = steer_eval::run(cfg)?;
        let mut latents: Vec<usize> = out
            .summary
            .class_latents
            .iter()
            .flatten()
            .copied()
            .collect();
        latents.sort_unstable();
        latents.dedup();
        let mut cmds = vec![command.clone()];
        if !latents.is_empty() {
            let draw = VisualsConfig {
                include_latents: latents,
                n_latents: 0,
                ..vis.clone()
            };
            let list = images.list()?;
            saev_visuals::run::run(&draw, Some(&list))?;
            cmds.push(commands::visuals(&draw, images));
        }
        let out = SteerOut {
            summary: out.summary,
            config: cfg.clone(),
        };
        Ok((out, cmds))
    })?;
    Ok(out.summary)
}

/// The steering evaluation's config recorded by the reproduction in `out`
/// (its `stages/steer.json`): the inputs of the steering dashboard.
pub fn dashboard_config(out: &Path) -> anyhow::Result<SteerEvalConfig> {
    let path = out.join("stages/steer.json");
    let bytes = std::fs::read(&path).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e} (run the reproduction into {} first)",
            path.display(),
            out.display()
        )
    })?;
    let rec: crate::stages::StageRecord<SteerOut> =
        serde_json::from_slice(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(rec.outputs.config)
}
