//! saev's current stores (protocol 2.1): metadata bytes, directory hash, reading.
//!
//! The expected bytes and hashes were computed with orjson 3.11.5 (saev's
//! pinned version) on saev's `Metadata` dataclass at OSU-NLP-Group/saev
//! 3d73f1f, for the configs of its own tests (`tests/test_shards_*.py`).

use std::path::{Path, PathBuf};

use saev_shards::protocol::{shard_entries, ShardEntry};
use saev_shards::{Error, Layer, Patches, ProtocolMetadata, Store};

use super::common::{images, unscaled, value};

const FAKE_IMG_2: &str =
    "gASVOAAAAAAAAACMEnNhZXYuZGF0YS5kYXRhc2V0c5SMB0Zha2VJbWeUk5QpgZR9lIwKbl9leGFtcGxlc5RLAnNiLg==";
const FAKE_IMG_8: &str =
    "gASVOAAAAAAAAACMEnNhZXYuZGF0YS5kYXRhc2V0c5SMB0Zha2VJbWeUk5QpgZR9lIwKbl9leGFtcGxlc5RLCHNiLg==";

/// saev's default test store (`FakeImg(2)`, one layer, [CLS] + 16 tokens of 128).
fn e1() -> ProtocolMetadata {
    ProtocolMetadata {
        family: "clip".into(),
        ckpt: "hf-hub:hf-internal-testing/tiny-open-clip-model".into(),
        layers: vec![0],
        content_tokens_per_example: 16,
        cls_token: true,
        d_model: 128,
        n_examples: 2,
        max_tokens_per_shard: 1000,
        data: FAKE_IMG_2.into(),
        dataset: "fake".into(),
        pixel_agg: "majority".into(),
        dtype: "float32".into(),
        protocol: "2.1".into(),
    }
}

const E1_JSON: &str = r#"{
  "family": "clip",
  "ckpt": "hf-hub:hf-internal-testing/tiny-open-clip-model",
  "layers": [
    0
  ],
  "content_tokens_per_example": 16,
  "cls_token": true,
  "d_model": 128,
  "n_examples": 2,
  "max_tokens_per_shard": 1000,
  "data": "gASVOAAAAAAAAACMEnNhZXYuZGF0YS5kYXRhc2V0c5SMB0Zha2VJbWeUk5QpgZR9lIwKbl9leGFtcGxlc5RLAnNiLg==",
  "dataset": "fake",
  "pixel_agg": "majority",
  "dtype": "float32",
  "protocol": "2.1"
}"#;

#[test]
fn metadata_bytes_and_hash_match_saev() {
    let md = e1();
    assert_eq!(md.to_json_pretty(), E1_JSON);
    assert_eq!(md.hash(), "9bba9719");
    let parsed = ProtocolMetadata::parse(E1_JSON, Path::new("metadata.json")).unwrap();
    assert_eq!(parsed, md);

    // tests/test_shards_math.py's config.
    let e2 = ProtocolMetadata {
        layers: vec![0, 1],
        n_examples: 8,
        max_tokens_per_shard: 128,
        data: FAKE_IMG_8.into(),
        ..e1()
    };
    assert_eq!(e2.hash(), "ad027799");
    assert_eq!(e2.to_seed().layout().unwrap().n_imgs_per_shard, 3);
}

#[test]
fn full_shards_end_with_an_empty_file_as_saev_writes() {
    // 6 examples, 3 per shard: saev opens a third, empty shard.
    let md = ProtocolMetadata {
        layers: vec![0, 1],
        n_examples: 6,
        max_tokens_per_shard: 128,
        ..e1()
    };
    let counts: Vec<u64> = shard_entries(&md.to_seed())
        .unwrap()
        .iter()
        .map(|e| e.n_examples)
        .collect();
    assert_eq!(counts, [3, 3, 0]);
    let md = ProtocolMetadata {
        n_examples: 7,
        ..md
    };
    let counts: Vec<u64> = shard_entries(&md.to_seed())
        .unwrap()
        .iter()
        .map(|e| e.n_examples)
        .collect();
    assert_eq!(counts, [3, 3, 1]);
}

