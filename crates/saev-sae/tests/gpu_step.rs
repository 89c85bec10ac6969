//! The device step ([`BurnTrainer`]) against the CPU step ([`Trainer`]):
//! on burn's CPU backend always, and with `--features wgpu` on burn's wgpu
//! backend, where the CubeCL kernels run (CI: Mesa's lavapipe, a software
//! Vulkan GPU; `SAEV_REQUIRE_LAVAPIPE=1` makes a missing device a failure).

use burn::backend::{flex::FlexDevice, Flex};
use saev_sae::{
    Activation, AuxK, BurnTrainer, Matryoshka, Sae, SaeConfig, StepKernels, StepPath, TrainConfig,
    Trainer,
};

fn uniform(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = saev_rng::Pcg64::from_seed(seed);
    (0..n)
        .map(|_| (rng.next_u32() >> 8) as f32 / (1 << 23) as f32 * 2.0 - 1.0)
        .collect()
}

/// The objectives the step must agree on: each activation, Matryoshka,
/// AuxK with latents going dead within the run.
fn cases() -> Vec<(&'static str, Activation, Option<Matryoshka>, Option<AuxK>)> {
    let aux = AuxK {
        k_aux: 6,
        alpha: 0.1,
        dead_after: 48,
    };
    let batch_topk = Activation::BatchTopK {
        top_k: 3,
        momentum: 0.2,
    };
    vec![
        ("relu", Activation::Relu, None, None),
        ("relu+aux", Activation::Relu, None, Some(aux)),
        ("topk", Activation::TopK { top_k: 4 }, None, None),
        (
            "topk+matryoshka+aux",
            Activation::TopK { top_k: 4 },
            Some(Matryoshka { n_prefixes: 3 }),
            Some(aux),
        ),
        ("batchtopk+aux", batch_topk, None, Some(aux)),
    ]
}

/// Ten steps from the same start on the CPU and on `device` (TopK's
/// products dense or over codes, as `path` says): losses, weights,
/// dead-latent counters and BatchTopK's threshold agree to `tol`.
fn follows_the_cpu_step<B: StepKernels>(device: &B::Device, path: StepPath, tol: f32) {
    let (d, exp, b) = (16, 8, 32);
    for (name, act, matryoshka, aux) in cases() {
        let mut sae = Sae::new(SaeConfig {
            d_vit: d,
            exp_factor: exp,
            seed: 7,
            sparsity_coeff: 0.02,
            activation: act,
            ..SaeConfig::default()
        });
        // Some latents never fire on this data: AuxK has dead latents to train.
        sae.b_enc_S.iter_mut().step_by(3).for_each(|v| *v -= 3.0);
        let cfg = TrainConfig {
            lr: 1e-2,
            n_lr_warmup: 3,
            n_sparsity_warmup: 3,
            aux,
            matryoshka,
        };
        let mut cpu = Trainer::new(sae, cfg);
        let mut gpu = BurnTrainer::<B>::from_trainer(&cpu, device);
        gpu.path = path;
        let name = format!("{name} ({path:?})");
        for i in 0..10 {
            let x = uniform(b * d, 100 + i);
            let a = cpu.step(&x).expect("finite");
            let g = gpu.step(&x).expect("finite");
            let terms = [
                (a.loss, g.loss),
                (a.mse, g.mse),
                (a.l0, g.l0),
                (a.aux, g.aux),
            ];
            for (p, q) in terms {
                let err = (p - q).abs() / p.abs().max(1.0);
                assert!(err <= tol, "{name} step {i}: cpu {a:?} vs device {g:?}");
            }
        }
        let back = gpu.to_trainer();
        assert_eq!(back.step, cpu.step, "{name}");
        assert_eq!(
            back.since_fired_S, cpu.since_fired_S,
            "{name}: dead-latent counters"
        );
        if aux.is_some() {
            let dead = cpu.since_fired_S.iter().filter(|&&n| n >= 48).count();
            assert!(dead > 0, "{name}: the case must have dead latents");
        }
        let dt = (back.sae.threshold - cpu.sae.threshold).abs();
        assert!(dt <= tol, "{name}: threshold {dt}");
        for (what, p, q) in [
            ("W_enc", &back.sae.w_enc_DS, &cpu.sae.w_enc_DS),
            ("b_enc", &back.sae.b_enc_S, &cpu.sae.b_enc_S),
            ("W_dec", &back.sae.w_dec_SD, &cpu.sae.w_dec_SD),
            ("b_dec", &back.sae.b_dec_D, &cpu.sae.b_dec_D),
        ] {
            let worst = p
                .iter()
                .zip(q)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst <= tol, "{name} {what}: differs by {worst}");
        }
    }
}

