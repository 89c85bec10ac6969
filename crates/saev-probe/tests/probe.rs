//! Probes on separable synthetic data; the checkpoint round trip.

use saev_probe::{train_sweep, Probe, Setting, SweepConfig};

/// `n` points per class around `c` well separated centres in `d` dimensions.
fn blobs(n: usize, c: usize, d: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = saev_rng::Pcg64::from_seed(seed);
    let mut uni = move || (rng.next_u64() >> 11) as f32 / (1u64 << 53) as f32 - 0.5;
    let centres: Vec<f32> = (0..c * d).map(|_| 6.0 * uni()).collect();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..n * c {
        let k = i % c;
        x.extend((0..d).map(|j| centres[k * d + j] + uni()));
        y.push(k as u32);
    }
    (x, y)
}

#[test]
fn the_sweep_learns_separable_classes_and_bad_settings_do_worse() {
    let (d, c) = (16, 5);
    let (tx, ty) = blobs(40, c, d, 1);
    let (vx, vy) = blobs(20, c, d, 1);
    let settings = [
        Setting {
            learning_rate: 1e-2,
            weight_decay: 0.1,
        },
        Setting {
            learning_rate: 1e-6,
            weight_decay: 0.1,
        },
        Setting {
            learning_rate: 1e-2,
            weight_decay: 10.0,
        },
    ];
    let mut logs = Vec::new();
    let probes = train_sweep(
        &tx,
        &ty,
        &vx,
        &vy,
        d,
        c,
        &settings,
        &SweepConfig {
            n_epochs: 20,
            batch_size: 32,
            seed: 3,
        },
        |l| logs.push(l.clone()),
    );
    assert_eq!(logs.len(), 20);
    let last = logs.last().unwrap();
    assert!(last.val_acc[0] >= 0.98, "{last:?}");
    assert!(last.train_acc[0] >= 0.98, "{last:?}");
    // A learning rate of 1e-6 barely moves from the random start.
    assert!(last.val_acc[1] < 0.9, "{last:?}");
    // Heavy decoupled weight decay shrinks the weights.
    let norm = |p: &Probe| p.w_CD.iter().map(|w| w * w).sum::<f32>().sqrt();
    assert!(norm(&probes[2]) < norm(&probes[0]));
    assert!((probes[0].accuracy(&vx, &vy) - last.val_acc[0]).abs() < 1e-12);
}

#[test]
#[allow(clippy::needless_range_loop)]
fn adamw_matches_pytorch_on_one_step() {
    // One example, two classes, D = 2, from zero weights: the gradient of the
    // mean cross-entropy is (softmax - onehot) x; Adam's first step moves each
    // weight by lr * sign(g) (bias-corrected m / sqrt(v) = sign(g)), after
    // the decoupled decay p *= 1 - lr * wd.
    let x = [1.0f32, -2.0];
    let mut probes = train_sweep(
        &x,
        &[1],
        &x,
        &[1],
        2,
        2,
        &[Setting {
            learning_rate: 0.1,
            weight_decay: 0.5,
        }],
        &SweepConfig {
            n_epochs: 1,
            batch_size: 1,
            seed: 0,
        },
        |_| {},
    );
    let p = probes.pop().unwrap();
    let init = Probe::new(2, 2, 0);
    let logits = init.logits(&x);
    let pr = saev_probe_softmax(&logits);
    for k in 0..2 {
        let g_row = pr[k] - if k == 1 { 1.0 } else { 0.0 };
        for j in 0..2 {
            let g = g_row * x[j];
            let want = init.w_CD[k * 2 + j] * (1.0 - 0.1 * 0.5) - 0.1 * g.signum();
            assert!((p.w_CD[k * 2 + j] - want).abs() < 1e-6, "w[{k},{j}]");
        }
    }
}

fn saev_probe_softmax(l: &[f32]) -> Vec<f32> {
    let m = l.iter().copied().fold(f32::MIN, f32::max);
    let e: Vec<f32> = l.iter().map(|v| (v - m).exp()).collect();
    let z: f32 = e.iter().sum();
    e.iter().map(|v| v / z).collect()
}

#[test]
fn checkpoints_round_trip_and_name_bad_files() {
    let dir = std::env::temp_dir().join(format!("saev-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut p = Probe::new(4, 3, 9);
    p.classes = vec!["a".into(), "b".into(), "c".into()];
    let path = dir.join("model.safetensors");
    p.save(&path, &[("cfg", "{}".into())]).unwrap();
    let (back, meta) = Probe::load(&path).unwrap();
    assert_eq!(back, p);
    assert_eq!(meta["cfg"], "{}");
    std::fs::write(&path, b"nonsense").unwrap();
    assert!(Probe::load(&path)
        .unwrap_err()
        .to_string()
        .contains("model.safetensors"));
    std::fs::remove_dir_all(&dir).unwrap();
}
