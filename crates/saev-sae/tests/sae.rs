//! The SAE definition and training step: hand-computed cases, finite
//! differences, the decoder constraint, warm-ups, and saev's own PyTorch steps.

use std::collections::HashMap;

use saev_sae::{gradients, remove_parallel, warmup, Sae, SaeConfig, TrainConfig, Trainer};

fn cfg(d: usize, exp: usize, coeff: f32) -> SaeConfig {
    SaeConfig {
        d_vit: d,
        exp_factor: exp,
        sparsity_coeff: coeff,
        n_reinit_samples: 0,
        normalize_w_dec: true,
        remove_parallel_grads: true,
        seed: 3,
    }
}

#[test]
fn definition_by_hand() {
    // D = 2, S = 2: W_enc = I, b_enc = [0, -1], W_dec = [[1, 0], [0, 2]], b_dec = [1, 0].
    let sae = Sae::from_weights(
        cfg(2, 1, 0.5),
        vec![1.0, 0.0, 0.0, 1.0],
        vec![0.0, -1.0],
        vec![1.0, 0.0, 0.0, 2.0],
        vec![1.0, 0.0],
    );
    // x = [3, 4]: pre = ([3,4] - [1,0]) @ I + [0,-1] = [2, 3]; f = [2, 3]
    // x_hat = [2, 3] @ W_dec + b_dec = [2, 6] + [1, 0] = [3, 6]
    let x = [3.0, 4.0];
    assert_eq!(sae.encode(&x), vec![2.0, 3.0]);
    assert_eq!(sae.decode(&[2.0, 3.0]), vec![3.0, 6.0]);
    let l = sae.losses(&x, 0.5);
    assert_eq!(l.mse, 2.0); // ((3-3)^2 + (6-4)^2) / 2
    assert_eq!((l.l1, l.l0), (5.0, 2.0));
    assert_eq!(l.loss, 2.0 + 0.5 * 5.0);
    // A negative pre-activation is cut: x = [0, 0] gives pre = [-1, -1], f = 0, x_hat = b_dec.
    let l = sae.losses(&[0.0, 0.0], 0.5);
    assert_eq!((l.l0, l.l1, l.mse), (0.0, 0.0, 0.5));
}

fn random_sae(d: usize, exp: usize, coeff: f32) -> (Sae, Vec<f32>) {
    let mut sae = Sae::new(cfg(d, exp, coeff));
    sae.b_enc_S
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = 0.3 * ((i as f32) * 0.7).sin());
    sae.b_dec_D
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = 0.2 * ((i as f32) * 1.3).cos());
    let x: Vec<f32> = (0..5 * d)
        .map(|i| ((i as f32) * 0.37).sin() * 1.5 + 0.2)
        .collect();
    (sae, x)
}

#[test]
fn gradients_match_finite_differences() {
    let (sae, x) = random_sae(4, 3, 0.05);
    let (_, g) = gradients(&sae, &x, 0.05);
    let loss = |s: &Sae| f64::from(s.losses(&x, 0.05).loss);
    let h = 1e-3f32;
    let mut checked = 0;
    for (name, idx) in [
        ("w_enc", 0usize),
        ("w_enc", 7),
        ("b_enc", 2),
        ("w_dec", 5),
        ("w_dec", 11),
        ("b_dec", 1),
        ("b_dec", 3),
    ] {
        fn param<'a>(s: &'a mut Sae, name: &str) -> &'a mut Vec<f32> {
            match name {
                "w_enc" => &mut s.w_enc_DS,
                "b_enc" => &mut s.b_enc_S,
                "w_dec" => &mut s.w_dec_SD,
                _ => &mut s.b_dec_D,
            }
        }
        let (mut plus, mut minus) = (sae.clone(), sae.clone());
        param(&mut plus, name)[idx] += h;
        param(&mut minus, name)[idx] -= h;
        let numeric = (loss(&plus) - loss(&minus)) / (2.0 * f64::from(h));
        let analytic = f64::from(match name {
            "w_enc" => g.w_enc_DS[idx],
            "b_enc" => g.b_enc_S[idx],
            "w_dec" => g.w_dec_SD[idx],
            _ => g.b_dec_D[idx],
        });
        assert!(
            (numeric - analytic).abs() <= 2e-3 * numeric.abs().max(0.1),
            "{name}[{idx}]: {analytic} vs {numeric}"
        );
        checked += 1;
    }
    assert_eq!(checked, 7);
}

