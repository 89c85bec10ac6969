//! The `saev` binary end to end: flags in saev's spelling, exit codes, JSON output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn saev(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_saev"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn stdout_json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The store written by saev's own ShardWriter (see crates/saev-shards/tests/golden).
fn saev_store() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/saev-shards/tests/golden/full/1b18c8bc6d7b7ebe1a426e73917f478ba15e0243d6af09009c6d66e4e388cd50")
}

#[test]
fn inspect_summarizes_a_saev_store() {
    let v = stdout_json(&saev(&[
        "shards",
        "inspect",
        saev_store().to_str().unwrap(),
    ]));
    assert_eq!(v["metadata"]["layers"], serde_json::json!([3, -2]));
    assert_eq!(v["n_shards"], 3);
    assert_eq!(v["n_tokens"], 5);
    assert_eq!(v["hash_matches_dir"], true);
    assert!(
        v["complete"].is_null(),
        "saev stores carry no progress record"
    );
    let views = v["views"].as_array().unwrap();
    assert!(views
        .iter()
        .any(|w| w["patches"] == "patches" && w["layer"] == "-2" && w["len"] == 44));
}

#[test]
fn verify_passes_good_stores_and_fails_bad_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("store");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(saev_store()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    let v = stdout_json(&saev(&["shards", "verify", copy.to_str().unwrap()]));
    assert_eq!(v["problems"], serde_json::json!([]));

    // Poison one value: verify reports it and exits non-zero.
    let shard = copy.join("acts000002.bin");
    let mut bytes = std::fs::read(&shard).unwrap();
    bytes[8..12].copy_from_slice(&f32::INFINITY.to_le_bytes());
    std::fs::write(&shard, bytes).unwrap();
    let out = saev(&["shards", "verify", copy.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("acts000002.bin: 1 NaN or Inf"), "{stderr}");
}

#[test]
fn bench_accepts_saev_flags_and_prints_rates() {
    let root = saev_store();
    let v = stdout_json(&saev(&[
        "shards",
        "bench",
        "--data.shard-root",
        root.to_str().unwrap(),
        "--data.patches",
        "cls",
        "--data.layer",
        "-2",
        "--batch-size",
        "4",
        "--seconds",
        "0.2",
        "--data.scale-mean",
        "False",
    ]));
    assert_eq!(v["patches"], "cls");
    assert_eq!(v["layer"], "-2");
    assert_eq!(v["examples"], 11);
    for stream in ["shuffled", "ordered", "sequential_read"] {
        assert!(
            v[stream]["examples_per_s"].as_f64().unwrap() > 0.0,
            "{stream}"
        );
    }
}

#[test]
fn bad_flags_and_stores_give_clear_errors() {
    let out = saev(&[
        "shards",
        "bench",
        saev_store().to_str().unwrap(),
        "--data.layer",
        "7",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("layer 7 is not recorded"), "{stderr}");

    let out = saev(&["shards", "inspect", "/nonexistent/store"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/store"));
}

#[test]
fn killed_recording_resumes_to_identical_files() {
    let tmp = tempfile::tempdir().unwrap();
    let args = |dir: &Path| -> Vec<String> {
        [
            "shards",
            "synth",
            "--dump-to",
            dir.to_str().unwrap(),
            "--n-imgs",
            "40",
            "--d-vit",
            "16",
            "--n-patches-per-img",
            "4",
            "--layers",
            "-2",
            "6",
            "--n-patches-per-shard",
            "100",
            "--images-per-batch",
            "3",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let clean = tmp.path().join("clean");
    let status = Command::new(env!("CARGO_BIN_EXE_saev"))
        .args(args(&clean))
        .output()
        .unwrap();
    assert!(status.status.success());

    let crashed = tmp.path().join("crashed");
    let out = Command::new(env!("CARGO_BIN_EXE_saev"))
        .args(args(&crashed))
        .env("SAEV_TEST_ABORT_AFTER_IMAGES", "17")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the process was meant to die");
    let store = std::fs::read_dir(&crashed)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let v = stdout_json(&saev(&["shards", "inspect", store.to_str().unwrap()]));
    assert_eq!(
        (v["complete"].clone(), v["n_imgs_written"].clone()),
        (serde_json::json!(false), serde_json::json!(18))
    );
    let out = saev(&["shards", "verify", store.to_str().unwrap()]);
    assert!(!out.status.success(), "an unfinished store does not verify");

    let again = Command::new(env!("CARGO_BIN_EXE_saev"))
        .args(args(&crashed))
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let clean_store = std::fs::read_dir(&clean)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(store.file_name(), clean_store.file_name());
    let n_shards = stdout_json(&saev(&["shards", "inspect", store.to_str().unwrap()]))["n_shards"]
        .as_u64()
        .unwrap();
    assert_eq!(n_shards, 4); // 100 / 2 layers / 5 tokens = 10 images per shard
    for shard in 0..n_shards {
        let name = format!("acts{shard:06}.bin");
        assert!(
            std::fs::read(store.join(&name)).unwrap()
                == std::fs::read(clean_store.join(&name)).unwrap(),
            "{name}"
        );
    }
    assert_eq!(
        stdout_json(&saev(&["shards", "verify", store.to_str().unwrap()]))["problems"],
        serde_json::json!([])
    );
}
