//! Generate a small demo world and pretrain the tower on it:
//! `cargo run --release -p saev-demo --example demo_world -- OUT_DIR`.
use saev_demo::{pretrain, world};

fn main() {
    let out = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "demo-world".into()),
    );
    let n = world::write_set(&out.join("pretrain"), world::Set::Pretrain, 60, 32, 0)
        .expect("images written");
    println!("{n} pretraining images");
    let cfg = pretrain::PretrainConfig::default();
    let start = std::time::Instant::now();
    pretrain::pretrain(&out.join("pretrain"), &out.join("vit"), &cfg, |e| {
        println!(
            "epoch {}: loss {:.3}, train acc {:.3} ({:.0} s)",
            e.epoch,
            e.loss,
            e.train_acc,
            start.elapsed().as_secs_f64()
        )
    })
    .expect("pretraining");
}
