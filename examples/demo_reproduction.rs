//! The whole demo reproduction from Rust: a generated world, a small ViT
//! pretrained on it, then every real stage and the report.
//!
//! `cargo run --release -p saev-examples --example demo_reproduction [OUT_DIR] [--quick]`

use std::path::Path;

use saev_reproduce::{ReproduceConfig, ReproduceOutcome};

pub fn run(out: &Path, quick: bool) -> anyhow::Result<ReproduceOutcome> {
    let mut cfg = ReproduceConfig::demo(out.to_path_buf());
    cfg.quick = quick;
    // The library runs on any burn backend; the CPU one here.
    let device = burn::backend::flex::FlexDevice;
    let outcome = saev_reproduce::run::<burn::backend::Flex>(&cfg, &device)?;
    println!("report: {}", outcome.report_html.display());
    Ok(outcome)
}

#[cfg_attr(test, allow(dead_code))]
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let out = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map_or("demo", String::as_str);
    run(Path::new(out), quick)?;
    Ok(())
}
