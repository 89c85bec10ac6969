//! Oxford Flowers-102 as `ImageFolder` trees, the layout saev's seed script
//! makes and saev trains on.
//!
//! The official download is three files: `102flowers.tgz` (8189 images,
//! `jpg/image_00001.jpg` ...), `imagelabels.mat` (`labels`: 1x8189, classes
//! 1..102) and `setid.mat` (`trnid`, `valid`, `tstid`: 1-based image ids).
//! [`prepare`] turns them into
//!
//! ```text
//! dir/train/<label>/image_XXXXX.jpg   (trnid)
//! dir/val/<label>/image_XXXXX.jpg     (valid)
//! dir/test/<label>/image_XXXXX.jpg    (tstid)
//! ```
//!
//! with class folders named by the 1-based label ("1" ... "102"), streaming
//! each image straight from the tarball to its place (no `jpg/` copy).
//! Every image must be in exactly one split. Each image is written to a
//! `.tmp` name and renamed, so a crash leaves no half images; a rerun keeps
//! the images already there, removes stray `.tmp` files, and a `.complete`
//! marker written at the end
//! makes later runs a no-op. [`download`] fetches the three files with the
//! system `curl`.

mod download;

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

pub use download::{download, download_from};

use crate::mat::{self, MatFile};
use crate::{Error, Result};

/// Where the official files live.
pub const BASE_URL: &str = "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/";
/// The official files, all expected directly in the dataset directory.
pub const FILES: [&str; 3] = [ARCHIVE, LABELS, SETID];

const ARCHIVE: &str = "102flowers.tgz";
const LABELS: &str = "imagelabels.mat";
const SETID: &str = "setid.mat";
/// Split folders and the `setid.mat` variables listing their images.
const SPLITS: [(&str, &str); 3] = [("train", "trnid"), ("val", "valid"), ("test", "tstid")];
const MARKER: &str = ".complete";
const MARKER_HEAD: &str = "saev-datasets flowers102";

/// What [`prepare`] made (or found made).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub train: usize,
    pub val: usize,
    pub test: usize,
    /// Distinct labels, i.e. class folders.
    pub classes: usize,
    /// True when `dir` was already prepared and nothing was done.
    pub already_prepared: bool,
}

/// Prepares `dir/train`, `dir/val` and `dir/test` from the three official
/// files in `dir` (see the module docs). Returns at once if a previous run
/// finished; to redo, delete `dir/.complete`.
pub fn prepare(dir: &Path) -> Result<Summary> {
    if let Some(summary) = read_marker(dir)? {
        tracing::info!(
            "{} is already prepared ({} train, {} val, {} test images); nothing to do",
            dir.display(),
            summary.train,
            summary.val,
            summary.test
        );
        return Ok(summary);
    }
    check_files(dir)?;
    let labels_path = dir.join(LABELS);
    let labels = positive_ints(&labels_path, &mat::read_mat(&labels_path)?, "labels")?;
    if labels.is_empty() {
        return Err(invalid(&labels_path, "`labels` is empty".into()));
    }
    let (split_of, counts) = assign_splits(&dir.join(SETID), labels.len())?;
    extract(dir, &labels, &split_of)?;
    let summary = Summary {
        train: counts[0],
        val: counts[1],
        test: counts[2],
        classes: labels.iter().collect::<BTreeSet<_>>().len(),
        already_prepared: false,
    };
    write_marker(dir, &summary)?;
    tracing::info!(
        "prepared {}: {} train, {} val, {} test images in {} classes",
        dir.display(),
        summary.train,
        summary.val,
        summary.test,
        summary.classes
    );
    Ok(summary)
}

/// Errors listing every official file missing from `dir`.
fn check_files(dir: &Path) -> Result<()> {
    let missing: Vec<&str> = FILES
        .into_iter()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::MissingFiles {
        dir: dir.to_path_buf(),
        missing: missing.iter().map(|f| f.to_string()).collect(),
        urls: missing.iter().map(|f| format!("{BASE_URL}{f}")).collect(),
    })
}

