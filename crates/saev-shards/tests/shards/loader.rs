//! The batch streams: every example exactly once per epoch, values intact.

use std::sync::Arc;

use saev_shards::loader::{self, ShuffleConfig};
use saev_shards::{DataLoad, Dataset, Layer, Patches, Scale};

use super::common::{metadata, record};

fn patches_dataset(tmp: &tempfile::TempDir) -> Arc<Dataset> {
    let md = metadata(&[1, -2], 6, true, 8, 37, 70); // 5 images per shard, 222 patch examples
    let root = record(tmp.path(), &md, 7);
    Arc::new(
        Dataset::open(DataLoad {
            shard_root: root,
            patches: Patches::Patches,
            layer: Layer::Index(-2),
            scale_mean: Scale::Estimate,
            scale_norm: Scale::Off,
            ..DataLoad::default()
        })
        .unwrap(),
    )
}

fn config(seed: u64) -> ShuffleConfig {
    ShuffleConfig {
        batch_size: 16,
        seed,
        buffer_examples: 40,
        chunk_examples: 5,
        n_epochs: Some(3),
        drop_last: false,
        prefetch: 2,
    }
}

#[test]
fn shuffled_visits_every_example_once_per_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = patches_dataset(&tmp);
    let n = ds.len() as usize;
    let mut seen = vec![vec![0u32; n]; 3];
    let mut orders = vec![Vec::new(); 3];
    for batch in loader::shuffled(Arc::clone(&ds), config(7)) {
        let batch = batch.unwrap();
        assert!(batch.len() <= 16 && !batch.is_empty());
        for b in 0..batch.len() {
            let i = (batch.image_i[b] * 6 + batch.patch_i[b]) as usize;
            seen[batch.epoch as usize][i] += 1;
            orders[batch.epoch as usize].push(i);
            // The row is exactly the dataset's example i, normalized.
            assert_eq!(batch.row(b), ds.get(i as u64).unwrap().act.as_slice());
        }
    }
    for (epoch, counts) in seen.iter().enumerate() {
        assert!(counts.iter().all(|&c| c == 1), "epoch {epoch}: {counts:?}");
    }
    // Each epoch has its own order, and it is really shuffled.
    assert_ne!(orders[0], orders[1]);
    let sorted: Vec<usize> = (0..n).collect();
    assert_ne!(orders[0], sorted);
    // Mixing: the first batch already draws from many distant chunks.
    let first: std::collections::HashSet<usize> = orders[0][..16].iter().map(|i| i / 5).collect();
    assert!(
        first.len() >= 6,
        "first batch drew from only {} chunks",
        first.len()
    );
}

#[test]
fn shuffled_is_deterministic_for_a_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = patches_dataset(&tmp);
    let run = |seed| -> Vec<(i64, i64)> {
        loader::shuffled(Arc::clone(&ds), config(seed))
            .flat_map(|b| {
                let b = b.unwrap();
                b.image_i
                    .iter()
                    .copied()
                    .zip(b.patch_i.iter().copied())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn drop_last_keeps_batches_full() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = patches_dataset(&tmp);
    let cfg = ShuffleConfig {
        drop_last: true,
        n_epochs: Some(1),
        ..config(0)
    };
    let sizes: Vec<usize> = loader::shuffled(ds, cfg)
        .map(|b| b.unwrap().len())
        .collect();
    assert_eq!(sizes, vec![16; 222 / 16]);
}

#[test]
fn ordered_stream_is_the_dataset_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = patches_dataset(&tmp);
    let mut next = 0u64;
    for batch in loader::ordered(Arc::clone(&ds), 50, 2) {
        let batch = batch.unwrap();
        for b in 0..batch.len() {
            let ex = ds.get(next).unwrap();
            assert_eq!(batch.row(b), ex.act.as_slice());
            assert_eq!(
                (batch.image_i[b], batch.patch_i[b]),
                (ex.image_i, ex.patch_i)
            );
            next += 1;
        }
    }
    assert_eq!(next, ds.len());
}

#[test]
fn dropping_a_stream_early_stops_its_thread() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = patches_dataset(&tmp);
    let cfg = ShuffleConfig {
        n_epochs: None,
        ..config(3)
    };
    let mut stream = loader::shuffled(ds, cfg);
    assert!(stream.next().unwrap().is_ok());
    drop(stream); // must return, not hang on an endless producer
}
