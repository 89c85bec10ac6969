//! Unit tests for the MAT-file reader on hand-built bytes, so each format
//! case (small elements, compression, skipped kinds, bad headers) is pinned
//! down without Python.

use std::io::Write;
use std::path::Path;

use super::*;

fn header(endian: &[u8; 2], version: [u8; 2]) -> Vec<u8> {
    let mut h = b"MATLAB 5.0 MAT-file, hand-built for tests".to_vec();
    h.resize(116, b' ');
    h.extend([0; 8]);
    h.extend(version);
    h.extend(endian);
    h
}

fn le_header() -> Vec<u8> {
    header(b"IM", 0x0100u16.to_le_bytes())
}

/// A regular element: 8-byte tag, data, zero padding to 8.
fn element(ty: u32, data: &[u8]) -> Vec<u8> {
    let mut e = ty.to_le_bytes().to_vec();
    e.extend((data.len() as u32).to_le_bytes());
    e.extend(data);
    e.resize(e.len().next_multiple_of(8), 0);
    e
}

/// A small element: byte count and type in 4 bytes, data in the next 4.
fn small(ty: u32, data: &[u8]) -> Vec<u8> {
    assert!(data.len() <= 4);
    let mut e = ((data.len() as u32) << 16 | ty).to_le_bytes().to_vec();
    e.extend(data);
    e.resize(8, 0);
    e
}

fn flags(class: u32, complex: bool) -> Vec<u8> {
    let word = class | if complex { 0x800 } else { 0 };
    let mut d = word.to_le_bytes().to_vec();
    d.extend([0; 4]);
    element(MI_UINT32, &d)
}

fn dims(dims: &[i32]) -> Vec<u8> {
    let d: Vec<u8> = dims.iter().flat_map(|x| x.to_le_bytes()).collect();
    element(MI_INT32, &d)
}

/// An miMATRIX element from already-encoded subelements.
fn matrix(parts: &[Vec<u8>]) -> Vec<u8> {
    element(MI_MATRIX, &parts.concat())
}

fn doubles(values: &[f64]) -> Vec<u8> {
    element(
        MI_DOUBLE,
        &values
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect::<Vec<_>>(),
    )
}

fn parse(bytes: &[u8]) -> Result<MatFile> {
    parse_mat(bytes, Path::new("test.mat"))
}

#[test]
fn small_elements_for_name_and_data() {
    // MATLAB stores small doubles as miUINT8 and short names as small elements.
    let mut bytes = le_header();
    bytes.extend(matrix(&[
        flags(6, false),
        dims(&[1, 3]),
        small(MI_INT8, b"ab"),
        small(MI_UINT8, &[1, 2, 77]),
    ]));
    let file = parse(&bytes).unwrap();
    let a = file.array("ab").unwrap();
    assert_eq!(a.dims, vec![1, 3]);
    assert_eq!(a.data, vec![1.0, 2.0, 77.0]);
    assert_eq!(a.class, MatClass::Double);
}

#[test]
fn integer_and_float_storage_types_column_major() {
    let mut bytes = le_header();
    let i16s: Vec<u8> = [-3i16, 4, 5, -6]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    bytes.extend(matrix(&[
        flags(10, false),
        dims(&[2, 2]),
        element(MI_INT8, b"m"),
        element(MI_INT16, &i16s),
    ]));
    let f32s: Vec<u8> = [0.5f32, -1.25]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    bytes.extend(matrix(&[
        flags(7, false),
        dims(&[2, 1]),
        element(MI_INT8, b"single"),
        element(MI_SINGLE, &f32s),
    ]));
    let u16s: Vec<u8> = [8189u16].iter().flat_map(|x| x.to_le_bytes()).collect();
    bytes.extend(matrix(&[
        flags(6, false),
        dims(&[1, 1]),
        small(MI_INT8, b"id"),
        small(MI_UINT16, &u16s),
    ]));
    let file = parse(&bytes).unwrap();
    let m = file.array("m").unwrap();
    assert_eq!(
        (m.dims.clone(), m.data.clone(), m.class),
        (vec![2, 2], vec![-3.0, 4.0, 5.0, -6.0], MatClass::Int16)
    );
    assert_eq!(file.array("single").unwrap().data, vec![0.5, -1.25]);
    assert_eq!(file.array("id").unwrap().data, vec![8189.0]);
}

#[test]
fn compressed_elements() {
    let inner = matrix(&[
        flags(6, false),
        dims(&[1, 2]),
        element(MI_INT8, b"labels"),
        doubles(&[3.0, 102.0]),
    ]);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&inner).unwrap();
    let z = z.finish().unwrap();
    let mut bytes = le_header();
    // Compressed elements are not padded: the next one starts right after.
    bytes.extend(MI_COMPRESSED.to_le_bytes());
    bytes.extend((z.len() as u32).to_le_bytes());
    bytes.extend(&z);
    bytes.extend(matrix(&[
        flags(6, false),
        dims(&[1, 1]),
        element(MI_INT8, b"after"),
        doubles(&[7.0]),
    ]));
    let file = parse(&bytes).unwrap();
    assert_eq!(file.array("labels").unwrap().data, vec![3.0, 102.0]);
    assert_eq!(file.array("after").unwrap().data, vec![7.0]);

    // A corrupt stream is an error naming the file.
    let at = HEADER_LEN + 8 + 2;
    bytes[at] ^= 0xff;
    bytes[at + 1] ^= 0xff;
    let err = parse(&bytes).unwrap_err().to_string();
    assert!(err.starts_with("test.mat: "), "{err}");
}

