//! What a stage consumed, as bytes to hash: file contents, store records,
//! and cheap listings of large inputs.

use std::path::Path;

use sha2::{Digest, Sha256};

/// SHA-256 of a file's bytes, hex.
pub fn file_hash(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

/// A store's identity: its `metadata.json` and its progress record (which
/// holds every shard's image count and CRC-32), so a store rewritten with
/// other contents gets another identity.
pub fn store_id(root: &Path) -> anyhow::Result<String> {
    let mut h = Sha256::new();
    let meta = root.join(saev_shards::METADATA_FILE);
    h.update(std::fs::read(&meta).map_err(|e| anyhow::anyhow!("{}: {e}", meta.display()))?);
    h.update(std::fs::read(root.join(saev_shards::PROGRESS_FILE)).unwrap_or_default());
    Ok(format!("{:x}", h.finalize()))
}

/// A directory tree's names, sizes and modification times (not contents:
/// ImageNet is too large to hash each time), or a file's.
pub fn tree_listing(path: &Path) -> anyhow::Result<String> {
    let mut h = Sha256::new();
    let mut stack = vec![path.to_path_buf()];
    let mut n = 0u64;
    while let Some(p) = stack.pop() {
        let md = std::fs::metadata(&p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        let mtime = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        h.update(format!("{}\0{}\0{mtime}\n", p.display(), md.len()));
        n += 1;
        if md.is_dir() {
            let mut kids: Vec<_> = std::fs::read_dir(&p)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            kids.sort();
            stack.extend(kids.into_iter().rev());
        }
    }
    Ok(format!("{n}:{:x}", h.finalize()))
}
