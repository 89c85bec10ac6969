//! Pillow's resampling (`Image.resize`), ported from its `Resample.c`.
//!
//! Separable convolution: a horizontal pass into an 8-bit intermediate, then
//! a vertical pass. Filter weights are computed in f64, normalized to sum to
//! one, and turned into fixed-point integers with 22 fractional bits; each
//! output is the rounded, clipped integer sum. Reproducing those steps (and
//! not a float convolution) is what makes the output bit-identical to Pillow.

use crate::image::Image8;

/// Pillow's `PRECISION_BITS` for 8-bit images: `32 - 8 - 2`.
const PRECISION_BITS: u32 = 22;

/// A resampling filter: its kernel and support (half-width at scale 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    /// `Image.NEAREST`: no filtering (Pillow uses it for palette images).
    Nearest,
    /// `Image.BILINEAR` (triangle, support 1).
    Bilinear,
    /// `Image.BICUBIC` (Keys cubic with a = -0.5, support 2), CLIP's choice.
    Bicubic,
}

impl Filter {
    fn support(self) -> f64 {
        match self {
            Filter::Nearest => 0.0,
            Filter::Bilinear => 1.0,
            Filter::Bicubic => 2.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        let x = x.abs();
        match self {
            Filter::Nearest => f64::from(u8::from(x < 0.5)),
            Filter::Bilinear => {
                if x < 1.0 {
                    1.0 - x
                } else {
                    0.0
                }
            }
            Filter::Bicubic => {
                const A: f64 = -0.5;
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
        }
    }
}

/// Fixed-point weights of one output pixel: first input index and weights.
struct Taps {
    /// `(first input index, number of taps)` per output pixel.
    bounds: Vec<(usize, usize)>,
    /// `ksize` weights per output pixel (unused tail zero).
    weights: Vec<i32>,
    ksize: usize,
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for a full-range box.
fn taps(in_size: usize, out_size: usize, filter: Filter) -> Taps {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C's (int) truncates toward zero; negatives are clamped to 0 anyway.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax.saturating_sub(xmin);
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(n) {
            let w = filter.weight((x as f64 + xmin as f64 - center + 0.5) * ss);
            *kx = w;
            ww += w;
        }
        for (x, kx) in k.iter().enumerate().take(n) {
            let w = if ww != 0.0 { kx / ww } else { *kx };
            let fixed = w * f64::from(1u32 << PRECISION_BITS);
            weights[xx * ksize + x] = if w < 0.0 {
                (fixed - 0.5) as i32
            } else {
                (fixed + 0.5) as i32
            };
        }
        bounds.push((xmin, n));
    }
    Taps {
        bounds,
        weights,
        ksize,
    }
}

/// Pillow's `clip8`: round-shifted fixed point to 0..=255.
#[inline]
fn clip8(v: i32) -> u8 {
    if v >= (1 << PRECISION_BITS << 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// Resize to `(w, h)` exactly as Pillow's `Image.resize((w, h), filter)` does
/// for an image whose bands are all 8-bit (modes L, LA, RGB, RGBA after
/// premultiplication; see [`crate::image`]).
pub fn resize(src: &Image8, w: usize, h: usize, filter: Filter) -> Image8 {
    if filter == Filter::Nearest {
        return resize_nearest(src, w, h);
    }
    let bands = src.bands;
    let need_h = w != src.width;
    let need_v = h != src.height;
    let vert = taps(src.height, h, filter);
    // Only the input rows the vertical pass reads need a horizontal pass.
    let (row0, row1) = if need_v {
        let first = vert.bounds[0].0;
        let (last_start, last_n) = vert.bounds[h - 1];
        (first, last_start + last_n)
    } else {
        (0, src.height)
    };
    let mid = if need_h {
        let hor = taps(src.width, w, filter);
        let mut out = Image8::new(w, row1 - row0, bands, src.mode);
        for y in row0..row1 {
            let in_row = &src.data[y * src.width * bands..(y + 1) * src.width * bands];
            let out_row = &mut out.data[(y - row0) * w * bands..(y - row0 + 1) * w * bands];
            for (xx, &(xmin, n)) in hor.bounds.iter().enumerate() {
                let k = &hor.weights[xx * hor.ksize..xx * hor.ksize + n];
                for b in 0..bands {
                    let mut ss: i32 = 1 << (PRECISION_BITS - 1);
                    for (x, &kx) in k.iter().enumerate() {
                        ss += i32::from(in_row[(xmin + x) * bands + b]) * kx;
                    }
                    out_row[xx * bands + b] = clip8(ss);
                }
            }
        }
        out
    } else {
        let mut out = Image8::new(src.width, row1 - row0, bands, src.mode);
        out.data
            .copy_from_slice(&src.data[row0 * src.width * bands..row1 * src.width * bands]);
        out
    };
    if !need_v {
        return mid;
    }
    let mut out = Image8::new(mid.width, h, bands, src.mode);
    let stride = mid.width * bands;
    for (yy, &(ymin, n)) in vert.bounds.iter().enumerate() {
        let k = &vert.weights[yy * vert.ksize..yy * vert.ksize + n];
        let ymin = ymin - row0;
        for xb in 0..stride {
            let mut ss: i32 = 1 << (PRECISION_BITS - 1);
            for (y, &ky) in k.iter().enumerate() {
                ss += i32::from(mid.data[(ymin + y) * stride + xb]) * ky;
            }
            out.data[yy * stride + xb] = clip8(ss);
        }
    }
    out
}

/// Pillow's nearest-neighbour resize (an affine transform sampling pixel
/// centres, coordinates accumulated in f64 as Pillow's `affine_transform` does).
fn resize_nearest(src: &Image8, w: usize, h: usize) -> Image8 {
    let bands = src.bands;
    let a0 = src.width as f64 / w as f64;
    let a4 = src.height as f64 / h as f64;
    let mut out = Image8::new(w, h, bands, src.mode);
    let mut yo = a4 * 0.5;
    for y in 0..h {
        let mut xx = a0 * 0.5;
        let yin = yo as usize;
        for x in 0..w {
            let xin = xx as usize;
            if xin < src.width && yin < src.height {
                let s = (yin * src.width + xin) * bands;
                out.data[(y * w + x) * bands..(y * w + x + 1) * bands]
                    .copy_from_slice(&src.data[s..s + bands]);
            }
            xx += a0;
        }
        yo += a4;
    }
    out
}
