//! Crash-safety and resume of the writer.

use std::os::unix::fs::FileExt;

use saev_shards::{verify, Error, ShardWriter, Store, WriterOptions, PROGRESS_FILE};

use super::common::{images, metadata, record};

#[test]
fn interrupted_recording_resumes_without_loss_or_duplication() {
    let md = metadata(&[3, -2], 4, true, 5, 11, 40); // 4 images per shard, 3 shards
    let clean_dir = tempfile::tempdir().unwrap();
    let clean = record(clean_dir.path(), &md, 5);

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    {
        let mut w = ShardWriter::open_at(&root, md.clone(), WriterOptions::default()).unwrap();
        w.append(&images(&md, 0, 3)).unwrap();
        w.append(&images(&md, 3, 6)).unwrap(); // crosses into shard 1
        assert_eq!(w.n_written(), 6);
        // The process dies here, in the middle of the next batch: some of its
        // bytes reached shard 1, the progress record was not replaced, and a
        // half-written temp record lies around.
    }
    let shard1 = std::fs::OpenOptions::new()
        .write(true)
        .open(root.join("acts000001.bin"))
        .unwrap();
    let per_img_bytes = md.layout().unwrap().image_floats() as u64 * 4;
    shard1
        .write_all_at(&vec![0xAB; per_img_bytes as usize + 17], 2 * per_img_bytes)
        .unwrap();
    std::fs::write(root.join(format!("{PROGRESS_FILE}.tmp")), "{ garbage").unwrap();

    // Reading an unfinished store is refused with a clear message.
    let err = Store::open(&root).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Incomplete {
                written: 6,
                total: 11,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("6 of 11 images"));

    let mut w = ShardWriter::open_at(&root, md.clone(), WriterOptions::default()).unwrap();
    assert_eq!(
        w.n_written(),
        6,
        "resumes at the first image not fully written"
    );
    w.append(&images(&md, 6, 11)).unwrap();
    w.finish().unwrap();

    for shard in 0..3 {
        let name = format!("acts{shard:06}.bin");
        assert!(
            std::fs::read(root.join(&name)).unwrap() == std::fs::read(clean.join(&name)).unwrap(),
            "{name} differs from an uninterrupted recording"
        );
    }
    let report = verify(&root).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert!(report.shards.iter().all(|s| s.crc32_ok == Some(true)));
}

#[test]
fn complete_store_reopens_as_complete() {
    let md = metadata(&[-2], 0, true, 4, 6, 4);
    let tmp = tempfile::tempdir().unwrap();
    let root = record(tmp.path(), &md, 6);
    let mut w = ShardWriter::open_at(&root, md.clone(), WriterOptions::default()).unwrap();
    assert!(w.is_complete());
    let err = w.append(&images(&md, 0, 1)).unwrap_err();
    assert!(err.to_string().contains("6 of 6 already written"), "{err}");
}

#[test]
fn refuses_to_overwrite_foreign_or_different_stores() {
    let md = metadata(&[-2], 0, true, 4, 6, 4);
    let tmp = tempfile::tempdir().unwrap();
    let root = record(tmp.path(), &md, 6);

    // Same directory, different metadata.
    let mut other = md.clone();
    other.seed = 7;
    let err = ShardWriter::open_at(&root, other, WriterOptions::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("different recording"), "{err}");

    // Shards but no progress record: written by saev; never overwritten.
    std::fs::remove_file(root.join(PROGRESS_FILE)).unwrap();
    let err = ShardWriter::open_at(&root, md.clone(), WriterOptions::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("refusing to overwrite"), "{err}");
    // ...but such a store reads fine, as saev's stores do.
    assert_eq!(Store::open(&root).unwrap().n_imgs_readable(), 6);
}

#[test]
fn rejects_partial_images_and_overflow() {
    let md = metadata(&[-2], 2, true, 4, 3, 100);
    let tmp = tempfile::tempdir().unwrap();
    let mut w =
        ShardWriter::open_at(tmp.path(), md.clone(), WriterOptions { durable: false }).unwrap();
    let err = w.append(&[0.0; 5]).unwrap_err();
    assert!(
        err.to_string()
            .contains("not whole images of 1 layers x 3 tokens x 4 dims"),
        "{err}"
    );
    let err = w.append(&images(&md, 0, 4)).unwrap_err();
    assert!(err.to_string().contains("cannot append 4 images"), "{err}");
    w.append(&images(&md, 0, 2)).unwrap();
    let err = w.finish().unwrap_err();
    assert!(
        matches!(
            err,
            Error::Incomplete {
                written: 2,
                total: 3,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn batches_of_one_image_and_of_many_shards_give_the_same_files() {
    let md = metadata(&[-2], 3, true, 4, 23, 8); // 2 images per shard, 12 shards
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ra = record(a.path(), &md, 1);
    let rb = record(b.path(), &md, 23);
    for shard in 0..12 {
        let name = format!("acts{shard:06}.bin");
        assert_eq!(
            std::fs::read(ra.join(&name)).unwrap(),
            std::fs::read(rb.join(&name)).unwrap()
        );
    }
    assert!(
        !ra.join("acts000012.bin").exists(),
        "no empty extra shard, unlike saev"
    );
}
