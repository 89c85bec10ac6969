//! Record the fixture tower over the fixture images and read the shards back.

use std::path::{Path, PathBuf};

use burn::backend::Flex;
use saev_activations::{record, DataSource, RecordConfig};
use saev_shards::{DataLoad, Dataset, Labels, Layer, Patches, Scale};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// residuals [image, block, token, width] from the fixture.
fn expected_residuals() -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(repo().join("fixtures/clip/tiny-expected.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor("residuals").unwrap();
    (
        t.shape().to_vec(),
        t.data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect(),
    )
}

/// An image folder with the six fixture images in one class, so the order is theirs.
fn image_folder(tmp: &Path) -> PathBuf {
    let root = tmp.join("images");
    std::fs::create_dir_all(root.join("all")).unwrap();
    for entry in std::fs::read_dir(repo().join("fixtures/clip/images")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), root.join("all").join(entry.file_name())).unwrap();
    }
    root
}

fn config(root: &Path, dump_to: &Path, n_patches: usize) -> RecordConfig {
    RecordConfig {
        data: DataSource::ImageFolder {
            root: root.to_path_buf(),
        },
        dump_to: dump_to.to_path_buf(),
        model_family: "clip".into(),
        model_ckpt: repo()
            .join("fixtures/clip/tiny-openclip")
            .to_string_lossy()
            .into_owned(),
        model_dir: None,
        vit_batch_size: 4,
        n_workers: 2,
        d_vit: 64,
        layers: vec![-2, -1],
        n_patches_per_img: n_patches,
        cls_token: true,
        n_patches_per_shard: 197 * 2 * 4, // 4 images per shard when recording patches
        seed: 42,
        part: None,
    }
}

fn close(got: &[f32], want: &[f32]) {
    for (a, b) in got.iter().zip(want) {
        assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "{a} vs {b}");
    }
}

#[test]
fn recorded_shards_hold_what_open_clip_computed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = image_folder(tmp.path());
    let cfg = config(&root, &tmp.path().join("shards"), 196);
    let summary = record::<Flex>(&cfg, &Default::default(), |_| {}).unwrap();
    assert_eq!((summary.n_imgs, summary.recorded), (6, 6));
    assert_eq!(summary.root, cfg.dump_to.join(cfg.metadata(6).hash()));

    let (shape, want) = expected_residuals();
    let (n_layers, t, w) = (shape[1], shape[2], shape[3]);
    for (layer, block) in [(-2i64, 1usize), (-1, 2)] {
        let ds = Dataset::open(DataLoad {
            shard_root: summary.root.clone(),
            patches: Patches::Patches,
            layer: Layer::Index(layer),
            scale_mean: Scale::Off,
            scale_norm: Scale::Off,
            ..DataLoad::default()
        })
        .unwrap();
        assert_eq!(ds.len(), 6 * 196);
        // Image 0 is alpha.png (RGBA): the fixture's expected values come
        // from the transform of the raw image, but saev's loaders (and so
        // recording) convert to RGB first; that path is pinned to Pillow in
        // saev-imaging's image-mode fixtures.
        for i in [196u64, 391, 392, 1000, 6 * 196 - 1] {
            let ex = ds.get(i).unwrap();
            let (img, patch) = ((i / 196) as usize, (i % 196) as usize);
            let start = ((img * n_layers + block) * t + 1 + patch) * w;
            close(&ex.act, &want[start..start + w]);
        }
    }
    let labels = Labels::load(&summary.root).unwrap().unwrap();
    assert_eq!(labels.classes, ["all"]);
    assert_eq!(labels.len(), 6);
    assert!(labels.paths[2].ends_with("landscape.jpg"));
}

#[test]
fn cls_only_store_and_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let root = image_folder(tmp.path());
    let cfg = config(&root, &tmp.path().join("shards"), 0);
    let first = record::<Flex>(&cfg, &Default::default(), |_| {}).unwrap();
    // A second run finds the store complete and records nothing.
    let again = record::<Flex>(&cfg, &Default::default(), |_| {}).unwrap();
    assert_eq!((again.resumed_at, again.recorded), (6, 0));
    assert_eq!(first.root, again.root);

    let (shape, want) = expected_residuals();
    let (n_layers, t, w) = (shape[1], shape[2], shape[3]);
    let ds = Dataset::open(DataLoad {
        shard_root: first.root.clone(),
        patches: Patches::Cls,
        layer: Layer::Index(-2),
        scale_mean: Scale::Off,
        scale_norm: Scale::Off,
        ..DataLoad::default()
    })
    .unwrap();
    // Image 0 is alpha.png: see recorded_shards_hold_what_open_clip_computed.
    for img in 1..6 {
        let start = (img * n_layers + 1) * t * w;
        close(&ds.get(img as u64).unwrap().act, &want[start..start + w]);
    }
}

