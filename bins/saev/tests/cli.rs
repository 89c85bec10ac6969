//! The `saev` binary end to end: flags in saev's spelling, exit codes, JSON output.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn saev(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_saev"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// As [`saev`], with info logs and a progress line at every update (stderr
/// is a pipe here, so progress comes as log lines, not a bar).
fn saev_logged(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_saev"))
        .args(args)
        .env("RUST_LOG", "info")
        .env("SAEV_PROGRESS_SECS", "0")
        .output()
        .unwrap()
}

fn stdout_json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The store written by saev's own ShardWriter (see crates/saev-shards/tests/golden).
fn saev_store() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/saev-shards/tests/golden/full/1b18c8bc6d7b7ebe1a426e73917f478ba15e0243d6af09009c6d66e4e388cd50")
}

#[test]
fn inspect_summarizes_a_saev_store() {
    let v = stdout_json(&saev(&[
        "shards",
        "inspect",
        saev_store().to_str().unwrap(),
    ]));
    assert_eq!(v["metadata"]["layers"], serde_json::json!([3, -2]));
    assert_eq!(v["n_shards"], 3);
    assert_eq!(v["n_tokens"], 5);
    assert_eq!(v["hash_matches_dir"], true);
    assert!(
        v["complete"].is_null(),
        "saev stores carry no progress record"
    );
    let views = v["views"].as_array().unwrap();
    assert!(views
        .iter()
        .any(|w| w["patches"] == "patches" && w["layer"] == "-2" && w["len"] == 44));
}

