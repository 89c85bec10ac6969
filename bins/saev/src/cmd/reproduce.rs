//! `saev reproduce` (what `cargo xtask reproduce` runs): the paper's
//! ImageNet -> Flowers-102 experiment end to end, or, with no data given,
//! the same stages on a generated world (docs/reproduce.md).
//!
//! Every stage is an ordinary `saev` command run in this process; a stage
//! that finished leaves `<out>/stages/<name>.json` (its command, outputs and
//! time) and is skipped next time; the commands themselves resume where
//! they stopped (shards, SAE checkpoints, visuals).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use serde_json::{json, Value};

use crate::cmd::device::Device;

#[derive(Args)]
pub struct ReproduceArgs {
    /// ImageNet-1K (Hugging Face parquet files or class folders); with --flowers, the real run.
    #[arg(long)]
    imagenet: Option<PathBuf>,
    /// Flowers-102: train/ val/ test/ class folders, or the three official files
    /// (102flowers.tgz, imagelabels.mat, setid.mat), downloaded when absent.
    #[arg(long)]
    flowers: Option<PathBuf>,
    /// The ViT (real run): a name such as ViT-B-16/openai, a directory or a weights file.
    #[arg(long = "model-ckpt", default_value = "ViT-B-16/openai")]
    model_ckpt: String,
    #[arg(long = "model-dir")]
    model_dir: Option<PathBuf>,
    /// Where everything goes (default ./reproduce, or ./demo for the demo).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "cpu")]
    device: Device,
    /// The demo at its smallest (the end-to-end test's size).
    #[arg(long)]
    quick: bool,
    /// SAE sweep (real run default: configs/preprint/classification.toml).
    #[arg(long)]
    sweep: Option<PathBuf>,
    /// Training examples per SAE (real run default: saev's 100M).
    #[arg(long = "n-patches")]
    n_patches: Option<u64>,
    /// Latents firing on at most this fraction of pretraining images are
    /// steering candidates (default 0.01; 0.25 in the 24-class demo world).
    #[arg(long = "max-freq")]
    max_freq: Option<f32>,
    /// Skip the free-disk check.
    #[arg(long = "no-disk-check")]
    no_disk_check: bool,
}

/// The preprint's SAE sweep, embedded so the real run works from any directory.
const PREPRINT_SWEEP: &str = include_str!("../../../../configs/preprint/classification.toml");
/// The demo's sweep: the preprint's shape, sized for a 64-wide ViT and a
/// world of a few dozen concepts (stronger L1, smaller expansion).
const DEMO_SWEEP: &str = "tag = \"demo\"\nlr = [1e-3, 3e-3]\nn_lr_warmup = 50\nn_sparsity_warmup = 50\n\n[sae]\nsparsity_coeff = [2e-2, 5e-2]\nexp_factor = [4, 8]\nnormalize_w_dec = true\nremove_parallel_grads = true\n\n[data]\nscale_mean = true\nscale_norm = true\n";
const PROBE_SWEEP: &str = include_str!("../../../../configs/probe/sweep.toml");

