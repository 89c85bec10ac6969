//! Throughput measurements behind `saev shards bench`.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{IoContext, Result};
use crate::loader::Batch;

/// A measured rate.
#[derive(Clone, Debug, Serialize)]
pub struct Rate {
    pub seconds: f64,
    pub examples: u64,
    pub bytes: u64,
    pub examples_per_s: f64,
    /// Decimal megabytes (1e6 bytes) of f32 activations per second.
    pub mb_per_s: f64,
}

impl Rate {
    fn new(seconds: f64, examples: u64, bytes: u64) -> Self {
        Self {
            seconds,
            examples,
            bytes,
            examples_per_s: examples as f64 / seconds,
            mb_per_s: bytes as f64 / 1e6 / seconds,
        }
    }
}

/// Drain batches from `make_stream` (restarted when it ends) for `budget`,
/// touching every value so the work cannot be skipped.
pub fn drain<S>(mut make_stream: impl FnMut() -> S, budget: Duration) -> Result<(Rate, f32)>
where
    S: Iterator<Item = Result<Batch>>,
{
    let start = Instant::now();
    let (mut examples, mut bytes, mut checksum) = (0u64, 0u64, 0.0f32);
    'outer: loop {
        let mut stream = make_stream();
        let mut any = false;
        for batch in stream.by_ref() {
            let batch = batch?;
            any = true;
            examples += batch.len() as u64;
            bytes += batch.acts_BD.len() as u64 * 4;
            checksum += batch.acts_BD[batch.acts_BD.len() / 2];
            if start.elapsed() >= budget {
                break 'outer;
            }
        }
        if !any {
            break;
        }
    }
    Ok((
        Rate::new(start.elapsed().as_secs_f64(), examples, bytes),
        checksum,
    ))
}

/// Read the first `len` bytes of each file front to back in 1 MiB blocks,
/// like `cat f > /dev/null` (but skipping the sparse tail of the last shard,
/// whose holes read as free zeros and would flatter the rate).
pub fn sequential_read(files: &[(PathBuf, u64)], budget: Duration) -> Result<Rate> {
    let start = Instant::now();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    'outer: for (path, len) in files {
        let mut file = std::fs::File::open(path).at(path)?.take(*len);
        loop {
            let n = file.read(&mut buf).at(path)?;
            if n == 0 {
                break;
            }
            bytes += n as u64;
            if start.elapsed() >= budget {
                break 'outer;
            }
        }
    }
    Ok(Rate::new(start.elapsed().as_secs_f64(), bytes / 4, bytes))
}

/// What [`streams`] measures.
#[derive(Clone, Debug, Serialize)]
pub struct StreamBench {
    pub shard_root: PathBuf,
    pub patches: String,
    pub layer: String,
    pub d_vit: usize,
    pub examples: u64,
    pub batch_size: usize,
    pub buffer_examples: usize,
    pub chunk_examples: usize,
    /// Opening the dataset, including estimating its normalization.
    pub normalization_seconds: f64,
    pub shuffled: Rate,
    pub ordered: Rate,
    /// A plain read of the shard files, the ceiling for both streams.
    pub sequential_read: Rate,
}

/// Open `cfg` and measure the shuffled stream, the ordered stream and a
/// plain sequential read, `budget` each (`saev shards bench`).
pub fn streams(
    cfg: crate::DataLoad,
    shuffle: crate::loader::ShuffleConfig,
    budget: Duration,
) -> Result<StreamBench> {
    use std::sync::Arc;
    let started = std::time::Instant::now();
    let ds = Arc::new(crate::Dataset::open(cfg)?);
    let normalization_seconds = started.elapsed().as_secs_f64();
    let (shuffled, _) = drain(
        || crate::loader::shuffled(Arc::clone(&ds), shuffle.clone()),
        budget,
    )?;
    let batch = shuffle.batch_size;
    let (ordered, _) = drain(|| crate::loader::ordered(Arc::clone(&ds), batch, 2), budget)?;
    let store = ds.store();
    let layout = store.layout();
    let bytes = |s| layout.imgs_in_shard(s) * layout.image_floats() as u64 * 4;
    let files: Vec<(PathBuf, u64)> = (0..store.n_mapped())
        .map(|s| (store.shard_path(s), bytes(s)))
        .collect();
    let sequential_read = sequential_read(&files, budget)?;
    Ok(StreamBench {
        shard_root: store.root().to_path_buf(),
        patches: ds.view().patches.to_string(),
        layer: ds.view().layer.to_string(),
        d_vit: ds.d_vit(),
        examples: ds.len(),
        batch_size: batch,
        buffer_examples: shuffle.buffer_examples,
        chunk_examples: shuffle.chunk_examples,
        normalization_seconds,
        shuffled,
        ordered,
        sequential_read,
    })
}
