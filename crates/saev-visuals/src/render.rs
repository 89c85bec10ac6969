//! Pictures of latents: each top image resized and center-cropped to 448 px
//! (saev: resize to 512 x 512, crop the middle 448), in patch modes with a
//! heatmap of the latent's patch values (plasma colormap, opacity and colour
//! scaled by the latent's largest top value, as saev's `add_highlights`:
//! patch `p` covers row `p / side`, column `p % side`).

use std::path::Path;

use saev_imaging::{resize, Filter, Image8};

use crate::output::{write_atomic, Visuals};
use crate::plasma::PLASMA;
use crate::Error;

/// Side of the saved pictures.
pub const SIDE: usize = 448;

/// Resize to 512 x 512 (bicubic) and keep the middle 448 x 448, as RGB.
pub fn square_448(img: &Image8) -> Image8 {
    let rgb = img.to_rgb();
    let big = resize(&rgb, 512, 512, Filter::Bicubic);
    big.crop(32, 32, SIDE, SIDE)
}

/// The patch covering pixel `(x, y)` of a `side_px` square cut into `grid`
/// patches per side: row `y / (side_px / grid)`, column `x / ...`.
pub fn patch_at(x: usize, y: usize, side_px: usize, grid: usize) -> usize {
    let cell = side_px / grid;
    let (r, c) = ((y / cell).min(grid - 1), (x / cell).min(grid - 1));
    r * grid + c
}

/// Overlay `patches` (row-major, `grid * grid`) on an RGB image in place:
/// colour `plasma(v / upper)`, alpha `0.9 * v / upper` (saev's highlights).
pub fn add_heatmap(img: &mut Image8, patches: &[f32], upper: f32) {
    let grid = (patches.len() as f64).sqrt() as usize;
    assert_eq!(
        grid * grid,
        patches.len(),
        "patches must form a square grid"
    );
    assert_eq!(img.bands, 3, "RGB image expected");
    let cell = img.width / grid;
    for y in 0..img.height {
        for x in 0..img.width {
            if x >= cell * grid || y >= cell * grid {
                continue;
            }
            let v = (patches[patch_at(x, y, cell * grid, grid)] / (upper + 1e-9)).clamp(0.0, 1.0);
            let color = PLASMA[((v * 255.0).round() as usize).min(255)];
            // saev: alpha = int(0.9 * v * 256), composited over the image.
            let a = (((0.9 * v * 256.0) as u32).min(255)) as f32 / 255.0;
            let px = &mut img.data[(y * img.width + x) * 3..][..3];
            for (c, &col) in px.iter_mut().zip(&color) {
                *c = (f32::from(*c) * (1.0 - a) + f32::from(col) * a).round() as u8;
            }
        }
    }
}

/// An RGB image as PNG bytes (the workspace's one encoder, [`saev_plot::png`]).
pub fn png_bytes(img: &Image8) -> Result<Vec<u8>, String> {
    let rgb = img.to_rgb();
    saev_plot::png::encode_rgb(rgb.width as u32, rgb.height as u32, &rgb.data)
}

/// Encode an RGB image as PNG, atomically.
pub fn save_png(img: &Image8, path: &Path) -> Result<(), Error> {
    let bytes = png_bytes(img).map_err(|e| Error::File(path.to_path_buf(), e))?;
    write_atomic(path, &bytes)
}

/// One latent's folder `neurons/<latent>/`: `<j>.png` and `<j>.txt` (label)
/// per distinct top image, and `metadata.json`.
pub fn write_neuron(
    v: &Visuals,
    latent: usize,
    dir: &Path,
    load: &(dyn Fn(i64) -> Result<Image8, String> + Sync),
    label: &(dyn Fn(i64) -> String + Sync),
) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::File(dir.to_path_buf(), e.to_string()))?;
    let top = v.top(latent);
    let upper = top.iter().map(|t| t.1).fold(0.0f32, f32::max);
    let upper = (0..top.len())
        .flat_map(|j| v.patches(latent, j).iter().copied())
        .fold(upper, f32::max);
    let mut entries = Vec::new();
    for (j, &(img_i, value)) in top.iter().enumerate() {
        let img = load(img_i).map_err(|e| Error::Image(img_i, e))?;
        let mut pic = square_448(&img);
        let patches = v.patches(latent, j);
        if !patches.is_empty() {
            add_heatmap(&mut pic, patches, upper);
        }
        save_png(&pic, &dir.join(format!("{j}.png")))?;
        let lab = label(img_i);
        write_atomic(&dir.join(format!("{j}.txt")), format!("{lab}\n").as_bytes())?;
        entries.push(serde_json::json!({"image": img_i, "value": value, "label": lab}));
    }
    let freq = v.sparsity_S[latent];
    let mean = v.mean_values_S[latent];
    let meta = serde_json::json!({
        "latent": latent,
        "neuron": latent,
        "log10_freq": f64::from(freq).log10(),
        "log10_value": f64::from(mean).log10(),
        "max_value": v.max_values_S[latent],
        "top": entries,
    });
    write_atomic(
        &dir.join("metadata.json"),
        serde_json::to_string_pretty(&meta)
            .expect("json")
            .as_bytes(),
    )
}