#[test]
fn mismatched_settings_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = image_folder(tmp.path());
    let mut cfg = config(&root, &tmp.path().join("shards"), 196);
    cfg.d_vit = 768;
    let err = record::<Flex>(&cfg, &Default::default(), |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--d-vit is 768") && err.contains("width 64"),
        "{err}"
    );
    cfg.d_vit = 64;
    cfg.n_patches_per_img = 256;
    let err = record::<Flex>(&cfg, &Default::default(), |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("196 patches per image"), "{err}");
    cfg.n_patches_per_img = 196;
    cfg.layers = vec![-5];
    let err = record::<Flex>(&cfg, &Default::default(), |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("layer -5 does not exist in a 3-block ViT"),
        "{err}"
    );
}

#[test]
fn undecodable_image_stops_with_its_name() {
    let tmp = tempfile::tempdir().unwrap();
    let root = image_folder(tmp.path());
    std::fs::write(root.join("all/zz-broken.png"), b"not a png").unwrap();
    let cfg = config(&root, &tmp.path().join("shards"), 0);
    let err = record::<Flex>(&cfg, &Default::default(), |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("zz-broken.png") && err.contains("cannot decode"),
        "{err}"
    );
}

#[test]
fn imagenet_parquet_records_in_datasets_order_with_hf_class_names() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = repo().join("fixtures/imagenet-parquet");
    let mut cfg = config(&fixture, &tmp.path().join("shards"), 0);
    cfg.data = DataSource::Imagenet {
        root: fixture.clone(),
        split: "train".into(),
    };
    let summary = record::<Flex>(&cfg, &Default::default(), |_| {}).unwrap();
    assert_eq!(summary.n_imgs, 9);
    let md = saev_shards::Metadata::load(&summary.root).unwrap();
    assert_eq!(
        md.data,
        "ImagenetDataset(name='ILSVRC/imagenet-1k', split='train')"
    );
    let labels = Labels::load(&summary.root).unwrap().unwrap();
    assert_eq!(labels.classes[0], "tench, Tinca tinca");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("expected.json")).unwrap())
            .unwrap();
    let want: Vec<u32> = expected["train"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["label"].as_u64().unwrap() as u32)
        .collect();
    assert_eq!(labels.targets, want);
    assert!(
        labels.paths[5].ends_with("train-00001-of-00002.parquet#0"),
        "{}",
        labels.paths[5]
    );

    // The same images as files in one class folder record to the same values.
    let folder = tmp.path().join("as-files/all");
    std::fs::create_dir_all(&folder).unwrap();
    let images = saev_datasets::imagenet::ParquetImages::open(&fixture, "train").unwrap();
    for (i, row) in images.read(0, 9).unwrap().iter().enumerate() {
        std::fs::write(folder.join(format!("{i:02}.img.png")), &row.bytes).unwrap();
    }
    let mut by_files = config(&tmp.path().join("as-files"), &tmp.path().join("shards2"), 0);
    by_files.data = DataSource::ImageFolder {
        root: tmp.path().join("as-files"),
    };
    let other = record::<Flex>(&by_files, &Default::default(), |_| {}).unwrap();
    let open = |root: &Path| {
        Dataset::open(DataLoad {
            shard_root: root.to_path_buf(),
            patches: Patches::Cls,
            layer: Layer::Index(-2),
            scale_mean: Scale::Off,
            scale_norm: Scale::Off,
            ..DataLoad::default()
        })
        .unwrap()
    };
    let (a, b) = (open(&summary.root), open(&other.root));
    for i in 0..9 {
        assert_eq!(a.get(i).unwrap().act, b.get(i).unwrap().act, "image {i}");
    }
}

#[test]
fn interrupted_recording_resumes_to_the_same_values() {
    let tmp = tempfile::tempdir().unwrap();
    let root = image_folder(tmp.path());
    let full = record::<Flex>(
        &config(&root, &tmp.path().join("full"), 196),
        &Default::default(),
        |_| {},
    )
    .unwrap();

    // A run that died after its first batch: the store holds 4 of 6 images.
    let cfg = config(&root, &tmp.path().join("cut"), 196);
    let md = cfg.metadata(6);
    let mut writer =
        saev_shards::ShardWriter::create(&cfg.dump_to, md, Default::default()).unwrap();
    let per_img = writer.layout().image_floats();
    let store = saev_shards::Store::open(&full.root).unwrap();
    let first_four: Vec<f32> = (0..4).flat_map(|i| store.image(i).to_vec()).collect();
    assert_eq!(first_four.len(), 4 * per_img);
    writer.append(&first_four).unwrap();
    drop(writer);

    let resumed = record::<Flex>(&cfg, &Default::default(), |_| {}).unwrap();
    assert_eq!((resumed.resumed_at, resumed.recorded), (4, 2));
    let (a, b) = (
        saev_shards::Store::open(&full.root).unwrap(),
        saev_shards::Store::open(&resumed.root).unwrap(),
    );
    for i in 0..6 {
        assert_eq!(a.image(i), b.image(i), "image {i}");
    }
}
