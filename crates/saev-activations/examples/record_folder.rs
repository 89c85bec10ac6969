//! Record [CLS] activations of an image folder with a local model on the CPU.
//!
//! ```sh
//! cargo run --release -p saev-activations --example record_folder -- \
//!     fixtures/clip/tiny-openclip IMAGE_FOLDER /tmp/shards
//! ```

use burn::backend::Flex;
use saev_activations::{record, DataSource, RecordConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [ckpt, images, dump_to] = args.as_slice() else {
        return Err("usage: record_folder MODEL IMAGE_FOLDER DUMP_TO".into());
    };
    let files = saev_vit::resolve_model(ckpt, None)?;
    let vit = saev_vit::load_pretrained::<Flex>(&files, &Default::default())?;
    let cfg = RecordConfig {
        data: DataSource::ImageFolder {
            root: images.into(),
        },
        dump_to: dump_to.into(),
        model_family: "clip".into(),
        model_ckpt: ckpt.clone(),
        model_dir: None,
        vit_batch_size: 16,
        n_workers: 2,
        d_vit: vit.config.width,
        layers: vec![-2],
        n_patches_per_img: 0, // [CLS] only
        cls_token: true,
        n_patches_per_shard: 2_400_000,
        seed: 42,
        part: None, // all of it (or Some(Part { index, count }))
    };
    let summary = record::<Flex>(&cfg, &Default::default(), |p| {
        eprint!("\r{}/{}", p.done, p.total)
    })?;
    eprintln!();
    println!("{} images into {}", summary.n_imgs, summary.root.display());
    Ok(())
}
