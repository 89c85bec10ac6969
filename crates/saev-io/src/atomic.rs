//! Atomic file writes.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Whether a write must survive a power loss (fsync of file and directory)
/// or only a crash of this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file before the rename and the directory after it.
    Durable,
    /// Rename only: atomic for readers and against a killed process.
    Fast,
}

/// The temp file next to `path` that [`write_atomic`] renames into place:
/// `<path>.<process>.tmp`, its own per process, so processes writing the
/// same file at once (parts of one store creating its `metadata.json`)
/// never rename each other's half-written temp file.
fn temp_path(path: &Path) -> PathBuf {
    static PROCESS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let process = PROCESS.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        format!("{}-{nanos:09}", std::process::id())
    });
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{process}.tmp"));
    PathBuf::from(tmp)
}

fn at(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Write `bytes` to `path` durably through `path.tmp` and a rename, so
/// readers (and a rerun after a kill) see the old file or the new one.
/// Errors name the file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, bytes, Durability::Durable)
}

/// [`write_atomic`] with a choice of [`Durability`].
pub fn write_atomic_with(path: &Path, bytes: &[u8], durability: Durability) -> std::io::Result<()> {
    let tmp = temp_path(path);
    {
        let mut file = std::fs::File::create(&tmp).map_err(|e| at(&tmp, e))?;
        file.write_all(bytes).map_err(|e| at(&tmp, e))?;
        if durability == Durability::Durable {
            file.sync_all().map_err(|e| at(&tmp, e))?;
        }
    }
    std::fs::rename(&tmp, path).map_err(|e| at(path, e))?;
    if durability == Durability::Durable {
        if let Some(dir) = path.parent() {
            // Make the rename itself durable; not every filesystem allows it.
            if let Ok(dir) = std::fs::File::open(dir) {
                let _ = dir.sync_all();
            }
        }
    }
    Ok(())
}

/// Remove `*.tmp` files an interrupted [`write_atomic`] left in `dir`;
/// returns how many. A missing directory has none.
pub fn remove_stale_temps(dir: &Path) -> std::io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(at(dir, e)),
    };
    let mut n = 0;
    for entry in entries {
        let path = entry.map_err(|e| at(dir, e))?.path();
        if path.extension().is_some_and(|x| x == "tmp") && path.is_file() {
            std::fs::remove_file(&path).map_err(|e| at(&path, e))?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_whole_files_and_stale_temps_are_removed() {
        let dir = std::env::temp_dir().join(format!("saev-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic_with(&p, b"two", Durability::Fast).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert!(!temp_path(&p).exists());
        std::fs::write(dir.join("b.json.tmp"), b"half").unwrap();
        assert_eq!(remove_stale_temps(&dir).unwrap(), 1);
        assert!(p.exists());
        let e = write_atomic(&dir.join("no/such/dir/x"), b"").unwrap_err();
        assert!(
            e.to_string().contains("no/such/dir/x.") && e.to_string().contains(".tmp"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