#[test]
fn parallel_gradient_removal_keeps_decoder_rows_unit_norm_to_second_order() {
    let (mut sae, x) = random_sae(6, 2, 0.01);
    sae.normalize_w_dec();
    let (_, mut g) = gradients(&sae, &x, 0.01);
    remove_parallel(&mut g.w_dec_SD, &sae.w_dec_SD, 6);
    for (gr, w) in g.w_dec_SD.chunks(6).zip(sae.w_dec_SD.chunks(6)) {
        let dot: f32 = gr.iter().zip(w).map(|(a, b)| a * b).sum();
        assert!(dot.abs() < 1e-6, "row gradient not orthogonal: {dot}");
        // An SGD step of size eta changes the row's norm by O(eta^2) only.
        let eta = 1e-2f32;
        let norm: f32 = w
            .iter()
            .zip(gr)
            .map(|(a, b)| (a - eta * b).powi(2))
            .sum::<f32>()
            .sqrt();
        let gnorm2: f32 = gr.iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() <= eta * eta * gnorm2 + 1e-6);
    }
}

#[test]
fn warmups_start_at_zero_and_reach_the_target() {
    assert_eq!(warmup(1e-3, 0, 500), 0.0);
    assert_eq!(warmup(1e-3, 250, 500), 5e-4);
    assert_eq!(warmup(1e-3, 500, 500), 1e-3);
    assert_eq!(warmup(1e-3, 9_000, 500), 1e-3);
    assert_eq!(warmup(4e-4, 0, 0), 4e-4);
    let (sae, x) = random_sae(4, 2, 0.1);
    let mut t = Trainer::new(
        sae.clone(),
        TrainConfig {
            lr: 1e-2,
            n_lr_warmup: 3,
            n_sparsity_warmup: 2,
        },
    );
    assert_eq!(t.schedule(), (0.0, 0.0));
    t.step(&x).unwrap();
    // Step 0 ran at lr 0: only the W_dec normalization changed the weights.
    let mut normalized = sae.clone();
    normalized.normalize_w_dec();
    assert_eq!(t.sae, normalized);
    assert_eq!(t.schedule(), (warmup(1e-2, 1, 3), 0.05));
}

fn golden() -> HashMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/sae_steps.safetensors"
    ))
    .unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(k, t)| {
            let v = t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            (k, (t.shape().to_vec(), v))
        })
        .collect()
}

#[test]
fn steps_match_saev_pytorch_weight_by_weight() {
    let g = golden();
    let w = |k: &str| g[k].1.clone();
    let config = SaeConfig {
        d_vit: 8,
        exp_factor: 4,
        sparsity_coeff: 4e-3,
        n_reinit_samples: 0,
        ..SaeConfig::default()
    };
    let sae = Sae::from_weights(config, w("W_enc"), w("b_enc"), w("W_dec"), w("b_dec"));
    let mut t = Trainer::new(
        sae,
        TrainConfig {
            lr: 3e-3,
            n_lr_warmup: 2,
            n_sparsity_warmup: 0,
        },
    );
    let batches = w("batches");
    let (mse, l0) = (w("mse"), w("l0"));
    for step in 0..5 {
        let losses = t
            .step(&batches[step * 16 * 8..(step + 1) * 16 * 8])
            .unwrap();
        assert!(
            (losses.mse - mse[step]).abs() <= 1e-5 * mse[step],
            "step {step} mse {} vs {}",
            losses.mse,
            mse[step]
        );
        assert_eq!(losses.l0, l0[step], "step {step} l0");
        for (name, ours) in [
            ("W_enc", &t.sae.w_enc_DS),
            ("b_enc", &t.sae.b_enc_S),
            ("W_dec", &t.sae.w_dec_SD),
            ("b_dec", &t.sae.b_dec_D),
        ] {
            let theirs = w(&format!("{name}_{}", step + 1));
            let worst = ours
                .iter()
                .zip(&theirs)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst < 1e-5,
                "step {} {name}: worst |diff| {worst}",
                step + 1
            );
        }
    }
}

