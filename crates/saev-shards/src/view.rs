//! Views of a store as a flat list of `d_vit` vectors: saev's `DataLoad.patches`
//! × `DataLoad.layer`.
//!
//! | patches    | layer      | len                | example `i` is                                  |
//! |------------|------------|--------------------|-------------------------------------------------|
//! | `cls`      | `L`        | n_imgs             | [CLS] of image `i` at layer `L`                 |
//! | `cls`      | `meanpool` | n_imgs             | mean over layers of image `i`'s [CLS]           |
//! | `cls`      | `all`      | n_imgs · n_layers  | [CLS] of image `i / n_layers`, layer `i % n_layers` |
//! | `meanpool` | `L`        | n_imgs             | mean of image `i`'s patches at layer `L`        |
//! | `meanpool` | `meanpool` | n_imgs             | mean over layers and patches                    |
//! | `meanpool` | `all`      | n_imgs · n_layers  | mean of patches, image `i / n_layers`, layer `i % n_layers` |
//! | `patches`  | `L`        | n_imgs · n_patches | patch `i % P` of image `i / P` at layer `L`     |
//! | `patches`  | `meanpool` | n_imgs · n_patches | that patch averaged over layers                 |
//! | `patches`  | `all`      | n_imgs · L · P     | image `i / (L·P)`, layer `(i / P) % L`, patch `i % P` |
//! | `all`      | `L`        | n_imgs · T         | token `i % T` ([CLS] first) of image `i / T`    |
//! | `all`      | `all`      | n_imgs · L · T     | image `i / (L·T)`, layer `(i / T) % L`, token `i % T` |
//!
//! saev today calls these `tokens`: `special` is `cls`, `content` is
//! `patches`, `all` is every stored token (`T = P + 1` with [CLS]); both
//! spellings are accepted. For `all`, `patch_i` is saev's
//! `content_token_idx`: `-1` for [CLS].
//!
//! saev's `Dataset.__getitem__` implements the five rows without `all` and
//! without `(patches, meanpool)`; its `__len__` gives the lengths of all nine.
//! saev-rs implements all nine, in C order of the shard layout. Means add rows
//! in f32 in C order and divide once, which is what NumPy does for these
//! outer-axis means, so results match saev bit for bit.

use std::fmt;
use std::str::FromStr;

use crate::metadata::{Layout, Metadata};

/// Which tokens an example comes from (`--data.patches`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Patches {
    Cls,
    Patches,
    Meanpool,
    /// Every stored token, [CLS] included (saev's `tokens: all`).
    All,
}

/// Which layer an example comes from (`--data.layer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    /// A layer as written in `metadata.layers` (e.g. `-2`).
    Index(i64),
    All,
    Meanpool,
}

impl FromStr for Patches {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cls" | "special" => Ok(Self::Cls),
            "patches" | "content" => Ok(Self::Patches),
            "meanpool" => Ok(Self::Meanpool),
            "all" => Ok(Self::All),
            _ => Err(format!(
                "expected cls (special), patches (content), all or meanpool, got {s:?}"
            )),
        }
    }
}

impl fmt::Display for Patches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cls => "cls",
            Self::Patches => "patches",
            Self::Meanpool => "meanpool",
            Self::All => "all",
        })
    }
}

impl FromStr for Layer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "all" => Ok(Self::All),
            "meanpool" => Ok(Self::Meanpool),
            _ => s
                .parse()
                .map(Self::Index)
                .map_err(|_| format!("expected an integer layer, all or meanpool, got {s:?}")),
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Index(i) => write!(f, "{i}"),
            Self::All => f.write_str("all"),
            Self::Meanpool => f.write_str("meanpool"),
        }
    }
}

/// Which stored layers make up an example.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LayerPick {
    One(usize),
    Mean,
}

/// Which stored tokens make up an example.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenPick {
    One(usize),
    MeanPatches,
}

/// Where example `i` of a view comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Source {
    pub img: u64,
    pub layer: LayerPick,
    pub token: TokenPick,
    /// saev's `image_i`.
    pub image_i: i64,
    /// saev's `patch_i`, `-1` for whole-image examples.
    pub patch_i: i64,
}

