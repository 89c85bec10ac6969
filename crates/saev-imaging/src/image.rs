//! Decoded 8-bit images with Pillow's modes, and the conversions open_clip's
//! transform applies.

use std::path::Path;

use crate::Error;

/// Pillow's image modes that matter for CLIP preprocessing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Grayscale.
    L,
    /// Grayscale + alpha.
    LA,
    RGB,
    RGBA,
    /// Palette image, stored here already expanded to RGB or RGBA (`bands`
    /// says which); Pillow resizes palette images with nearest neighbour.
    P,
}

/// An interleaved 8-bit image, `bands` values per pixel, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image8 {
    pub width: usize,
    pub height: usize,
    pub bands: usize,
    pub mode: Mode,
    pub data: Vec<u8>,
}

impl Image8 {
    pub fn new(width: usize, height: usize, bands: usize, mode: Mode) -> Self {
        Self {
            width,
            height,
            bands,
            mode,
            data: vec![0; width * height * bands],
        }
    }

    /// Decode a file the way `PIL.Image.open` sees it (mode and pixels).
    ///
    /// 16-bit channels keep their high byte (as Pillow does for 16-bit RGB
    /// PNGs); EXIF orientation is not applied (Pillow does not either).
    pub fn open(path: &Path) -> Result<Self, Error> {
        let bytes = std::fs::read(path).map_err(|e| Error::Io(path.to_path_buf(), e))?;
        Self::decode(&bytes).map_err(|why| Error::Decode(path.to_path_buf(), why))
    }

    /// `Image.open(path).convert("RGB")`: how saev's datasets load images
    /// (torchvision's `ImageFolder` loader and saev's ImageNet dataset both
    /// convert before any transform). Bit-identical to Pillow 11 for every
    /// mode in `fixtures/image-modes/` (docs/models.md).
    pub fn open_rgb(path: &Path) -> Result<Self, Error> {
        Ok(Self::open(path)?.to_rgb())
    }

    /// [`Image8::open_rgb`] for encoded bytes.
    pub fn decode_rgb(bytes: &[u8]) -> Result<Self, String> {
        Ok(Self::decode(bytes)?.to_rgb())
    }

    /// Decode encoded bytes (PNG, JPEG, BMP, PNM, TIFF, WebP, GIF).
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        if bytes.starts_with(b"\xff\xd8") {
            return decode_jpeg(bytes);
        }
        let palette = is_palette_png(bytes) || bytes.starts_with(b"GIF8");
        let img = image::load_from_memory(bytes).map_err(|e| e.to_string())?;
        let (width, height) = (img.width() as usize, img.height() as usize);
        use image::DynamicImage as D;
        let (mode, bands, data) = match img {
            D::ImageLuma8(i) => (Mode::L, 1, i.into_raw()),
            D::ImageLumaA8(i) => (Mode::LA, 2, i.into_raw()),
            D::ImageRgb8(i) => (Mode::RGB, 3, i.into_raw()),
            D::ImageRgba8(i) => (Mode::RGBA, 4, i.into_raw()),
            // Pillow opens 16-bit gray as I;16, whose conversion to L or RGB
            // clips at 255 (it does not scale).
            D::ImageLuma16(i) => (Mode::L, 1, clipped_bytes(i.as_raw())),
            D::ImageLumaA16(i) => (Mode::LA, 2, high_bytes(i.as_raw())),
            D::ImageRgb16(i) => (Mode::RGB, 3, high_bytes(i.as_raw())),
            D::ImageRgba16(i) => (Mode::RGBA, 4, high_bytes(i.as_raw())),
            other => (Mode::RGB, 3, other.to_rgb8().into_raw()),
        };
        let mode = if palette { Mode::P } else { mode };
        Ok(Self {
            width,
            height,
            bands,
            mode,
            data,
        })
    }

    /// `Image.crop((left, top, left + w, top + h))` within bounds.
    pub fn crop(&self, left: usize, top: usize, w: usize, h: usize) -> Self {
        let mut out = Self::new(w, h, self.bands, self.mode);
        for y in 0..h {
            let s = ((top + y) * self.width + left) * self.bands;
            out.data[y * w * self.bands..(y + 1) * w * self.bands]
                .copy_from_slice(&self.data[s..s + w * self.bands]);
        }
        out
    }

    /// `Image.convert("RGB")`: gray replicated, alpha dropped (not
    /// composited), palette colours looked up with transparency ignored (a
    /// palette image is stored expanded already).
    pub fn to_rgb(&self) -> Self {
        let mut out = Self::new(self.width, self.height, 3, Mode::RGB);
        for (o, px) in out
            .data
            .chunks_exact_mut(3)
            .zip(self.data.chunks_exact(self.bands))
        {
            match self.bands {
                1 | 2 => o.fill(px[0]),
                _ => o.copy_from_slice(&px[..3]),
            }
        }
        out
    }

    /// Pillow's RGBA -> RGBa / LA -> La: colour bands times alpha, `MULDIV255` rounding.
    pub(crate) fn premultiply(&mut self) {
        let bands = self.bands;
        for px in self.data.chunks_exact_mut(bands) {
            let alpha = u32::from(px[bands - 1]);
            for v in &mut px[..bands - 1] {
                let tmp = u32::from(*v) * alpha + 128;
                *v = (((tmp >> 8) + tmp) >> 8) as u8;
            }
        }
    }

    /// Pillow's RGBa -> RGBA / La -> LA: divide by alpha, truncating, clipped.
    pub(crate) fn unpremultiply(&mut self) {
        let bands = self.bands;
        for px in self.data.chunks_exact_mut(bands) {
            let alpha = u32::from(px[bands - 1]);
            if alpha != 0 && alpha != 255 {
                for v in &mut px[..bands - 1] {
                    *v = ((255 * u32::from(*v)) / alpha).min(255) as u8;
                }
            }
        }
    }
}

