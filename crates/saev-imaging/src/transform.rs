//! open_clip's image transform for the OpenAI CLIP weights, step by step:
//!
//! 1. `Resize(224, BICUBIC)` (torchvision on a PIL image): shortest side to
//!    224, the other to `int(224 * long / short)`, Pillow's bicubic resize
//!    (palette images: nearest; images with alpha are resized premultiplied,
//!    as Pillow does);
//! 2. `CenterCrop(224)`: offsets `int(round((h - 224) / 2))` with Python's
//!    round-half-to-even;
//! 3. `convert("RGB")` (after the crop, as open_clip does);
//! 4. `ToTensor()` (`/ 255` in f32) and `Normalize(mean, std)` in f32.

use crate::image::{Image8, Mode};
use crate::resample::{resize, Filter};

/// OpenAI CLIP's normalization (`OPENAI_DATASET_MEAN` / `_STD`).
pub const OPENAI_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
// As open_clip writes them; rounding to f32 is what torch does too.
#[allow(clippy::excessive_precision)]
pub const OPENAI_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// The transform's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipTransform {
    /// Output side (and the shortest side after resizing).
    pub size: usize,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub filter: Filter,
}

impl Default for ClipTransform {
    /// open_clip's transform for `ViT-B-16` with OpenAI weights.
    fn default() -> Self {
        Self {
            size: 224,
            mean: OPENAI_MEAN,
            std: OPENAI_STD,
            filter: Filter::Bicubic,
        }
    }
}

/// torchvision's `_compute_resized_output_size` for an int size: `(w, h)`.
pub fn shortest_side_size(width: usize, height: usize, size: usize) -> (usize, usize) {
    let (short, long) = if width <= height {
        (width, height)
    } else {
        (height, width)
    };
    let new_long = (size as f64 * long as f64 / short as f64) as usize;
    if width <= height {
        (size, new_long)
    } else {
        (new_long, size)
    }
}

/// torchvision's center-crop offset: `int(round((total - crop) / 2.0))`, round half to even.
pub fn crop_offset(total: usize, crop: usize) -> usize {
    let diff = total - crop;
    let half = diff / 2;
    if diff % 2 == 1 && half % 2 == 1 {
        half + 1
    } else {
        half
    }
}

/// Pillow's `Image.resize`: same size is a copy; palette images use nearest;
/// images with alpha go through premultiplied alpha.
pub fn pil_resize(img: &Image8, w: usize, h: usize, filter: Filter) -> Image8 {
    if (w, h) == (img.width, img.height) {
        return img.clone();
    }
    match img.mode {
        Mode::P => resize(img, w, h, Filter::Nearest),
        Mode::LA | Mode::RGBA if filter != Filter::Nearest => {
            let mut pre = img.clone();
            pre.premultiply();
            let mut out = resize(&pre, w, h, filter);
            out.unpremultiply();
            out
        }
        _ => resize(img, w, h, filter),
    }
}

impl ClipTransform {
    /// Steps 1 to 3: the cropped RGB image.
    pub fn crop_rgb(&self, img: &Image8) -> Image8 {
        let (w, h) = shortest_side_size(img.width, img.height, self.size);
        let resized = pil_resize(img, w, h, self.filter);
        let left = crop_offset(resized.width, self.size);
        let top = crop_offset(resized.height, self.size);
        resized.crop(left, top, self.size, self.size).to_rgb()
    }

    /// The whole transform into `out_CHW` (`3 * size * size` values).
    pub fn apply_into(&self, img: &Image8, out_CHW: &mut [f32]) {
        let rgb = self.crop_rgb(img);
        let plane = self.size * self.size;
        for c in 0..3 {
            let out = &mut out_CHW[c * plane..(c + 1) * plane];
            for (o, px) in out.iter_mut().zip(rgb.data.chunks_exact(3)) {
                *o = (f32::from(px[c]) / 255.0 - self.mean[c]) / self.std[c];
            }
        }
    }

    /// The whole transform: `[3, size, size]` f32, C order.
    pub fn apply(&self, img: &Image8) -> Vec<f32> {
        let mut out = vec![0.0; 3 * self.size * self.size];
        self.apply_into(img, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_sizes_match_torchvision() {
        assert_eq!(shortest_side_size(320, 240, 224), (298, 224)); // int(224 * 320 / 240) = 298
        assert_eq!(shortest_side_size(180, 300, 224), (224, 373)); // int(373.33)
        assert_eq!(shortest_side_size(100, 60, 224), (373, 224));
        assert_eq!(shortest_side_size(224, 224, 224), (224, 224));
    }

    #[test]
    fn crop_offsets_round_half_to_even() {
        assert_eq!(crop_offset(224, 224), 0);
        assert_eq!(crop_offset(225, 224), 0); // round(0.5) = 0
        assert_eq!(crop_offset(227, 224), 2); // round(1.5) = 2
        assert_eq!(crop_offset(229, 224), 2); // round(2.5) = 2
        assert_eq!(crop_offset(298, 224), 37);
        assert_eq!(crop_offset(373, 224), 74); // round(74.5) = 74
    }
}