/// Sizes of one run.
struct Plan {
    demo: bool,
    quick: bool,
    out: PathBuf,
    d_vit: usize,
    /// Seconds each stage is expected to take (for the progress lines).
    expected: Vec<(&'static str, f64)>,
}

/// One stage's record.
struct Stages {
    dir: PathBuf,
    n: usize,
    k: usize,
    start: Instant,
    log: Vec<Value>,
}

impl Stages {
    fn run(
        &mut self,
        name: &str,
        expected_s: f64,
        f: impl FnOnce() -> anyhow::Result<Value>,
    ) -> anyhow::Result<Value> {
        self.k += 1;
        let done = self.dir.join(format!("{name}.json"));
        let head = format!("[{}/{}] {name}", self.k, self.n);
        if let Some(v) = std::fs::read(&done)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        {
            println!(
                "{head}: done earlier ({:.0} s then), skipped",
                v["seconds"].as_f64().unwrap_or(0.0)
            );
            self.log.push(v.clone());
            return Ok(v["outputs"].clone());
        }
        println!(
            "{head}: started (expected about {}; {:.0} s elapsed in all)",
            human(expected_s),
            self.start.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        let outputs = f().map_err(|e| anyhow::anyhow!("stage {name}: {e:#}"))?;
        let secs = t.elapsed().as_secs_f64();
        let rec = json!({"stage": name, "seconds": secs, "expected_seconds": expected_s, "outputs": outputs});
        std::fs::create_dir_all(&self.dir)?;
        saev_visuals::output::write_atomic(&done, serde_json::to_string_pretty(&rec)?.as_bytes())?;
        println!("{head}: done in {}", human(secs));
        self.log.push(rec);
        Ok(outputs)
    }
}

fn human(s: f64) -> String {
    if s < 90.0 {
        format!("{s:.0} s")
    } else if s < 5400.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

fn p(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Run `saev <args>` here, returning the command line as a string for the record.
fn saev(args: &[String]) -> anyhow::Result<String> {
    let mut argv = vec!["saev".to_string()];
    argv.extend_from_slice(args);
    let line = argv.join(" ");
    println!("  $ {line}");
    crate::run_argv(&argv)?;
    Ok(line)
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// The only `<hash>/` store directory `saev activations` made under `dump_to`.
fn store_in(dump_to: &Path) -> anyhow::Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dump_to)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("metadata.json").is_file())
        .collect();
    dirs.sort();
    dirs.pop()
        .ok_or_else(|| anyhow::anyhow!("{}: no shard store", dump_to.display()))
}

/// Width of the model's residual stream.
fn model_width(ckpt: &str, model_dir: Option<&Path>) -> anyhow::Result<usize> {
    let files = saev_vit::resolve_model(ckpt, model_dir)?;
    let vit =
        saev_vit::load_pretrained::<burn::backend::Flex>(&files, &burn::backend::flex::FlexDevice)?;
    Ok(vit.config.width)
}

/// Free bytes on the file system holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a zeroed struct for the call to fill.
    (unsafe { libc::statvfs(c.as_ptr(), &mut st) } == 0)
        .then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

/// The SAE the rest of the run uses, by the rule of docs/reproduce.md:
/// among runs whose L0 is at most `d_vit / 4` and that have no more than
/// 25% dead latents, the highest explained variance; if none qualifies, the
/// lowest L0.
pub fn choose_run(
    runs: &[(PathBuf, Value)],
    d_vit: usize,
) -> Option<(PathBuf, Value, &'static str)> {
    let num = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let ok = |v: &Value| {
        let s = v["freqs"].as_array().map_or(1, Vec::len) as f64;
        num(v, "l0") <= d_vit as f64 / 4.0 && num(v, "n_dead") <= 0.25 * s
    };
    let best = runs
        .iter()
        .filter(|(_, v)| ok(v))
        .max_by(|a, b| num(&a.1, "explained_variance").total_cmp(&num(&b.1, "explained_variance")));
    match best {
        Some((d, v)) => Some((
            d.clone(),
            v.clone(),
            "highest explained variance among runs with L0 <= d_vit/4 and <= 25% dead latents",
        )),
        None => runs
            .iter()
            .min_by(|a, b| num(&a.1, "l0").total_cmp(&num(&b.1, "l0")))
            .map(|(d, v)| {
                (
                    d.clone(),
                    v.clone(),
                    "no run met L0 <= d_vit/4 with <= 25% dead latents: lowest L0",
                )
            }),
    }
}

impl ReproduceArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let demo = match (&self.imagenet, &self.flowers) {
            (None, None) => true,
            (Some(_), Some(_)) => false,
            _ => anyhow::bail!(
                "give both --imagenet and --flowers for the real run, or neither for the demo"
            ),
        };
        let out = self
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from(if demo { "demo" } else { "reproduce" }));
        std::fs::create_dir_all(&out)?;
        let out = std::fs::canonicalize(&out)?;
        let device = match self.device.available() {
            Device::Cuda => "cuda",
            Device::Cpu => "cpu",
        };
        let d_vit = if demo {
            64
        } else {
            model_width(&self.model_ckpt, self.model_dir.as_deref())?
        };
        let gpu = device == "cuda";
        let expected: Vec<(&str, f64)> = if demo {
            let q = if self.quick { 0.35 } else { 1.0 };
            vec![
                ("world", 5.0 * q),
                ("pretrain", 80.0 * q),
                ("record-pretrain", 8.0 * q),
                ("train-saes", 60.0 * q),
                ("visuals", 20.0 * q),
                ("flowers", 1.0),
                ("record-flowers", 4.0 * q),
                ("probe", 20.0 * q),
                ("steer", 5.0 * q),
            ]
        } else {
            // ImageNet-1K train on ViT-B/16: CPU figures from docs/performance.md (7.6 images/s), GPU rough.
            vec![
                ("record-pretrain", if gpu { 3600.0 } else { 1.28e6 / 7.6 }),
                (
                    "train-saes",
                    if gpu {
                        6.0 * 3600.0
                    } else {
                        24.0 * 1e8 / 3000.0
                    },
                ),
                ("visuals", if gpu { 600.0 } else { 1.28e6 / 11000.0 }),
                ("flowers", 120.0),
                ("record-flowers", if gpu { 60.0 } else { 8189.0 / 7.6 }),
                ("probe", 60.0),
                ("steer", 120.0),
            ]
        };
        let plan = Plan {
            demo,
            quick: self.quick,
            out: out.clone(),
            d_vit,
            expected,
        };
        if !demo && !self.no_disk_check {
            self.check_disk(&plan)?;
        }
        println!(
            "saev reproduce: {} run in {} ({} stages, device {device})",
            if demo {
                if self.quick {
                    "quick demo"
                } else {
                    "demo"
                }
            } else {
                "real"
            },
            out.display(),
            plan.expected.len()
        );
        let mut st = Stages {
            dir: out.join("stages"),
            n: plan.expected.len(),
            k: 0,
            start: Instant::now(),
            log: Vec::new(),
        };
        let exp = |name: &str| {
            plan.expected
                .iter()
                .find(|e| e.0 == name)
                .map_or(0.0, |e| e.1)
        };
        let q = self.quick;

