//! The workspace's one PNG encoder: 8-bit RGB pixels to PNG bytes or to a
//! file (written atomically).

use std::path::Path;

use crate::PlotError;

/// PNG bytes of a `w x h` RGB image (`rgb.len() == 3 * w * h`).
pub fn encode_rgb(w: u32, h: u32, rgb: &[u8]) -> Result<Vec<u8>, String> {
    use image::ImageEncoder;
    if rgb.len() != 3 * w as usize * h as usize {
        return Err(format!("{} bytes for a {w} x {h} RGB image", rgb.len()));
    }
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(rgb, w, h, image::ExtendedColorType::Rgb8)
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// Write a `w x h` RGB image to `path` as PNG, atomically.
pub fn save_rgb(path: &Path, w: u32, h: u32, rgb: &[u8]) -> Result<(), PlotError> {
    let err = |why: String| PlotError {
        path: path.to_path_buf(),
        why,
    };
    let bytes = encode_rgb(w, h, rgb).map_err(err)?;
    saev_io::write_atomic(path, &bytes).map_err(|e| err(e.to_string()))
}
