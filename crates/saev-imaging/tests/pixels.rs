//! Preprocessing against what open_clip + Pillow computed (fixtures/clip).

use std::path::{Path, PathBuf};

use saev_imaging::{ClipTransform, Image8, ImageFolder, Mode};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/clip")
}

fn expected_pixels() -> (Vec<String>, Vec<f32>) {
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("tiny-expected.json")).unwrap(),
    )
    .unwrap();
    let names = meta["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let bytes = std::fs::read(fixtures().join("tiny-expected.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let pixels = st
        .tensor("pixels")
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (names, pixels)
}

#[test]
fn pixels_match_open_clip() {
    let (names, want) = expected_pixels();
    let t = ClipTransform::default();
    let n = 3 * 224 * 224;
    let step = 1.0 / 255.0 / 0.26; // one 8-bit level after normalization, about 0.015
    for (i, name) in names.iter().enumerate() {
        let img = Image8::open(&fixtures().join("images").join(name)).unwrap();
        let got = t.apply(&img);
        let want = &want[i * n..(i + 1) * n];
        let worst = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        let off = got.iter().zip(want).filter(|(a, b)| a != b).count();
        println!(
            "{name}: worst |diff| {worst:.2e} ({:.2} levels), {off} of {n} values differ",
            worst / step
        );
        // Decoding (libjpeg-turbo for JPEG), Pillow's resampling, the crop and the
        // f32 normalization are all reproduced: bit for bit, PNG and JPEG alike.
        assert_eq!(
            off, 0,
            "{name}: {off} values differ, worst {worst} (bound 0.02: {step})"
        );
    }
}

#[test]
fn modes_are_what_pillow_opens() {
    let open = |n: &str| Image8::open(&fixtures().join("images").join(n)).unwrap();
    assert_eq!(open("gray.png").mode, Mode::L);
    assert_eq!(open("alpha.png").mode, Mode::RGBA);
    assert_eq!(open("landscape.jpg").mode, Mode::RGB);
    assert_eq!(
        (open("small.jpg").width, open("small.jpg").height),
        (100, 60)
    );
}

#[test]
fn undecodable_file_is_named() {
    let dir = std::env::temp_dir().join(format!("saev-imaging-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broken.jpg");
    std::fs::write(&path, b"\xff\xd8\xff\xe0 not really a jpeg").unwrap();
    let err = Image8::open(&path).unwrap_err().to_string();
    assert!(
        err.contains("broken.jpg") && err.contains("cannot decode"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn image_folder_order_matches_torchvision() {
    let root = std::env::temp_dir().join(format!("saev-imaging-folder-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for (path, body) in [
        ("b/x.png", ""),
        ("b/A.JPG", ""),
        ("b/sub/z.jpeg", ""),
        ("b/sub dir/y.png", ""),
        ("b/notes.txt", ""),
        ("a/2.png", ""),
        ("a/10.png", ""),
        ("C/1.webp", ""),
    ] {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    let folder = ImageFolder::open(&root).unwrap();
    assert_eq!(folder.classes, ["C", "a", "b"]);
    let rel: Vec<String> = folder
        .samples
        .iter()
        .map(|s| {
            format!(
                "{}:{}",
                s.target,
                s.path.strip_prefix(&root).unwrap().display()
            )
        })
        .collect();
    // Checked against torchvision.datasets.ImageFolder on the same tree.
    assert_eq!(
        rel,
        [
            "0:C/1.webp",
            "1:a/10.png",
            "1:a/2.png",
            "2:b/A.JPG",
            "2:b/x.png",
            "2:b/sub/z.jpeg",
            "2:b/sub dir/y.png"
        ]
    );
    std::fs::remove_dir_all(&root).unwrap();
}

/// Every image mode Pillow opens, as saev's loaders see it:
/// `Image.open(p).convert("RGB")`, then open_clip's resize and center crop
/// (at 24 px; the same code as 224). Made by Pillow 11.0.0 with
/// `tools/golden/make_image_modes.py`.
#[test]
fn every_mode_converts_and_crops_exactly_as_pillow() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/image-modes");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let images = meta["images"].as_array().unwrap();
    assert!(images.len() >= 20, "{} fixtures", images.len());
    let t = ClipTransform {
        size: meta["transform"]["size"].as_u64().unwrap_or(24) as usize,
        ..ClipTransform::default()
    };
    let mut failed = Vec::new();
    for im in images {
        let file = im["file"].as_str().unwrap();
        let rgb = Image8::open_rgb(&dir.join(file)).unwrap();
        let want_rgb = std::fs::read(dir.join(im["rgb"]["file"].as_str().unwrap())).unwrap();
        let (w, h) = (
            im["width"].as_u64().unwrap() as usize,
            im["height"].as_u64().unwrap() as usize,
        );
        let crop = t.crop_rgb(&rgb);
        let want_crop = std::fs::read(dir.join(im["crop"]["file"].as_str().unwrap())).unwrap();
        let differ = |a: &[u8], b: &[u8]| a.iter().zip(b).filter(|(x, y)| x != y).count();
        if (rgb.width, rgb.height) != (w, h) || rgb.data != want_rgb {
            failed.push(format!(
                "{file} ({}): convert differs at {} values",
                im["mode"],
                differ(&rgb.data, &want_rgb)
            ));
        } else if crop.data != want_crop {
            failed.push(format!(
                "{file}: crop differs at {} values",
                differ(&crop.data, &want_crop)
            ));
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}