        // 1-2 (demo): the world and its ViT.
        let (pre_imgs, flowers_root, model_ckpt) = if demo {
            let world = out.join("world");
            let (n_pre, n_fl) = if q {
                (40, (12, 6, 12))
            } else {
                (80, (20, 10, 20))
            };
            st.run("world", exp("world"), || {
                use saev_demo::world::{write_set, Set};
                let a = write_set(&world.join("pretrain"), Set::Pretrain, n_pre, 32, 1)?;
                let b = write_set(&world.join("flowers/train"), Set::Flowers, n_fl.0, 32, 2)?;
                let c = write_set(&world.join("flowers/val"), Set::Flowers, n_fl.1, 32, 3)?;
                let d = write_set(&world.join("flowers/test"), Set::Flowers, n_fl.2, 32, 4)?;
                Ok(json!({"pretrain_images": a, "flowers": {"train": b, "val": c, "test": d}, "classes": {"pretrain": 24, "flowers": 12}}))
            })?;
            let vit_dir = out.join("models/demo-vit");
            st.run("pretrain", exp("pretrain"), || {
                let cfg = saev_demo::pretrain::PretrainConfig {
                    epochs: if q { 4 } else { 10 },
                    ..Default::default()
                };
                let log =
                    saev_demo::pretrain::pretrain(&world.join("pretrain"), &vit_dir, &cfg, |e| {
                        println!(
                            "  epoch {}: loss {:.3}, train accuracy {:.1}%",
                            e.epoch,
                            e.loss,
                            100.0 * e.train_acc
                        )
                    })
                    .map_err(anyhow::Error::msg)?;
                Ok(json!({"config": cfg, "epochs": log, "model": vit_dir}))
            })?;
            (world.join("pretrain"), world.join("flowers"), p(&vit_dir))
        } else {
            (
                self.imagenet.clone().expect("real run"),
                self.flowers.clone().expect("real run"),
                self.model_ckpt.clone(),
            )
        };
        let d = d_vit.to_string();
        let mut model_args = args(&[
            "--model-ckpt",
            &model_ckpt,
            "--d-vit",
            &d,
            "--device",
            device,
        ]);
        if let Some(md) = &self.model_dir {
            model_args.extend(args(&["--model-dir", &p(md)]));
        }

        // Pretraining-set [CLS] activations at layer -2.
        let pre_dump = out.join("shards/pretrain");
        let rec = st.run("record-pretrain", exp("record-pretrain"), || {
            let mut a = args(&[
                "activations",
                "--dump-to",
                &p(&pre_dump),
                "--n-patches-per-img",
                "0",
                "--layers",
                "-2",
            ]);
            a.extend(model_args.clone());
            if demo {
                a.extend(args(&[
                    "--vit-batch-size",
                    "64",
                    "data:image-folder-dataset",
                    "--data.root",
                    &p(&pre_imgs),
                ]));
            } else {
                a.extend(args(&[
                    "data:imagenet-dataset",
                    "--data.root",
                    &p(&pre_imgs),
                    "--data.split",
                    "train",
                ]));
            }
            let cmd = saev(&a)?;
            let store = store_in(&pre_dump)?;
            let n_imgs = saev_shards::Store::open(&store)?.metadata().n_imgs;
            Ok(json!({"command": cmd, "store": store, "n_imgs": n_imgs}))
        })?;
        let pre_store = PathBuf::from(rec["store"].as_str().unwrap_or_default());

