//! CubeCL's kernel tuning and on-disk caches, set once per process before
//! the first GPU operation.
//!
//! CubeCL (burn's GPU runtime) benchmarks several kernels for every new
//! matrix-product and reduction shape ("autotune") and compiles each kernel
//! it launches the first time. At its default level that took 20 to 45 s per
//! shape on an H200 before saev-rs's first training step. saev-rs starts it
//! at the `minimal` level and keeps both the tuning results and the compiled
//! kernels on disk, so a second run on the same machine starts at once.
//!
//! - Where: `$SAEV_CACHE_DIR`, else `$XDG_CACHE_HOME/saev-rs`, else
//!   `~/.cache/saev-rs` (`autotune/` and `kernels/` inside).
//! - Clear it: delete that folder (`rm -rf ~/.cache/saev-rs`).
//! - More tuning: `CUBECL_AUTOTUNE_LEVEL=balanced|extensive|full`.
//! - A `cubecl.toml` in the working directory (or above) replaces all of
//!   this, as CubeCL documents.

use std::path::PathBuf;
use std::sync::Once;

use cubecl::config::autotune::AutotuneLevel;
use cubecl::config::cache::CacheConfig;
use cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};

/// The folder holding saev-rs's kernel caches.
pub fn cache_dir() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(dir) = env("SAEV_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let base = env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("saev-rs")
}

/// saev-rs's CubeCL settings: minimal tuning, caches under [`cache_dir`],
/// then CubeCL's own environment variables on top.
pub fn config() -> CubeClRuntimeConfig {
    let mut cfg = CubeClRuntimeConfig::default();
    let dir = cache_dir();
    cfg.autotune.level = AutotuneLevel::Minimal;
    cfg.autotune.cache = CacheConfig::File(dir.join("autotune"));
    cfg.compilation.cache = Some(CacheConfig::File(dir.join("kernels")));
    cfg.override_from_env()
}

/// Apply [`config`] once, unless a `cubecl.toml` is present or CubeCL was
/// already configured (a library user's own settings win).
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let has_file = CubeClRuntimeConfig::file_names()
            .iter()
            .any(|name| find_upwards(name).is_some());
        if has_file || CubeClRuntimeConfig::storage().lock().is_some() {
            return;
        }
        CubeClRuntimeConfig::set(config());
        tracing::debug!("CubeCL caches in {}", cache_dir().display());
    });
}

fn find_upwards(name: &str) -> Option<PathBuf> {
    let mut dir = std::env::current_dir().ok()?;
    loop {
        let path = dir.join(name);
        if path.is_file() {
            return Some(path);
        }
        if !dir.pop() {
            return None;
        }
    }
}
