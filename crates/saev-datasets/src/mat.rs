//! A reader for the numeric arrays in MATLAB v5 MAT-files: what
//! `scipy.io.savemat` writes and MATLAB's default (`-v7`) `save` writes.
//! Datasets such as Flowers-102 ship their labels and splits this way, and
//! this is just enough of the format to read them without Python.
//!
//! Layout (MathWorks, "MAT-File Format"): a 128-byte header (116 bytes of
//! text, 8 bytes of subsystem offset, `u16` version `0x0100`, endian
//! indicator `IM` when little-endian), then data elements. An element is an
//! 8-byte tag (`u32` type, `u32` byte count) and its bytes padded to 8; a
//! *small* element packs a `u16` byte count (at most 4) and a `u16` type into
//! the first 4 bytes and its data into the next 4. Top-level elements are
//! `miMATRIX` (an array: flags, dimensions, name, real part, maybe an
//! imaginary part) or `miCOMPRESSED` (a zlib stream of further elements).
//!
//! Numeric arrays of any class (double, single, int8 ... uint64) come back as
//! [`MatArray`]s of `f64`, whatever integer or float type the file stores
//! them in (MATLAB often stores doubles as `miUINT8`). 64-bit integers beyond
//! 2^53 round. Cells, structs, chars, sparse and complex arrays and objects
//! are skipped by their byte counts and listed in [`MatFile::skipped`], so a
//! file holding them still reads; asking for one by name is an error.
//! Big-endian files and v4 / v7.3 (HDF5) files are rejected with a clear
//! message.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

const HEADER_LEN: usize = 128;

const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;
const MI_UTF8: u32 = 16;

/// The MATLAB class of a numeric array (its values are `f64` here either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatClass {
    Double,
    Single,
    Int8,
    UInt8,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
}

/// One numeric array.
#[derive(Clone, Debug, PartialEq)]
pub struct MatArray {
    /// MATLAB dimensions, always at least two: a row vector is `[1, n]`.
    pub dims: Vec<usize>,
    /// The values in column-major (Fortran) order, as stored: element
    /// `(i, j)` of a 2-D array is `data[i + j * dims[0]]`. For vectors this is
    /// simply the vector, whichever way it is oriented.
    pub data: Vec<f64>,
    /// The class MATLAB gave the array.
    pub class: MatClass,
}

impl MatArray {
    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// The variables of one MAT-file.
#[derive(Clone, Debug, Default)]
pub struct MatFile {
    /// The file they came from, for error messages.
    pub path: PathBuf,
    /// Numeric arrays by variable name.
    pub arrays: BTreeMap<String, MatArray>,
    /// Variables that are not numeric arrays, with what they are ("struct",
    /// "cell", "char", "complex double", ...).
    pub skipped: BTreeMap<String, String>,
}

impl MatFile {
    /// The numeric array `name`, or an error naming the file and saying
    /// whether the variable is absent or of a kind this reader skips.
    pub fn array(&self, name: &str) -> Result<&MatArray> {
        if let Some(array) = self.arrays.get(name) {
            return Ok(array);
        }
        let what = match self.skipped.get(name) {
            Some(kind) => {
                format!("variable `{name}` is a {kind} array; only real numeric arrays are read")
            }
            None => {
                let mut names: Vec<&str> = self
                    .arrays
                    .keys()
                    .chain(self.skipped.keys())
                    .map(String::as_str)
                    .collect();
                names.sort_unstable();
                if names.is_empty() {
                    format!("no variable `{name}` (the file holds no variables)")
                } else {
                    format!(
                        "no variable `{name}` (the file holds: {})",
                        names.join(", ")
                    )
                }
            }
        };
        Err(Error::Mat {
            path: self.path.clone(),
            what,
        })
    }
}

/// Reads the MAT-file at `path` (whole, into memory: these files are small).
pub fn read_mat(path: impl AsRef<Path>) -> Result<MatFile> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_mat(&bytes, path)
}