#[test]
fn skips_non_numeric_but_refuses_them_by_name() {
    let mut bytes = le_header();
    // A struct with nested junk: skipped by its byte count.
    bytes.extend(matrix(&[
        flags(2, false),
        dims(&[1, 1]),
        element(MI_INT8, b"meta"),
        element(MI_INT32, &[0; 12]),
    ]));
    bytes.extend(matrix(&[
        flags(4, false),
        dims(&[1, 2]),
        element(MI_INT8, b"txt"),
        element(17, &[104, 0, 105, 0]),
    ]));
    bytes.extend(matrix(&[
        flags(6, true),
        dims(&[1, 1]),
        element(MI_INT8, b"z"),
        doubles(&[1.0]),
        doubles(&[2.0]),
    ]));
    bytes.extend(element(MI_UTF8, b"stray top-level element"));
    bytes.extend(matrix(&[
        flags(6, false),
        dims(&[1, 1]),
        element(MI_INT8, b"x"),
        doubles(&[42.0]),
    ]));
    let file = parse(&bytes).unwrap();
    assert_eq!(file.array("x").unwrap().data, vec![42.0]);
    assert_eq!(file.skipped.get("meta").map(String::as_str), Some("struct"));
    assert_eq!(file.skipped.get("txt").map(String::as_str), Some("char"));
    assert_eq!(
        file.skipped.get("z").map(String::as_str),
        Some("complex double")
    );
    let err = file.array("meta").unwrap_err().to_string();
    assert!(
        err.contains("test.mat") && err.contains("`meta` is a struct"),
        "{err}"
    );
    let err = file.array("nope").unwrap_err().to_string();
    assert!(
        err.ends_with("no variable `nope` (the file holds: meta, txt, x, z)"),
        "{err}"
    );
}

#[test]
fn big_endian_rejected() {
    let mut bytes = header(b"MI", 0x0100u16.to_be_bytes());
    bytes.extend([0; 8]);
    let err = parse(&bytes).unwrap_err().to_string();
    assert!(
        err.starts_with("test.mat: ") && err.contains("big-endian"),
        "{err}"
    );
}

#[test]
fn bad_headers_rejected() {
    let err = parse(&le_header()[..100]).unwrap_err().to_string();
    assert!(err.contains("too short"), "{err}");
    let mut v73 = header(b"IM", 0x0200u16.to_le_bytes());
    v73[..10].copy_from_slice(b"MATLAB 7.3");
    let err = parse(&v73).unwrap_err().to_string();
    assert!(err.contains("v7.3"), "{err}");
    let err = parse(&[b'x'; 200]).unwrap_err().to_string();
    assert!(err.contains("not a MATLAB v5 MAT-file"), "{err}");
}

#[test]
fn truncation_and_count_mismatch_are_errors() {
    let mut bytes = le_header();
    bytes.extend(matrix(&[
        flags(6, false),
        dims(&[1, 3]),
        element(MI_INT8, b"v"),
        doubles(&[1.0, 2.0, 3.0]),
    ]));
    let err = parse(&bytes[..bytes.len() - 8]).unwrap_err().to_string();
    assert!(
        err.contains("truncated") && err.contains("byte 128"),
        "{err}"
    );
    let err = parse(&bytes[..bytes.len() - 3]).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");

    let mut bytes = le_header();
    bytes.extend(matrix(&[
        flags(6, false),
        dims(&[2, 3]),
        element(MI_INT8, b"v"),
        doubles(&[1.0, 2.0, 3.0]),
    ]));
    let err = parse(&bytes).unwrap_err().to_string();
    assert!(
        err.contains("`v` has dimensions [2, 3] (6 values) but its real part holds 3"),
        "{err}"
    );
}

#[test]
fn reads_the_flowers_fixture_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/flowers102");
    let labels = read_mat(dir.join("imagelabels.mat")).unwrap();
    let l = labels.array("labels").unwrap();
    assert_eq!(l.dims, vec![1, 12]);
    assert_eq!(
        l.data,
        [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3].map(f64::from).to_vec()
    );
    let setid = read_mat(dir.join("setid.mat")).unwrap();
    assert_eq!(
        setid.array("trnid").unwrap().data,
        [1, 2, 5, 6, 9, 10].map(f64::from).to_vec()
    );
    assert_eq!(setid.array("valid").unwrap().data, vec![3.0, 7.0, 11.0]);
    assert_eq!(setid.array("tstid").unwrap().data, vec![4.0, 8.0, 12.0]);
}
