//! Forward-pass throughput with random weights (`saev bench vit`).

use std::time::{Duration, Instant};

use burn::prelude::*;

use crate::{VisionTransformer, VitConfig};

/// Images per second of `config`'s forward pass up to block `until_block`
/// (all blocks when `None`), batches of `batch_size`, for about `seconds`;
/// returns the rate and the batches timed.
pub fn forward_rate<B: Backend>(
    config: &VitConfig,
    batch_size: usize,
    seconds: f64,
    until_block: Option<usize>,
    device: &B::Device,
) -> (f64, usize) {
    let vit = VisionTransformer::<B>::random(config, device);
    let side = config.image_size;
    let normal = burn::tensor::Distribution::Normal(0.0, 1.0);
    let x = Tensor::<B, 4>::random([batch_size, 3, side, side], normal, device);
    let last = until_block.unwrap_or(config.layers).clamp(1, config.layers);
    let run = |x: Tensor<B, 4>| {
        let out = vit.forward_residuals(x, &[last - 1]);
        // Reading the values back waits for the device to finish.
        let _ = out[0].clone().slice(s![0..1, 0..1, 0..1]).into_data();
    };
    run(x.clone());
    let budget = Duration::from_secs_f64(seconds.max(0.0));
    let start = Instant::now();
    let mut batches = 0;
    while start.elapsed() < budget {
        run(x.clone());
        batches += 1;
    }
    let rate = (batches * batch_size) as f64 / start.elapsed().as_secs_f64().max(1e-9);
    (rate, batches)
}
