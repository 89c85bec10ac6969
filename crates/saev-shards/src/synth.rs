//! Synthetic stores: random activations with saev's layout, for benchmarks and demos.

use std::path::{Path, PathBuf};

use saev_rng::Pcg64;

use crate::error::Result;
use crate::metadata::Metadata;
use crate::writer::{ShardWriter, WriterOptions};

/// Record `md.n_imgs` images of uniform values in `[-4, 4)` (per-dimension
/// offsets make the mean non-zero); calls `on_images` after each batch.
pub fn write_random_store(
    dump_to: &Path,
    md: Metadata,
    seed: u64,
    mut on_images: impl FnMut(u64),
) -> Result<PathBuf> {
    let mut writer = ShardWriter::create(dump_to, md, WriterOptions { durable: false })?;
    let layout = *writer.layout();
    let per_img = layout.image_floats();
    let batch_imgs = (64 << 20) / (per_img * 4).max(1);
    let mut rng = Pcg64::from_seed(seed);
    let mut buf = vec![0f32; batch_imgs.max(1) * per_img];
    while !writer.is_complete() {
        let n = (layout.n_imgs - writer.n_written()).min(batch_imgs.max(1) as u64) as usize;
        let values = &mut buf[..n * per_img];
        for (k, x) in values.iter_mut().enumerate() {
            let bits = rng.next_u32() >> 8; // 24 random bits
            let offset = (k % layout.d_vit) as f32 / layout.d_vit as f32;
            *x = bits as f32 / (1 << 21) as f32 - 4.0 + offset;
        }
        writer.append(values)?;
        on_images(n as u64);
    }
    writer.finish()
}
