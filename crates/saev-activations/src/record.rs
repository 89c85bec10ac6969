//! The recording loop: images -> ViT -> shards.
//!
//! A producer thread decodes and preprocesses batch `k + 1` on its own rayon
//! pool (`n_workers` threads) while the calling thread runs the ViT on batch
//! `k` and appends it to the store, so decoding hides behind the forward
//! pass. The store's progress record makes an interrupted run resume at the
//! first image not yet written.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Instant;

use burn::prelude::*;
use saev_imaging::ClipTransform;
use saev_shards::{Labels, Metadata, ShardWriter, WriterOptions};
use saev_vit::{load_pretrained, resolve_model, VisionTransformer};

use crate::data::DataSource;
use crate::Error;

/// saev's `Activations` config (the flags of `saev activations`).
#[derive(Clone, Debug)]
pub struct RecordConfig {
    pub data: DataSource,
    pub dump_to: PathBuf,
    pub model_family: String,
    /// A name (`ViT-B-16/openai`), a directory or a weights file.
    pub model_ckpt: String,
    /// Where named models live (default `$SAEV_MODELS`).
    pub model_dir: Option<PathBuf>,
    pub vit_batch_size: usize,
    pub n_workers: usize,
    pub d_vit: usize,
    /// Layers as saev numbers them (`-2` = second-to-last block).
    pub layers: Vec<i64>,
    /// Patch tokens to record; 0 records [CLS] only.
    pub n_patches_per_img: usize,
    pub cls_token: bool,
    pub n_patches_per_shard: u64,
    pub seed: i64,
    /// Record only this part of the store (whole shards; see
    /// [`saev_shards::parts`]); `None` records all of it.
    pub part: Option<saev_shards::Part>,
}

/// Progress after each batch.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct Summary {
    pub root: PathBuf,
    pub n_imgs: u64,
    /// Images already in the store when this run started.
    pub resumed_at: u64,
    /// Images recorded by this run.
    pub recorded: u64,
    pub seconds: f64,
    /// Seconds spent in the ViT forward pass (the rest is waiting for input and writing).
    pub forward_seconds: f64,
}

/// A preprocessed batch: first image index and `[n, 3, H, W]` pixels.
struct PixelBatch {
    start: u64,
    n: usize,
    pixels: Vec<f32>,
}

impl RecordConfig {
    /// The store's metadata, as saev would write it.
    pub fn metadata(&self, n_imgs: u64) -> Metadata {
        Metadata {
            model_family: self.model_family.clone(),
            model_ckpt: self.model_ckpt.clone(),
            layers: self.layers.clone(),
            n_patches_per_img: self.n_patches_per_img as u64,
            cls_token: self.cls_token,
            d_vit: self.d_vit as u64,
            seed: self.seed,
            n_imgs,
            n_patches_per_shard: self.n_patches_per_shard,
            data: self.data.saev_repr(),
        }
    }
}

/// Check the requested recording against the model: width, patches, layers.
fn check_model<B: Backend>(
    cfg: &RecordConfig,
    vit: &VisionTransformer<B>,
) -> Result<Vec<usize>, Error> {
    let mc = &vit.config;
    if cfg.d_vit != mc.width {
        return Err(Error::Config(format!(
            "--d-vit is {} but {} has width {}",
            cfg.d_vit, cfg.model_ckpt, mc.width
        )));
    }
    if cfg.n_patches_per_img != 0 && cfg.n_patches_per_img != mc.n_patches() {
        return Err(Error::Config(format!(
            "--n-patches-per-img is {} but {} makes {} patches per image (use {} or 0 for [CLS] only)",
            cfg.n_patches_per_img,
            cfg.model_ckpt,
            mc.n_patches(),
            mc.n_patches()
        )));
    }
    if !cfg.cls_token {
        return Err(Error::Config(
            "CLIP ViTs have a [CLS] token; --cls-token must be true".into(),
        ));
    }
    cfg.layers
        .iter()
        .map(|&l| {
            mc.block_index(l).ok_or_else(|| {
                Error::Config(format!(
                    "layer {l} does not exist in a {}-block ViT",
                    mc.layers
                ))
            })
        })
        .collect()
}

