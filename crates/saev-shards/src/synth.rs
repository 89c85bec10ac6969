//! Synthetic stores: random activations with saev's layout, for benchmarks and demos.

use std::path::{Path, PathBuf};

use saev_rng::{Pcg64, SeedSequence};

use crate::error::Result;
use crate::metadata::Metadata;
use crate::writer::{ShardWriter, WriterOptions};

/// Record `md.n_imgs` images of uniform values in `[-4, 4)` (per-dimension
/// offsets make the mean non-zero), `images_per_batch` per append (default:
/// about 64 MB); calls `on_images` after each append.
///
/// Image `i`'s values depend only on `(seed, i)`, so an interrupted run that
/// resumes writes exactly what an uninterrupted one would have.
pub fn write_random_store(
    dump_to: &Path,
    md: Metadata,
    seed: u64,
    images_per_batch: Option<usize>,
    mut on_images: impl FnMut(u64),
) -> Result<PathBuf> {
    let mut writer = ShardWriter::create(dump_to, md, WriterOptions { durable: false })?;
    let layout = *writer.layout();
    let per_img = layout.image_floats();
    // About 64 MB per append unless told otherwise.
    let batch_imgs = images_per_batch
        .unwrap_or((64 << 20) / (per_img * 4))
        .max(1);
    let mut buf = vec![0f32; batch_imgs * per_img];
    while !writer.is_complete() {
        let n = (layout.n_imgs - writer.n_written()).min(batch_imgs as u64) as usize;
        let values = &mut buf[..n * per_img];
        for (k, image) in values.chunks_exact_mut(per_img).enumerate() {
            let img = writer.n_written() + k as u64;
            let mut rng = Pcg64::from_seed_sequence(&SeedSequence::new(
                (u128::from(img) << 64) | u128::from(seed),
            ));
            for (j, x) in image.iter_mut().enumerate() {
                let bits = rng.next_u32() >> 8; // 24 random bits
                let offset = (j % layout.d_vit) as f32 / layout.d_vit as f32;
                *x = bits as f32 / (1 << 21) as f32 - 4.0 + offset;
            }
        }
        writer.append(values)?;
        on_images(n as u64);
    }
    writer.finish()
}