/// JPEG through libjpeg-turbo's decoder (mozjpeg's build of it): the same
/// integer IDCT, "fancy" chroma upsampling and colour conversion as the
/// libjpeg-turbo inside Pillow, so the pixels are bit-identical.
fn decode_jpeg(bytes: &[u8]) -> Result<Image8, String> {
    // libjpeg reports corrupt data by unwinding; turn that into an error.
    std::panic::catch_unwind(|| {
        let d = mozjpeg::Decompress::new_mem(bytes).map_err(|e| e.to_string())?;
        let (width, height) = (d.width(), d.height());
        let (mode, bands, data) = match d.color_space() {
            mozjpeg::ColorSpace::JCS_GRAYSCALE => {
                let mut img = d.grayscale().map_err(|e| e.to_string())?;
                let rows: Vec<u8> = img.read_scanlines().map_err(|e| e.to_string())?;
                (Mode::L, 1, rows)
            }
            mozjpeg::ColorSpace::JCS_CMYK | mozjpeg::ColorSpace::JCS_YCCK => {
                // Pillow reads every 4-channel JPEG as Adobe-inverted CMYK
                // (rawmode CMYK;I) and converts it to RGB as
                // nk - MULDIV255(c, nk) with nk = 255 - k; on the raw samples
                // (c, k) that is k - MULDIV255(255 - c, k).
                let mut img = d
                    .to_colorspace(mozjpeg::ColorSpace::JCS_CMYK)
                    .map_err(|e| e.to_string())?;
                let cmyk: Vec<[u8; 4]> = img.read_scanlines().map_err(|e| e.to_string())?;
                let rgb = cmyk
                    .iter()
                    .flat_map(|p| {
                        let nk = u32::from(p[3]);
                        [p[0], p[1], p[2]].map(|c| {
                            let tmp = (255 - u32::from(c)) * nk + 128;
                            (nk - (((tmp >> 8) + tmp) >> 8)) as u8
                        })
                    })
                    .collect();
                (Mode::RGB, 3, rgb)
            }
            _ => {
                let mut img = d.rgb().map_err(|e| e.to_string())?;
                let px: Vec<[u8; 3]> = img.read_scanlines().map_err(|e| e.to_string())?;
                (Mode::RGB, 3, px.into_iter().flatten().collect())
            }
        };
        Ok(Image8 {
            width,
            height,
            bands,
            mode,
            data,
        })
    })
    .unwrap_or_else(|_| Err("corrupt JPEG data".to_string()))
}

fn clipped_bytes(values: &[u16]) -> Vec<u8> {
    values.iter().map(|&v| v.min(255) as u8).collect()
}

fn high_bytes(values: &[u16]) -> Vec<u8> {
    values.iter().map(|v| (v >> 8) as u8).collect()
}

/// Whether `bytes` is a PNG with a palette (colour type 3), which Pillow opens in mode P.
fn is_palette_png(bytes: &[u8]) -> bool {
    // Signature (8) + IHDR length (4) + "IHDR" (4) + width, height (8) + depth (1) + colour type.
    bytes.len() > 25
        && bytes.starts_with(b"\x89PNG\r\n\x1a\n")
        && &bytes[12..16] == b"IHDR"
        && bytes[25] == 3
}