/// The values of the variable `name` in the MAT-file at `path` as positive
/// integers (labels, 1-based ids).
fn positive_ints(path: &Path, file: &MatFile, name: &str) -> Result<Vec<usize>> {
    file.array(name)?
        .data
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            if x >= 1.0 && x.fract() == 0.0 && x <= u32::MAX as f64 {
                Ok(x as usize)
            } else {
                Err(invalid(
                    path,
                    format!("`{name}`: value {x} at position {i} is not a positive integer"),
                ))
            }
        })
        .collect()
}

/// Reads `setid.mat` and gives each of the `n` images its split index,
/// checking that every image is in exactly one split. Also returns the
/// number of images per split.
fn assign_splits(path: &Path, n: usize) -> Result<(Vec<usize>, [usize; 3])> {
    let setid = mat::read_mat(path)?;
    let mut split_of: Vec<Option<usize>> = vec![None; n];
    let mut counts = [0; 3];
    for (s, (_, var)) in SPLITS.iter().enumerate() {
        let ids = positive_ints(path, &setid, var)?;
        counts[s] = ids.len();
        for id in ids {
            let slot = split_of.get_mut(id - 1).ok_or_else(|| {
                invalid(
                    path,
                    format!("`{var}` lists image {id}, but {LABELS} labels only {n} images"),
                )
            })?;
            if let Some(prev) = *slot {
                let what = if prev == s {
                    format!("image_{id:05}.jpg is listed twice in `{var}`")
                } else {
                    format!(
                        "image_{id:05}.jpg is in two splits: `{}` ({}) and `{var}` ({})",
                        SPLITS[prev].1, SPLITS[prev].0, SPLITS[s].0
                    )
                };
                return Err(invalid(path, what));
            }
            *slot = Some(s);
        }
    }
    let unassigned: Vec<usize> = (0..n).filter(|&i| split_of[i].is_none()).collect();
    if let Some(&first) = unassigned.first() {
        return Err(invalid(
            path,
            format!(
                "image_{:05}.jpg is in no split (not in trnid, valid or tstid); {} of {n} images are unassigned",
                first + 1,
                unassigned.len()
            ),
        ));
    }
    Ok((
        split_of.into_iter().map(|s| s.expect("checked")).collect(),
        counts,
    ))
}

/// Streams the tarball once, writing each image to its split and class
/// folder (temp name, then rename) unless an equal-sized copy is there.
fn extract(dir: &Path, labels: &[usize], split_of: &[usize]) -> Result<()> {
    let archive_path = dir.join(ARCHIVE);
    let tar_err = |e: std::io::Error| {
        invalid(
            &archive_path,
            format!("cannot read the archive ({e}); truncated or corrupt? delete it and download it again"),
        )
    };
    let file = File::open(&archive_path).map_err(|e| Error::io(&archive_path, e))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(file)));
    let n = labels.len();
    tracing::info!("extracting {n} images from {}", archive_path.display());
    let mut seen = vec![false; n];
    let (mut written, mut kept) = (0usize, 0usize);
    let mut bytes = Vec::new();
    for entry in archive.entries().map_err(tar_err)? {
        let mut entry = entry.map_err(tar_err)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let member = entry.path().map_err(tar_err)?.into_owned();
        let Some(id) = image_id(&member) else {
            tracing::debug!("{}: ignoring {}", archive_path.display(), member.display());
            continue;
        };
        if id == 0 || id > n {
            return Err(invalid(
                &archive_path,
                format!(
                    "{} has no label: {LABELS} labels images 1..={n}",
                    member.display()
                ),
            ));
        }
        if std::mem::replace(&mut seen[id - 1], true) {
            return Err(invalid(
                &archive_path,
                format!("{} appears twice", member.display()),
            ));
        }
        let class_dir = dir
            .join(SPLITS[split_of[id - 1]].0)
            .join(labels[id - 1].to_string());
        let name = format!("image_{id:05}.jpg");
        let dest = class_dir.join(&name);
        if dest
            .metadata()
            .is_ok_and(|m| m.is_file() && m.len() == entry.size())
        {
            kept += 1;
            continue;
        }
        bytes.clear();
        entry.read_to_end(&mut bytes).map_err(tar_err)?;
        write_atomically(&class_dir, &name, &bytes)?;
        written += 1;
        if (written + kept) % 1000 == 0 {
            tracing::info!("{} of {n} images in place", written + kept);
        }
    }
    remove_temps(dir)?;
    let missing: Vec<usize> = (1..=n).filter(|&id| !seen[id - 1]).collect();
    if let Some(&first) = missing.first() {
        return Err(invalid(
            &archive_path,
            format!(
                "lacks jpg/image_{first:05}.jpg ({} of the {n} labelled images are missing); re-download it",
                missing.len()
            ),
        ));
    }
    tracing::info!("wrote {written} images, kept {kept} already in place");
    Ok(())
}

