//! `cargo xtask <task>` (see `.cargo/config.toml`).
//!
//! - `reproduce [ARGS]`: build the `saev` binary (with CUDA when `--device
//!   cuda` is asked for) and run `saev reproduce ARGS`: with no data arguments
//!   the generated demo, else the real ImageNet -> Flowers-102 run
//!   (docs/reproduce.md). The real run (or `--release`) builds in release
//!   mode; the demo builds in the dev profile, whose dependencies are
//!   optimized and shared with `cargo test`, so a fresh clone compiles once
//!   for both README commands.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("reproduce") => reproduce(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask reproduce [--imagenet DIR --flowers DIR --model-ckpt ViT-B-16/openai] [--out DIR] [--device cpu|cuda] [--quick] [--release]");
            eprintln!("       (no data arguments: the generated demo; see docs/reproduce.md)");
            ExitCode::FAILURE
        }
    }
}

fn reproduce(args: &[String]) -> ExitCode {
    let release = args
        .iter()
        .any(|a| a == "--release" || a == "--imagenet" || a.starts_with("--imagenet="));
    let args: Vec<String> = args.iter().filter(|a| *a != "--release").cloned().collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let cuda = args
        .windows(2)
        .any(|w| w[0] == "--device" && w[1] == "cuda")
        || args.iter().any(|a| a == "--device=cuda");
    let mut build = Command::new(&cargo);
    build
        .current_dir(&root)
        .args(["build", "--release", "-p", "saev"]);
    if cuda {
        build.args(["--features", "cuda"]);
    }
    eprintln!(
        "building saev (release{})...",
        if cuda { ", cuda" } else { "" }
    );
    match build.status() {
        Ok(s) if s.success() => {}
        Ok(_) | Err(_) => {
            eprintln!("xtask: building saev failed");
            return ExitCode::FAILURE;
        }
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let bin = target
        .join(if release { "release" } else { "debug" })
        .join("saev");
    match Command::new(&bin).arg("reproduce").args(&args).status() {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask: cannot run {}: {e}", bin.display());
            ExitCode::FAILURE
        }
    }
}
