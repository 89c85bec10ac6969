//! `metadata.json`: saev's description of a shard store, and the layout it implies.
//!
//! saev writes this file with `json.dump(asdict(md), fd, indent=4)` and names
//! the store's directory after the sha256 of `json.dumps(asdict(md),
//! sort_keys=True)`. Both encodings are reproduced byte for byte here (see
//! [`crate::pyjson`]), so a store recorded by saev-rs lands in the same
//! directory saev would have chosen.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::protocol::ProtocolMetadata;
use crate::pyjson;

/// The file name saev gives the metadata inside a store.
pub const METADATA_FILE: &str = "metadata.json";

/// saev's `activations.Metadata`, field for field and in its order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub model_family: String,
    pub model_ckpt: String,
    /// Recorded layers as the user wrote them (`-2` is the second-to-last block).
    pub layers: Vec<i64>,
    /// Patch tokens per image, not counting [CLS]. `0` with `cls_token` is a [CLS]-only store.
    pub n_patches_per_img: u64,
    pub cls_token: bool,
    pub d_vit: u64,
    pub seed: i64,
    /// Images in the whole store (fixed before recording starts).
    pub n_imgs: u64,
    /// Capacity of one shard in token vectors (over all layers and tokens).
    pub n_patches_per_shard: u64,
    /// `str()` of the dataset config that was recorded.
    pub data: String,
}

/// Sizes derived from [`Metadata`]: how images, layers and tokens sit in the files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub n_imgs: u64,
    pub n_layers: usize,
    /// `n_patches_per_img + cls_token`.
    pub n_tokens: usize,
    pub n_patches: usize,
    pub cls_token: bool,
    pub d_vit: usize,
    pub n_imgs_per_shard: u64,
}

impl Layout {
    /// f32 values per image: `[n_layers, n_tokens, d_vit]`.
    pub fn image_floats(&self) -> usize {
        self.n_layers * self.n_tokens * self.d_vit
    }

    /// Bytes of one shard file, always the full capacity.
    pub fn shard_bytes(&self) -> u64 {
        self.n_imgs_per_shard * self.image_floats() as u64 * 4
    }

    /// Shard files holding `n_imgs` images.
    pub fn n_shards(&self) -> usize {
        self.n_imgs.div_ceil(self.n_imgs_per_shard) as usize
    }

    /// Images stored in shard `shard` once all `n_imgs` are written.
    pub fn imgs_in_shard(&self, shard: usize) -> u64 {
        let start = shard as u64 * self.n_imgs_per_shard;
        self.n_imgs.saturating_sub(start).min(self.n_imgs_per_shard)
    }

    /// `(shard, image within shard)` of a global image index.
    pub fn locate(&self, img: u64) -> (usize, u64) {
        (
            (img / self.n_imgs_per_shard) as usize,
            img % self.n_imgs_per_shard,
        )
    }

    /// Index of the first token that is a patch (1 when [CLS] is stored first).
    pub fn first_patch(&self) -> usize {
        usize::from(self.cls_token)
    }

    /// The shard's shape, for messages: `[imgs, layers, tokens, d_vit]`.
    pub fn shape_text(&self) -> String {
        format!(
            "{} images x {} layers x {} tokens x {} dims x 4 bytes",
            self.n_imgs_per_shard, self.n_layers, self.n_tokens, self.d_vit
        )
    }
}

/// Python's `repr()` of a string, as saev's `str(dataclass)` writes it in `data`:
/// single quotes unless the text has a single quote and no double quote.
pub fn python_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `acts000000.bin`, `acts000001.bin`, ...: saev's shard file names.
pub fn shard_file_name(shard: usize) -> String {
    format!("acts{shard:06}.bin")
}

impl Metadata {
    /// Read and check `<root>/metadata.json`, in either format (a protocol
    /// store is described in seed-era terms, see [`ProtocolMetadata::to_seed`]).
    pub fn load(root: &Path) -> Result<Self> {
        Ok(Self::load_any(root)?.0)
    }

