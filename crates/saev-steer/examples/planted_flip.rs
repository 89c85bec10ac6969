//! Raise one SAE latent and watch a probe change its mind:
//! `cargo run --release -p saev-steer --example planted_flip`.
use saev_probe::Probe;
use saev_sae::{Sae, SaeConfig};
use saev_steer::{edit, Edit};

fn main() {
    // Latent j decodes to the j-th axis; the probe reads class k off axis k.
    let d = 3;
    let eye: Vec<f32> = (0..d * d)
        .map(|i| if i / d == i % d { 1.0 } else { 0.0 })
        .collect();
    let cfg = SaeConfig {
        d_vit: d,
        exp_factor: 1,
        ..SaeConfig::default()
    };
    let sae = Sae::from_weights(cfg, eye.clone(), vec![0.0; d], eye.clone(), vec![0.0; d]);
    let mut probe = Probe::new(d, 3, 0);
    probe.w_CD = eye;
    probe.b_C = vec![0.0; 3];
    let x = [2.0, 0.5, 0.1];
    for value in [0.0, 1.0, 2.0, 3.0] {
        let out = edit(&sae, &probe, &x, &[Edit { latent: 2, value }]);
        println!(
            "latent 2 = {value}: p(class 2) {:.3} (was {:.3})",
            out.probs_after[2], out.probs_before[2]
        );
    }
}
