//! Hugging Face parquet ImageNet against what `datasets` yields (fixtures/imagenet-parquet).

use std::path::{Path, PathBuf};

use saev_datasets::imagenet::ParquetImages;
use sha2::{Digest, Sha256};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/imagenet-parquet")
}

#[test]
fn rows_come_in_datasets_order_with_class_names() {
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture().join("expected.json")).unwrap())
            .unwrap();
    for split in ["train", "validation"] {
        let ds = ParquetImages::open(&fixture(), split).unwrap();
        let want = expected[split].as_array().unwrap();
        assert_eq!(ds.len(), want.len());
        assert_eq!(
            ds.classes,
            [
                "tench, Tinca tinca",
                "goldfish, Carassius auratus",
                "great white shark"
            ]
        );
        let all = ds.read(0, ds.len()).unwrap();
        let labels: Vec<i64> = want.iter().map(|w| w["label"].as_i64().unwrap()).collect();
        assert_eq!(ds.labels().unwrap(), labels);
        for (img, w) in all.iter().zip(want) {
            let digest: String = Sha256::digest(&img.bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(digest, w["sha256"].as_str().unwrap(), "{}", img.origin);
            assert_eq!(img.label, w["label"].as_i64().unwrap());
        }
        // Any window (crossing row groups and files) is the same rows.
        for (lo, hi) in [(1, 4), (3, 7), (4, 5), (0, 1)] {
            let hi = hi.min(ds.len());
            if lo >= hi {
                continue;
            }
            let part = ds.read(lo, hi).unwrap();
            let origins: Vec<&str> = part.iter().map(|p| p.origin.as_str()).collect();
            let whole: Vec<&str> = all[lo..hi].iter().map(|p| p.origin.as_str()).collect();
            assert_eq!(origins, whole);
        }
    }
}

#[test]
fn missing_split_is_a_clear_error() {
    let err = ParquetImages::open(&fixture(), "test")
        .unwrap_err()
        .to_string();
    assert!(err.contains("no test-*.parquet files"), "{err}");
}
