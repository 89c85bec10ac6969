//! Bad input: each error names the file and says what is wrong.

use saev_shards::{verify, DataLoad, Dataset, Layer, Patches, Scale, Store};

use super::common::{metadata, record};

fn unscaled(root: &std::path::Path) -> DataLoad {
    DataLoad {
        shard_root: root.to_path_buf(),
        patches: Patches::Cls,
        layer: Layer::Index(-2),
        scale_mean: Scale::Off,
        scale_norm: Scale::Off,
        ..DataLoad::default()
    }
}

fn store() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = record(tmp.path(), &metadata(&[-2], 2, true, 4, 5, 6), 5); // 2 images per shard
    (tmp, root)
}

#[test]
fn missing_directory_and_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let err = Store::open(tmp.path().join("nope"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nope") && err.contains("no such directory"),
        "{err}"
    );
    let err = Store::open(tmp.path()).unwrap_err().to_string();
    assert!(err.contains("metadata.json is missing"), "{err}");
}

#[test]
fn malformed_metadata() {
    let (_tmp, root) = store();
    let path = root.join("metadata.json");
    std::fs::write(&path, "{\"model_family\": \"clip\"").unwrap();
    let err = Store::open(&root).unwrap_err().to_string();
    assert!(
        err.contains("metadata.json") && err.contains("malformed"),
        "{err}"
    );

    let text = metadata(&[-2], 2, true, 4, 5, 6)
        .to_python_json_pretty()
        .replace("\"d_vit\": 4", "\"d_vit\": \"4\"");
    std::fs::write(&path, text).unwrap();
    let err = Store::open(&root).unwrap_err().to_string();
    assert!(
        err.contains("d_vit") || err.contains("invalid type"),
        "{err}"
    );

    let text = metadata(&[-2], 2, true, 4, 5, 6)
        .to_python_json_pretty()
        .replace("\"n_patches_per_shard\": 6", "\"n_patches_per_shard\": 2");
    std::fs::write(&path, text).unwrap();
    let err = Store::open(&root).unwrap_err().to_string();
    assert!(err.contains("smaller than one image"), "{err}");
}

#[test]
fn short_and_missing_shards() {
    let (_tmp, root) = store();
    let shard = root.join("acts000001.bin");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&shard)
        .unwrap()
        .set_len(10)
        .unwrap();
    let err = Store::open(&root).unwrap_err().to_string();
    assert!(
        err.contains("acts000001.bin") && err.contains("is 10 bytes") && err.contains("96 bytes"),
        "{err}"
    );
    let report = verify(&root).unwrap();
    assert!(!report.ok() && report.problems[0].contains("acts000001.bin"));

    std::fs::remove_file(&shard).unwrap();
    let err = Store::open(&root).unwrap_err().to_string();
    assert!(
        err.contains("acts000001.bin") && err.contains("missing"),
        "{err}"
    );
}

#[test]
fn layer_not_recorded() {
    let (_tmp, root) = store();
    let err = Dataset::open(DataLoad {
        layer: Layer::Index(5),
        ..unscaled(&root)
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("layer 5 is not recorded") && err.contains("[-2]"),
        "{err}"
    );
}

#[test]
fn non_finite_values_are_found_and_located() {
    let (_tmp, root) = store();
    // Image 3 is image 1 of shard 1; poison its layer 0, token 2, dim 1.
    let (img_in_shard, n_tokens, token, d_vit, dim) = (1, 3, 2, 4, 1);
    let off = ((img_in_shard * n_tokens + token) * d_vit + dim) * 4;
    let path = root.join("acts000001.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[off..off + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();

    let ds = Dataset::open(DataLoad {
        patches: Patches::Patches,
        ..unscaled(&root)
    })
    .unwrap();
    let err = ds.get(7).unwrap_err().to_string(); // image 3, patch 1 = token 2
    assert!(
        err.contains("acts000001.bin")
            && err.contains("image 3")
            && err.contains("token 2, dimension 1"),
        "{err}"
    );
    assert!(ds.get(6).is_ok());

    let report = verify(&root).unwrap();
    assert_eq!(report.non_finite, 1);
    assert!(
        report.problems.iter().any(|p| p.contains("NaN")),
        "{:?}",
        report.problems
    );
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("checksum mismatch")),
        "{:?}",
        report.problems
    );

    // Estimating the normalization over it fails too, naming the file.
    let err = Dataset::open(DataLoad {
        patches: Patches::Patches,
        scale_mean: Scale::Estimate,
        ..unscaled(&root)
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("acts000001.bin"), "{err}");
}

#[test]
fn abnormal_values_stop_the_estimate() {
    let tmp = tempfile::tempdir().unwrap();
    let md = metadata(&[-2], 0, true, 4, 3, 10);
    let root = tmp.path().join("store");
    let mut w = saev_shards::ShardWriter::open_at(&root, md, Default::default()).unwrap();
    w.append(&[
        1.0, 2.0, 3.0, 4.0, 5.0, -2000.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0,
    ])
    .unwrap();
    w.finish().unwrap();
    let err = Dataset::open(DataLoad {
        scale_mean: Scale::Estimate,
        ..unscaled(&root)
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("abnormally large activation"), "{err}");
    // With a clamp below 1e3 it is fine, as in saev.
    Dataset::open(DataLoad {
        scale_mean: Scale::Estimate,
        clamp: 500.0,
        ..unscaled(&root)
    })
    .unwrap();
}

#[test]
fn bad_normalization_files() {
    let (tmp, root) = store();
    let pt = tmp.path().join("mean.pt");
    std::fs::write(&pt, b"PK").unwrap();
    let err = Dataset::open(DataLoad {
        scale_mean: Scale::File(pt),
        ..unscaled(&root)
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("mean.pt") && err.contains(".safetensors or .npy"),
        "{err}"
    );

    // A .npy of the wrong length.
    let npy = tmp.path().join("mean.npy");
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let pad = 128 - 10 - header.len() - 1;
    bytes.extend_from_slice(&((header.len() + pad + 1) as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(std::iter::repeat_n(b' ', pad));
    bytes.push(b'\n');
    for x in [1.0f32, 2.0, 3.0] {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(&npy, bytes).unwrap();
    let err = Dataset::open(DataLoad {
        scale_mean: Scale::File(npy),
        ..unscaled(&root)
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("mean.npy") && err.contains("has 3 values, expected d_vit = 4"),
        "{err}"
    );
}

#[test]
fn views_a_store_cannot_supply() {
    let tmp = tempfile::tempdir().unwrap();
    let root = record(tmp.path(), &metadata(&[-2], 0, true, 4, 3, 10), 3);
    let err = Dataset::open(DataLoad {
        patches: Patches::Patches,
        ..unscaled(&root)
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("[CLS]-only store"), "{err}");
}
