//! Against saev itself: stores written by saev's `ShardWriter` and every
//! example its `Dataset.__getitem__` returned (tests/golden, made by
//! tools/golden/make_saev_golden.py).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use saev_shards::{DataLoad, Dataset, Layer, Metadata, Patches, Scale};
use serde_json::Value;

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

struct Golden {
    root: PathBuf,
    cases: Value,
    tensors: HashMap<String, Vec<u8>>,
}

fn load(store: &str) -> Golden {
    let dir = golden().join(store);
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let root = dir.join(cases["hash"].as_str().unwrap());
    let bytes = std::fs::read(dir.join("cases.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors = st
        .tensors()
        .into_iter()
        .map(|(name, t)| (name, t.data().to_vec()))
        .collect();
    Golden {
        root,
        cases,
        tensors,
    }
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn i64s(bytes: &[u8]) -> Vec<i64> {
    bytes
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn layer(v: &Value) -> Layer {
    match v {
        Value::Number(n) => Layer::Index(n.as_i64().unwrap()),
        Value::String(s) => s.parse().unwrap(),
        _ => panic!("bad layer {v}"),
    }
}

fn scale(v: &Value) -> Scale {
    if v.as_bool().unwrap() {
        Scale::Estimate
    } else {
        Scale::Off
    }
}

fn close(a: f32, b: f32, rel: f32) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
}

fn check_store(store: &str) -> usize {
    let g = load(store);
    let mut checked = 0;
    for case in g.cases["cases"].as_array().unwrap() {
        let key = case["key"].as_str().unwrap();
        let dl = &case["dataload"];
        let cfg = DataLoad {
            shard_root: g.root.clone(),
            patches: dl["patches"].as_str().unwrap().parse::<Patches>().unwrap(),
            layer: layer(&dl["layer"]),
            clamp: dl["clamp"].as_f64().unwrap() as f32,
            n_random_samples: dl["n_random_samples"].as_u64().unwrap() as usize,
            scale_mean: scale(&dl["scale_mean"]),
            scale_norm: scale(&dl["scale_norm"]),
        };
        let scaled = cfg.scale_mean == Scale::Estimate || cfg.scale_norm == Scale::Estimate;
        let acts = f32s(&g.tensors[&format!("{key}__acts")]);
        if acts.iter().any(|x| x.is_nan()) {
            // saev averages zero patches of a [CLS]-only store into NaN; we refuse.
            let err = Dataset::open(cfg).unwrap_err().to_string();
            assert!(err.contains("[CLS]-only store"), "{key}: {err}");
            continue;
        }
        let ds = Dataset::open(cfg).unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(ds.len(), case["len"].as_u64().unwrap(), "{key}: len");

        let norm = ds.normalization();
        let want_mean = f32s(&g.tensors[&format!("{key}__act_mean")]);
        let want_scalar = f32s(&g.tensors[&format!("{key}__scalar")])[0];
        for (a, b) in norm.act_mean.iter().zip(&want_mean) {
            assert!(close(*a, *b, 1e-6), "{key}: act_mean {a} vs saev {b}");
        }
        assert!(
            close(norm.scalar, want_scalar, 1e-6),
            "{key}: scalar {} vs saev {want_scalar}",
            norm.scalar
        );

        let image_i = i64s(&g.tensors[&format!("{key}__image_i")]);
        let patch_i = i64s(&g.tensors[&format!("{key}__patch_i")]);
        let d = ds.d_vit();
        for i in 0..ds.len() {
            let ex = ds.get(i).unwrap();
            let want = &acts[i as usize * d..(i as usize + 1) * d];
            if scaled {
                for (a, b) in ex.act.iter().zip(want) {
                    assert!(close(*a, *b, 2e-6), "{key}[{i}]: {a} vs saev {b}");
                }
            } else {
                // Unscaled examples (copies, clamps and means) match saev bit for bit.
                assert_eq!(ex.act, want, "{key}[{i}]");
            }
            assert_eq!(ex.image_i, image_i[i as usize], "{key}[{i}]: image_i");
            assert_eq!(ex.patch_i, patch_i[i as usize], "{key}[{i}]: patch_i");
        }
        checked += 1;
    }
    // The lengths saev's __len__ gives for views its __getitem__ rejects.
    for case in g.cases["rejected_by_getitem"].as_array().unwrap() {
        let cfg = DataLoad {
            shard_root: g.root.clone(),
            patches: case["patches"].as_str().unwrap().parse().unwrap(),
            layer: layer(&case["layer"]),
            scale_mean: Scale::Off,
            scale_norm: Scale::Off,
            ..DataLoad::default()
        };
        let want = case["len"].as_u64().unwrap();
        match Dataset::open(cfg) {
            Ok(ds) => assert_eq!(ds.len(), want, "{case}"),
            // Patch views of a [CLS]-only store: saev gives a length (and then
            // zero division or NaN); we refuse clearly.
            Err(e) => assert!(e.to_string().contains("[CLS]-only"), "{e}"),
        }
    }
    checked
}

#[test]
fn full_store_matches_saev_dataset() {
    assert_eq!(check_store("full"), 48);
}

#[test]
fn cls_only_store_matches_saev_dataset() {
    assert_eq!(check_store("cls-only"), 12);
}

#[test]
fn metadata_bytes_and_hash_match_saev() {
    for store in ["full", "cls-only"] {
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(golden().join(store).join("expected.json")).unwrap(),
        )
        .unwrap();
        let hash = expected["hash"].as_str().unwrap();
        let root = golden().join(store).join(hash);
        let md = Metadata::load(&root).unwrap();
        assert_eq!(
            md.to_python_json_pretty(),
            expected["metadata_json"].as_str().unwrap()
        );
        assert_eq!(
            md.to_python_json_pretty(),
            std::fs::read_to_string(root.join("metadata.json")).unwrap()
        );
        assert_eq!(
            md.to_python_json_sorted(),
            expected["hash_input"].as_str().unwrap()
        );
        assert_eq!(md.hash(), hash);
    }
}

#[test]
fn writer_reproduces_saev_shard_bytes() {
    // Write saev's raw values with our writer: the .bin files must be identical.
    for store in ["full", "cls-only"] {
        let g = load(store);
        let md = Metadata::load(&g.root).unwrap();
        let raw = f32s(&g.tensors["raw"]);
        let tmp = tempfile::tempdir().unwrap();
        let mut w =
            saev_shards::ShardWriter::create(tmp.path(), md.clone(), Default::default()).unwrap();
        assert_eq!(w.root(), tmp.path().join(md.hash()));
        let per_img = md.layout().unwrap().image_floats();
        for batch in raw.chunks(3 * per_img) {
            w.append(batch).unwrap();
        }
        let root = w.finish().unwrap();
        for shard in 0..md.layout().unwrap().n_shards() {
            let name = saev_shards::shard_file_name(shard);
            let ours = std::fs::read(root.join(&name)).unwrap();
            let theirs = std::fs::read(g.root.join(&name)).unwrap();
            assert!(ours == theirs, "{store}/{name} differs from saev's");
        }
        assert_eq!(
            std::fs::read(root.join("metadata.json")).unwrap(),
            std::fs::read(g.root.join("metadata.json")).unwrap()
        );
    }
}
