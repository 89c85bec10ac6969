//! Train a small sweep of probes on separable synthetic classes:
//! `cargo run --release -p saev-probe --example blobs`.
use saev_probe::{train_sweep, Setting, SweepConfig};

fn main() {
    let (d, c, n) = (16, 4, 200);
    let mut rng = saev_rng::Pcg64::from_seed(0);
    let mut uni = move || (rng.next_u64() >> 11) as f32 / (1u64 << 53) as f32 - 0.5;
    let centres: Vec<f32> = (0..c * d).map(|_| 4.0 * uni()).collect();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..n {
        let k = i % c;
        x.extend((0..d).map(|j| centres[k * d + j] + uni()));
        y.push(k as u32);
    }
    let settings: Vec<Setting> = [1e-4, 1e-3, 1e-2]
        .iter()
        .map(|&lr| Setting {
            learning_rate: lr,
            weight_decay: 0.1,
        })
        .collect();
    let cfg = SweepConfig {
        n_epochs: 10,
        batch_size: 32,
        seed: 0,
    };
    train_sweep(&x, &y, &x, &y, d, c, &settings, &cfg, |log| {
        println!(
            "epoch {}: val accuracy per setting {:?}",
            log.epoch, log.val_acc
        );
    });
}
