//! Train a TopK SAE with AuxK on sparse sums of planted directions and count
//! how many directions its decoder recovers:
//! `cargo run --release -p saev-sae --example train_planted`.
use saev_sae::{Activation, AuxK, Sae, SaeConfig, TrainConfig, Trainer};

fn main() {
    let (d, k, n) = (32, 64, 65_536);
    let mut rng = saev_rng::Pcg64::from_seed(0);
    let mut uni = move || (rng.next_u64() >> 11) as f32 / (1u64 << 53) as f32;
    let mut truth: Vec<f32> = (0..k * d).map(|_| uni() - 0.5).collect();
    for row in truth.chunks_mut(d) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        row.iter_mut().for_each(|v| *v /= norm);
    }
    let mut x = vec![0.0f32; n * d];
    for row in x.chunks_mut(d) {
        for t in truth.chunks(d) {
            if uni() < 0.04 {
                let a = 1.0 + uni();
                row.iter_mut().zip(t).for_each(|(x, t)| *x += a * t);
            }
        }
    }
    let cfg = SaeConfig {
        d_vit: d,
        exp_factor: 4,
        sparsity_coeff: 0.0,
        activation: Activation::TopK { top_k: 4 },
        seed: 1,
        ..SaeConfig::default()
    };
    let mut sae = Sae::new(cfg);
    sae.init_b_dec(&x[..d * 8192]);
    let train = TrainConfig {
        lr: 3e-3,
        n_lr_warmup: 50,
        aux: Some(AuxK {
            k_aux: 32,
            alpha: 1.0 / 32.0,
            dead_after: 50_000,
        }),
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(sae, train);
    for step in 0..2000 {
        let i = step % (n / 512);
        let l = t
            .step(&x[i * 512 * d..(i + 1) * 512 * d])
            .expect("finite loss");
        if step % 500 == 0 {
            println!(
                "step {step}: mse {:.4}, l0 {:.1}, aux {:.4}",
                l.mse, l.l0, l.aux
            );
        }
    }
    let found = truth
        .chunks(d)
        .filter(|g| {
            t.sae
                .w_dec_SD
                .chunks(d)
                .any(|w| g.iter().zip(w).map(|(a, b)| a * b).sum::<f32>() > 0.95)
        })
        .count();
    println!("recovered {found} of {k} planted directions (cosine > 0.95)");
}
