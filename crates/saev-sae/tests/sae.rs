//! The SAE definition and training step: hand-computed cases, finite
//! differences, the decoder constraint, warm-ups, and saev's own PyTorch steps.

use std::collections::HashMap;

use saev_sae::{
    gradients, remove_parallel, step_gradients, warmup, Activation, AuxK, Grads, Matryoshka, Sae,
    SaeConfig, StepOptions, TrainConfig, Trainer,
};

fn cfg(d: usize, exp: usize, coeff: f32) -> SaeConfig {
    SaeConfig {
        d_vit: d,
        exp_factor: exp,
        sparsity_coeff: coeff,
        n_reinit_samples: 0,
        normalize_w_dec: true,
        remove_parallel_grads: true,
        seed: 3,
        activation: Activation::Relu,
        d_sae: None,
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
    check_fd(&sae, &g, &SPOTS, 1e-3, |s| {
        f64::from(s.losses(&x, 0.05).loss)
    });
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
            ..TrainConfig::default()
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
            ..TrainConfig::default()
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
            ..TrainConfig::default()
        },
    );
    t.step(&x).unwrap();
    t.sae.data_norm = Some(saev_sae::DataNorm {
        act_mean: vec![0.5, -1.0, 0.0, 2.0, 3.0, 0.25],
        scalar: 1.5,
    });
    let path = dir.join("sae.safetensors");
    t.sae.save(&path).unwrap();
    let temps = std::fs::read_dir(&dir).unwrap().flatten();
    assert!(!temps
        .into_iter()
        .any(|e| e.path().extension().is_some_and(|x| x == "tmp")));
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
            ..TrainConfig::default()
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

/// Central differences of `loss` against the analytic gradient at the given
/// (parameter, index) pairs.
fn check_fd(sae: &Sae, g: &Grads, at: &[(&str, usize)], h: f32, loss: impl Fn(&Sae) -> f64) {
    fn param<'a>(s: &'a mut Sae, name: &str) -> &'a mut Vec<f32> {
        match name {
            "w_enc" => &mut s.w_enc_DS,
            "b_enc" => &mut s.b_enc_S,
            "w_dec" => &mut s.w_dec_SD,
            _ => &mut s.b_dec_D,
        }
    }
    for &(name, idx) in at {
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
            (numeric - analytic).abs() <= 3e-3 * numeric.abs().max(0.1),
            "{name}[{idx}]: {analytic} vs {numeric}"
        );
    }
}

const SPOTS: [(&str, usize); 8] = [
    ("w_enc", 0),
    ("w_enc", 7),
    ("w_enc", 13),
    ("b_enc", 2),
    ("w_dec", 5),
    ("w_dec", 11),
    ("b_dec", 1),
    ("b_dec", 3),
];

#[test]
fn topk_batch_topk_and_matryoshka_gradients_match_finite_differences() {
    let prefixes = [3usize, 5, 12];
    for (act, pre) in [
        (Activation::TopK { top_k: 3 }, None),
        (
            Activation::BatchTopK {
                top_k: 3,
                momentum: 0.1,
            },
            None,
        ),
        (Activation::Relu, Some(&prefixes[..])),
        (Activation::TopK { top_k: 4 }, Some(&prefixes[..])),
    ] {
        let (mut sae, x) = random_sae(4, 3, 0.05);
        sae.cfg.activation = act;
        let opts = StepOptions {
            coeff: 0.05,
            prefixes: pre,
            aux: None,
        };
        let out = step_gradients(&sae, &x, opts);
        check_fd(&sae, &out.grads, &SPOTS, 1e-3, |s| {
            f64::from(step_gradients(s, &x, opts).losses.loss)
        });
        if let Activation::TopK { top_k } = act {
            assert_eq!(out.losses.l0, top_k as f32, "{act:?}");
        }
    }
}