/// Write a protocol store the way saev's writer lays it out.
fn write_store(root: &Path, md: &ProtocolMetadata) {
    std::fs::create_dir_all(root).unwrap();
    std::fs::write(root.join("metadata.json"), md.to_json_pretty()).unwrap();
    let seed = md.to_seed();
    let layout = seed.layout().unwrap();
    let entries = shard_entries(&seed).unwrap();
    std::fs::write(
        root.join("shards.json"),
        serde_json::to_string_pretty(&entries).unwrap(),
    )
    .unwrap();
    for (shard, entry) in entries.iter().enumerate() {
        let start = shard as u64 * layout.n_imgs_per_shard;
        let mut floats = images(&seed, start, start + entry.n_examples);
        floats.resize(layout.shard_bytes() as usize / 4, 0.0);
        std::fs::write(root.join(&entry.name), bytemuck_bytes(&floats)).unwrap();
    }
}

fn bytemuck_bytes(floats: &[f32]) -> Vec<u8> {
    floats.iter().flat_map(|f| f.to_le_bytes()).collect()
}

/// A two-layer store of 6 examples ([CLS] + 4 patches of 8 dims, 2 per shard) under `dir`.
fn two_layer_store(dir: &Path) -> (ProtocolMetadata, PathBuf) {
    let md = ProtocolMetadata {
        layers: vec![0, 1],
        content_tokens_per_example: 4,
        d_model: 8,
        n_examples: 6,
        max_tokens_per_shard: 20,
        ..e1()
    };
    let root = dir.join(md.hash());
    write_store(&root, &md);
    (md, root)
}

#[test]
fn protocol_store_reads_through_every_view() {
    let dir = tempfile::tempdir().unwrap();
    let (md, root) = two_layer_store(dir.path());
    let store = Store::open(&root).unwrap();
    assert_eq!(store.protocol(), Some(&md));
    assert_eq!(store.metadata().n_imgs, 6);

    let cls = unscaled(&root, Patches::Cls, Layer::Index(1));
    assert_eq!(cls.len(), 6);
    let ex = cls.get(5).unwrap();
    assert_eq!(ex.act[3], value(5, 1, 0, 3));

    let patches = unscaled(&root, Patches::Patches, Layer::Index(0));
    assert_eq!(patches.len(), 24);
    let ex = patches.get(4 * 3 + 2).unwrap();
    assert_eq!((ex.image_i, ex.patch_i), (3, 2));
    assert_eq!(ex.act[7], value(3, 0, 3, 7));
}

#[test]
fn shards_json_that_disagrees_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let md = ProtocolMetadata {
        content_tokens_per_example: 4,
        d_model: 8,
        n_examples: 3,
        max_tokens_per_shard: 10,
        ..e1()
    };
    let root = dir.path().join(md.hash());
    write_store(&root, &md);
    let wrong = vec![ShardEntry {
        name: "acts000000.bin".into(),
        n_examples: 1,
    }];
    std::fs::write(
        root.join("shards.json"),
        serde_json::to_string(&wrong).unwrap(),
    )
    .unwrap();
    let err = Store::open(&root).unwrap_err();
    assert!(matches!(err, Error::BadMetadata { .. }), "{err}");
    assert!(err.to_string().contains("shards.json"), "{err}");

    let bad = E1_JSON.replace("\"2.1\"", "\"3.0\"");
    std::fs::write(root.join("metadata.json"), bad).unwrap();
    let err = Store::open(&root).unwrap_err().to_string();
    assert!(
        err.contains("metadata.json") && err.contains("3.0"),
        "{err}"
    );
}

