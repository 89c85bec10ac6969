//! Pretraining the demo's small ViT: the same `saev-vit` tower as CLIP's (a
//! small config), plus a linear head, trained with burn's autodiff and AdamW
//! (epsilon and weight decay set explicitly) to classify the pretraining
//! images, then saved in open_clip's layout without the head.

use std::path::Path;

use burn::backend::{flex::FlexDevice, Autodiff, Flex};
use burn::module::{AutodiffModule, Module, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use saev_imaging::{ClipTransform, Image8, ImageFolder};
use saev_vit::{Activation, Dense, VisionTransformer, VitConfig};

type Train = Autodiff<Flex>;

/// The tower and its class head.
#[derive(Module, Debug)]
pub struct Classifier<B: Backend> {
    pub vit: VisionTransformer<B>,
    pub head: Dense<B>,
}

impl<B: Backend> Classifier<B> {
    pub fn forward(&self, pixels_BCHW: Tensor<B, 4>) -> Tensor<B, 2> {
        let pooled = self
            .vit
            .forward(pixels_BCHW, &[])
            .pooled
            .expect("full pass");
        self.head.forward(pooled)
    }
}

/// Sizes and optimizer settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PretrainConfig {
    pub side: usize,
    pub patch: usize,
    pub width: usize,
    pub layers: usize,
    pub heads: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f32,
    pub seed: u64,
}

impl Default for PretrainConfig {
    fn default() -> Self {
        Self {
            side: 32,
            patch: 4,
            width: 64,
            layers: 4,
            heads: 4,
            epochs: 6,
            batch_size: 64,
            lr: 2e-3,
            weight_decay: 0.05,
            seed: 0,
        }
    }
}

impl PretrainConfig {
    /// The tower's shape (QuickGELU, as OpenAI's CLIP).
    pub fn vit(&self) -> VitConfig {
        VitConfig {
            image_size: self.side,
            patch_size: self.patch,
            width: self.width,
            layers: self.layers,
            heads: self.heads,
            mlp_ratio: 4.0,
            act: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
            output_dim: Some(self.width),
        }
    }
}

/// Loss and accuracy of one epoch.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochStats {
    pub epoch: usize,
    pub loss: f64,
    pub train_acc: f64,
}

/// Train on the class folders in `folder`, save the tower to `out_dir`.
pub fn pretrain(
    folder: &Path,
    out_dir: &Path,
    cfg: &PretrainConfig,
    mut on_epoch: impl FnMut(&EpochStats),
) -> Result<Vec<EpochStats>, String> {
    let data = ImageFolder::open(folder).map_err(|e| e.to_string())?;
    let n = data.samples.len();
    let c = data.classes.len();
    let tf = ClipTransform {
        size: cfg.side,
        ..ClipTransform::default()
    };
    let per = 3 * cfg.side * cfg.side;
    let mut pixels = vec![0.0f32; n * per];
    for (s, out) in data.samples.iter().zip(pixels.chunks_mut(per)) {
        let img = Image8::open_rgb(&s.path).map_err(|e| e.to_string())?;
        tf.apply_into(&img, out);
    }
    let targets: Vec<i64> = data.samples.iter().map(|s| s.target as i64).collect();
    let device = FlexDevice;
    Train::seed(&device, cfg.seed);
    let vit_cfg = cfg.vit();
    let mut model = Classifier::<Train> {
        vit: VisionTransformer::random(&vit_cfg, &device),
        head: Dense {
            weight: Param::from_tensor(Tensor::random(
                [cfg.width, c],
                burn::tensor::Distribution::Normal(0.0, (cfg.width as f64).powf(-0.5)),
                &device,
            )),
            bias: Some(Param::from_tensor(Tensor::zeros([c], &device))),
        },
    };
    let mut optim = AdamWConfig::new()
        .with_epsilon(1e-8)
        .with_weight_decay(cfg.weight_decay)
        .init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut log = Vec::new();
    let steps_per_epoch = n.div_ceil(cfg.batch_size);
    let total = (cfg.epochs * steps_per_epoch).max(1);
    let mut step = 0;
    for epoch in 0..cfg.epochs {
        let order = saev_rng::Pcg64::from_seed(cfg.seed + epoch as u64).permutation(n);
        let (mut loss_sum, mut hits) = (0.0, 0usize);
        for idx in order.chunks(cfg.batch_size) {
            let b = idx.len();
            let mut x = Vec::with_capacity(b * per);
            for &i in idx {
                x.extend_from_slice(&pixels[i as usize * per..(i as usize + 1) * per]);
            }
            let y: Vec<i64> = idx.iter().map(|&i| targets[i as usize]).collect();
            let xb = Tensor::<Train, 4>::from_data(
                TensorData::new(x, [b, 3, cfg.side, cfg.side]),
                &device,
            );
            let yb = Tensor::<Train, 1, Int>::from_data(TensorData::new(y.clone(), [b]), &device);
            let logits = model.forward(xb);
            let loss = loss_fn.forward(logits.clone(), yb);
            let pred: Vec<i64> = logits
                .argmax(1)
                .into_data()
                .convert::<i64>()
                .to_vec()
                .map_err(|e| format!("{e:?}"))?;
            hits += pred.iter().zip(&y).filter(|(p, t)| p == t).count();
            loss_sum += f64::from(loss.clone().into_scalar().elem::<f32>()) * b as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            // Cosine decay after a short linear warm-up.
            let t = step as f64 / total as f64;
            let lr = cfg.lr
                * (step as f64 / 20.0).min(1.0)
                * 0.5
                * (1.0 + (std::f64::consts::PI * t).cos());
            model = optim.step(lr.max(1e-6), model, grads);
            step += 1;
        }
        let stats = EpochStats {
            epoch,
            loss: loss_sum / n as f64,
            train_acc: hits as f64 / n as f64,
        };
        on_epoch(&stats);
        log.push(stats);
    }
    let trained = model.valid();
    saev_vit::save_open_clip(&trained.vit, out_dir)
        .map_err(|e| format!("{}: {e}", out_dir.display()))?;
    std::fs::write(
        out_dir.join("pretrain.json"),
        serde_json::to_string_pretty(
            &serde_json::json!({"config": cfg, "classes": data.classes, "epochs": log}),
        )
        .expect("json"),
    )
    .map_err(|e| e.to_string())?;
    Ok(log)
}
