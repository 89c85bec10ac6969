//! Fetching the official Flowers-102 files with the system `curl`, so this
//! crate needs no HTTP stack. Each file goes to `<name>.part` and is renamed
//! when complete; files already present are left alone.

use std::fs;
use std::path::Path;
use std::process::Command;

use super::{read_marker, BASE_URL, FILES};
use crate::{Error, Result};

/// Downloads whichever of the three official files are missing from `dir`
/// (creating it) from [`BASE_URL`]. Does nothing if `dir` is already
/// prepared, so the 330 MB tarball may be deleted after [`super::prepare`].
pub fn download(dir: &Path) -> Result<()> {
    download_from(dir, BASE_URL)
}

/// [`download`] from a mirror: `base_url` (ending in `/`) followed by the file
/// name must be a URL `curl` can fetch (`https://`, `file://`, ...).
pub fn download_from(dir: &Path, base_url: &str) -> Result<()> {
    fetch_missing(dir, base_url, "curl")
}

fn fetch_missing(dir: &Path, base_url: &str, curl: &str) -> Result<()> {
    if read_marker(dir)?.is_some() {
        tracing::info!("{} is already prepared; nothing to download", dir.display());
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for name in FILES {
        let dest = dir.join(name);
        if dest.is_file() {
            tracing::info!("{} is already here", dest.display());
            continue;
        }
        let url = format!("{base_url}{name}");
        let tmp = dir.join(format!("{name}.part"));
        let fail = |what: String| Error::Download {
            url: url.clone(),
            dir: dir.to_path_buf(),
            what,
        };
        tracing::info!("downloading {url}");
        let status = Command::new(curl)
            .args(["-fL", "--retry", "2", "-o"])
            .arg(&tmp)
            .arg(&url)
            .status()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    fail(format!("`{curl}` is not installed (or not on PATH)"))
                }
                _ => fail(format!("could not run `{curl}`: {e}")),
            })?;
        if !status.success() {
            let _ = fs::remove_file(&tmp);
            return Err(fail(format!("`{curl}` failed to fetch {url} ({status})")));
        }
        fs::rename(&tmp, &dest).map_err(|e| Error::io(&dest, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_curl_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = fetch_missing(dir.path(), BASE_URL, "curl-that-does-not-exist-here")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not installed"), "{err}");
        assert!(
            err.contains("by hand into") && err.contains(&dir.path().display().to_string()),
            "{err}"
        );
        assert!(
            err.contains("https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102flowers.tgz"),
            "{err}"
        );
    }
}
