//! The original's config files, by the paths its commands give them.
//!
//! saev's README runs `saev train --sweep configs/preprint/classification.toml`
//! and `contrib.classification train --sweep contrib/classification/sweep.toml`
//! from a saev checkout. saev-rs ships both files (`configs/preprint/` and
//! `configs/probe/`) and embeds them: when such a path does not exist, the
//! embedded copy is used and a note says so, so the seed's commands work
//! from any directory.

use std::path::Path;

/// The original's paths and our copies of those files.
const KNOWN: [(&str, &str, &str); 2] = [
    (
        "configs/preprint/classification.toml",
        "configs/preprint/classification.toml",
        include_str!("../../../configs/preprint/classification.toml"),
    ),
    (
        "contrib/classification/sweep.toml",
        "configs/probe/sweep.toml",
        include_str!("../../../configs/probe/sweep.toml"),
    ),
];

/// The text of sweep file `path`: the file, or our copy of the original's
/// file of that name; else an error naming the path.
pub fn read_sweep(path: &Path) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let known = KNOWN.iter().find(|(orig, ..)| path.ends_with(orig));
            let Some((orig, ours, text)) = known else {
                anyhow::bail!("{}: {e}", path.display());
            };
            tracing::info!(
                "{} not found: using saev-rs's copy of the original's {orig} ({ours})",
                path.display()
            );
            Ok(text.to_string())
        }
        Err(e) => anyhow::bail!("{}: {e}", path.display()),
    }
}
