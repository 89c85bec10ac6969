//! The generated images.

use std::path::Path;

use rayon::prelude::*;
use saev_imaging::{Image8, Mode};

pub const SHAPES: [&str; 6] = ["disk", "square", "triangle", "ring", "cross", "bar"];
pub const COLOURS: [(&str, [u8; 3]); 6] = [
    ("red", [210, 40, 40]),
    ("green", [40, 170, 60]),
    ("blue", [40, 70, 210]),
    ("yellow", [225, 200, 40]),
    ("magenta", [200, 50, 190]),
    ("cyan", [40, 190, 200]),
];

/// Which classes a set uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Set {
    /// (shape, colour) pairs with `(s + c) % 3 != 0`: 24 classes.
    Pretrain,
    /// The other 12 pairs.
    Flowers,
}

/// The class names of a set, as `<colour>_<shape>`, sorted (folder order).
pub fn classes(set: Set) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    for (s, shape) in SHAPES.iter().enumerate() {
        for (c, (colour, _)) in COLOURS.iter().enumerate() {
            let pre = (s + c) % 3 != 0;
            if pre == (set == Set::Pretrain) {
                out.push((format!("{colour}_{shape}"), s, c));
            }
        }
    }
    out.sort();
    out
}

fn uniform(rng: &mut saev_rng::Pcg64) -> f32 {
    (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32
}

/// Is pixel `(x, y)` inside shape `s` centred at `(cx, cy)` with radius `r`?
fn inside(s: usize, x: f32, y: f32, cx: f32, cy: f32, r: f32) -> bool {
    let (dx, dy) = (x - cx, y - cy);
    match SHAPES[s] {
        "disk" => dx * dx + dy * dy <= r * r,
        "square" => dx.abs() <= r * 0.85 && dy.abs() <= r * 0.85,
        "triangle" => dy <= r * 0.8 && dy >= -r && dx.abs() <= (dy + r) * 0.55,
        "ring" => {
            let d = (dx * dx + dy * dy).sqrt();
            d <= r && d >= r * 0.55
        }
        "cross" => (dx.abs() <= r * 0.3 && dy.abs() <= r) || (dy.abs() <= r * 0.3 && dx.abs() <= r),
        _ => dx.abs() <= r && dy.abs() <= r * 0.3,
    }
}

/// One picture of shape `s` in colour `c`, `side` pixels square.
pub fn draw(s: usize, c: usize, side: usize, rng: &mut saev_rng::Pcg64) -> Image8 {
    let mut img = Image8::new(side, side, 3, Mode::RGB);
    let base = 90.0 + 80.0 * uniform(rng);
    let texture = rng.interval(2);
    let period = 3 + rng.interval(3) as usize;
    let r = side as f32 * (0.22 + 0.12 * uniform(rng));
    let cx = r + (side as f32 - 2.0 * r) * uniform(rng);
    let cy = r + (side as f32 - 2.0 * r) * uniform(rng);
    let jitter: Vec<f32> = (0..3).map(|_| 0.85 + 0.3 * uniform(rng)).collect();
    for y in 0..side {
        for x in 0..side {
            let bg = match texture {
                0 => base,
                1 => {
                    base + if (x / period).is_multiple_of(2) {
                        25.0
                    } else {
                        -25.0
                    }
                }
                _ => {
                    base + if x % period == 0 && y % period == 0 {
                        50.0
                    } else {
                        0.0
                    }
                }
            };
            let noise = 12.0 * (uniform(rng) - 0.5);
            let px = &mut img.data[(y * side + x) * 3..][..3];
            let on = inside(s, x as f32 + 0.5, y as f32 + 0.5, cx, cy, r);
            for k in 0..3 {
                let v = if on {
                    f32::from(COLOURS[c].1[k]) * jitter[k]
                } else {
                    bg
                };
                px[k] = (v + noise).clamp(0.0, 255.0) as u8;
            }
        }
    }
    img
}

/// Write `n` pictures per class of `set` into `dir/<class>/<i>.png`
/// (seeded; existing files are kept, so an interrupted run resumes).
pub fn write_set(dir: &Path, set: Set, n: usize, side: usize, seed: u64) -> std::io::Result<usize> {
    let cls = classes(set);
    let jobs: Vec<(usize, usize)> = (0..cls.len())
        .flat_map(|k| (0..n).map(move |i| (k, i)))
        .collect();
    jobs.par_iter()
        .try_for_each(|&(k, i)| -> std::io::Result<()> {
            let (name, s, c) = &cls[k];
            let d = dir.join(name);
            let path = d.join(format!("{i:05}.png"));
            if path.is_file() {
                return Ok(());
            }
            std::fs::create_dir_all(&d)?;
            let mut rng = saev_rng::Pcg64::from_seed(seed ^ ((k as u64) << 32) ^ i as u64);
            let img = draw(*s, *c, side, &mut rng);
            let side = side as u32;
            saev_plot::png::save_rgb(&path, side, side, &img.data).map_err(std::io::Error::other)
        })?;
    Ok(jobs.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_split_the_pairs_and_share_every_part() {
        let (p, f) = (classes(Set::Pretrain), classes(Set::Flowers));
        assert_eq!((p.len(), f.len()), (24, 12));
        for (name, _, _) in &f {
            assert!(!p.iter().any(|q| &q.0 == name));
        }
        for s in 0..SHAPES.len() {
            assert!(p.iter().any(|q| q.1 == s) && f.iter().any(|q| q.1 == s));
        }
        for c in 0..COLOURS.len() {
            assert!(p.iter().any(|q| q.2 == c) && f.iter().any(|q| q.2 == c));
        }
        // The shape's colour dominates its pixels.
        let mut rng = saev_rng::Pcg64::from_seed(1);
        let img = draw(0, 0, 32, &mut rng);
        let reds = img
            .data
            .chunks(3)
            .filter(|p| p[0] > 150 && p[1] < 90)
            .count();
        assert!(reds > 50, "{reds}");
    }
}