/// Record `cfg.data` through the model into `<dump_to>/<hash>/`, resuming if
/// the store exists; `on_progress` is called after each batch.
pub fn record<B: Backend>(
    cfg: &RecordConfig,
    device: &B::Device,
    mut on_progress: impl FnMut(Progress),
) -> Result<Summary, Error> {
    let started = Instant::now();
    let images = cfg.data.list()?;
    let n_imgs = images.len() as u64;
    let files = resolve_model(&cfg.model_ckpt, cfg.model_dir.as_deref())?;
    tracing::info!(weights = %files.weights.display(), "loading model");
    let vit: VisionTransformer<B> = load_pretrained(&files, device)?;
    let blocks = check_model(cfg, &vit)?;

    let md = cfg.metadata(n_imgs);
    let mut writer =
        ShardWriter::create_part(&cfg.dump_to, md, cfg.part, WriterOptions::default())?;
    let root = writer.root().to_path_buf();
    let labels = Labels {
        classes: images.classes.clone(),
        targets: images.targets.clone(),
        paths: images.origins.clone(),
    };
    labels.save(&root)?;
    let resumed_at = writer.n_written();
    let (first, end) = (writer.next_image() as usize, writer.images().end as usize);
    let part_len = writer.images().end - writer.images().start;
    tracing::info!(root = %root.display(), n_imgs = part_len, resumed_at, "recording");

    let transform = ClipTransform {
        size: vit.config.image_size,
        ..ClipTransform::default()
    };
    let (tx, rx) = mpsc::sync_channel::<Result<PixelBatch, Error>>(2);
    let batch_size = cfg.vit_batch_size.max(1);
    let n_workers = cfg.n_workers.max(1);
    let producer = std::thread::spawn(move || {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n_workers)
            .thread_name(|i| format!("saev-decode-{i}"))
            .build()
            .expect("decode thread pool");
        let side = transform.size;
        let per_img = 3 * side * side;
        let mut start = first;
        while start < end {
            // Batches on the one-go run's grid (multiples of the batch
            // size), so a part computes each image in the batch a
            // one-machine recording would.
            let stop = ((start / batch_size + 1) * batch_size).min(end);
            let mut pixels = vec![0.0f32; (stop - start) * per_img];
            let decoded = pool.install(|| {
                images.decode_batch(start, stop, &mut pixels, per_img, |img, out| {
                    transform.apply_into(img, out)
                })
            });
            let item = decoded.map(|()| PixelBatch {
                start: start as u64,
                n: stop - start,
                pixels,
            });
            let failed = item.is_err();
            if tx.send(item).is_err() || failed {
                return;
            }
            start = stop;
        }
    });

    let side = vit.config.image_size;
    let n_tokens = if cfg.n_patches_per_img == 0 {
        1
    } else {
        1 + cfg.n_patches_per_img
    };
    let mut forward_seconds = 0.0;
    for item in rx {
        let batch = item?;
        debug_assert_eq!(batch.start, writer.next_image());
        let t0 = Instant::now();
        let x = Tensor::<B, 4>::from_data(
            TensorData::new(batch.pixels, [batch.n, 3, side, side]),
            device,
        );
        let residuals = vit.forward_residuals(x, &blocks);
        let per_layer: Vec<Vec<f32>> = residuals
            .into_iter()
            .map(|r| {
                let r = if n_tokens == 1 {
                    r.slice(s![.., 0..1, ..])
                } else {
                    r
                };
                r.into_data()
                    .convert::<f32>()
                    .into_vec::<f32>()
                    .expect("f32 residuals")
            })
            .collect();
        forward_seconds += t0.elapsed().as_secs_f64();
        // [layer][image, token, dim] -> [image, layer, token, dim]
        let per_img_layer = n_tokens * cfg.d_vit;
        let mut acts_BLTD = vec![0.0f32; batch.n * blocks.len() * per_img_layer];
        for (l, values) in per_layer.iter().enumerate() {
            for b in 0..batch.n {
                let dst = (b * blocks.len() + l) * per_img_layer;
                acts_BLTD[dst..dst + per_img_layer]
                    .copy_from_slice(&values[b * per_img_layer..(b + 1) * per_img_layer]);
            }
        }
        writer.append(&acts_BLTD)?;
        on_progress(Progress {
            done: writer.n_written(),
            total: part_len,
        });
    }
    let _ = producer.join();
    let recorded = writer.n_written() - resumed_at;
    writer.finish()?;
    Ok(Summary {
        root,
        n_imgs: part_len,
        resumed_at,
        recorded,
        seconds: started.elapsed().as_secs_f64(),
        forward_seconds,
    })
}
