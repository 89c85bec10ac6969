//! Helpers the `saev` binary's integration tests share.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn saev_in(dir: &Path, args: &[String]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_saev"))
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("saev {} ran for over 2 minutes", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// A 600-image [CLS] store of 8-dim activations.
pub fn tiny_store(dir: &Path) -> String {
    let store = dir.join("shards");
    let args: Vec<String> = [
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
    ]
    .map(String::from)
    .into();
    assert!(saev_in(dir, &args).status.success());
    let hash = std::fs::read_dir(&store).unwrap().next().unwrap().unwrap();
    hash.path().to_str().unwrap().to_string()
}

pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `args` with `flag value` in place of any `flag` it has.
pub fn with_flag(args: &[String], flag: &str, value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if args[i] == flag {
            i += 2;
            continue;
        }
        out.push(args[i].clone());
        i += 1;
    }
    out.extend([flag.to_string(), value.to_string()]);
    out
}

pub fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Class folders `a/` and `b/` of fixture images, `per_file` copies of each
/// of `files` (class, fixture image).
pub fn image_folder(dir: &Path, files: &[(&str, &str)], per_file: usize) -> std::path::PathBuf {
    let imgs = dir.join("imgs");
    for (class, file) in files {
        std::fs::create_dir_all(imgs.join(class)).unwrap();
        for i in 0..per_file {
            let to = imgs.join(class).join(format!("{i}-{file}"));
            std::fs::copy(repo().join("fixtures/clip/images").join(file), to).unwrap();
        }
    }
    imgs
}

/// `saev activations` of `imgs` through the tiny fixture tower, [CLS] only,
/// 3 images per shard, optionally one part.
pub fn record_args(imgs: &Path, dump_to: &Path, part: Option<&str>) -> Vec<String> {
    let tower = repo().join("fixtures/clip/tiny-openclip");
    let mut v = strings(&[
        "activations",
        "--model-ckpt",
        tower.to_str().unwrap(),
        "--d-vit",
        "64",
        "--n-patches-per-img",
        "0",
        "--n-patches-per-shard",
        "3",
        "--device",
        "cpu",
        "--vit-batch-size",
        "2",
        "--dump-to",
        dump_to.to_str().unwrap(),
    ]);
    if let Some(p) = part {
        v.extend(["--part".to_string(), p.to_string()]);
    }
    v.extend(strings(&[
        "data:image-folder-dataset",
        "--data.root",
        imgs.to_str().unwrap(),
    ]));
    v
}
