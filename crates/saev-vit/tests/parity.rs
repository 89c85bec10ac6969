//! Parity with PyTorch/open_clip on the fixture towers (fixtures/clip, and the
//! full-width b16-1layer tower from ../shared when present).

use std::path::{Path, PathBuf};

use burn::backend::Flex;
use burn::prelude::*;
use saev_vit::{load, load_pretrained, resolve_model, ModelFiles, VisionTransformer};

type B = Flex;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Expected {
    pixels: (Vec<usize>, Vec<f32>),
    residuals: (Vec<usize>, Vec<f32>),
    pooled: Vec<f32>,
    embeddings: Vec<f32>,
}

fn expected(path: &Path) -> Expected {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let get = |name: &str| {
        let t = st.tensor(name).unwrap();
        let v: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        (t.shape().to_vec(), v)
    };
    Expected {
        pixels: get("pixels"),
        residuals: get("residuals"),
        pooled: get("pooled").1,
        embeddings: get("embeddings").1,
    }
}

/// Max |a - b| / max(1, |b|).
fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
        .fold(0.0, f32::max)
}

fn check(model: &VisionTransformer<B>, exp: &Expected, what: &str) {
    let device = Default::default();
    let (shape, pixels) = &exp.pixels;
    let x = Tensor::<B, 4>::from_data(
        TensorData::new(pixels.clone(), [shape[0], shape[1], shape[2], shape[3]]),
        &device,
    );
    let n_layers = model.config.layers;
    let blocks: Vec<usize> = (0..n_layers).collect();
    let out = model.forward(x, &blocks);
    let (rshape, rvals) = &exp.residuals; // [images, layers, tokens, width]
    let (n, t, w) = (rshape[0], rshape[2], rshape[3]);
    for (l, resid) in out.residuals.iter().enumerate() {
        let got = resid.clone().into_data().into_vec::<f32>().unwrap();
        let mut want = Vec::with_capacity(n * t * w);
        for i in 0..n {
            let start = (i * n_layers + l) * t * w;
            want.extend_from_slice(&rvals[start..start + t * w]);
        }
        let err = worst(&got, &want);
        println!("{what}: block {l} residual worst rel. diff {err:.2e}");
        assert!(err < 1e-4, "{what}: block {l}: {err}");
    }
    let pooled = out.pooled.unwrap().into_data().into_vec::<f32>().unwrap();
    let err = worst(&pooled, &exp.pooled);
    println!("{what}: pooled {err:.2e}");
    assert!(err < 1e-4, "{what}: pooled {err}");
    let emb = out
        .embeddings
        .unwrap()
        .into_data()
        .into_vec::<f32>()
        .unwrap();
    let err = worst(&emb, &exp.embeddings);
    println!("{what}: embeddings {err:.2e}");
    assert!(err < 1e-4, "{what}: embeddings {err}");
}

fn load_dir(dir: &Path) -> VisionTransformer<B> {
    let files = resolve_model(dir.to_str().unwrap(), None).unwrap();
    load_pretrained::<B>(&files, &Default::default()).unwrap()
}

#[test]
fn tiny_open_clip_safetensors_matches_pytorch() {
    let exp = expected(&repo().join("fixtures/clip/tiny-expected.safetensors"));
    check(
        &load_dir(&repo().join("fixtures/clip/tiny-openclip")),
        &exp,
        "tiny open_clip safetensors",
    );
}

#[test]
fn tiny_open_clip_bin_matches_pytorch() {
    let exp = expected(&repo().join("fixtures/clip/tiny-expected.safetensors"));
    let dir = repo().join("fixtures/clip/tiny-openclip");
    let files = ModelFiles {
        weights: dir.join("open_clip_pytorch_model.bin"),
        config: Some(dir.join("open_clip_config.json")),
    };
    check(
        &load_pretrained::<B>(&files, &Default::default()).unwrap(),
        &exp,
        "tiny open_clip .bin",
    );
}

#[test]
fn tiny_hf_matches_pytorch() {
    let exp = expected(&repo().join("fixtures/clip/tiny-expected.safetensors"));
    check(
        &load_dir(&repo().join("fixtures/clip/tiny-hf")),
        &exp,
        "tiny Hugging Face",
    );
}

#[test]
fn b16_one_layer_matches_pytorch_when_shared_fixtures_exist() {
    let shared = repo().join("../shared/fixtures/clip");
    if !shared.join("b16-1layer-openclip").is_dir() {
        eprintln!(
            "SKIPPED: {} not found (full-width ViT-B/16 parity)",
            shared.display()
        );
        return;
    }
    let exp = expected(&shared.join("b16-1layer-expected.safetensors"));
    check(
        &load_dir(&shared.join("b16-1layer-openclip")),
        &exp,
        "b16-1layer open_clip",
    );
}

#[test]
fn wrong_weights_are_listed_by_name() {
    let dir = repo().join("fixtures/clip/tiny-openclip");
    let mut tensors = load::to_open_clip_names(
        load::read_tensors(&dir.join("open_clip_model.safetensors")).unwrap(),
    );
    let cfg = saev_vit::VitConfig::from_open_clip_json(
        &serde_json::from_str(&std::fs::read_to_string(dir.join("open_clip_config.json")).unwrap())
            .unwrap(),
    )
    .unwrap();
    tensors.remove("transformer.resblocks.1.mlp.c_fc.bias");
    let extra = tensors["ln_pre.bias"].clone();
    tensors.insert("transformer.resblocks.9.ln_1.weight".into(), extra);
    let mut bad = tensors["class_embedding"].clone();
    bad.shape = vec![bad.shape[0] / 2, 2];
    tensors.insert("class_embedding".into(), bad);
    let err = load::build::<B>(&cfg, tensors, &dir, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing (1): transformer.resblocks.1.mlp.c_fc.bias"),
        "{err}"
    );
    assert!(
        err.contains("unexpected (1): transformer.resblocks.9.ln_1.weight"),
        "{err}"
    );
    assert!(
        err.contains("class_embedding is [32, 2], expected [64]"),
        "{err}"
    );
}

#[test]
fn unknown_model_names_say_what_to_download() {
    let dir = std::env::temp_dir().join("saev-vit-empty-models");
    let err = resolve_model("ViT-B-16/openai", Some(&dir))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("timm/vit_base_patch16_clip_224.openai"),
        "{err}"
    );
    assert!(err.contains("open_clip_model.safetensors"), "{err}");
    assert!(
        err.contains(&dir.join("ViT-B-16/openai").display().to_string()),
        "{err}"
    );
}

#[test]
fn a_saved_tower_loads_back_identically() {
    let model = load_dir(&repo().join("fixtures/clip/tiny-openclip"));
    let dir = std::env::temp_dir().join(format!("saev-vit-save-{}", std::process::id()));
    saev_vit::save_open_clip(&model, &dir).unwrap();
    let back = load_dir(&dir);
    let exp = expected(&repo().join("fixtures/clip/tiny-expected.safetensors"));
    check(&back, &exp, "saved and reloaded");
    std::fs::remove_dir_all(&dir).unwrap();
}