/// A NaN batch freezes the SAE where it was and reports the step, when the
/// losses are read (not before: the step reads nothing back).
fn a_non_finite_loss_freezes_the_sae<B: StepKernels>(device: &B::Device) {
    let sae = Sae::new(SaeConfig {
        d_vit: 8,
        exp_factor: 4,
        ..SaeConfig::default()
    });
    let mut gpu =
        BurnTrainer::<B>::from_trainer(&Trainer::new(sae, TrainConfig::default()), device);
    let good = uniform(16 * 8, 1);
    gpu.step(&good).expect("finite");
    let before = gpu.to_trainer();
    let mut bad = good.clone();
    bad[5] = f32::NAN;
    let x = gpu.upload_batch(&bad);
    gpu.step_on(&x);
    let x = gpu.upload_batch(&good);
    gpu.step_on(&x);
    let err = gpu.losses().expect_err("the NaN step is reported");
    assert_eq!(err.step, 1);
    assert!(err.losses.loss.is_nan());
    let after = gpu.to_trainer();
    assert_eq!(after.sae.w_enc_DS, before.sae.w_enc_DS);
    assert_eq!(after.sae.w_dec_SD, before.sae.w_dec_SD);
    assert_eq!(after.moments(), before.moments());
}

#[test]
fn flex_step_follows_the_cpu_step() {
    follows_the_cpu_step::<Flex>(&FlexDevice, StepPath::Dense, 1e-5);
    // The sparse TopK formulas, as burn tensor operations.
    follows_the_cpu_step::<Flex>(&FlexDevice, StepPath::Sparse, 1e-5);
}

#[test]
fn flex_step_freezes_on_a_non_finite_loss() {
    a_non_finite_loss_freezes_the_sae::<Flex>(&FlexDevice);
}

#[cfg(feature = "wgpu")]
mod wgpu {
    use super::*;
    use burn::tensor::{Tensor, TensorData};
    use saev_sae::gpu::{WgpuDevice, WgpuStep};

    /// Mesa's lavapipe (or, outside CI, whatever wgpu finds first).
    fn device() -> WgpuDevice {
        // Burn's matrix-product tuning compiles and times many candidate
        // kernels: on a software GPU that alone takes minutes.
        std::env::set_var("SAEV_MATMUL", "untuned");
        saev_sae::gpu::runtime::init();
        match std::env::var_os("SAEV_REQUIRE_LAVAPIPE") {
            Some(_) => WgpuDevice::Cpu,
            None => WgpuDevice::DefaultDevice,
        }
    }

    #[test]
    fn radix_select_matches_sorting() {
        let dev = device();
        let (rows, cols) = (37, 1000);
        let mut x = uniform(rows * cols, 3);
        // Ties, negatives, zeros and -inf (AuxK's masked latents).
        for (i, v) in x.iter_mut().enumerate() {
            match i % 11 {
                0 => *v = 0.25,
                1 => *v = f32::NEG_INFINITY,
                2 => *v = -0.0,
                _ => {}
            }
        }
        let t = || Tensor::<WgpuStep, 2>::from_data(TensorData::new(x.clone(), [rows, cols]), &dev);
        let sorted_rows: Vec<Vec<f32>> = x
            .chunks(cols)
            .map(|row| {
                let mut row = row.to_vec();
                row.sort_by(|a, b| b.total_cmp(a));
                row
            })
            .collect();
        // k up to 256 also takes the per-row floor; above it, plain radix.
        for k in [1, 2, 32, 91, 256, 500, 1000] {
            let got = WgpuStep::kth_largest(t(), k)
                .into_data()
                .to_vec::<f32>()
                .unwrap();
            let want: Vec<f32> = sorted_rows.iter().map(|r| r[k - 1]).collect();
            assert_eq!(got, want, "k = {k}");
        }
        // BatchTopK's shape: one long row over many cubes.
        let long =
            Tensor::<WgpuStep, 2>::from_data(TensorData::new(x.clone(), [1, rows * cols]), &dev);
        let got = WgpuStep::kth_largest(long, 12_345)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let mut sorted = x.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        assert_eq!(got, vec![sorted[12_344]]);
    }

    #[test]
    fn wgpu_step_follows_the_cpu_step() {
        assert!(WgpuStep::has_sparse_kernels());
        // TopK over codes (the kernels); the other objectives dense.
        follows_the_cpu_step::<WgpuStep>(&device(), StepPath::Auto, 1e-4);
    }

    #[test]
    fn wgpu_step_freezes_on_a_non_finite_loss() {
        a_non_finite_loss_freezes_the_sae::<WgpuStep>(&device());
    }
}