#[test]
fn convert_round_trip_links_shards_and_restores_metadata_bytes() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let md = super::common::metadata(&[-2, -1], 4, true, 8, 7, 30);
    let seed_root = super::common::record(&dir.path().join("seed"), &md, 3);
    let before = std::fs::read(seed_root.join("metadata.json")).unwrap();

    let out = dir.path().join("out");
    let p_root =
        saev_shards::convert(&seed_root, Some(&out), saev_shards::Format::Protocol).unwrap();
    let store = Store::open(&p_root).unwrap();
    let p = store.protocol().expect("a protocol store").clone();
    assert_eq!(p_root.file_name().unwrap().to_str().unwrap(), p.hash());
    assert_eq!(
        (p.n_examples, p.d_model, p.dataset.as_str()),
        (7, 8, "/data/test")
    );
    let inode = |path: &Path| std::fs::metadata(path).unwrap().ino();
    let shard0 = |root: &Path| root.join("acts000000.bin");
    assert_eq!(inode(&shard0(&seed_root)), inode(&shard0(&p_root)));
    let a = unscaled(&seed_root, Patches::Patches, Layer::All);
    let b = unscaled(&p_root, Patches::Patches, Layer::All);
    assert_eq!(a.len(), b.len());
    for i in [0, 5, a.len() - 1] {
        assert_eq!(a.get(i).unwrap(), b.get(i).unwrap());
    }

    // Back again: the seed's metadata.json, its seed included, byte for byte.
    let back = saev_shards::convert(&p_root, Some(&out), saev_shards::Format::Seed).unwrap();
    assert_eq!(std::fs::read(back.join("metadata.json")).unwrap(), before);
    assert_eq!(back.file_name().unwrap().to_str().unwrap(), md.hash());
    // And again: the same directory, nothing rewritten.
    let again =
        saev_shards::convert(&seed_root, Some(&out), saev_shards::Format::Protocol).unwrap();
    assert_eq!(again, p_root);
    assert_eq!(inode(&shard0(&seed_root)), inode(&shard0(&again)));
}

#[test]
fn all_tokens_view_is_saevs_tokens_all() {
    let dir = tempfile::tempdir().unwrap();
    let (_, root) = two_layer_store(dir.path());
    let tokens: Patches = "all".parse().unwrap();
    assert_eq!("special".parse::<Patches>().unwrap(), Patches::Cls);
    assert_eq!("content".parse::<Patches>().unwrap(), Patches::Patches);

    let one = unscaled(&root, tokens, Layer::Index(1));
    assert_eq!(one.len(), 6 * 5);
    // Example 5 * 3 is image 3's [CLS]; the next is its first patch.
    let cls = one.get(5 * 3).unwrap();
    assert_eq!(
        (cls.image_i, cls.patch_i, cls.act[2]),
        (3, -1, value(3, 1, 0, 2))
    );
    let patch = one.get(5 * 3 + 1).unwrap();
    assert_eq!((patch.patch_i, patch.act[2]), (0, value(3, 1, 1, 2)));

    let all = unscaled(&root, tokens, Layer::All);
    assert_eq!(all.len(), 6 * 2 * 5);
    // Image 2, layer 1, token 4 (the last patch).
    let ex = all.get(2 * 10 + 5 + 4).unwrap();
    assert_eq!(
        (ex.image_i, ex.patch_i, ex.act[7]),
        (2, 3, value(2, 1, 4, 7))
    );
}

#[test]
fn patch_labels_read_by_example_and_patch_and_checked_for_size() {
    use saev_shards::PatchLabels;
    let dir = tempfile::tempdir().unwrap();
    let md = ProtocolMetadata {
        content_tokens_per_example: 4,
        d_model: 8,
        n_examples: 3,
        max_tokens_per_shard: 10,
        ..e1()
    };
    let root = dir.path().join(md.hash());
    write_store(&root, &md);
    assert_eq!(PatchLabels::load(&root, &md.to_seed()).unwrap(), None);
    let bytes: Vec<u8> = (0..12).map(|i| (i * 7 % 5) as u8).collect();
    std::fs::write(root.join("labels.bin"), &bytes).unwrap();
    let labels = PatchLabels::load(&root, &md.to_seed()).unwrap().unwrap();
    assert_eq!(labels.get(2, 1), bytes[2 * 4 + 1]);
    std::fs::write(root.join("labels.bin"), &bytes[..11]).unwrap();
    let err = PatchLabels::load(&root, &md.to_seed())
        .unwrap_err()
        .to_string();
    assert!(err.contains("labels.bin") && err.contains("12"), "{err}");
}
