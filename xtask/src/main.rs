//! `cargo xtask <task>` (see `.cargo/config.toml`).
//!
//! - `reproduce [ARGS]`: build the `saev` binary (with CUDA when `--device
//!   cuda` is asked for) and run `saev reproduce ARGS` with the binary it
//!   just built: with no data arguments the generated demo, else the real
//!   ImageNet -> Flowers-102 run (docs/reproduce.md). The real run (or
//!   `--release`) builds in release mode; the demo builds in the dev profile,
//!   whose dependencies are optimized and shared with `cargo test`, so a
//!   fresh clone compiles its dependencies once for both README commands.

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

/// The cargo profile to build `saev` in, and the target subdirectory it lands in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Profile {
    Dev,
    Release,
}

impl Profile {
    /// Release for the real run (`--imagenet`) or when asked (`--release`).
    fn for_args(args: &[String]) -> Profile {
        let real =
            |a: &String| a == "--release" || a == "--imagenet" || a.starts_with("--imagenet=");
        if args.iter().any(real) {
            Profile::Release
        } else {
            Profile::Dev
        }
    }

    fn cargo_args(self) -> &'static [&'static str] {
        match self {
            Profile::Dev => &[],
            Profile::Release => &["--release"],
        }
    }

    fn dir(self) -> &'static str {
        match self {
            Profile::Dev => "debug",
            Profile::Release => "release",
        }
    }
}

fn wants_cuda(args: &[String]) -> bool {
    args.windows(2)
        .any(|w| w[0] == "--device" && w[1] == "cuda")
        || args.iter().any(|a| a == "--device=cuda")
}

fn reproduce(args: &[String]) -> ExitCode {
    let profile = Profile::for_args(args);
    let args: Vec<String> = args.iter().filter(|a| *a != "--release").cloned().collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let cuda = wants_cuda(&args);
    let mut build = Command::new(&cargo);
    build
        .current_dir(&root)
        .args(["build", "-p", "saev"])
        .args(profile.cargo_args());
    if cuda {
        build.args(["--features", "cuda"]);
    }
    eprintln!(
        "building saev ({} profile{})...",
        profile.dir(),
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
    // The binary of the profile just built, never another one left over.
    let bin = target
        .join(profile.dir())
        .join(format!("saev{}", std::env::consts::EXE_SUFFIX));
    match Command::new(&bin).arg("reproduce").args(&args).status() {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask: cannot run {}: {e}", bin.display());
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_demo_builds_and_runs_the_dev_binary_and_the_real_run_the_release_one() {
        assert_eq!(Profile::for_args(&[]), Profile::Dev);
        assert_eq!(Profile::for_args(&v(&["--quick"])), Profile::Dev);
        assert_eq!(Profile::for_args(&v(&["--release"])), Profile::Release);
        let real = v(&["--imagenet", "i", "--flowers", "f"]);
        assert_eq!(Profile::for_args(&real), Profile::Release);
        assert!(Profile::Dev.cargo_args().is_empty());
        assert_eq!(Profile::Release.cargo_args(), ["--release"]);
        assert_eq!(Profile::Dev.dir(), "debug");
        assert!(wants_cuda(&v(&["--device", "cuda"])));
        assert!(!wants_cuda(&v(&["--device", "cpu"])));
    }
}