    /// As [`Metadata::load`], with the protocol metadata when the store has it.
    pub fn load_any(root: &Path) -> Result<(Self, Option<ProtocolMetadata>)> {
        let path = root.join(METADATA_FILE);
        if !path.is_file() {
            let why = if root.is_dir() {
                format!("{METADATA_FILE} is missing")
            } else {
                "no such directory".to_string()
            };
            return Err(Error::NotAStore {
                path: root.to_path_buf(),
                why,
            });
        }
        let text = std::fs::read_to_string(&path).at(&path)?;
        if crate::protocol::is_protocol(&text) {
            let protocol = ProtocolMetadata::parse(&text, &path)?;
            return Ok((protocol.to_seed(), Some(protocol)));
        }
        Ok((Self::parse(&text, &path)?, None))
    }

    /// Parse metadata text; `path` only names the source in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let md: Metadata = serde_json::from_str(text).map_err(|e| Error::BadMetadata {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        md.layout().map_err(|why| Error::BadMetadata {
            path: path.to_path_buf(),
            why,
        })?;
        Ok(md)
    }

    /// The layout, or why these numbers cannot describe a store.
    pub fn layout(&self) -> std::result::Result<Layout, String> {
        if self.layers.is_empty() {
            return Err("`layers` is empty".into());
        }
        if self.d_vit == 0 {
            return Err("`d_vit` is 0".into());
        }
        let n_tokens = self.n_patches_per_img + u64::from(self.cls_token);
        if n_tokens == 0 {
            return Err(
                "no tokens per image: `n_patches_per_img` is 0 and `cls_token` is false".into(),
            );
        }
        let per_img = self.layers.len() as u64 * n_tokens;
        let n_imgs_per_shard = self.n_patches_per_shard / self.layers.len() as u64 / n_tokens;
        if n_imgs_per_shard == 0 {
            return Err(format!(
                "`n_patches_per_shard` ({}) is smaller than one image ({} layers x {} tokens = {per_img})",
                self.n_patches_per_shard,
                self.layers.len(),
                n_tokens
            ));
        }
        Ok(Layout {
            n_imgs: self.n_imgs,
            n_layers: self.layers.len(),
            n_tokens: n_tokens as usize,
            n_patches: self.n_patches_per_img as usize,
            cls_token: self.cls_token,
            d_vit: self.d_vit as usize,
            n_imgs_per_shard,
        })
    }

    /// Position of a layer (as written in `layers`) in the stored layer axis.
    pub fn layer_index(&self, layer: i64) -> Option<usize> {
        self.layers.iter().position(|&l| l == layer)
    }

    /// The file exactly as saev's `Metadata.dump` writes it (`indent=4`, no trailing newline).
    pub fn to_python_json_pretty(&self) -> String {
        pyjson::object_indent4(&self.python_fields())
    }

    /// `json.dumps(asdict(md), sort_keys=True)`, the text that is hashed.
    pub fn to_python_json_sorted(&self) -> String {
        let mut fields = self.python_fields();
        fields.sort_by(|a, b| a.0.cmp(b.0));
        pyjson::object_compact(&fields)
    }

    /// Hex sha256 of [`Self::to_python_json_sorted`]: the store's directory name.
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(self.to_python_json_sorted().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// `<dump_to>/<hash>`, where saev puts this store.
    pub fn store_dir(&self, dump_to: &Path) -> PathBuf {
        dump_to.join(self.hash())
    }

    fn python_fields(&self) -> Vec<(&'static str, pyjson::Value)> {
        use pyjson::Value as V;
        vec![
            ("model_family", V::Str(self.model_family.clone())),
            ("model_ckpt", V::Str(self.model_ckpt.clone())),
            ("layers", V::IntList(self.layers.clone())),
            ("n_patches_per_img", V::Int(self.n_patches_per_img as i128)),
            ("cls_token", V::Bool(self.cls_token)),
            ("d_vit", V::Int(self.d_vit as i128)),
            ("seed", V::Int(self.seed as i128)),
            ("n_imgs", V::Int(self.n_imgs as i128)),
            (
                "n_patches_per_shard",
                V::Int(self.n_patches_per_shard as i128),
            ),
            ("data", V::Str(self.data.clone())),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::python_repr;

    #[test]
    fn repr_matches_python() {
        // repr() of each string, as Python 3 prints it.
        assert_eq!(
            python_repr("/nfs/datasets/flowers102/train"),
            "'/nfs/datasets/flowers102/train'"
        );
        assert_eq!(python_repr("it's"), "\"it's\"");
        assert_eq!(python_repr("a\"b'c"), "'a\"b\\'c'");
        assert_eq!(python_repr("tab\there\\é"), "'tab\\there\\\\é'");
    }
}