        // The SAE sweep, then one checkpoint by the documented rule.
        let ckpts = out.join("checkpoints/saes");
        let trained = st.run("train-saes", exp("train-saes"), || {
            let sweep = match (&self.sweep, demo) {
                (Some(s), _) => std::fs::read_to_string(s)?,
                (None, true) => DEMO_SWEEP.to_string(),
                (None, false) => PREPRINT_SWEEP.to_string(),
            };
            let sweep_path = out.join("sweep.toml");
            std::fs::write(&sweep_path, &sweep)?;
            let n_patches = self.n_patches.unwrap_or(if demo { if q { 120_000 } else { 400_000 } } else { 100_000_000 });
            // saev's 16,384, or the whole store when it is smaller (stand-in data).
            let n_pre = rec["n_imgs"].as_u64().unwrap_or(u64::MAX);
            let batch = if demo { 512 } else { 16_384.min(n_pre) }.to_string();
            let batch = batch.as_str();
            // Runs interrupted earlier continue from their checkpoints.
            let earlier: Vec<PathBuf> = std::fs::read_dir(&ckpts).map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.join("state.safetensors").is_file() && !p.join("eval.json").is_file()).collect()).unwrap_or_default();
            let cmd = if earlier.is_empty() {
                saev(&args(&[
                    "train", "--sweep", &p(&sweep_path), "--data.shard-root", &p(&pre_store), "--data.patches", "cls",
                    "--data.layer", "-2", "--sae.d-vit", &d, "--n-patches", &n_patches.to_string(), "--sae-batch-size", batch,
                    "--ckpt-path", &p(&ckpts), "--device", device, "--log-every", if demo { "5" } else { "25" },
                    "--sae.n-reinit-samples", if demo { "4096" } else { "524288" },
                ]))?
            } else {
                let mut a = args(&["train", "--resume"]);
                a.extend(earlier.iter().map(|p| p.to_string_lossy().into_owned()));
                saev(&a)?
            };
            let mut runs = Vec::new();
            for e in std::fs::read_dir(&ckpts)? {
                let dir = e?.path();
                if let Ok(b) = std::fs::read(dir.join("eval.json")) {
                    runs.push((dir, serde_json::from_slice::<Value>(&b)?));
                }
            }
            runs.sort_by(|a, b| a.0.cmp(&b.0));
            let (best, eval, why) = choose_run(&runs, d_vit).ok_or_else(|| anyhow::anyhow!("no SAE finished"))?;
            let table: Vec<Value> = runs
                .iter()
                .map(|(dir, v)| {
                    let cfg: Value = std::fs::read(dir.join("cfg.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
                    json!({"run": dir.file_name().map(|n| n.to_string_lossy().into_owned()), "lr": cfg["lr"], "sparsity_coeff": cfg["sae"]["sparsity_coeff"], "exp_factor": cfg["sae"]["exp_factor"],
                           "l0": v["l0"], "explained_variance": v["explained_variance"], "mse": v["mse"], "n_dead": v["n_dead"], "n_dense": v["n_dense"]})
                })
                .collect();
            Ok(json!({"command": cmd, "runs": table, "chosen": best, "rule": why, "chosen_eval": {"l0": eval["l0"], "explained_variance": eval["explained_variance"], "n_dead": eval["n_dead"]}}))
        })?;
        let sae_dir = PathBuf::from(trained["chosen"].as_str().unwrap_or_default());
        let sae = sae_dir.join("sae.safetensors");

        // Visuals of the chosen SAE on the pretraining images: `saev visuals`
        // with `middle` between the shared flags and the images subcommand.
        let feats = out.join("features");
        let visuals_cmd = |middle: Vec<String>| -> Vec<String> {
            let mut a = args(&[
                "visuals",
                "--ckpt",
                &p(&sae),
                "--dump-to",
                &p(&feats),
                "--sort-by",
                "cls",
                "--data.shard-root",
                &p(&pre_store),
                "--data.layer",
                "-2",
                "--data.patches",
                "cls",
                "--top-k",
                if demo { "16" } else { "128" },
            ]);
            a.extend(middle);
            let images = if demo {
                "images:image-folder-dataset"
            } else {
                "images:imagenet-dataset"
            };
            a.extend(args(&[images, "--images.root", &p(&pre_imgs)]));
            a
        };
        st.run("visuals", exp("visuals"), || {
            let (freq, value, n) = if demo {
                (["-3", "0"], ["-2", "2"], "48")
            } else {
                (["-2.5", "-1.5"], ["0.0", "1.0"], "400")
            };
            let a = visuals_cmd(args(&[
                "--log-freq-range",
                freq[0],
                freq[1],
                "--log-value-range",
                value[0],
                value[1],
                "--n-latents",
                n,
            ]));
            Ok(json!({"command": saev(&a)?, "root": feats.join("sort_by_cls")}))
        })?;