/// A `(patches, layer)` view of a store's layout.
#[derive(Clone, Copy, Debug)]
pub struct View {
    pub patches: Patches,
    pub layer: Layer,
    layout: Layout,
    /// Stored index of `Layer::Index`.
    layer_idx: usize,
}

impl View {
    /// Check that `md` can supply this view.
    pub fn new(md: &Metadata, n_imgs: u64, patches: Patches, layer: Layer) -> Result<Self, String> {
        let mut layout = md.layout()?;
        layout.n_imgs = n_imgs;
        let layer_idx = match layer {
            Layer::Index(l) => md.layer_index(l).ok_or_else(|| {
                format!(
                    "layer {l} is not recorded in this store; metadata.layers is {:?}",
                    md.layers
                )
            })?,
            _ => 0,
        };
        match patches {
            Patches::Cls if !md.cls_token => {
                return Err("--data.patches cls needs a [CLS] token, but cls_token is false".into())
            }
            Patches::Patches | Patches::Meanpool if md.n_patches_per_img == 0 => {
                return Err(format!(
                    "--data.patches {patches} needs patch tokens, but this is a [CLS]-only store (n_patches_per_img = 0)"
                ))
            }
            _ => {}
        }
        Ok(Self {
            patches,
            layer,
            layout,
            layer_idx,
        })
    }

    /// All nine views this store can supply, with their lengths.
    pub fn available(md: &Metadata) -> Vec<(Patches, Layer, u64)> {
        let mut layers: Vec<Layer> = md.layers.iter().map(|&l| Layer::Index(l)).collect();
        layers.extend([Layer::All, Layer::Meanpool]);
        let mut out = Vec::new();
        for patches in [
            Patches::Cls,
            Patches::Patches,
            Patches::Meanpool,
            Patches::All,
        ] {
            for &layer in &layers {
                if let Ok(view) = View::new(md, md.n_imgs, patches, layer) {
                    out.push((patches, layer, view.len()));
                }
            }
        }
        out
    }

    fn layers_per_example(&self) -> u64 {
        match self.layer {
            Layer::All => self.layout.n_layers as u64,
            _ => 1,
        }
    }

    /// Number of examples.
    pub fn len(&self) -> u64 {
        let per_img = self.tokens_per_example();
        self.layout.n_imgs * per_img * self.layers_per_example()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn d_vit(&self) -> usize {
        self.layout.d_vit
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Examples per image and layer: its patches, its tokens, or one.
    fn tokens_per_example(&self) -> u64 {
        match self.patches {
            Patches::Patches => self.layout.n_patches as u64,
            Patches::All => self.layout.n_tokens as u64,
            _ => 1,
        }
    }

    /// Where example `i` (< `len()`) comes from.
    pub(crate) fn source(&self, i: u64) -> Source {
        let n_layers = self.layers_per_example();
        let (per_img, patch) = match self.patches {
            Patches::Patches | Patches::All => {
                let p = self.tokens_per_example();
                (p * n_layers, Some(i % p))
            }
            _ => (n_layers, None),
        };
        let img = i / per_img;
        let layer = match self.layer {
            Layer::Index(_) => LayerPick::One(self.layer_idx),
            Layer::Meanpool => LayerPick::Mean,
            Layer::All => {
                let within = i % per_img;
                let l = match patch {
                    Some(_) => within / self.tokens_per_example(),
                    None => within,
                };
                LayerPick::One(l as usize)
            }
        };
        let token = match (self.patches, patch) {
            (Patches::Cls, _) => TokenPick::One(0),
            (Patches::Meanpool, _) => TokenPick::MeanPatches,
            (Patches::Patches, Some(p)) => TokenPick::One(self.layout.first_patch() + p as usize),
            (Patches::All, Some(t)) => TokenPick::One(t as usize),
            (Patches::Patches | Patches::All, None) => {
                unreachable!("token views always have a token")
            }
        };
        let first = self.layout.first_patch() as i64;
        let patch_i = match (self.patches, patch) {
            (Patches::All, Some(t)) => t as i64 - first,
            (_, p) => p.map_or(-1, |p| p as i64),
        };
        Source {
            img,
            layer,
            token,
            image_i: img as i64,
            patch_i,
        }
    }
}
