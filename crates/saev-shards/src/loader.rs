//! Batch streams over a [`Dataset`]: shuffled for training, ordered for evaluation.
//!
//! Both run on a background thread and hand over contiguous `[B, d_vit]` f32
//! batches through a bounded channel, so reading overlaps with the consumer's
//! work. Dropped batches return their buffer to the producer, which reuses it
//! instead of touching fresh pages.
//!
//! ## How the shuffled stream mixes
//!
//! Reading one random example at a time (what saev's `DataLoader(shuffle=True)`
//! does) turns into one small random read per example. Instead, the example
//! indices are cut into *chunks* of `chunk_examples` consecutive examples
//! (sequential bytes on disk), the chunks are visited in a random order, and
//! their examples go into a *shuffle buffer* of `buffer_examples` rows. Each
//! batch draws its rows uniformly at random, without replacement, from
//! everything in the buffer, which is then topped up with whole chunks.
//!
//! So every batch mixes examples from at least `buffer_examples /
//! chunk_examples` chunks spread uniformly over the whole dataset (128 with the
//! defaults), and any example can land in any batch of the epoch after its
//! chunk is read. What it cannot do is break up a chunk entirely: examples of
//! one chunk (a few neighbouring images, or the patches of one or two images)
//! tend to leave the buffer within a few batches of each other. Smaller chunks
//! or a larger buffer mix better; `chunk_examples = 1` is a full shuffle.
//!
//! Each epoch visits every example exactly once, with its own permutation
//! derived from `(seed, epoch)`; the stream is the same for the same seed.
//! An epoch's last batch may be short; batches never span two epochs.

use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use saev_rng::{Pcg64, SeedSequence};

use crate::dataset::Dataset;
use crate::error::Result;

/// A batch of normalized examples.
pub struct Batch {
    /// `[len, d_vit]`, row-major.
    pub acts_BD: Vec<f32>,
    pub image_i: Vec<i64>,
    pub patch_i: Vec<i64>,
    /// Epoch this batch belongs to (0 for the ordered stream).
    pub epoch: u64,
    pub d_vit: usize,
    recycle: Option<Sender<Vec<f32>>>,
}

impl Batch {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.image_i.len()
    }

    pub fn is_empty(&self) -> bool {
        self.image_i.is_empty()
    }

    /// Example `b`'s activation.
    pub fn row(&self, b: usize) -> &[f32] {
        &self.acts_BD[b * self.d_vit..(b + 1) * self.d_vit]
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if let Some(pool) = self.recycle.take() {
            let _ = pool.send(std::mem::take(&mut self.acts_BD));
        }
    }
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("len", &self.len())
            .field("d_vit", &self.d_vit)
            .field("epoch", &self.epoch)
            .finish()
    }
}

/// Settings of the shuffled stream.
#[derive(Clone, Debug)]
pub struct ShuffleConfig {
    pub batch_size: usize,
    pub seed: u64,
    /// Rows held in the shuffle buffer (raised to `batch_size + chunk_examples` if smaller).
    pub buffer_examples: usize,
    /// Consecutive examples read together.
    pub chunk_examples: usize,
    /// Stop after this many epochs; `None` streams forever.
    pub n_epochs: Option<u64>,
    /// Drop each epoch's short last batch.
    pub drop_last: bool,
    /// Batches prepared ahead of the consumer.
    pub prefetch: usize,
}

impl Default for ShuffleConfig {
    fn default() -> Self {
        Self {
            batch_size: 16_384,
            seed: 0,
            buffer_examples: 1 << 17,
            chunk_examples: 1024,
            n_epochs: None,
            drop_last: false,
            prefetch: 2,
        }
    }
}

/// An iterator over batches produced on a background thread.
pub struct Stream {
    rx: Option<Receiver<Result<Batch>>>,
    handle: Option<JoinHandle<()>>,
}

