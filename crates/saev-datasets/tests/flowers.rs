//! Flowers-102 preparation end to end on the 12-image miniature in
//! `fixtures/flowers102` (see its `make_fixtures.py`): the exact tree, the
//! bytes, idempotence, resuming after a crash, and the error messages.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use saev_datasets::flowers102::{self, Summary};
use saev_datasets::Error;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/flowers102")
}

/// A temp dir holding copies of the named fixture files.
fn copy_fixtures(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in names {
        fs::copy(fixtures().join(name), dir.path().join(name)).unwrap();
    }
    dir
}

const ALL: [&str; 3] = ["102flowers.tgz", "imagelabels.mat", "setid.mat"];

/// Every file under the split folders, as sorted relative paths.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, at: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .to_string(),
                );
            }
        }
    }
    let mut out = Vec::new();
    for split in ["train", "val", "test"] {
        if dir.join(split).is_dir() {
            walk(dir, &dir.join(split), &mut out);
        }
    }
    out.sort();
    out
}

fn expected_tree() -> Vec<String> {
    let mut want: Vec<String> = [
        ("train", 1, 1),
        ("train", 1, 2),
        ("train", 2, 5),
        ("train", 2, 6),
        ("train", 3, 9),
        ("train", 3, 10),
        ("val", 1, 3),
        ("val", 2, 7),
        ("val", 3, 11),
        ("test", 1, 4),
        ("test", 2, 8),
        ("test", 3, 12),
    ]
    .iter()
    .map(|(split, label, id)| format!("{split}/{label}/image_{id:05}.jpg"))
    .collect();
    want.sort();
    want
}

/// The tarball's members by name.
fn tar_members() -> BTreeMap<String, Vec<u8>> {
    let file = fs::File::open(fixtures().join("102flowers.tgz")).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_str().unwrap().to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        out.insert(name, bytes);
    }
    out
}

const SUMMARY: Summary = Summary {
    train: 6,
    val: 3,
    test: 3,
    classes: 3,
    already_prepared: false,
};

#[test]
fn prepares_the_exact_tree_with_the_tar_bytes() {
    let dir = copy_fixtures(&ALL);
    let summary = flowers102::prepare(dir.path()).unwrap();
    assert_eq!(summary, SUMMARY);
    assert_eq!(tree(dir.path()), expected_tree());
    let members = tar_members();
    assert_eq!(members.len(), 12);
    for rel in tree(dir.path()) {
        let name = rel.rsplit('/').next().unwrap();
        let got = fs::read(dir.path().join(&rel)).unwrap();
        assert_eq!(got, members[&format!("jpg/{name}")], "{rel}");
    }
    // Nothing else was extracted next to the official files.
    assert!(!dir.path().join("jpg").exists());
}

#[test]
fn second_run_is_a_no_op() {
    let dir = copy_fixtures(&ALL);
    flowers102::prepare(dir.path()).unwrap();
    // Without the tarball any real work would fail, so success means no-op.
    fs::remove_file(dir.path().join("102flowers.tgz")).unwrap();
    let again = flowers102::prepare(dir.path()).unwrap();
    assert_eq!(
        again,
        Summary {
            already_prepared: true,
            ..SUMMARY
        }
    );
    assert_eq!(tree(dir.path()), expected_tree());
    // download() has nothing to do either.
    flowers102::download_from(dir.path(), "file:///nonexistent/").unwrap();
}

#[test]
fn resumes_after_a_crash() {
    let dir = copy_fixtures(&ALL);
    flowers102::prepare(dir.path()).unwrap();
    // As if killed mid-run: no marker, one image missing, one half-written.
    fs::remove_file(dir.path().join(".complete")).unwrap();
    fs::remove_file(dir.path().join("val/2/image_00007.jpg")).unwrap();
    fs::write(dir.path().join("test/3/image_00012.jpg.tmp"), b"half").unwrap();
    fs::remove_file(dir.path().join("test/3/image_00012.jpg")).unwrap();
    fs::write(dir.path().join("train/1/image_00001.jpg"), b"wrong size").unwrap();
    assert_eq!(flowers102::prepare(dir.path()).unwrap(), SUMMARY);
    assert_eq!(tree(dir.path()), expected_tree());
    let members = tar_members();
    for name in ["image_00007.jpg", "image_00012.jpg", "image_00001.jpg"] {
        let rel = expected_tree()
            .into_iter()
            .find(|r| r.ends_with(name))
            .unwrap();
        assert_eq!(
            fs::read(dir.path().join(rel)).unwrap(),
            members[&format!("jpg/{name}")]
        );
    }
}