#[test]
fn matryoshka_with_one_prefix_is_the_plain_objective_and_averages_prefix_errors() {
    let (sae, x) = random_sae(4, 3, 0.05);
    let plain = step_gradients(
        &sae,
        &x,
        StepOptions {
            coeff: 0.05,
            prefixes: None,
            aux: None,
        },
    );
    let one = step_gradients(
        &sae,
        &x,
        StepOptions {
            coeff: 0.05,
            prefixes: Some(&[12]),
            aux: None,
        },
    );
    assert_eq!(plain.grads, one.grads);
    assert_eq!(plain.losses, one.losses);
    // Two prefixes: mse is the mean of the prefix-4 and full reconstruction errors.
    let two = step_gradients(
        &sae,
        &x,
        StepOptions {
            coeff: 0.05,
            prefixes: Some(&[4, 12]),
            aux: None,
        },
    );
    let mut f = sae.encode(&x);
    f.chunks_mut(12)
        .for_each(|r| r[4..].iter_mut().for_each(|v| *v = 0.0));
    let short = sae.decode(&f);
    let mse4 = x
        .iter()
        .zip(&short)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f32>()
        / x.len() as f32;
    assert!((two.losses.mse - (mse4 + plain.losses.mse) / 2.0).abs() < 1e-6);
}

#[test]
fn auxk_trains_dead_latents_on_the_residual() {
    let (mut sae, x) = random_sae(4, 3, 0.0);
    // Latents 0..6 never fire (large negative bias): dead.
    sae.b_enc_S[..6].iter_mut().for_each(|b| *b = -6.0);
    let dead = vec![true; 12];
    let aux = AuxK {
        k_aux: 2,
        alpha: 0.5,
        dead_after: 1,
    };
    let opts = StepOptions {
        coeff: 0.0,
        prefixes: None,
        aux: Some((aux, &dead)),
    };
    let out = step_gradients(&sae, &x, opts);
    let active = out.active_S.clone().unwrap();
    assert!(active[..6].iter().all(|a| !a));
    assert!(out.losses.aux > 0.0);
    // By hand for example 0: its two largest dead pre-activations
    // reconstruct the residual without the decoder bias.
    let mut pre = vec![0.0; 5 * 12];
    sae.pre_activations(&x, &mut pre);
    let f = sae.encode(&x);
    let x_hat = sae.decode(&f);
    let mut total = 0.0f64;
    for r in 0..5 {
        let mut cand: Vec<(usize, f32)> = (0..12)
            .filter(|&j| !active[j])
            .map(|j| (j, pre[r * 12 + j]))
            .collect();
        cand.sort_by(|a, b| b.1.total_cmp(&a.1));
        for k in 0..4 {
            let e_hat: f32 = cand[..2]
                .iter()
                .map(|&(j, a)| a * sae.w_dec_SD[j * 4 + k])
                .sum();
            let e = x[r * 4 + k] - x_hat[r * 4 + k];
            total += f64::from(e_hat - e).powi(2);
        }
    }
    let by_hand = 0.5 * total / 20.0;
    assert!(
        (f64::from(out.losses.aux) - by_hand).abs() < 1e-5 * by_hand.max(1.0),
        "{} vs {by_hand}",
        out.losses.aux
    );
    // Dead latents' parameters do not move the residual, so their gradient
    // is the derivative of the whole loss: finite differences apply (and are
    // exact up to rounding, the AuxK term being quadratic in them).
    let spots = [
        ("w_dec", 0),
        ("w_dec", 4 * 3 + 2),
        ("w_enc", 1),
        ("w_enc", 12 + 4),
        ("b_enc", 5),
    ];
    check_fd(&sae, &out.grads, &spots, 2e-2, |s| {
        f64::from(step_gradients(s, &x, opts).losses.loss)
    });
    assert!(out.grads.w_dec_SD[..24].iter().any(|g| *g != 0.0));
}