        // Flowers-102 class folders.
        let fl = st.run("flowers", exp("flowers"), || {
            if flowers_root.join("train").is_dir() && flowers_root.join("test").is_dir() {
                return Ok(json!({"root": flowers_root}));
            }
            let cmd = saev(&args(&[
                "datasets",
                "flowers102",
                "--dir",
                &p(&flowers_root),
            ]))?;
            Ok(json!({"command": cmd, "root": flowers_root}))
        })?;
        let fl_root = PathBuf::from(fl["root"].as_str().unwrap_or_default());

        // Flowers [CLS] activations per split.
        let fl_stores = st.run("record-flowers", exp("record-flowers"), || {
            let mut stores = serde_json::Map::new();
            let mut cmds = Vec::new();
            for split in ["train", "val", "test"] {
                let dump = out.join(format!("shards/flowers-{split}"));
                let mut a = args(&[
                    "activations",
                    "--dump-to",
                    &p(&dump),
                    "--n-patches-per-img",
                    "0",
                    "--layers",
                    "-2",
                ]);
                a.extend(model_args.clone());
                if demo {
                    a.extend(args(&["--vit-batch-size", "64"]));
                }
                a.extend(args(&[
                    "data:image-folder-dataset",
                    "--data.root",
                    &p(&fl_root.join(split)),
                ]));
                cmds.push(saev(&a)?);
                stores.insert(split.into(), json!(store_in(&dump)?));
            }
            Ok(json!({"commands": cmds, "stores": stores}))
        })?;
        let fs =
            |split: &str| PathBuf::from(fl_stores["stores"][split].as_str().unwrap_or_default());

        // The probe sweep in the SAE's space.
        let probe_logs = out.join("logs/probe");
        let probe = st.run("probe", exp("probe"), || {
            let sweep = out.join("probe-sweep.toml");
            std::fs::write(&sweep, PROBE_SWEEP)?;
            let cmd = saev(&args(&[
                "probe",
                "train",
                "--train-acts.shard-root",
                &p(&fs("train")),
                "--val-acts.shard-root",
                &p(&fs("val")),
                "--test-acts.shard-root",
                &p(&fs("test")),
                "--train-imgs.root",
                &p(&fl_root.join("train")),
                "--val-imgs.root",
                &p(&fl_root.join("val")),
                "--test-imgs.root",
                &p(&fl_root.join("test")),
                "--sweep",
                &p(&sweep),
                "--sae",
                &p(&sae),
                "--ckpt-path",
                &p(&out.join("checkpoints/probes")),
                "--log-to",
                &p(&probe_logs),
            ]))?;
            let best: Value =
                serde_json::from_slice(&std::fs::read(probe_logs.join("best.json"))?)?;
            Ok(json!({"command": cmd, "best": best}))
        })?;
        let probe_ckpt = probe["best"]["ckpt"]
            .as_str()
            .unwrap_or_default()
            .to_string();

        // The flip-rate experiment.
        let steer_out = out.join("logs/steer");
        // "Rare" is relative to the world: ImageNet has 1,000 classes, the demo 24,
        // where one shape or colour is in a sixth of the images.
        let max_freq = self
            .max_freq
            .unwrap_or(if demo { 0.25 } else { 0.01 })
            .to_string();
        let max_freq = max_freq.as_str();
        let steer = st.run("steer", exp("steer"), || {
            let cmd = saev(&args(&[
                "steer",
                "eval",
                "--sae",
                &p(&sae),
                "--probe",
                &probe_ckpt,
                "--visuals",
                &p(&feats.join("sort_by_cls")),
                "--max-freq",
                max_freq,
                "--train-acts.shard-root",
                &p(&fs("train")),
                "--train-imgs.root",
                &p(&fl_root.join("train")),
                "--test-acts.shard-root",
                &p(&fs("test")),
                "--test-imgs.root",
                &p(&fl_root.join("test")),
                "--out",
                &p(&steer_out),
            ]))?;
            let summary: Value =
                serde_json::from_slice(&std::fs::read(steer_out.join("steer_summary.json"))?)?;
            // Pictures for every proposed latent, so the dashboard shows what
            // each slider means (the visuals pass is reused; only drawing).
            let mut latents: Vec<String> = summary["class_latents"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|c| c.as_array().cloned().unwrap_or_default())
                .map(|l| l.to_string())
                .collect();
            latents.sort();
            latents.dedup();
            if !latents.is_empty() {
                let mut middle = args(&["--include-latents"]);
                middle.extend(latents);
                middle.extend(args(&["--n-latents", "0"]));
                let a = visuals_cmd(middle);
                saev(&a)?;
            }
            Ok(json!({"command": cmd, "summary": summary}))
        })?;

