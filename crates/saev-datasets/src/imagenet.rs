//! ImageNet-1K as Hugging Face ships it (`ILSVRC/imagenet-1k`): parquet files
//! with an `image` struct column (`bytes`, `path`) and a `label` column, read
//! offline in the order `datasets.load_dataset` yields them.
//!
//! Files of a split are `<split>-NNNNN-of-MMMMM.parquet`, found in the given
//! directory, its `data/` subdirectory, or `<split>/` (the
//! `refs/convert/parquet` layout), and read in sorted file order, rows in
//! file order, as `datasets` does. Class names come from the `huggingface`
//! schema metadata the files carry (`ClassLabel` names); without it the
//! classes are the label numbers.

use std::fs::File;
use std::path::{Path, PathBuf};

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

use crate::error::{Error, Result};

/// One split of a parquet dataset: its files, their row counts and class names.
#[derive(Clone, Debug)]
pub struct ParquetImages {
    pub files: Vec<PathBuf>,
    /// Rows in each file.
    pub rows: Vec<usize>,
    pub classes: Vec<String>,
}

/// One image: its encoded bytes, label and a printable origin (`file#row`).
#[derive(Clone, Debug)]
pub struct ParquetImage {
    pub bytes: Vec<u8>,
    pub label: i64,
    pub origin: String,
}

fn invalid(path: &Path, what: impl Into<String>) -> Error {
    Error::Invalid {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

fn reader(path: &Path) -> Result<SerializedFileReader<File>> {
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    SerializedFileReader::new(file)
        .map_err(|e| invalid(path, format!("not a readable parquet file: {e}")))
}

/// Parquet files of `split` under `root` (see the module docs), sorted.
pub fn find_split_files(root: &Path, split: &str) -> Vec<PathBuf> {
    for dir in [
        root.to_path_buf(),
        root.join("data"),
        root.join(split),
        root.join("default").join(split),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                name.ends_with(".parquet")
                    && (name.starts_with(&format!("{split}-")) || dir.ends_with(split))
            })
            .collect();
        if !files.is_empty() {
            files.sort();
            return files;
        }
    }
    Vec::new()
}

/// `ClassLabel` names from the `huggingface` key of a file's metadata.
fn class_names(reader: &SerializedFileReader<File>) -> Option<Vec<String>> {
    let kv = reader.metadata().file_metadata().key_value_metadata()?;
    let text = kv
        .iter()
        .find(|kv| kv.key == "huggingface")?
        .value
        .as_ref()?;
    let json: serde_json::Value = serde_json::from_str(text).ok()?;
    let names = json
        .get("info")?
        .get("features")?
        .get("label")?
        .get("names")?;
    names
        .as_array()?
        .iter()
        .map(|n| n.as_str().map(String::from))
        .collect()
}

impl ParquetImages {
    /// Open the split's files (reading only their footers).
    pub fn open(root: &Path, split: &str) -> Result<Self> {
        let files = find_split_files(root, split);
        if files.is_empty() {
            return Err(invalid(
                root,
                format!("no {split}-*.parquet files here, in data/ or in {split}/"),
            ));
        }
        let mut rows = Vec::with_capacity(files.len());
        let mut classes = None;
        for path in &files {
            let r = reader(path)?;
            rows.push(r.metadata().file_metadata().num_rows() as usize);
            if classes.is_none() {
                classes = class_names(&r);
            }
        }
        let classes = classes.unwrap_or_else(|| (0..1000).map(|i| i.to_string()).collect());
        Ok(Self {
            files,
            rows,
            classes,
        })
    }

    /// Total images.
    pub fn len(&self) -> usize {
        self.rows.iter().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Images `start..end` in dataset order, reading row groups sequentially
    /// and skipping the ones before `start` without decoding them.
    pub fn read(&self, start: usize, end: usize) -> Result<Vec<ParquetImage>> {
        let mut out = Vec::with_capacity(end.saturating_sub(start));
        let mut file_start = 0;
        for (path, &n) in self.files.iter().zip(&self.rows) {
            let (lo, hi) = (start.max(file_start), end.min(file_start + n));
            if lo < hi {
                self.read_file(path, lo - file_start, hi - file_start, &mut out)?;
            }
            file_start += n;
        }
        Ok(out)
    }

    /// Every row's label, reading only the `label` column.
    pub fn labels(&self) -> Result<Vec<i64>> {
        let mut out = Vec::with_capacity(self.len());
        for path in &self.files {
            let r = reader(path)?;
            let schema = r.metadata().file_metadata().schema();
            let label = schema
                .get_fields()
                .iter()
                .find(|f| f.name() == "label")
                .ok_or_else(|| invalid(path, "no `label` column"))?;
            let projection = parquet::schema::types::Type::group_type_builder(schema.name())
                .with_fields(vec![label.clone()])
                .build()
                .map_err(|e| invalid(path, e.to_string()))?;
            let rows = r
                .get_row_iter(Some(projection))
                .map_err(|e| invalid(path, e.to_string()))?;
            for (i, row) in rows.enumerate() {
                let row = row.map_err(|e| invalid(path, format!("row {i}: {e}")))?;
                let value = row.get_column_iter().find_map(|(_, f)| match f {
                    Field::Long(l) => Some(*l),
                    Field::Int(l) => Some(i64::from(*l)),
                    _ => None,
                });
                out.push(
                    value.ok_or_else(|| {
                        invalid(path, format!("row {i}: label is not an integer"))
                    })?,
                );
            }
        }
        Ok(out)
    }

    fn read_file(
        &self,
        path: &Path,
        lo: usize,
        hi: usize,
        out: &mut Vec<ParquetImage>,
    ) -> Result<()> {
        let r = reader(path)?;
        let mut group_start = 0;
        for g in 0..r.num_row_groups() {
            let n = r.metadata().row_group(g).num_rows() as usize;
            if group_start + n > lo && group_start < hi {
                let group = r
                    .get_row_group(g)
                    .map_err(|e| invalid(path, e.to_string()))?;
                let rows = group
                    .get_row_iter(None)
                    .map_err(|e| invalid(path, e.to_string()))?;
                for (k, row) in rows.enumerate() {
                    let i = group_start + k;
                    if i < lo || i >= hi {
                        continue;
                    }
                    let row = row.map_err(|e| invalid(path, format!("row {i}: {e}")))?;
                    out.push(image_of(path, i, &row)?);
                }
            }
            group_start += n;
        }
        Ok(())
    }
}

fn image_of(path: &Path, i: usize, row: &parquet::record::Row) -> Result<ParquetImage> {
    let (mut bytes, mut label) = (None, None);
    for (name, field) in row.get_column_iter() {
        match (name.as_str(), field) {
            ("image", Field::Group(image)) => {
                for (sub, value) in image.get_column_iter() {
                    if let ("bytes", Field::Bytes(b)) = (sub.as_str(), value) {
                        bytes = Some(b.data().to_vec());
                    }
                }
            }
            ("image", Field::Bytes(b)) => bytes = Some(b.data().to_vec()),
            ("label", Field::Long(l)) => label = Some(*l),
            ("label", Field::Int(l)) => label = Some(i64::from(*l)),
            _ => {}
        }
    }
    let origin = format!("{}#{i}", path.display());
    match (bytes, label) {
        (Some(bytes), Some(label)) => Ok(ParquetImage {
            bytes,
            label,
            origin,
        }),
        _ => Err(invalid(
            path,
            format!("row {i} has no image bytes or no integer label"),
        )),
    }
}