#[test]
fn missing_files_are_named_with_urls() {
    let dir = copy_fixtures(&["setid.mat"]);
    let err = flowers102::prepare(dir.path()).unwrap_err();
    let Error::MissingFiles { missing, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(missing, &["102flowers.tgz", "imagelabels.mat"]);
    let msg = err.to_string();
    assert!(
        msg.contains("missing 102flowers.tgz, imagelabels.mat;"),
        "{msg}"
    );
    assert!(
        msg.contains("https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102flowers.tgz"),
        "{msg}"
    );
    assert!(
        msg.contains("https://www.robots.ox.ac.uk/~vgg/data/flowers/102/imagelabels.mat"),
        "{msg}"
    );
    assert!(!msg.contains("setid"), "{msg}");
}

#[test]
fn truncated_mat_files_are_named() {
    for (name, keep) in [
        ("imagelabels.mat", 150),
        ("setid.mat", 300),
        ("setid.mat", 60),
    ] {
        let dir = copy_fixtures(&ALL);
        let path = dir.path().join(name);
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..keep]).unwrap();
        let err = flowers102::prepare(dir.path()).unwrap_err().to_string();
        assert!(err.starts_with(&path.display().to_string()), "{err}");
        assert!(err.contains("truncated"), "{err}");
        assert!(tree(dir.path()).is_empty());
    }
}

#[test]
fn truncated_tarball_is_named() {
    let dir = copy_fixtures(&ALL);
    let path = dir.path().join("102flowers.tgz");
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = flowers102::prepare(dir.path()).unwrap_err().to_string();
    assert!(err.contains("102flowers.tgz"), "{err}");
    assert!(!dir.path().join(".complete").exists());
}

/// A little-endian, uncompressed MAT-file of 1xN double row vectors.
fn mat_file(vars: &[(&str, &[f64])]) -> Vec<u8> {
    fn element(ty: u32, data: &[u8]) -> Vec<u8> {
        let mut e = ty.to_le_bytes().to_vec();
        e.extend((data.len() as u32).to_le_bytes());
        e.extend(data);
        e.resize(e.len().next_multiple_of(8), 0);
        e
    }
    let mut out = b"MATLAB 5.0 MAT-file".to_vec();
    out.resize(124, b' ');
    out.extend(0x0100u16.to_le_bytes());
    out.extend(b"IM");
    for (name, values) in vars {
        let mut body = element(6, &[6, 0, 0, 0, 0, 0, 0, 0]);
        body.extend(element(
            5,
            &[1i32, values.len() as i32].map(i32::to_le_bytes).concat(),
        ));
        body.extend(element(1, name.as_bytes()));
        body.extend(element(
            9,
            &values
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect::<Vec<_>>(),
        ));
        out.extend(element(14, &body));
    }
    out
}

/// Split ids for `setid.mat`: trnid, valid, tstid.
type Splits<'a> = [&'a [f64]; 3];

#[test]
fn every_image_in_exactly_one_split() {
    let cases: [(Splits, &str); 3] = [
        (
            [
                &[1., 2., 3., 5., 6., 9., 10.],
                &[3., 7., 11.],
                &[4., 8., 12.],
            ],
            "image_00003.jpg is in two splits: `trnid` (train) and `valid` (val)",
        ),
        (
            [&[1., 2., 5., 6., 9.], &[3., 7., 11.], &[4., 8., 12.]],
            "image_00010.jpg is in no split",
        ),
        (
            [
                &[1., 2., 5., 6., 9., 10.],
                &[3., 7., 11.],
                &[4., 8., 12., 13.],
            ],
            "`tstid` lists image 13, but imagelabels.mat labels only 12 images",
        ),
    ];
    for ([trnid, valid, tstid], want) in cases {
        let dir = copy_fixtures(&["102flowers.tgz", "imagelabels.mat"]);
        let path = dir.path().join("setid.mat");
        fs::write(
            &path,
            mat_file(&[("trnid", trnid), ("valid", valid), ("tstid", tstid)]),
        )
        .unwrap();
        let err = flowers102::prepare(dir.path()).unwrap_err().to_string();
        assert!(
            err.starts_with(&path.display().to_string()) && err.contains(want),
            "{err}"
        );
    }
    // The hand-written setid.mat itself is fine when the splits are.
    let dir = copy_fixtures(&["102flowers.tgz", "imagelabels.mat"]);
    let good = mat_file(&[
        ("trnid", &[1., 2., 5., 6., 9., 10.]),
        ("valid", &[3., 7., 11.]),
        ("tstid", &[4., 8., 12.]),
    ]);
    fs::write(dir.path().join("setid.mat"), good).unwrap();
    assert_eq!(flowers102::prepare(dir.path()).unwrap(), SUMMARY);
}

#[test]
fn download_fetches_only_missing_files() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("no curl here; skipping");
        return;
    }
    let dir = copy_fixtures(&["setid.mat"]);
    let base = format!("file://{}/", fixtures().canonicalize().unwrap().display());
    flowers102::download_from(dir.path(), &base).unwrap();
    for name in ALL {
        assert_eq!(
            fs::read(dir.path().join(name)).unwrap(),
            fs::read(fixtures().join(name)).unwrap()
        );
    }
    assert_eq!(flowers102::prepare(dir.path()).unwrap(), SUMMARY);

    let empty = tempfile::tempdir().unwrap();
    let err = flowers102::download_from(empty.path(), "file:///nonexistent/")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("failed to fetch") && err.contains("by hand"),
        "{err}"
    );
    assert!(
        fs::read_dir(empty.path()).unwrap().next().is_none(),
        "no .part files left"
    );
}
