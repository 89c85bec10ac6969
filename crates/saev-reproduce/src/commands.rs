//! Each stage's equivalent `saev` command line, for the report: what a
//! user would type to run that stage alone. (The stages call the libraries
//! directly; these strings are never parsed.)

use std::path::Path;

use saev_activations::{DataSource, RecordConfig};
use saev_control::probe_sweep::ProbeSweepConfig;
use saev_control::steer_eval::SteerEvalConfig;
use saev_visuals::VisualsConfig;

/// A word as a POSIX shell reads it back.
fn q(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn p(path: &Path) -> String {
    q(&path.to_string_lossy())
}

pub fn record(cfg: &RecordConfig) -> String {
    let layers: Vec<String> = cfg.layers.iter().map(i64::to_string).collect();
    let mut s = format!(
        "saev activations --dump-to {} --model-ckpt {} --d-vit {} --n-patches-per-img {} --layers {} --vit-batch-size {}",
        p(&cfg.dump_to),
        q(&cfg.model_ckpt),
        cfg.d_vit,
        cfg.n_patches_per_img,
        layers.join(" "),
        cfg.vit_batch_size
    );
    if let Some(d) = &cfg.model_dir {
        s += &format!(" --model-dir {}", p(d));
    }
    s += &match &cfg.data {
        DataSource::ImageFolder { root } => {
            format!(" data:image-folder-dataset --data.root {}", p(root))
        }
        DataSource::Imagenet { root, split } => format!(
            " data:imagenet-dataset --data.root {} --data.split {}",
            p(root),
            q(split)
        ),
    };
    s
}

/// `saev train` for a sweep file over one store.
pub fn train(
    sweep: &Path,
    base: &saev_train::RunConfig,
    ckpt_path: &Path,
    gpu: Option<usize>,
) -> String {
    let d = &base.data;
    format!(
        "saev train --sweep {} --data.shard-root {} --data.patches {} --data.layer {} --sae.d-vit {} --n-patches {} --sae-batch-size {} --sae.n-reinit-samples {} --log-every {} --ckpt-path {} --device {}",
        p(sweep),
        p(&d.shard_root),
        d.patches,
        d.layer,
        base.sae.d_vit,
        base.n_patches,
        base.batch_size,
        base.sae.n_reinit_samples,
        base.log_every,
        p(ckpt_path),
        gpu.map_or("cpu".to_string(), |i| format!("cuda:{i}"))
    )
}

pub fn visuals(cfg: &VisualsConfig, images: &DataSource) -> String {
    let mut s = format!(
        "saev visuals --ckpt {} --dump-to {} --sort-by {} --data.shard-root {} --data.layer {} --data.patches {} --top-k {}",
        p(&cfg.ckpt),
        p(&cfg.dump_to),
        cfg.pass.sort_by,
        p(&cfg.data.shard_root),
        cfg.data.layer,
        cfg.data.patches,
        cfg.pass.top_k
    );
    s += &format!(
        " --log-freq-range {} {} --log-value-range {} {} --n-latents {}",
        cfg.log_freq_range.0,
        cfg.log_freq_range.1,
        cfg.log_value_range.0,
        cfg.log_value_range.1,
        cfg.n_latents
    );
    if !cfg.include_latents.is_empty() {
        let l: Vec<String> = cfg.include_latents.iter().map(usize::to_string).collect();
        s += &format!(" --include-latents {}", l.join(" "));
    }
    s += &match images {
        DataSource::ImageFolder { root } => {
            format!(" images:image-folder-dataset --images.root {}", p(root))
        }
        DataSource::Imagenet { root, split } => format!(
            " images:imagenet-dataset --images.root {} --images.split {}",
            p(root),
            q(split)
        ),
    };
    s
}

pub fn flowers(dir: &Path) -> String {
    format!("saev datasets flowers102 --dir {}", p(dir))
}

pub fn probe(cfg: &ProbeSweepConfig, sweep: &Path) -> String {
    let mut s = format!(
        "saev probe train --train-acts.shard-root {} --val-acts.shard-root {}",
        p(&cfg.train.acts),
        p(&cfg.val.acts)
    );
    if let Some(t) = &cfg.test {
        s += &format!(" --test-acts.shard-root {}", p(&t.acts));
    }
    for (flag, src) in [
        ("train", Some(&cfg.train)),
        ("val", Some(&cfg.val)),
        ("test", cfg.test.as_ref()),
    ] {
        if let Some(imgs) = src.and_then(|s| s.imgs.as_ref()) {
            s += &format!(" --{flag}-imgs.root {}", p(imgs));
        }
    }
    s += &format!(" --sweep {}", p(sweep));
    if let Some(sae) = &cfg.sae {
        s += &format!(" --sae {}", p(sae));
    }
    s + &format!(
        " --ckpt-path {} --log-to {}",
        p(&cfg.ckpt_path),
        p(&cfg.log_to)
    )
}

pub fn steer(cfg: &SteerEvalConfig) -> String {
    let i = &cfg.inputs;
    let mut s = format!(
        "saev steer eval --sae {} --probe {} --visuals {} --max-freq {} --n-latents {}",
        p(&i.sae),
        p(&i.probe),
        p(&i.visuals),
        i.max_freq,
        i.n_latents
    );
    s += &format!(" --train-acts.shard-root {}", p(&cfg.train.acts));
    if let Some(imgs) = &cfg.train.imgs {
        s += &format!(" --train-imgs.root {}", p(imgs));
    }
    s += &format!(" --test-acts.shard-root {}", p(&cfg.test.acts));
    if let Some(imgs) = &cfg.test.imgs {
        s += &format!(" --test-imgs.root {}", p(imgs));
    }
    s + &format!(" --out {}", p(&cfg.out))
}

/// The steering dashboard over the test split.
pub fn dashboard(cfg: &SteerEvalConfig) -> String {
    let i = &cfg.inputs;
    let mut s = format!(
        "saev serve steer --sae {} --probe {} --visuals {} --max-freq {} --acts {}",
        p(&i.sae),
        p(&i.probe),
        p(&i.visuals),
        i.max_freq,
        p(&cfg.test.acts)
    );
    if let Some(imgs) = &cfg.test.imgs {
        s += &format!(" --imgs {}", p(imgs));
    }
    s += &format!(" --train-acts {}", p(&cfg.train.acts));
    if let Some(imgs) = &cfg.train.imgs {
        s += &format!(" --train-imgs {}", p(imgs));
    }
    s
}

pub fn browser(features: &Path) -> String {
    format!("saev serve {}", p(features))
}

#[cfg(test)]
mod tests {
    #[test]
    fn words_are_quoted_only_when_the_shell_needs_it() {
        assert_eq!(super::q("runs/a-b_c.toml"), "runs/a-b_c.toml");
        assert_eq!(super::q("my runs"), "'my runs'");
        assert_eq!(super::q("it's"), r"'it'\''s'");
    }
}
