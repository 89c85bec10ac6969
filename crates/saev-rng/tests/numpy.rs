//! Against NumPy 2.4: `default_rng(seed)` state, raw draws and permutations
//! (numpy_permutation.json, made by tools/golden/make_saev_golden.py).

use saev_rng::Pcg64;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn golden() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/numpy_permutation.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn u128_of(v: &Value) -> u128 {
    v["dec"].as_str().unwrap().parse().unwrap()
}

#[test]
fn seeding_and_raw_draws_match_numpy() {
    let g = golden();
    let states = g["pcg64_after_seeding"].as_array().unwrap();
    assert!(states.len() >= 2);
    for s in states {
        let mut rng = Pcg64::from_seed(s["seed"].as_u64().unwrap());
        assert_eq!(
            rng.state(),
            (u128_of(&s["state"]), u128_of(&s["inc"])),
            "seed {}",
            s["seed"]
        );
        let raw: Vec<u64> = (0..8).map(|_| rng.next_u64()).collect();
        let want: Vec<u64> = s["random_raw_8"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        assert_eq!(raw, want);
    }
}

#[test]
fn permutations_match_numpy() {
    let g = golden();
    for p in g["permutations"].as_array().unwrap() {
        let (seed, n) = (
            p["seed"].as_u64().unwrap(),
            p["n"].as_u64().unwrap() as usize,
        );
        let perm = Pcg64::from_seed(seed).permutation(n);
        let mut hasher = Sha256::new();
        for i in &perm {
            hasher.update((*i as i64).to_le_bytes());
        }
        let digest: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            digest,
            p["sha256_le_i64"].as_str().unwrap(),
            "seed {seed}, n {n}"
        );
        if let Some(full) = p["perm"].as_array() {
            let want: Vec<u64> = full.iter().map(|x| x.as_u64().unwrap()).collect();
            assert_eq!(perm, want);
        }
        // The u32 fast path gives the same prefix.
        assert_eq!(
            Pcg64::from_seed(seed).permutation_prefix(n, 100),
            perm[..n.min(100)]
        );
    }
}

#[test]
fn interval_stays_in_bounds_and_hits_them() {
    let mut rng = Pcg64::from_seed(0);
    for max in [
        1u64,
        2,
        3,
        7,
        1000,
        u32::MAX as u64,
        u32::MAX as u64 + 1,
        u64::MAX,
    ] {
        let draws: Vec<u64> = (0..2000).map(|_| rng.interval(max)).collect();
        assert!(draws.iter().all(|&x| x <= max));
        if max <= 3 {
            assert!((0..=max).all(|v| draws.contains(&v)), "max {max}");
        }
    }
}
