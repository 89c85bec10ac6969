//! Load a CLIP vision tower and print the [CLS] of block -2 and the
//! projected embedding of one preprocessed image (the fixture's pixels).
//!
//! ```sh
//! cargo run --release -p saev-vit --example embed -- fixtures/clip/tiny-openclip
//! ```

use burn::backend::Flex;
use burn::prelude::*;
use saev_vit::{load_pretrained, resolve_model};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ckpt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fixtures/clip/tiny-openclip".into());
    let device = Default::default();
    let vit = load_pretrained::<Flex>(&resolve_model(&ckpt, None)?, &device)?;
    let cfg = &vit.config;
    println!(
        "{ckpt}: width {}, {} blocks, {} patches",
        cfg.width,
        cfg.layers,
        cfg.n_patches()
    );
    // A flat image: 0.1 in every channel after CLIP's normalization.
    let side = cfg.image_size;
    let pixels = Tensor::<Flex, 4>::full([1, 3, side, side], 0.1, &device);
    let block = cfg.block_index(-2).expect("at least two blocks");
    let out = vit.forward(pixels, &[block]);
    let cls = out.residuals[0]
        .clone()
        .slice(s![0..1, 0..1, 0..4])
        .into_data();
    println!("block {block} [CLS][..4]: {:?}", cls.to_vec::<f32>()?);
    if let Some(e) = out.embeddings {
        println!("embedding dims: {:?}", e.dims());
    }
    Ok(())
}