#[test]
fn checkpoint_round_trip_and_errors() {
    let dir = std::env::temp_dir().join(format!("saev-sae-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (sae, x) = random_sae(6, 3, 0.02);
    let mut t = Trainer::new(
        sae,
        TrainConfig {
            lr: 1e-2,
            n_lr_warmup: 0,
            n_sparsity_warmup: 0,
        },
    );
    t.step(&x).unwrap();
    let path = dir.join("sae.safetensors");
    t.sae.save(&path).unwrap();
    assert!(!dir.join("sae.safetensors.tmp").exists());
    let back = Sae::load(&path).unwrap();
    assert_eq!(back, t.sae);
    // Shapes follow saev's names.
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("W_enc").unwrap().shape(), [6, 18]);
    assert_eq!(st.tensor("W_dec").unwrap().shape(), [18, 6]);
    // A truncated file names itself.
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = Sae::load(&path).unwrap_err().to_string();
    assert!(err.contains("sae.safetensors"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_nan_loss_stops_the_step_and_keeps_the_weights() {
    let (sae, mut x) = random_sae(4, 2, 0.01);
    let mut t = Trainer::new(
        sae,
        TrainConfig {
            lr: 1e-2,
            n_lr_warmup: 0,
            n_sparsity_warmup: 0,
        },
    );
    t.step(&x).unwrap();
    let good = t.sae.clone();
    x[3] = f32::NAN;
    let err = t.step(&x).unwrap_err();
    assert_eq!(err.step, 1);
    assert!(err.to_string().contains("diverged at step 1"), "{err}");
    assert_eq!(t.sae, good);
    assert_eq!(t.step, 1);
}

#[test]
fn evaluation_matches_a_direct_computation() {
    use saev_sae::eval::Evaluator;
    let (sae, x) = random_sae(4, 2, 0.01); // 5 examples
    let mut ev = Evaluator::new(&sae);
    ev.update(&sae, &x[..3 * 4]);
    ev.update(&sae, &x[3 * 4..]);
    let m = ev.finish();
    let f = sae.encode(&x);
    let x_hat = sae.decode(&f);
    let l0 = f.iter().filter(|&&v| v > 0.0).count() as f64 / 5.0;
    let l1 = f.iter().map(|&v| v as f64).sum::<f64>() / 5.0;
    let sq: f64 = x
        .iter()
        .zip(&x_hat)
        .map(|(a, b)| ((b - a) as f64).powi(2))
        .sum();
    let mean: Vec<f64> = (0..4)
        .map(|j| (0..5).map(|i| x[i * 4 + j] as f64).sum::<f64>() / 5.0)
        .collect();
    let var: f64 = (0..20).map(|k| (x[k] as f64 - mean[k % 4]).powi(2)).sum();
    assert_eq!(m.n_examples, 5);
    assert!((m.l0 - l0).abs() < 1e-9 && (m.l1 - l1).abs() < 1e-5);
    assert!((m.mse - sq / 20.0).abs() < 1e-6);
    assert!((m.explained_variance - (1.0 - sq / var)).abs() < 1e-6);
    for j in 0..8 {
        let fired: Vec<f32> = (0..5).map(|i| f[i * 8 + j]).filter(|&v| v > 0.0).collect();
        assert_eq!(m.freqs[j], fired.len() as f32 / 5.0);
        if fired.is_empty() {
            assert!(m.mean_values[j].is_nan());
        } else {
            let mv = fired.iter().sum::<f32>() / fired.len() as f32;
            assert!((m.mean_values[j] - mv).abs() < 1e-5);
        }
    }
    assert_eq!(m.n_dead, m.freqs.iter().filter(|&&v| v == 0.0).count());
}