impl Iterator for Stream {
    type Item = Result<Batch>;
    fn next(&mut self) -> Option<Self::Item> {
        self.rx.as_ref()?.recv().ok()
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // Closing the channel makes the producer's next send fail, so it stops.
        self.rx.take();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Producer side: hands out recycled buffers and sends batches.
struct Producer {
    tx: SyncSender<Result<Batch>>,
    pool_tx: Sender<Vec<f32>>,
    pool_rx: Receiver<Vec<f32>>,
    d_vit: usize,
}

impl Producer {
    fn buffer(&self, n: usize) -> Vec<f32> {
        let mut buf = self.pool_rx.try_recv().unwrap_or_default();
        // Every value is overwritten by the caller; only a new length needs filling.
        buf.resize(n * self.d_vit, 0.0);
        buf
    }

    fn batch(&self, acts_BD: Vec<f32>, image_i: Vec<i64>, patch_i: Vec<i64>, epoch: u64) -> Batch {
        Batch {
            acts_BD,
            image_i,
            patch_i,
            epoch,
            d_vit: self.d_vit,
            recycle: Some(self.pool_tx.clone()),
        }
    }

    /// Send; `false` when the consumer is gone.
    fn send(&self, item: Result<Batch>) -> bool {
        self.tx.send(item).is_ok()
    }
}

fn spawn(
    ds: &Arc<Dataset>,
    prefetch: usize,
    work: impl FnOnce(Producer) + Send + 'static,
) -> Stream {
    let (tx, rx) = mpsc::sync_channel(prefetch.max(1));
    let (pool_tx, pool_rx) = mpsc::channel();
    let producer = Producer {
        tx,
        pool_tx,
        pool_rx,
        d_vit: ds.d_vit(),
    };
    let handle = std::thread::Builder::new()
        .name("saev-shards-loader".into())
        .spawn(move || work(producer))
        .expect("spawn loader thread");
    Stream {
        rx: Some(rx),
        handle: Some(handle),
    }
}

/// Every example once, in index order, in batches of `batch_size`.
pub fn ordered(ds: Arc<Dataset>, batch_size: usize, prefetch: usize) -> Stream {
    assert!(batch_size > 0, "batch_size must be positive");
    let source = Arc::clone(&ds);
    spawn(&ds, prefetch, move |p| {
        let n = source.len();
        let mut start = 0;
        while start < n {
            let b = batch_size.min((n - start) as usize);
            let mut acts = p.buffer(b);
            let (mut image_i, mut patch_i) = (Vec::with_capacity(b), Vec::with_capacity(b));
            let item = source
                .get_range(start, &mut acts, &mut image_i, &mut patch_i)
                .map(|()| p.batch(acts, image_i, patch_i, 0));
            let failed = item.is_err();
            if !p.send(item) || failed {
                return;
            }
            start += b as u64;
        }
    })
}

/// The shuffled training stream described in the module docs.
pub fn shuffled(ds: Arc<Dataset>, cfg: ShuffleConfig) -> Stream {
    assert!(
        cfg.batch_size > 0 && cfg.chunk_examples > 0,
        "sizes must be positive"
    );
    let source = Arc::clone(&ds);
    spawn(&ds, cfg.prefetch, move |p| {
        let cap = cfg.buffer_examples.max(cfg.batch_size + cfg.chunk_examples);
        let mut buf = ShuffleBuffer::new(cap, source.d_vit());
        let mut epoch = 0;
        while cfg.n_epochs.is_none_or(|n| epoch < n) {
            if !shuffle_epoch(&source, &cfg, epoch, &mut buf, &p) {
                return;
            }
            epoch += 1;
        }
    })
}

/// The random generator of one epoch: NumPy's `default_rng(seed + epoch * 2**64)`.
pub fn epoch_rng(seed: u64, epoch: u64) -> Pcg64 {
    Pcg64::from_seed_sequence(&SeedSequence::new(
        (u128::from(epoch) << 64) | u128::from(seed),
    ))
}

/// Rows waiting to be drawn. Rows never move: a draw copies a row out and
/// frees its slot for the next chunk, so each example is copied twice in all
/// (disk to buffer, buffer to batch).
struct ShuffleBuffer {
    rows: Vec<f32>,
    d: usize,
    free: Vec<u32>,
    live: Vec<u32>,
    image_i: Vec<i64>,
    patch_i: Vec<i64>,
}

impl ShuffleBuffer {
    fn new(cap: usize, d: usize) -> Self {
        Self {
            rows: vec![0.0; cap * d],
            d,
            free: (0..cap as u32).rev().collect(),
            live: Vec::with_capacity(cap),
            image_i: vec![0; cap],
            patch_i: vec![0; cap],
        }
    }

    /// Read examples `start..start + k` into free slots.
    fn load(&mut self, ds: &Dataset, start: u64, k: usize) -> Result<()> {
        let d = self.d;
        for i in start..start + k as u64 {
            let slot = self.free.pop().expect("caller checked room") as usize;
            let (img, patch) = ds.get_into(i, &mut self.rows[slot * d..(slot + 1) * d])?;
            self.image_i[slot] = img;
            self.patch_i[slot] = patch;
            self.live.push(slot as u32);
        }
        Ok(())
    }
}

/// Stream one epoch; `false` if the consumer left or reading failed.
fn shuffle_epoch(
    ds: &Dataset,
    cfg: &ShuffleConfig,
    epoch: u64,
    buf: &mut ShuffleBuffer,
    p: &Producer,
) -> bool {
    let d = ds.d_vit();
    let n = ds.len();
    // No full batch fits in an epoch: the stream would never yield; end it.
    if n == 0 || (cfg.drop_last && n < cfg.batch_size as u64) {
        return false;
    }
    let chunk = cfg.chunk_examples as u64;
    let mut rng = epoch_rng(cfg.seed, epoch);
    let mut order: Vec<u64> = (0..n.div_ceil(chunk)).collect();
    rng.shuffle(&mut order);
    let mut next_chunk = 0;
    loop {
        while next_chunk < order.len() {
            let start = order[next_chunk] * chunk;
            let k = chunk.min(n - start) as usize;
            if k > buf.free.len() {
                break;
            }
            if let Err(e) = buf.load(ds, start, k) {
                p.send(Err(e));
                return false;
            }
            next_chunk += 1;
        }
        let len = buf.live.len();
        if len == 0 || (len < cfg.batch_size && cfg.drop_last) {
            // Whatever drop_last left behind goes back to the free list.
            buf.free.append(&mut buf.live);
            return true;
        }
        let b = cfg.batch_size.min(len);
        let mut acts = p.buffer(b);
        let (mut img_b, mut patch_b) = (Vec::with_capacity(b), Vec::with_capacity(b));
        for out in acts.chunks_exact_mut(d) {
            let j = rng.interval(buf.live.len() as u64 - 1) as usize;
            let slot = buf.live.swap_remove(j) as usize;
            out.copy_from_slice(&buf.rows[slot * d..(slot + 1) * d]);
            img_b.push(buf.image_i[slot]);
            patch_b.push(buf.patch_i[slot]);
            buf.free.push(slot as u32);
        }
        if !p.send(Ok(p.batch(acts, img_b, patch_b, epoch))) {
            return false;
        }
    }
}
