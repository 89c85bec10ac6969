//! Sizes of a run: what the demo and the real run train, how long each
//! stage is expected to take, and how much disk the real run needs.

use serde::{Deserialize, Serialize};

/// ImageNet-1K's train split.
pub const IMAGENET_TRAIN: u64 = 1_281_167;
/// Flowers-102, all three splits.
pub const FLOWERS_ALL: u64 = 8_189;

/// The bytes the real run writes, by part (see docs/reproduce.md).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiskEstimate {
    /// [CLS] activations at one layer of ImageNet-1K train and Flowers-102, f32.
    pub shards: f64,
    /// The preprint sweep's 24 SAEs while training: the weights twice (export
    /// and checkpoint) plus Adam's two moments.
    pub saes: f64,
    /// Pictures: `n_pictures` latents x `top_k` PNGs of 448 px, and the top-k tensors.
    pub visuals: f64,
    /// 10% headroom on the sum.
    pub margin: f64,
}

/// Bytes of one 448 x 448 picture with its heatmap (PNG of a photograph).
pub const PICTURE_BYTES: f64 = 250e3;

impl DiskEstimate {
    /// The preprint's run for a ViT of width `d_vit`: 12 SAEs of 16 x
    /// `d_vit` and 12 of 32 x `d_vit` latents; pictures of 400 sampled
    /// latents plus 3 per Flowers class for the dashboard, 128 images each.
    pub fn preprint(d_vit: usize) -> DiskEstimate {
        let d = d_vit as f64;
        let shards = (IMAGENET_TRAIN + FLOWERS_ALL) as f64 * d * 4.0;
        // W_enc and W_dec are D x S each; while training, sae.safetensors
        // plus checkpoint.safetensors (weights, Adam's m and v) hold four copies.
        let latents_all = 12.0 * (16.0 + 32.0) * d;
        let saes = 4.0 * 2.0 * d * latents_all * 4.0;
        let n_pictures = 400.0 + 102.0 * 3.0;
        let top_k = 128.0;
        let s_chosen = 32.0 * d;
        let visuals = n_pictures * top_k * PICTURE_BYTES + s_chosen * top_k * 12.0;
        let margin = 0.1 * (shards + saes + visuals);
        DiskEstimate {
            shards,
            saes,
            visuals,
            margin,
        }
    }

    pub fn total(&self) -> f64 {
        self.shards + self.saes + self.visuals + self.margin
    }

    /// `about 41 GB (shards 4, SAEs 11, visuals 23, margin 4)`.
    pub fn describe(&self) -> String {
        let gb = |x: f64| format!("{:.0}", x / 1e9);
        format!(
            "about {} GB (shards {}, SAEs {}, visuals {}, margin {})",
            gb(self.total()),
            gb(self.shards),
            gb(self.saes),
            gb(self.visuals),
            gb(self.margin)
        )
    }
}

/// Free bytes on the file system holding `dir`.
pub fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a zeroed struct for the call to fill.
    (unsafe { libc::statvfs(c.as_ptr(), &mut st) } == 0)
        .then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

/// Seconds each stage is expected to take, for the progress lines.
pub fn expected_seconds(demo: bool, quick: bool, gpu: bool) -> Vec<(&'static str, f64)> {
    if demo {
        let q = if quick { 0.35 } else { 1.0 };
        return vec![
            ("world", 5.0 * q),
            ("pretrain", 80.0 * q),
            ("record-pretrain", 8.0 * q),
            ("train-saes", 60.0 * q),
            ("visuals", 20.0 * q),
            ("flowers", 1.0),
            ("record-flowers", 4.0 * q),
            ("probe", 20.0 * q),
            ("steer", 5.0 * q),
        ];
    }
    // ImageNet-1K train on ViT-B/16: CPU figures from docs/performance.md
    // (7.6 images/s, 3,000 SAE examples/s), GPU rough.
    let pick = |g: f64, c: f64| if gpu { g } else { c };
    vec![
        ("record-pretrain", pick(3600.0, IMAGENET_TRAIN as f64 / 7.6)),
        ("train-saes", pick(6.0 * 3600.0, 24.0 * 1e8 / 3000.0)),
        ("visuals", pick(600.0, IMAGENET_TRAIN as f64 / 11000.0)),
        ("flowers", 120.0),
        ("record-flowers", pick(60.0, FLOWERS_ALL as f64 / 7.6)),
        ("probe", 60.0),
        ("steer", 120.0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_disk_estimate_is_the_figure_the_docs_give() {
        let e = DiskEstimate::preprint(768);
        let docs = include_str!("../../../docs/reproduce.md");
        let line = e.describe();
        assert!(
            docs.contains(&line),
            "docs/reproduce.md should state the computed estimate: {line}"
        );
        assert!(e.total() > 30e9 && e.total() < 45e9, "{line}");
    }
}