#[test]
fn resume_gives_the_weights_of_an_uninterrupted_run() {
    let dir = std::env::temp_dir().join(format!("saev-sae-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut sae, x) = random_sae(4, 4, 0.01);
    sae.cfg.activation = Activation::BatchTopK {
        top_k: 3,
        momentum: 0.2,
    };
    let cfg = TrainConfig {
        lr: 1e-2,
        n_lr_warmup: 2,
        n_sparsity_warmup: 3,
        aux: Some(AuxK {
            k_aux: 4,
            alpha: 0.1,
            dead_after: 10,
        }),
        matryoshka: Some(Matryoshka { n_prefixes: 3 }),
    };
    let batch = |i: usize| -> Vec<f32> { x.iter().map(|v| v * (1.0 + 0.1 * i as f32)).collect() };
    let mut whole = Trainer::new(sae.clone(), cfg.clone());
    for i in 0..6 {
        whole.step(&batch(i)).unwrap();
    }
    let mut first = Trainer::new(sae, cfg);
    for i in 0..3 {
        first.step(&batch(i)).unwrap();
    }
    let ckpt = dir.join("checkpoint.safetensors");
    assert_eq!(first.non_finite(), None);
    first.save_checkpoint(&ckpt).unwrap();
    assert_eq!(Sae::saved_step(&ckpt).unwrap(), Some(3));
    assert_eq!(Sae::load(&ckpt).unwrap(), first.sae);
    // A NaN anywhere in the state is named.
    let mut bad = first.clone();
    bad.sae.w_dec_SD[5] = f32::NAN;
    assert_eq!(bad.non_finite().as_deref(), Some("W_dec"));
    drop(first);
    let mut second = Trainer::load_checkpoint(&ckpt).unwrap();
    assert_eq!(second.step, 3);
    for i in 3..6 {
        second.step(&batch(i)).unwrap();
    }
    assert_eq!(second.sae, whole.sae);
    assert!(whole.sae.threshold > 0.0);
    assert_eq!(second.since_fired_S, whole.since_fired_S);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn saev_sae_pt_checkpoints_load_with_their_config_and_weights() {
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let sae = Sae::load_saev_pt(&golden.join("saev_sae.pt")).unwrap();
    assert_eq!((sae.cfg.d_vit, sae.cfg.exp_factor, sae.cfg.seed), (8, 2, 7));
    assert_eq!(sae.cfg.sparsity_coeff, 8e-4);
    let bytes = std::fs::read(golden.join("saev_sae_expected.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let w = |n: &str| -> Vec<f32> { bytemuck_f32(st.tensor(n).unwrap().data()) };
    assert_eq!(sae.w_enc_DS, w("W_enc"));
    assert_eq!(sae.b_enc_S, w("b_enc"));
    assert_eq!(sae.w_dec_SD, w("W_dec"));
    assert_eq!(sae.b_dec_D, w("b_dec"));
    // Not a saev checkpoint: the error names the file.
    let e = Sae::load_saev_pt(&golden.join("saev_sae_expected.safetensors")).unwrap_err();
    assert!(
        e.to_string().contains("saev_sae_expected.safetensors"),
        "{e}"
    );
}

fn bytemuck_f32(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Sparse sums of 32 planted unit directions in 16 dimensions.
fn planted(n: usize, rng: &mut saev_rng::Pcg64) -> (Vec<f32>, Vec<f32>) {
    let (d, k) = (16, 32);
    let mut uni = move || (rng.next_u64() >> 11) as f32 / (1u64 << 53) as f32;
    let mut gt_KD: Vec<f32> = (0..k * d).map(|_| uni() * 2.0 - 1.0).collect();
    for row in gt_KD.chunks_mut(d) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        row.iter_mut().for_each(|v| *v /= norm);
    }
    let mut x = vec![0.0f32; n * d];
    for row in x.chunks_mut(d) {
        for g in gt_KD.chunks(d) {
            if uni() < 0.06 {
                let a = 1.0 + uni();
                row.iter_mut().zip(g).for_each(|(x, g)| *x += a * g);
            }
        }
    }
    (gt_KD, x)
}

/// Train on planted data; the planted directions some decoder row matches
/// (cosine > 0.95) and the final losses.
fn train_planted(act: Activation, path: saev_sae::StepPath) -> (usize, saev_sae::Losses) {
    let mut rng = saev_rng::Pcg64::from_seed(5);
    let (gt_KD, x) = planted(40_000, &mut rng);
    let mut cfg = cfg(16, 4, if act == Activation::Relu { 3e-2 } else { 0.0 });
    cfg.activation = act;
    let mut sae = Sae::new(cfg);
    sae.init_b_dec(&x[..16 * 4096]);
    let aux = (act != Activation::Relu).then_some(AuxK {
        k_aux: 16,
        alpha: 1.0 / 32.0,
        dead_after: 20_000,
    });
    let mut t = Trainer::new(
        sae,
        TrainConfig {
            lr: 3e-3,
            n_lr_warmup: 50,
            n_sparsity_warmup: 50,
            aux,
            matryoshka: None,
        },
    );
    t.path = path;
    for step in 0..3000 {
        let i = step % (40_000 / 256);
        t.step(&x[i * 256 * 16..(i + 1) * 256 * 16]).unwrap();
    }
    let recovered = gt_KD
        .chunks(16)
        .filter(|g| {
            t.sae.w_dec_SD.chunks(16).any(|w| {
                let n = w.iter().map(|v| v * v).sum::<f32>().sqrt();
                g.iter().zip(w).map(|(a, b)| a * b).sum::<f32>() / n > 0.95
            })
        })
        .count();
    (recovered, t.sae.losses(&x[..16 * 4096], 0.0))
}

#[test]
fn training_recovers_planted_features_on_either_path() {
    use saev_sae::StepPath;
    for act in [Activation::Relu, Activation::TopK { top_k: 3 }] {
        let (recovered, l) = train_planted(act, StepPath::Dense);
        assert!(
            recovered >= 26,
            "{act:?}: recovered {recovered} of 32 (mse {}, l0 {})",
            l.mse,
            l.l0
        );
        assert!(l.l0 < 8.0 && l.mse < 0.05, "{act:?}: {l:?}");
        // The sparse step trains the same SAE: same features, same losses.
        let (sparse_recovered, sl) = train_planted(act, StepPath::Sparse);
        assert_eq!(sparse_recovered, recovered, "{act:?}");
        // Over 3,000 steps TopK's discrete choices let rounding differences
        // grow (ReLU's runs agree to 1e-4); 5% is training noise here.
        let close = |a: f32, b: f32| (a - b).abs() <= 0.05 * a.abs().max(b.abs());
        assert!(
            close(sl.mse, l.mse) && close(sl.l0, l.l0),
            "{act:?}: dense {l:?}, sparse {sl:?}"
        );
    }
}

#[test]
fn the_sparse_step_trains_the_weights_the_dense_step_does() {
    use saev_sae::StepPath;
    // Two encoder blocks per batch (256 + 44 examples): an untrained ReLU
    // SAE on `StepPath::Auto` sees the first block dense and finishes densely.
    let (d, b) = (16, 300);
    let mut rng = saev_rng::Pcg64::from_seed(11);
    let batches: Vec<Vec<f32>> = (0..10)
        .map(|_| {
            (0..b * d)
                .map(|_| (rng.next_u32() >> 8) as f32 / (1 << 23) as f32 - 1.0)
                .collect()
        })
        .collect();
    let activations = [
        saev_sae::Activation::Relu,
        saev_sae::Activation::TopK { top_k: 3 },
        saev_sae::Activation::BatchTopK {
            top_k: 3,
            momentum: 0.2,
        },
    ];
    // Plain, Matryoshka, AuxK (a latent silent for one batch is dead) and both.
    let matryoshka = Some(Matryoshka { n_prefixes: 4 });
    let aux = Some(AuxK {
        k_aux: 5,
        alpha: 0.5,
        dead_after: b as u64,
    });
    let objectives = [
        (None, None),
        (matryoshka, None),
        (None, aux),
        (matryoshka, aux),
    ];
    let cases = activations
        .iter()
        .flat_map(|&a| objectives.iter().map(move |&(m, x)| (a, m, x)));
    for (activation, matryoshka, aux) in cases {
        let mut sae = Sae::new(SaeConfig {
            d_vit: d,
            exp_factor: 4,
            sparsity_coeff: 1e-3,
            activation,
            seed: 5,
            ..SaeConfig::default()
        });
        // Every fourth latent never fires, so AuxK has dead latents to use
        // with every activation.
        sae.b_enc_S.iter_mut().step_by(4).for_each(|b| *b = -100.0);
        let cfg = TrainConfig {
            lr: 3e-3,
            n_lr_warmup: 2,
            aux,
            matryoshka,
            ..TrainConfig::default()
        };
        let activation = (activation, matryoshka.is_some(), aux.is_some());
        let run = |path: StepPath| {
            let mut t = Trainer::new(sae.clone(), cfg.clone());
            t.path = path;
            let all: Vec<_> = batches.iter().map(|x| t.step(x).unwrap()).collect();
            let aux: f32 = all.iter().map(|l| l.aux).sum();
            (t, all.iter().map(|l| l.loss).collect::<Vec<f32>>(), aux)
        };
        let (dense, dl, dense_aux) = run(StepPath::Dense);
        let (sparse, sl, _) = run(StepPath::Sparse);
        let (auto, al, _) = run(StepPath::Auto);
        // With AuxK on, some latents were dead and the term was live.
        assert_eq!(
            dense_aux > 0.0,
            aux.is_some(),
            "{activation:?}: aux {dense_aux}"
        );
        let max_diff = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max)
        };
        for other in [&sparse, &auto] {
            for (name, a, b) in [
                ("W_enc", &dense.sae.w_enc_DS, &other.sae.w_enc_DS),
                ("b_enc", &dense.sae.b_enc_S, &other.sae.b_enc_S),
                ("W_dec", &dense.sae.w_dec_SD, &other.sae.w_dec_SD),
                ("b_dec", &dense.sae.b_dec_D, &other.sae.b_dec_D),
            ] {
                let diff = max_diff(a, b);
                assert!(
                    diff < 1e-5,
                    "{activation:?} ({:?}): {name} differs by {diff} after 10 steps",
                    other.path
                );
            }
            assert_eq!(dense.since_fired_S, other.since_fired_S, "{activation:?}");
        }
        for losses in [&sl, &al] {
            assert!(
                max_diff(&dl, losses) < 1e-5,
                "{activation:?}: losses {dl:?} vs {losses:?}"
            );
        }
        assert!((dense.sae.threshold - sparse.sae.threshold).abs() < 1e-5);
        // The weights moved: the comparison is not between two untouched SAEs.
        assert!(max_diff(&dense.sae.w_dec_SD, &sae.w_dec_SD) > 1e-4);
    }
}

/// saev's current `sae.pt` (schema 5, written by its own `dump`), read and
/// encoded to the codes saev's `encode` gives (computed by
/// `tools/golden/check_saev_schema5.py` from the raw tensors).
#[test]
fn saev_schema5_checkpoints_encode_as_saev_does() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/saev-schema5");
    let text = std::fs::read_to_string(root.join("expected.json")).unwrap();
    let expected: std::collections::BTreeMap<String, Vec<f32>> =
        serde_json::from_str(&text).unwrap();
    let x = &expected["x"];
    for (name, activation) in [
        ("relu_sae.pt", Activation::Relu),
        ("topk_sae.pt", Activation::TopK { top_k: 4 }),
        (
            "batchtopk_sae.pt",
            Activation::BatchTopK {
                top_k: 4,
                momentum: 0.1,
            },
        ),
    ] {
        let sae = Sae::load_saev_pt(&root.join(name)).unwrap();
        assert_eq!((sae.d_vit(), sae.d_sae()), (8, 32), "{name}");
        assert_eq!(sae.cfg.activation, activation, "{name}");
        let f = sae.encode(x);
        let want = &expected[name];
        let fired = |v: &[f32]| v.iter().map(|&c| c != 0.0).collect::<Vec<_>>();
        assert_eq!(fired(&f), fired(want), "{name}: which latents fire");
        for (a, b) in f.iter().zip(want) {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                "{name}: {a} vs {b}"
            );
        }
    }
}