/// The image id of a tar member named `jpg/image_XXXXX.jpg` (leading `./`
/// allowed), or `None` for anything else.
fn image_id(member: &Path) -> Option<usize> {
    let mut parts = member.components().filter(|c| *c != Component::CurDir);
    if parts.next()? != Component::Normal("jpg".as_ref()) {
        return None;
    }
    let Component::Normal(name) = parts.next()? else {
        return None;
    };
    if parts.next().is_some() {
        return None;
    }
    let name = name.to_str()?;
    let digits = name.strip_prefix("image_")?.strip_suffix(".jpg")?;
    let id: usize = digits.parse().ok()?;
    (digits.bytes().all(|b| b.is_ascii_digit()) && name == format!("image_{id:05}.jpg"))
        .then_some(id)
}

/// Removes the `.tmp` files an interrupted run left in the class folders.
fn remove_temps(dir: &Path) -> Result<()> {
    for (split, _) in SPLITS {
        let Ok(classes) = fs::read_dir(dir.join(split)) else {
            continue;
        };
        for class in classes.flatten() {
            let path = class.path();
            saev_io::remove_stale_temps(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

/// Writes `dir/name` atomically (the workspace's [`saev_io::write_atomic_with`];
/// many small files, so without fsync).
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let dest = dir.join(name);
    saev_io::write_atomic_with(&dest, bytes, saev_io::Durability::Fast)
        .map_err(|e| Error::io(&dest, e))
}

/// The summary a finished run recorded, if `dir` holds our marker and all
/// three split folders; `None` means (re)do the work.
fn read_marker(dir: &Path) -> Result<Option<Summary>> {
    let path = dir.join(MARKER);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let Some(summary) = parse_marker(&text) else {
        tracing::warn!(
            "{}: not a marker this crate wrote; preparing again",
            path.display()
        );
        return Ok(None);
    };
    if let Some((split, _)) = SPLITS.iter().find(|(split, _)| !dir.join(split).is_dir()) {
        tracing::warn!(
            "{} says done but {split}/ is gone; preparing again",
            path.display()
        );
        return Ok(None);
    }
    Ok(Some(summary))
}

fn parse_marker(text: &str) -> Option<Summary> {
    let mut lines = text.lines();
    if lines.next()? != MARKER_HEAD {
        return None;
    }
    let mut field = |key: &str| -> Option<usize> {
        let (k, v) = lines.next()?.split_once(' ')?;
        if k == key {
            v.trim().parse().ok()
        } else {
            None
        }
    };
    Some(Summary {
        train: field("train")?,
        val: field("val")?,
        test: field("test")?,
        classes: field("classes")?,
        already_prepared: true,
    })
}

fn write_marker(dir: &Path, s: &Summary) -> Result<()> {
    let text = format!(
        "{MARKER_HEAD}\ntrain {}\nval {}\ntest {}\nclasses {}\n",
        s.train, s.val, s.test, s.classes
    );
    write_atomically(dir, MARKER, text.as_bytes())
}

fn invalid(path: &Path, what: String) -> Error {
    Error::Invalid {
        path: PathBuf::from(path),
        what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_ids_from_member_names() {
        assert_eq!(image_id(Path::new("jpg/image_00001.jpg")), Some(1));
        assert_eq!(image_id(Path::new("./jpg/image_08189.jpg")), Some(8189));
        assert_eq!(image_id(Path::new("jpg/image_1.jpg")), None);
        assert_eq!(image_id(Path::new("jpg/image_+0001.jpg")), None);
        assert_eq!(image_id(Path::new("other/image_00001.jpg")), None);
        assert_eq!(image_id(Path::new("jpg/sub/image_00001.jpg")), None);
        assert_eq!(image_id(Path::new("jpg")), None);
    }
}