/// Grid of histograms of `log10` of the positive saved values of the first
/// latents, with the 90th, 95th, 99th and 100th percentile lines.
pub fn plot_distributions(v: &Visuals, path: &Path) -> Result<(), Error> {
    use saev_plot::{Figure, Panel, Series, Style};
    let (m, n) = (v.summary.n_distributions, v.summary.n_imgs as usize);
    if m == 0 || n == 0 {
        return Ok(());
    }
    let cols = (m as f64).sqrt().ceil() as usize;
    let mut fig = Figure::new(cols).title(format!(
        "log10 activation distributions, latents 0..{m} (sort by {})",
        v.summary.sort_by
    ));
    fig.panel_size = (320, 240);
    for lat in 0..m {
        let mut vals: Vec<f64> = v.distributions_MN[lat * n..(lat + 1) * n]
            .iter()
            .filter(|&&x| x > 0.0)
            .map(|&x| f64::from(x).log10())
            .collect();
        vals.sort_by(f64::total_cmp);
        let mut panel = Panel::new(format!("latent {lat}"), "log10 value", "images");
        if let (Some(&lo), Some(&hi)) = (vals.first(), vals.last()) {
            let bins = 40;
            let w = ((hi - lo) / bins as f64).max(1e-6);
            let mut counts = vec![0.0; bins + 1];
            for &x in &vals {
                counts[(((x - lo) / w) as usize).min(bins - 1)] += 1.0;
            }
            let pts = (0..=bins).map(|i| (lo + i as f64 * w, counts[i])).collect();
            panel = panel.series(Series::line("", pts).with_style(Style::Bars));
            for q in [90.0, 95.0, 99.0, 100.0] {
                let at = vals[(((q / 100.0) * (vals.len() - 1) as f64).round()) as usize];
                // One legend for the figure: name the lines in the first panel only.
                let name = if lat == 0 {
                    format!("p{q}")
                } else {
                    String::new()
                };
                panel = panel.series(Series::line(name, vec![(at, 0.0)]).with_style(Style::VLine));
            }
        }
        fig = fig.panel(panel);
    }
    fig.save(path)
        .map_err(|e| Error::File(path.to_path_buf(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_p_covers_row_p_div_14_and_column_p_mod_14() {
        for p in [0usize, 1, 13, 14, 15, 100, 195] {
            let (r, c) = (p / 14, p % 14);
            // The middle pixel of that cell in a 448 px picture (32 px cells).
            assert_eq!(patch_at(c * 32 + 16, r * 32 + 16, 448, 14), p);
        }
        // One hot patch: only its cell changes colour.
        let mut img = Image8::new(448, 448, 3, saev_imaging::Mode::RGB);
        let mut patches = vec![0.0f32; 196];
        patches[15] = 2.0; // row 1, column 1
        add_heatmap(&mut img, &patches, 2.0);
        let px = |x: usize, y: usize| img.data[(y * 448 + x) * 3..][..3].to_vec();
        assert_ne!(px(40, 40), vec![0, 0, 0]);
        assert_eq!(px(40, 10), vec![0, 0, 0]);
        assert_eq!(px(10, 40), vec![0, 0, 0]);
        assert_eq!(px(70, 40), vec![0, 0, 0]);
        // Full value: plasma's top colour at 0.9 opacity over black.
        let top = PLASMA[255];
        let want: Vec<u8> = top
            .iter()
            .map(|&c| (f32::from(c) * (230.0 / 255.0)).round() as u8)
            .collect();
        assert_eq!(px(40, 40), want);
    }
}