#[test]
fn verify_passes_good_stores_and_fails_bad_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("store");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(saev_store()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    let v = stdout_json(&saev(&["shards", "verify", copy.to_str().unwrap()]));
    assert_eq!(v["problems"], serde_json::json!([]));

    // Poison one value: verify reports it and exits non-zero.
    let shard = copy.join("acts000002.bin");
    let mut bytes = std::fs::read(&shard).unwrap();
    bytes[8..12].copy_from_slice(&f32::INFINITY.to_le_bytes());
    std::fs::write(&shard, bytes).unwrap();
    let out = saev(&["shards", "verify", copy.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("acts000002.bin: 1 NaN or Inf"), "{stderr}");
}

#[test]
fn bench_accepts_saev_flags_and_prints_rates() {
    let root = saev_store();
    let v = stdout_json(&saev(&[
        "shards",
        "bench",
        "--data.shard-root",
        root.to_str().unwrap(),
        "--data.patches",
        "cls",
        "--data.layer",
        "-2",
        "--batch-size",
        "4",
        "--seconds",
        "0.2",
        "--data.scale-mean",
        "False",
    ]));
    assert_eq!(v["patches"], "cls");
    assert_eq!(v["layer"], "-2");
    assert_eq!(v["examples"], 11);
    for stream in ["shuffled", "ordered", "sequential_read"] {
        assert!(
            v[stream]["examples_per_s"].as_f64().unwrap() > 0.0,
            "{stream}"
        );
    }
}

#[test]
fn bad_flags_and_stores_give_clear_errors() {
    let out = saev(&[
        "shards",
        "bench",
        saev_store().to_str().unwrap(),
        "--data.layer",
        "7",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("layer 7 is not recorded"), "{stderr}");

    let out = saev(&["shards", "inspect", "/nonexistent/store"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/store"));
}

#[test]
fn killed_recording_resumes_to_identical_files() {
    let tmp = tempfile::tempdir().unwrap();
    let args = |dir: &Path| -> Vec<String> {
        [
            "shards",
            "synth",
            "--dump-to",
            dir.to_str().unwrap(),
            "--n-imgs",
            "40",
            "--d-vit",
            "16",
            "--n-patches-per-img",
            "4",
            "--layers",
            "-2",
            "6",
            "--n-patches-per-shard",
            "100",
            "--images-per-batch",
            "3",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let clean = tmp.path().join("clean");
    let status = Command::new(env!("CARGO_BIN_EXE_saev"))
        .args(args(&clean))
        .output()
        .unwrap();
    assert!(status.status.success());

    let crashed = tmp.path().join("crashed");
    let out = Command::new(env!("CARGO_BIN_EXE_saev"))
        .args(args(&crashed))
        .env("SAEV_TEST_ABORT_AFTER_IMAGES", "17")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the process was meant to die");
    let store = std::fs::read_dir(&crashed)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let v = stdout_json(&saev(&["shards", "inspect", store.to_str().unwrap()]));
    assert_eq!(
        (v["complete"].clone(), v["n_imgs_written"].clone()),
        (serde_json::json!(false), serde_json::json!(18))
    );
    let out = saev(&["shards", "verify", store.to_str().unwrap()]);
    assert!(!out.status.success(), "an unfinished store does not verify");

    let again = Command::new(env!("CARGO_BIN_EXE_saev"))
        .args(args(&crashed))
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let clean_store = std::fs::read_dir(&clean)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(store.file_name(), clean_store.file_name());
    let n_shards = stdout_json(&saev(&["shards", "inspect", store.to_str().unwrap()]))["n_shards"]
        .as_u64()
        .unwrap();
    assert_eq!(n_shards, 4); // 100 / 2 layers / 5 tokens = 10 images per shard
    for shard in 0..n_shards {
        let name = format!("acts{shard:06}.bin");
        assert!(
            std::fs::read(store.join(&name)).unwrap()
                == std::fs::read(clean_store.join(&name)).unwrap(),
            "{name}"
        );
    }
    assert_eq!(
        stdout_json(&saev(&["shards", "verify", store.to_str().unwrap()]))["problems"],
        serde_json::json!([])
    );
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn activations_accepts_the_seed_command_and_records_a_valid_store() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("flowers/train");
    std::fs::create_dir_all(images.join("1")).unwrap();
    std::fs::create_dir_all(images.join("2")).unwrap();
    for (i, name) in ["landscape.jpg", "portrait.png", "small.jpg"]
        .iter()
        .enumerate()
    {
        let class = if i == 0 { "1" } else { "2" };
        std::fs::copy(
            repo().join("fixtures/clip/images").join(name),
            images.join(class).join(name),
        )
        .unwrap();
    }
    let dump_to = tmp.path().join("cache");
    let ckpt = repo().join("fixtures/clip/tiny-openclip");
    // The seed's command, with the program name changed (and the fixture tower).
    let out = saev(&[
        "activations",
        "--model-family",
        "clip",
        "--model-ckpt",
        ckpt.to_str().unwrap(),
        "--d-vit",
        "64",
        "--n-patches-per-img",
        "196",
        "--layers",
        "-2",
        "--dump-to",
        dump_to.to_str().unwrap(),
        "--n-patches-per-shard",
        "2_4000_000",
        "--device",
        "cpu",
        "--vit-batch-size",
        "2",
        "data:image-folder-dataset",
        "--data.root",
        images.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("images:   3 (3 recorded now"), "{stdout}");
    let store = std::fs::read_dir(&dump_to)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let v = stdout_json(&saev(&["shards", "inspect", store.to_str().unwrap()]));
    assert_eq!(v["hash_matches_dir"], true);
    assert_eq!(v["metadata"]["n_patches_per_shard"], 24_000_000);
    assert_eq!(
        v["metadata"]["data"],
        format!("ImageFolderDataset(root='{}')", images.display())
    );
    assert_eq!(
        stdout_json(&saev(&["shards", "verify", store.to_str().unwrap()]))["problems"],
        serde_json::json!([])
    );
    let labels: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(store.join("labels.json")).unwrap()).unwrap();
    assert_eq!(labels["classes"], serde_json::json!(["1", "2"]));
    assert_eq!(labels["targets"], serde_json::json!([0, 1, 1]));

    // A missing model says where to put it.
    let out = saev(&[
        "activations",
        "--model-ckpt",
        "ViT-B-16/openai",
        "--model-dir",
        tmp.path().to_str().unwrap(),
        "--d-vit",
        "768",
        "--n-patches-per-img",
        "196",
        "--device",
        "cpu",
        "data:image-folder-dataset",
        "--data.root",
        images.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("open_clip_model.safetensors")
            && stderr.contains("vit_base_patch16_clip_224.openai"),
        "{stderr}"
    );
}

#[test]
fn flowers102_turns_the_official_files_into_class_folders() {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["102flowers.tgz", "imagelabels.mat", "setid.mat"] {
        std::fs::copy(
            repo().join("fixtures/flowers102").join(f),
            tmp.path().join(f),
        )
        .unwrap();
    }
    let out = saev(&[
        "datasets",
        "flowers102",
        "--dir",
        tmp.path().to_str().unwrap(),
        "--no-download",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("train 6 / val 3 / test 3 images in 3 classes"));
    assert!(tmp.path().join("val/2/image_00007.jpg").is_file());
    assert!(tmp.path().join("test/3/image_00012.jpg").is_file());
}

#[test]
fn train_runs_a_sweep_on_shared_batches() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("shards");
    let out = saev(&[
        "shards",
        "synth",
        "--dump-to",
        store.to_str().unwrap(),
        "--n-imgs",
        "600",
        "--n-patches-per-img",
        "0",
        "--d-vit",
        "8",
    ]);
    assert!(out.status.success());
    let sweep = tmp.path().join("sweep.toml");
    std::fs::write(
        &sweep,
        "lr = [1e-3, 3e-3]\nn_lr_warmup = 2\n\n[sae]\nexp_factor = [2, 4]\n",
    )
    .unwrap();
    let ckpt = tmp.path().join("ckpt");
    let out = saev_logged(&[
        "train",
        "--sweep",
        sweep.to_str().unwrap(),
        "--data.shard-root",
        store.to_str().unwrap(),
        "--data.patches",
        "cls",
        "--data.layer",
        "-2",
        "--sae.d-vit",
        "8",
        "--n-patches",
        "2_000",
        "--sae-batch-size",
        "100",
        "--log-every",
        "5",
        "--ckpt-path",
        ckpt.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Not a terminal: progress as log lines with counts, rate and time left.
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("train: ") && l.contains(" examples ("))
        .unwrap_or("");
    assert!(
        line.contains("/2000 examples (") && line.contains("elapsed"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 SAEs in 1 group(s)"));
    let runs: Vec<PathBuf> = std::fs::read_dir(&ckpt)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 4);
    let mut widths = Vec::new();
    for run in runs {
        for f in [
            "sae.safetensors",
            "cfg.json",
            "metrics.jsonl",
            "eval.json",
            "normalization.safetensors",
            "loss.png",
        ] {
            assert!(run.join(f).is_file(), "{} lacks {f}", run.display());
        }
        // Finished: the optimizer state is gone, the weights stay.
        assert!(!run.join("checkpoint.safetensors").exists());
        let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
        assert_eq!(metrics.lines().count(), 4); // 20 steps, one line every 5
        let eval: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
        assert_eq!(eval["n_examples"], 600);
        widths.push(eval["freqs"].as_array().unwrap().len());
    }
    widths.sort();
    assert_eq!(widths, [16, 16, 32, 32]);
}

fn run_dirs(ckpt: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(ckpt)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn train_topk_with_auxk_resumes_to_the_weights_of_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let store = PathBuf::from(common::tiny_store(tmp.path()));
    let train = |ckpt: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "train",
            "--data.shard-root",
            store.to_str().unwrap(),
            "--data.patches",
            "cls",
            "--sae.d-vit",
            "8",
            "--sae.exp-factor",
            "4",
            "--sae.activation",
            "topk",
            "--sae.top-k",
            "3",
            "--sae.dead-after",
            "300",
            "--objective",
            "matryoshka",
            "--objective.n-prefixes",
            "3",
            "--n-patches",
            "3_000",
            "--sae-batch-size",
            "100",
            "--log-every",
            "5",
            "--ckpt-every",
            "5",
            "--lr",
            "3e-3",
            "--n-lr-warmup",
            "3",
            "--ckpt-path",
            ckpt.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = saev(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let whole = tmp.path().join("whole");
    train(&whole, &[]);
    let cut = tmp.path().join("cut");
    let out = train(&cut, &["--stop-after", "12"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("stopped at step 12"));
    let dir = run_dirs(&cut).pop().unwrap();
    assert!(!dir.join("eval.json").exists());
    let out = saev_logged(&["train", "--resume", dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("resuming 1 run(s) at step 10 of 30"));
    let a = std::fs::read(run_dirs(&whole)[0].join("sae.safetensors")).unwrap();
    let b = std::fs::read(dir.join("sae.safetensors")).unwrap();
    assert!(a == b, "resumed weights differ from the uninterrupted run");
    let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> = metrics
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(steps, [4, 9, 14, 19, 24, 29]);
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("eval.json")).unwrap()).unwrap();
    assert!((eval["l0"].as_f64().unwrap() - 3.0).abs() < 1e-9, "{eval}");
}

#[test]
fn sae_convert_reads_saev_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let pt = repo().join("crates/saev-sae/tests/golden/saev_sae.pt");
    let to = tmp.path().join("sae.safetensors");
    let out = saev(&[
        "sae",
        "convert",
        "--from",
        pt.to_str().unwrap(),
        "--to",
        to.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = saev(&["sae", "inspect", to.to_str().unwrap()]);
    let v = stdout_json(&out);
    assert_eq!(v["d_sae"], 16);
    assert_eq!(v["cfg"]["seed"], 7);
}

/// Class folders of small generated PPM images: `n` per class, each class
/// its own colour, with a checkerboard that moves from image to image.
fn image_folder(dir: &std::path::Path, classes: &[(&str, [u8; 3])], n: usize) {
    for (c, (name, rgb)) in classes.iter().enumerate() {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..n {
            let (w, h) = (48usize, 40usize);
            let mut px = Vec::with_capacity(w * h * 3);
            for y in 0..h {
                for x in 0..w {
                    let on = (x / 8 + y / 8 + i + c) % 2 == 0;
                    px.extend(rgb.iter().map(|&v| if on { v } else { v / 2 }));
                }
            }
            let mut bytes = format!("P6\n{w} {h}\n255\n").into_bytes();
            bytes.extend(px);
            std::fs::write(d.join(format!("{i}.ppm")), bytes).unwrap();
        }
    }
}

/// GET `path` from a local server: (status code, body).
fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (code, body)
}

fn chromium() -> Option<String> {
    let candidates = [
        std::env::var("CHROMIUM").unwrap_or_default(),
        "chromium".into(),
        "chromium-browser".into(),
        "google-chrome".into(),
    ];
    candidates.into_iter().filter(|c| !c.is_empty()).find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Red, green and blue classes of `n` generated images each, recorded with
/// the tiny fixture tower at layer -2 (`n_patches` patches per image).
fn recorded_world(dir: &std::path::Path, n: usize, n_patches: &str) -> (PathBuf, PathBuf) {
    let imgs = dir.join("imgs");
    let colours = [
        ("red", [220, 40, 40]),
        ("green", [40, 200, 60]),
        ("blue", [40, 60, 220]),
    ];
    image_folder(&imgs, &colours, n);
    let shards = dir.join("shards");
    let tower = repo().join("fixtures/clip/tiny-openclip");
    let out = saev(&[
        "activations",
        "--model-ckpt",
        tower.to_str().unwrap(),
        "--d-vit",
        "64",
        "--n-patches-per-img",
        n_patches,
        "--layers",
        "-2",
        "--dump-to",
        shards.to_str().unwrap(),
        "--device",
        "cpu",
        "--vit-batch-size",
        "6",
        "data:image-folder-dataset",
        "--data.root",
        imgs.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = std::fs::read_dir(&shards)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    (imgs, store)
}

#[test]
fn visuals_and_the_feature_browser_on_a_recorded_store() {
    let tmp = tempfile::tempdir().unwrap();
    let (imgs, store) = recorded_world(tmp.path(), 5, "196");
    let ckpt = tmp.path().join("ckpt");
    let out = saev(&[
        "train",
        "--data.shard-root",
        store.to_str().unwrap(),
        "--data.patches",
        "patches",
        "--sae.d-vit",
        "64",
        "--sae.exp-factor",
        "2",
        "--n-patches",
        "6_000",
        "--sae-batch-size",
        "196",
        "--n-lr-warmup",
        "2",
        "--lr",
        "1e-3",
        "--device",
        "cpu",
        "--ckpt-path",
        ckpt.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sae = run_dirs(&ckpt).pop().unwrap().join("sae.safetensors");
    let feats = tmp.path().join("feats");
    for (mode, patches) in [("patch", "patches"), ("img", "patches"), ("cls", "cls")] {
        let args = [
            "visuals",
            "--ckpt",
            sae.to_str().unwrap(),
            "--dump-to",
            feats.to_str().unwrap(),
            "--sort-by",
            mode,
            "--data.shard-root",
            store.to_str().unwrap(),
            "--data.layer",
            "-2",
            "--data.patches",
            patches,
            "--top-k",
            "4",
            "--log-freq-range",
            "-10",
            "10",
            "--include-latents",
            "7",
            "--log-value-range",
            "-10",
            "10",
            "--n-latents",
            "3",
            "images:image-folder-dataset",
            "--images.root",
            imgs.to_str().unwrap(),
        ];
        let out = saev(&args);
        assert!(
            out.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let root = feats.join(format!("sort_by_{mode}"));
        for f in [
            "topk.safetensors",
            "summary.json",
            "latents.json",
            "25_activation_distributions.png",
        ] {
            assert!(root.join(f).is_file(), "{mode}: no {f}");
        }
        let neurons: Vec<String> = std::fs::read_dir(root.join("neurons"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(neurons.len(), 4, "{neurons:?}");
        assert!(neurons.contains(&"7".to_string()));
        let meta: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.join("neurons/7/metadata.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(meta["top"].as_array().unwrap().len(), 4);
        let png = std::fs::read(root.join("neurons/7/0.png")).unwrap();
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 448);
        let label = std::fs::read_to_string(root.join("neurons/7/0.txt")).unwrap();
        assert!(
            ["red\n", "green\n", "blue\n"].contains(&label.as_str()),
            "{label:?}"
        );
        // A second run reuses the pass.
        let again = saev(&args);
        assert!(String::from_utf8_lossy(&again.stdout).contains("reusing the pass"));
    }

    // The browser: API, then the page in headless Chromium.
    let (server, addr) = serve(&["serve", feats.to_str().unwrap()]);
    let (code, body) = http_get(&addr, "/api/sources");
    assert_eq!(code, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let (code, body) = http_get(&addr, "/api/latents?source=0&sort=freq&desc=1&limit=5");
    assert_eq!(code, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["total"], 128);
    let freqs: Vec<f64> = page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["freq"].as_f64().unwrap())
        .collect();
    assert!(freqs.windows(2).all(|w| w[0] >= w[1]), "{freqs:?}");
    assert_eq!(http_get(&addr, "/api/latent?source=0&id=100000").0, 404);
    assert_eq!(http_get(&addr, "/api/latents?sort=nonsense").0, 400);
    assert_eq!(
        http_get(&addr, "/files/0/neurons/7/..%2F..%2Fsummary.json").0,
        400
    );
    let browser = chromium();
    if browser.is_none() {
        drop(server);
        assert!(
            std::env::var("SAEV_REQUIRE_BROWSER").is_err(),
            "SAEV_REQUIRE_BROWSER is set but no Chromium was found"
        );
        eprintln!(
            "SKIPPED the headless-browser half: install chromium (apt install chromium) to run it"
        );
        return;
    }
    let dom = Command::new(browser.unwrap())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=8000",
            "--dump-dom",
        ])
        .arg(format!("http://{addr}/#latent=7"))
        .output()
        .unwrap();
    drop(server);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("data-ready=\"1\""),
        "page did not finish loading:\n{dom}"
    );
    assert!(dom.contains("<h2>Latent 7</h2>"), "{dom}");
    assert_eq!(dom.matches("src=\"/files/0/neurons/7/").count(), 4, "{dom}");
    assert!(dom.contains("id=\"hist\""));
    // Rows as rendered (the page's script holds the template, with no digit after the quote).
    let rows = dom
        .match_indices("<tr data-id=\"")
        .filter(|(i, m)| dom[i + m.len()..].starts_with(|c: char| c.is_ascii_digit()))
        .count();
    assert_eq!(rows, 100, "the table shows one page of latents");
}

/// A `saev serve` process, killed when dropped (also when a test fails, so
/// it never outlives the test holding its output pipes).
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `saev serve ...` on a free port; returns the process and its address.
fn serve(args: &[&str]) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_saev"))
        .args(args)
        .args(["--port", "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .split('/')
        .next()
        .unwrap()
        .to_string();
    (Server(child), addr)
}

#[test]
fn probe_steering_evaluation_and_the_dashboard() {
    let tmp = tempfile::tempdir().unwrap();
    let (imgs, store) = recorded_world(tmp.path(), 6, "0");
    let s = store.to_str().unwrap();
    let ckpt = tmp.path().join("ckpt");
    let out = saev(&[
        "train",
        "--data.shard-root",
        s,
        "--data.patches",
        "cls",
        "--sae.d-vit",
        "64",
        "--sae.exp-factor",
        "4",
        "--n-patches",
        "3_000",
        "--sae-batch-size",
        "6",
        "--n-lr-warmup",
        "5",
        "--lr",
        "1e-3",
        "--sae.n-reinit-samples",
        "18",
        "--device",
        "cpu",
        "--ckpt-path",
        ckpt.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sae = run_dirs(&ckpt).pop().unwrap().join("sae.safetensors");
    let sae = sae.to_str().unwrap();
    let feats = tmp.path().join("feats");
    let out = saev(&[
        "visuals",
        "--ckpt",
        sae,
        "--dump-to",
        feats.to_str().unwrap(),
        "--sort-by",
        "cls",
        "--data.shard-root",
        s,
        "--data.patches",
        "cls",
        "--top-k",
        "4",
        "--n-latents",
        "20",
        "--log-freq-range",
        "-10",
        "10",
        "--log-value-range",
        "-10",
        "10",
        "images:image-folder-dataset",
        "--images.root",
        imgs.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The probe sweep, in the SAE's space.
    let sweep = tmp.path().join("sweep.toml");
    std::fs::write(
        &sweep,
        "learning_rate = [1e-5, 1e-2]\nweight_decay = [0.1, 10.0]\n",
    )
    .unwrap();
    let (ck, logs) = (tmp.path().join("probes"), tmp.path().join("logs"));
    let out = saev(&[
        "probe",
        "train",
        "--n-workers",
        "32",
        "--train-acts.shard-root",
        s,
        "--val-acts.shard-root",
        s,
        "--test-acts.shard-root",
        s,
        "--train-imgs.root",
        imgs.to_str().unwrap(),
        "--val-imgs.root",
        imgs.to_str().unwrap(),
        "--sweep",
        sweep.to_str().unwrap(),
        "--sae",
        sae,
        "--n-epochs",
        "30",
        "--batch-size",
        "4",
        "--ckpt-path",
        ck.to_str().unwrap(),
        "--log-to",
        logs.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(logs.join("results.csv")).unwrap();
    assert_eq!(
        csv.lines().next().unwrap(),
        "learning_rate,weight_decay,train_acc,val_acc"
    );
    assert_eq!(csv.lines().count(), 5);
    for dir in ["lr_1e-05__wd_0_1", "lr_0_01__wd_10_0"] {
        assert!(ck.join(dir).join("model.safetensors").is_file(), "{dir}");
        assert!(ck.join(dir).join("cfg.json").is_file(), "{dir}");
    }
    assert!(logs.join("hparam-sweeps.png").is_file());
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(logs.join("best.json")).unwrap()).unwrap();
    assert!(best["val_acc"].as_f64().unwrap() >= 0.99, "{best}");
    assert_eq!(best["learning_rate"].as_f64().unwrap() as f32, 1e-2);
    let probe = best["ckpt"].as_str().unwrap().to_string();
    let out = saev(&[
        "probe",
        "eval",
        "--ckpt",
        &probe,
        "--acts.shard-root",
        s,
        "--imgs.root",
        imgs.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout_json(&out)["accuracy"].as_f64().unwrap() >= 0.99);

    // The flip-rate evaluation.
    let steer_out = tmp.path().join("steer");
    let out = saev(&[
        "steer",
        "eval",
        "--sae",
        sae,
        "--probe",
        &probe,
        "--visuals",
        feats.to_str().unwrap(),
        "--max-freq",
        "0.9",
        "--train-acts.shard-root",
        s,
        "--test-acts.shard-root",
        s,
        "--scales",
        "1",
        "8",
        "--out",
        steer_out.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = std::fs::read_to_string(steer_out.join("steer_eval.csv")).unwrap();
    assert_eq!(rows.lines().count(), 1 + 18 * 2 * 2 * 2);
    assert!(steer_out.join("steer_eval.png").is_file());
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(steer_out.join("steer_summary.json")).unwrap(),
    )
    .unwrap();
    let flip = |kind: &str, scale: f64| {
        summary["summary"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == kind && r["scale"].as_f64() == Some(scale))
            .unwrap()["flip_rate"]
            .as_f64()
            .unwrap()
    };
    assert!(flip("class", 8.0) >= flip("random", 8.0), "{summary}");

    // The dashboard's API.
    let (server, addr) = serve(&[
        "serve",
        "steer",
        "--sae",
        sae,
        "--probe",
        &probe,
        "--visuals",
        feats.to_str().unwrap(),
        "--max-freq",
        "0.9",
        "--acts",
        s,
        "--imgs",
        imgs.to_str().unwrap(),
    ]);
    // Class folders sort blue, green, red: example 14 is the third red image.
    let (code, body) = http_get(&addr, "/api/example?i=14");
    assert_eq!(code, 200, "{body}");
    let ex: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ex["label"], "red");
    assert_eq!(ex["columns"].as_array().unwrap().len(), 3);
    let l = &ex["columns"][1]["latents"][0];
    let (latent, m) = (l["latent"].as_u64().unwrap(), l["m"].as_f64().unwrap());
    let (code, body) = http_get(&addr, &format!("/api/steer?i=14&edits={latent}:{m}"));
    assert_eq!(code, 200, "{body}");
    let r: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_ne!(r["before"], r["after"]);
    let (code, body) = http_get(&addr, "/api/steer?i=14&edits=");
    assert_eq!(code, 200);
    let r: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(r["before"], r["after"], "no edit, no change");
    for bad in [
        "/api/steer?i=99",
        &format!("/api/steer?i=2&edits={latent}:{}", m * 3.0),
        "/api/steer?i=2&edits=99999:0.1",
        "/api/steer?i=2&edits=oops",
        "/api/example?i=2&other=7",
    ] {
        let (code, body) = http_get(&addr, bad);
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(body.contains("error"), "{body}");
    }
    assert_eq!(http_get(&addr, "/image/14").0, 200);

    // The page in headless Chromium: the fourth slider (the other class's
    // first latent) moved to its maximum changes the "after" bars.
    let Some(browser) = chromium() else {
        drop(server);
        assert!(
            std::env::var("SAEV_REQUIRE_BROWSER").is_err(),
            "SAEV_REQUIRE_BROWSER is set but no Chromium was found"
        );
        eprintln!(
            "SKIPPED the headless-browser half: install chromium (apt install chromium) to run it"
        );
        return;
    };
    let dom = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=8000",
            "--dump-dom",
        ])
        .arg(format!("http://{addr}/#example=14&s3=1"))
        .output()
        .unwrap();
    drop(server);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("data-ready=\"1\""),
        "page did not finish:\n{dom}"
    );
    // Bars carry their probability in data-p; "before" comes first in the page.
    let (b0, a0) = (
        dom.find("id=\"before\"").unwrap(),
        dom.find("id=\"after\"").unwrap(),
    );
    let probs = |text: &str| -> Vec<String> {
        text.split("data-p=\"")
            .skip(1)
            .map(|p| p.split('"').next().unwrap().to_string())
            .collect()
    };
    let (before, after) = (probs(&dom[b0..a0]), probs(&dom[a0..]));
    assert_eq!(before.len(), 3, "{dom}");
    assert_ne!(before, after, "moving a slider must change the after bars");
    let sliders = dom
        .match_indices("class=\"slider\" id=\"s")
        .filter(|(i, m)| dom[i + m.len()..].starts_with(|c: char| c.is_ascii_digit()))
        .count();
    assert_eq!(sliders, 9 - count_missing(&ex));
}

/// Sliders the example lacks (a column may offer fewer than three latents).
fn count_missing(ex: &serde_json::Value) -> usize {
    ex["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| 3 - c["latents"].as_array().unwrap().len())
        .sum()
}

#[test]
fn the_quick_demo_runs_every_stage_and_class_latents_steer_far_better_than_random_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("demo");
    let run = saev(&["reproduce", "--quick", "--out", out.to_str().unwrap()]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = String::from_utf8_lossy(&run.stdout);
    for stage in [
        "world",
        "pretrain",
        "record-pretrain",
        "train-saes",
        "visuals",
        "flowers",
        "record-flowers",
        "probe",
        "steer",
    ] {
        assert!(
            out.join("stages").join(format!("{stage}.json")).is_file(),
            "{stage}"
        );
        assert!(
            text.contains(&format!("] {stage}: done in")),
            "{stage}:\n{text}"
        );
    }
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("logs/steer/steer_summary.json")).unwrap(),
    )
    .unwrap();
    let flip = |kind: &str| {
        summary["summary"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == kind && r["scale"].as_f64() == Some(4.0))
            .unwrap()["flip_rate"]
            .as_f64()
            .unwrap()
    };
    assert!(
        flip("class") > 0.2 && flip("class") > 5.0 * flip("random"),
        "{summary}"
    );
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("logs/probe/best.json")).unwrap())
            .unwrap();
    assert!(best["test_acc"].as_f64().unwrap() > 0.5, "{best}");
    // The stages agree with each other: the probe and steering used the chosen SAE.
    let chosen: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("stages/train-saes.json")).unwrap())
            .unwrap();
    let sae = chosen["outputs"]["chosen"].as_str().unwrap();
    let steer: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("stages/steer.json")).unwrap())
            .unwrap();
    assert!(steer["commands"][0].as_str().unwrap().contains(sae));
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(report.contains("saev serve steer"));
    for img in ["logs/probe/hparam-sweeps.png", "logs/steer/steer_eval.png"] {
        assert!(report.contains(img) && out.join(img).is_file(), "{img}");
    }
    assert!(out.join("report.md").is_file());
    let printed = text
        .lines()
        .find_map(|l| l.strip_prefix("report: "))
        .unwrap();
    assert_eq!(std::path::Path::new(printed), out.join("report.html"));
    // Skipping stages and redoing changed ones: examples/tests/examples.rs.
}

/// The seed's commands (`../shared/seed/`, saev's README) with
/// `uv run python -m saev` (or `uv run python -m`) swapped for `saev`, its
/// paths swapped for test data, and sizes reduced only through flags the
/// seed does not set. The model name `ViT-B-16/openai` resolves in
/// `$SAEV_MODELS` to a random two-block ViT-B/16 this test writes.
#[test]
fn the_seeds_commands_run_as_written() {
    use burn::backend::flex::FlexDevice;
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let models = t.join("models");
    let mut cfg = saev_vit::VitConfig::preset("ViT-B-16").unwrap();
    cfg.layers = 2;
    let vit = saev_vit::VisionTransformer::<burn::backend::Flex>::random(&cfg, &FlexDevice);
    saev_vit::save::save_open_clip(&vit, &models.join("ViT-B-16/openai")).unwrap();
    let flowers = t.join("flowers102");
    for (split, n) in [("train", 6), ("val", 3)] {
        image_folder(
            &flowers.join(split),
            &[("1", [200, 40, 40]), ("2", [40, 40, 200])],
            n,
        );
    }
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_saev"))
            .args(args)
            .current_dir(t)
            .env("SAEV_MODELS", &models)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "saev {}:\n{err}", args.join(" "));
        assert!(!err.contains("panicked"), "{err}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Record Oxford Flowers-102 activations, for each split.
    let mut stores = Vec::new();
    for split in ["train", "val"] {
        let root = format!("{}/{split}", flowers.display());
        let dump = t.join(format!("cache/saev-{split}"));
        run(&[
            "activations",
            "--model-family",
            "clip",
            "--model-ckpt",
            "ViT-B-16/openai",
            "--d-vit",
            "768",
            "--n-patches-per-img",
            "196",
            "--layers",
            "-2",
            "--dump-to",
            dump.to_str().unwrap(),
            "--n-patches-per-shard",
            "2_4000_000",
            "--vit-batch-size",
            "4",
            "--device",
            "cpu",
            "data:image-folder-dataset",
            "--data.root",
            &root,
        ]);
        stores.push(saev_shards::resolve_root(&dump).unwrap());
    }
    let store = stores[0].to_str().unwrap();
    // Train an SAE: the preprint's sweep by the original's path, part 0 of its 24 SAEs.
    run(&[
        "train",
        "--sweep",
        "configs/preprint/classification.toml",
        "--data.shard-root",
        store,
        "--data.patches",
        "cls",
        "--data.layer",
        "-2",
        "--sae.d-vit",
        "768",
        "--part",
        "0/24",
        "--n-patches",
        "24",
        "--sae-batch-size",
        "12",
        "--sae.n-reinit-samples",
        "12",
        "--device",
        "cpu",
    ]);
    let ckpt = run_dirs(&t.join("checkpoints"))
        .pop()
        .unwrap()
        .join("sae.safetensors");
    assert!(ckpt.is_file());
    // Visualize the SAE features (the seed's spelling --sort-byt, no images root).
    let out = run(&[
        "visuals",
        "--ckpt",
        ckpt.to_str().unwrap(),
        "--dump-to",
        "features/bd97z80b",
        "--sort-byt",
        "cls",
        "--data.shard-root",
        store,
        "--data.layer",
        "-2",
        "--data.patches",
        "cls",
        "--log-freq-range",
        "-2.5",
        "-1.5",
        "--log-value-range",
        "0.0",
        "1.0",
        "images:imagenet-dataset",
    ]);
    assert!(out.contains("wrote"), "{out}");
    assert!(t
        .join("features/bd97z80b/sort_by_cls/latents.json")
        .is_file());
    // Train a linear probe (the original's module name and sweep path).
    let out = run(&[
        "contrib.classification",
        "train",
        "--n-workers",
        "32",
        "--train-acts.shard-root",
        store,
        "--val-acts.shard-root",
        stores[1].to_str().unwrap(),
        "--train-imgs.root",
        &format!("{}/train", flowers.display()),
        "--val-imgs.root",
        &format!("{}/val", flowers.display()),
        "--sweep",
        "contrib/classification/sweep.toml",
    ]);
    assert!(out.contains("best: lr"), "{out}");
    assert!(t
        .join("logs/contrib/classification/hparam-sweeps.png")
        .is_file());
}
