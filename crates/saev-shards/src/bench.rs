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