/// Parses MAT-file bytes; `path` only names the file in errors.
pub fn parse_mat(bytes: &[u8], path: &Path) -> Result<MatFile> {
    let err = |what: String| Error::Mat {
        path: path.to_path_buf(),
        what,
    };
    check_header(bytes).map_err(err)?;
    let mut file = MatFile {
        path: path.to_path_buf(),
        ..MatFile::default()
    };
    parse_elements(bytes, HEADER_LEN, "", &mut file).map_err(err)?;
    Ok(file)
}

fn check_header(bytes: &[u8]) -> std::result::Result<(), String> {
    if bytes.len() < HEADER_LEN {
        return Err(format!(
            "{} bytes is too short for a MAT-file (its header alone is {HEADER_LEN}); truncated?",
            bytes.len()
        ));
    }
    let version = u16::from_le_bytes([bytes[124], bytes[125]]);
    if bytes.starts_with(b"MATLAB 7.3") || (version == 0x0200 && &bytes[126..128] == b"IM") {
        return Err("a MATLAB v7.3 (HDF5) MAT-file, which is not supported; \
                    re-save it with `save -v7` or scipy.io.savemat"
            .into());
    }
    match &bytes[126..128] {
        b"IM" => {}
        b"MI" => {
            return Err(
                "a big-endian MAT-file (endian indicator 'MI'), which is not supported; \
                        re-save it on a little-endian machine (MATLAB or scipy.io.savemat)"
                    .into(),
            )
        }
        _ => {
            return Err(
                "not a MATLAB v5 MAT-file: no 'IM' endian indicator at bytes 126-127 \
                        (v4 and v7.3 files are not supported)"
                    .into(),
            )
        }
    }
    if version != 0x0100 {
        return Err(format!(
            "unsupported MAT-file version {version:#06x} (expected 0x0100)"
        ));
    }
    Ok(())
}

/// A data element's tag: its type, its byte count, where its bytes start,
/// and where the next element starts (after padding to 8).
struct Tag {
    ty: u32,
    len: usize,
    data: usize,
    next: usize,
}

