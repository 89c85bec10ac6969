//! The identity edit, a planted flip, proposals, and the evaluation's
//! shortcut against full edits.

use saev_probe::Probe;
use saev_sae::{Sae, SaeConfig};
use saev_steer::{edit, evaluate, proposals, summarize, Edit, EvalConfig};

fn random_sae(d: usize, exp: usize) -> Sae {
    let mut sae = Sae::new(SaeConfig {
        d_vit: d,
        exp_factor: exp,
        seed: 5,
        ..SaeConfig::default()
    });
    sae.b_dec_D
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = 0.1 * i as f32);
    sae
}

fn rows(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut rng = saev_rng::Pcg64::from_seed(seed);
    (0..n * d)
        .map(|_| (rng.next_u64() >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0)
        .collect()
}

#[test]
fn editing_nothing_gives_back_x() {
    let sae = random_sae(8, 4);
    let probe = Probe::new(8, 5, 1);
    let x = rows(1, 8, 2);
    let out = edit(&sae, &probe, &x, &[]);
    assert_eq!(out.x_new_D, x);
    assert_eq!(out.probs_before, out.probs_after);
    // Setting a latent to its own value changes x only by rounding.
    let f = sae.encode(&x);
    let j = f.iter().position(|&v| v > 0.0).unwrap();
    let same = edit(
        &sae,
        &probe,
        &x,
        &[Edit {
            latent: j,
            value: f[j],
        }],
    );
    for (a, b) in same.x_new_D.iter().zip(&x) {
        assert!((a - b).abs() < 1e-6);
    }
}

#[test]
fn raising_a_planted_latent_flips_the_class() {
    // D = 4, S = 8: latent j decodes to ±e_(j mod 4); the probe reads class k off e_k.
    let d = 4;
    let mut w_dec = vec![0.0f32; 8 * d];
    for j in 0..8 {
        w_dec[j * d + j % 4] = if j < 4 { 1.0 } else { -1.0 };
    }
    let w_enc: Vec<f32> = (0..d * 8).map(|i| w_dec[(i % 8) * d + i / 8]).collect();
    let sae = Sae::from_weights(
        SaeConfig {
            d_vit: d,
            exp_factor: 2,
            ..SaeConfig::default()
        },
        w_enc,
        vec![0.0; 8],
        w_dec,
        vec![0.0; d],
    );
    let mut probe = Probe::new(d, 3, 0);
    probe.w_CD = vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0];
    probe.b_C = vec![0.0; 3];
    let x = [2.0, 0.5, 0.0, 0.0];
    let out = edit(
        &sae,
        &probe,
        &x,
        &[Edit {
            latent: 2,
            value: 5.0,
        }],
    );
    assert_eq!(argmax(&out.probs_before), 0);
    assert_eq!(argmax(&out.probs_after), 2);
    assert_eq!(out.x_new_D, vec![2.0, 0.5, 5.0, 0.0]);
    // Class 2's examples light up latent 2 most: it is class 2's proposal.
    let xs = [0.0, 0.0, 3.0, 0.0, 0.1, 0.0, 2.0, 0.0, 3.0, 0.0, 0.0, 0.0];
    let props = proposals(&sae, &xs, &[2, 2, 0], 3, 1, &[true; 8]);
    assert_eq!(props[2], vec![2]);
    assert_eq!(props[0], vec![0]);
    assert!(props[1].is_empty());
    // The evaluation flips every example to a class through its latent, and
    // random latents (along e_3, which the probe ignores) never do.
    let class_latents = vec![vec![0], vec![1], vec![2]];
    let max = vec![4.0; 8];
    let pool = vec![3, 7];
    let xs = [2.0, 0.5, 0.0, 0.0, 0.0, 1.5, 0.2, 0.0];
    let cfg = EvalConfig {
        scales: vec![0.5, 1.0, 2.0],
        seed: 0,
    };
    let rows = evaluate(
        &sae,
        &probe,
        &xs,
        &[0, 1],
        &class_latents,
        &max,
        &pool,
        &cfg,
    );
    assert_eq!(rows.len(), 2 * 2 * 2 * 3);
    let s = summarize(&rows, &cfg.scales);
    let class_at_2 = s
        .iter()
        .find(|r| r.kind == "class" && r.scale == 2.0)
        .unwrap();
    let random_at_2 = s
        .iter()
        .find(|r| r.kind == "random" && r.scale == 2.0)
        .unwrap();
    assert_eq!(class_at_2.flip_rate, 1.0);
    assert_eq!(random_at_2.flip_rate, 0.0);
}

fn argmax(p: &[f32]) -> usize {
    (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap()
}

#[test]
fn the_evaluation_shortcut_equals_full_edits() {
    let sae = random_sae(8, 4);
    let probe = Probe::new(8, 4, 3);
    let xs = rows(3, 8, 4);
    let class_latents = vec![vec![0, 5], vec![1, 9], vec![2, 30], vec![3, 31]];
    let max: Vec<f32> = (0..32).map(|j| 0.5 + j as f32 * 0.1).collect();
    let cfg = EvalConfig {
        scales: vec![1.0, 3.0],
        seed: 7,
    };
    let rows = evaluate(
        &sae,
        &probe,
        &xs,
        &[0, 1, 2],
        &class_latents,
        &max,
        &[10, 11, 12, 13],
        &cfg,
    );
    for r in rows.iter().filter(|r| r.kind == "class") {
        let x = &xs[r.example * 8..(r.example + 1) * 8];
        let edits: Vec<Edit> = class_latents[r.target as usize]
            .iter()
            .map(|&j| Edit {
                latent: j,
                value: r.scale * max[j],
            })
            .collect();
        let full = edit(&sae, &probe, x, &edits);
        assert!(
            (full.probs_after[r.target as usize] - r.p_target_after).abs() < 1e-5,
            "{r:?}"
        );
        assert_eq!(argmax(&full.probs_after) as u32, r.pred_after);
    }
}
