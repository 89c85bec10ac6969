//! Decode and preprocess one image as open_clip would, printing its mode and
//! size; with a second argument, write the decoded pixels there as raw bytes.
//!
//! ```sh
//! cargo run -p saev-imaging --example preprocess -- fixtures/clip/images/landscape.jpg
//! ```

use saev_imaging::{ClipTransform, Image8};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: preprocess IMAGE [RAW_OUT]")?;
    let img = Image8::open(path.as_ref())?;
    println!(
        "{path}: {:?} {}x{}, {} bands",
        img.mode, img.width, img.height, img.bands
    );
    if let Some(out) = args.next() {
        std::fs::write(out, &img.data)?;
    }
    let pixels = ClipTransform::default().apply(&img);
    let mean = pixels.iter().sum::<f32>() / pixels.len() as f32;
    println!("preprocessed: 3x224x224, mean {mean:.4}");
    Ok(())
}