fn u32_at(buf: &[u8], pos: usize) -> Option<u32> {
    let b = buf.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn read_tag(buf: &[u8], pos: usize) -> std::result::Result<Tag, String> {
    let truncated = || {
        format!(
            "truncated: an element tag needs 8 bytes but only {} remain",
            buf.len() - pos.min(buf.len())
        )
    };
    let first = u32_at(buf, pos).ok_or_else(truncated)?;
    if first >> 16 != 0 {
        // Small data element: byte count and type share the first 4 bytes.
        let (ty, len) = (first & 0xffff, (first >> 16) as usize);
        if len > 4 {
            return Err(format!(
                "a small {} element claims {len} bytes (at most 4 fit)",
                type_name(ty)
            ));
        }
        if buf.len() - pos < 8 {
            return Err(truncated());
        }
        return Ok(Tag {
            ty,
            len,
            data: pos + 4,
            next: pos + 8,
        });
    }
    let len = u32_at(buf, pos + 4).ok_or_else(truncated)? as usize;
    let data = pos + 8;
    let left = buf.len() - data;
    if len > left {
        return Err(format!(
            "truncated: a {} element claims {len} bytes but only {left} remain",
            type_name(first)
        ));
    }
    Ok(Tag {
        ty: first,
        len,
        data,
        next: data + len.next_multiple_of(8),
    })
}

/// Reads top-level elements from `buf[pos..]` into `out`. `within` says
/// where `buf` is, for messages ("" for the file itself).
fn parse_elements(
    buf: &[u8],
    mut pos: usize,
    within: &str,
    out: &mut MatFile,
) -> std::result::Result<(), String> {
    while pos < buf.len() {
        let at = format!("byte {pos}{within}");
        let tag = read_tag(buf, pos).map_err(|e| format!("at {at}: {e}"))?;
        let body = &buf[tag.data..tag.data + tag.len];
        match tag.ty {
            MI_COMPRESSED => {
                let mut inflated = Vec::new();
                flate2::read::ZlibDecoder::new(body)
                    .read_to_end(&mut inflated)
                    .map_err(|e| {
                        format!("at {at}: corrupt zlib stream in miCOMPRESSED element: {e}")
                    })?;
                parse_elements(
                    &inflated,
                    0,
                    &format!(" of the compressed element at {at}"),
                    out,
                )?;
                // Compressed elements are not padded (scipy and MATLAB agree).
                pos = tag.data + tag.len;
            }
            MI_MATRIX => {
                match parse_matrix(body).map_err(|e| format!("in the array at {at}: {e}"))? {
                    Some((name, Ok(array))) => {
                        out.arrays.insert(name, array);
                    }
                    Some((name, Err(kind))) => {
                        tracing::debug!(
                            "{}: skipping {kind} variable `{name}`",
                            out.path.display()
                        );
                        out.skipped.insert(name, kind);
                    }
                    None => {}
                }
                pos = tag.next;
            }
            other => {
                tracing::debug!(
                    "{}: skipping {} element at {at}",
                    out.path.display(),
                    type_name(other)
                );
                pos = tag.next;
            }
        }
    }
    Ok(())
}

/// What an array element holds: a numeric array, or the kind it is if not.
type Parsed = std::result::Result<MatArray, String>;

/// Parses the body of an `miMATRIX` element. `None` for an empty element or a
/// non-numeric array whose header this reader cannot follow.
fn parse_matrix(body: &[u8]) -> std::result::Result<Option<(String, Parsed)>, String> {
    if body.is_empty() {
        return Ok(None);
    }
    let flags = read_tag(body, 0)?;
    if flags.ty != MI_UINT32 || flags.len != 8 {
        return Err(format!(
            "array flags should be 8 bytes of miUINT32, found {} bytes of {}",
            flags.len,
            type_name(flags.ty)
        ));
    }
    let word = u32_at(body, flags.data).expect("checked length");
    let (class_code, complex) = (word & 0xff, word & 0x800 != 0);
    let class = match numeric_class(class_code) {
        Ok(class) => class,
        Err(kind) => {
            // Not numeric: take the name if the usual header follows, then skip.
            return Ok(dims_and_name(body, flags.next)
                .ok()
                .map(|(_, name, _)| (name, Err(kind))));
        }
    };
    let (dims, name, pos) = dims_and_name(body, flags.next)?;
    if complex {
        return Ok(Some((
            name,
            Err(format!("complex {class:?}").to_lowercase()),
        )));
    }
    let real = read_tag(body, pos).map_err(|e| format!("`{name}` real part: {e}"))?;
    let data = numbers(real.ty, &body[real.data..real.data + real.len])
        .map_err(|e| format!("`{name}` real part: {e}"))?;
    let expected: usize = dims.iter().product();
    if data.len() != expected {
        return Err(format!(
            "`{name}` has dimensions {dims:?} ({expected} values) but its real part holds {}",
            data.len()
        ));
    }
    Ok(Some((name, Ok(MatArray { dims, data, class }))))
}

/// Reads the dimensions and name subelements starting at `pos`; returns
/// them and where the next subelement starts.
fn dims_and_name(
    body: &[u8],
    pos: usize,
) -> std::result::Result<(Vec<usize>, String, usize), String> {
    let dims_tag = read_tag(body, pos).map_err(|e| format!("dimensions: {e}"))?;
    if dims_tag.ty != MI_INT32 || !dims_tag.len.is_multiple_of(4) || dims_tag.len < 8 {
        return Err(format!(
            "dimensions should be at least 2 miINT32s, found {} bytes of {}",
            dims_tag.len,
            type_name(dims_tag.ty)
        ));
    }
    let dims = body[dims_tag.data..dims_tag.data + dims_tag.len]
        .chunks_exact(4)
        .map(|b| {
            let d = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            usize::try_from(d).map_err(|_| format!("negative dimension {d}"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let name_tag = read_tag(body, dims_tag.next).map_err(|e| format!("array name: {e}"))?;
    if name_tag.ty != MI_INT8 && name_tag.ty != MI_UTF8 {
        return Err(format!(
            "array name should be miINT8, found {}",
            type_name(name_tag.ty)
        ));
    }
    let name =
        String::from_utf8_lossy(&body[name_tag.data..name_tag.data + name_tag.len]).into_owned();
    Ok((dims, name, name_tag.next))
}

fn numeric_class(code: u32) -> std::result::Result<MatClass, String> {
    Ok(match code {
        6 => MatClass::Double,
        7 => MatClass::Single,
        8 => MatClass::Int8,
        9 => MatClass::UInt8,
        10 => MatClass::Int16,
        11 => MatClass::UInt16,
        12 => MatClass::Int32,
        13 => MatClass::UInt32,
        14 => MatClass::Int64,
        15 => MatClass::UInt64,
        1 => return Err("cell".into()),
        2 => return Err("struct".into()),
        3 => return Err("object".into()),
        4 => return Err("char".into()),
        5 => return Err("sparse".into()),
        16 => return Err("function handle".into()),
        17 => return Err("opaque object".into()),
        other => return Err(format!("unknown class {other}")),
    })
}

/// Decodes little-endian numbers of MAT type `ty` into `f64`s.
fn numbers(ty: u32, bytes: &[u8]) -> std::result::Result<Vec<f64>, String> {
    fn each<const N: usize>(
        bytes: &[u8],
        f: impl Fn([u8; N]) -> f64,
    ) -> std::result::Result<Vec<f64>, String> {
        if !bytes.len().is_multiple_of(N) {
            return Err(format!(
                "{} bytes is not a whole number of {N}-byte values",
                bytes.len()
            ));
        }
        Ok(bytes
            .chunks_exact(N)
            .map(|c| f(c.try_into().expect("chunks_exact")))
            .collect())
    }
    match ty {
        MI_INT8 => each(bytes, |b: [u8; 1]| i8::from_le_bytes(b) as f64),
        MI_UINT8 => each(bytes, |b: [u8; 1]| b[0] as f64),
        MI_INT16 => each(bytes, |b| i16::from_le_bytes(b) as f64),
        MI_UINT16 => each(bytes, |b| u16::from_le_bytes(b) as f64),
        MI_INT32 => each(bytes, |b| i32::from_le_bytes(b) as f64),
        MI_UINT32 => each(bytes, |b| u32::from_le_bytes(b) as f64),
        MI_SINGLE => each(bytes, |b| f32::from_le_bytes(b) as f64),
        MI_DOUBLE => each(bytes, f64::from_le_bytes),
        MI_INT64 => each(bytes, |b| i64::from_le_bytes(b) as f64),
        MI_UINT64 => each(bytes, |b| u64::from_le_bytes(b) as f64),
        other => Err(format!("{} is not a numeric type", type_name(other))),
    }
}

fn type_name(ty: u32) -> String {
    let name = match ty {
        MI_INT8 => "miINT8",
        MI_UINT8 => "miUINT8",
        MI_INT16 => "miINT16",
        MI_UINT16 => "miUINT16",
        MI_INT32 => "miINT32",
        MI_UINT32 => "miUINT32",
        MI_SINGLE => "miSINGLE",
        MI_DOUBLE => "miDOUBLE",
        MI_INT64 => "miINT64",
        MI_UINT64 => "miUINT64",
        MI_MATRIX => "miMATRIX",
        MI_COMPRESSED => "miCOMPRESSED",
        MI_UTF8 => "miUTF8",
        17 => "miUTF16",
        18 => "miUTF32",
        other => return format!("unknown type {other}"),
    };
    name.into()
}

#[cfg(test)]
mod tests;