        let dashboard = format!(
            "saev serve steer --sae {} --probe {} --visuals {} --max-freq {max_freq} --acts {} --imgs {} --train-acts {} --train-imgs {}",
            p(&sae), probe_ckpt, p(&feats.join("sort_by_cls")), p(&fs("test")), p(&fl_root.join("test")), p(&fs("train")), p(&fl_root.join("train"))
        );
        let browser = format!("saev serve {}", p(&feats));
        let report = crate::cmd::report::write(
            &out,
            &plan_json(&plan, &self),
            &st.log,
            &sae_dir,
            &dashboard,
            &browser,
        )?;
        let total = st.start.elapsed().as_secs_f64();
        println!("\nall stages done in {} (this session)", human(total));
        let class8 = steer["summary"]["summary"].as_array().and_then(|a| {
            a.iter()
                .find(|r| r["kind"] == "class" && r["scale"].as_f64() == Some(4.0))
                .cloned()
        });
        let rand8 = steer["summary"]["summary"].as_array().and_then(|a| {
            a.iter()
                .find(|r| r["kind"] == "random" && r["scale"].as_f64() == Some(4.0))
                .cloned()
        });
        if let (Some(c), Some(r)) = (class8, rand8) {
            println!(
                "steering at 4x max activation: class latents flip {:.1}% of predictions, random latents {:.1}%",
                100.0 * c["flip_rate"].as_f64().unwrap_or(0.0),
                100.0 * r["flip_rate"].as_f64().unwrap_or(0.0)
            );
        }
        println!(
            "probe: test accuracy {:.1}%",
            100.0 * probe["best"]["test_acc"].as_f64().unwrap_or(f64::NAN)
        );
        println!("report: {}", report.display());
        println!("dashboard: {dashboard}");
        println!("feature browser: {browser}");
        Ok(ExitCode::SUCCESS)
    }

    /// Refuse to start when the disk cannot hold the run.
    fn check_disk(&self, plan: &Plan) -> anyhow::Result<()> {
        let n_img = 1_281_167f64;
        let d = plan.d_vit as f64;
        let shards = (n_img + 8189.0) * d * 4.0;
        // The preprint sweep: 24 SAEs, S = 16 D or 32 D, weights + optimizer state (4 copies).
        let saes = 12.0 * (16.0 + 32.0) * d * d * 2.0 * 4.0 * 4.0;
        let visuals = 400.0 * 128.0 * 250e3 + 2.0 * 32.0 * d * 128.0 * 12.0;
        let need = (shards + saes + visuals) * 1.1;
        if let Some(free) = free_bytes(&plan.out) {
            println!(
                "disk: about {:.0} GB needed, {:.0} GB free in {}",
                need / 1e9,
                free as f64 / 1e9,
                plan.out.display()
            );
            if (free as f64) < need {
                anyhow::bail!(
                    "{} has {:.0} GB free but the run needs about {:.0} GB (shards {:.0}, SAEs {:.0}, visuals {:.0}); free space, choose another --out, or pass --no-disk-check",
                    plan.out.display(), free as f64 / 1e9, need / 1e9, shards / 1e9, saes / 1e9, visuals / 1e9
                );
            }
        }
        Ok(())
    }
}

fn plan_json(plan: &Plan, a: &ReproduceArgs) -> Value {
    json!({
        "demo": plan.demo, "quick": plan.quick, "out": plan.out, "d_vit": plan.d_vit,
        "imagenet": a.imagenet, "flowers": a.flowers, "model_ckpt": if plan.demo { "generated demo ViT".to_string() } else { a.model_ckpt.clone() },
        "device": format!("{:?}", a.device).to_lowercase(),
    })
}
