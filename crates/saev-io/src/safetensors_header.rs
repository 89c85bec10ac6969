//! Reproducible safetensors bytes: the `safetensors` crate writes its
//! `__metadata__` from a `HashMap`, whose order changes from one process to
//! the next, so two identical checkpoints could differ in their header.

use std::collections::BTreeMap;

/// The same file with its header's keys (and metadata keys) sorted. The
/// header keeps its length (same content, other order), so the tensor data
/// and its offsets are untouched; bytes that are not a safetensors file come
/// back unchanged.
pub fn sorted_safetensors_header(mut bytes: Vec<u8>) -> Vec<u8> {
    let Some(len) = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    else {
        return bytes;
    };
    let end = 8usize.saturating_add(len as usize);
    let Some(header) = bytes.get(8..end) else {
        return bytes;
    };
    let Ok(mut map) = serde_json::from_slice::<BTreeMap<String, serde_json::Value>>(header) else {
        return bytes;
    };
    if let Some(meta) = map.remove("__metadata__") {
        let sorted: BTreeMap<String, serde_json::Value> =
            serde_json::from_value(meta).unwrap_or_default();
        map.insert("__metadata__".into(), serde_json::json!(sorted));
    }
    let Ok(text) = serde_json::to_vec(&map) else {
        return bytes;
    };
    if text.len() > len as usize {
        return bytes;
    }
    let padded = text
        .into_iter()
        .chain(std::iter::repeat(b' '))
        .take(len as usize);
    bytes.splice(8..end, padded);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut v = (header.len() as u64).to_le_bytes().to_vec();
        v.extend(header.as_bytes());
        v.extend(data);
        v
    }

    #[test]
    fn metadata_in_either_order_gives_the_same_bytes() {
        let t = r#""x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#;
        let a = file(
            &format!(r#"{{"__metadata__":{{"step":"3","cfg":"{{}}"}},{t}}}  "#),
            &[1, 2, 3, 4],
        );
        let b = file(
            &format!(r#"{{{t},"__metadata__":{{"cfg":"{{}}","step":"3"}}}}  "#),
            &[1, 2, 3, 4],
        );
        let (a, b) = (sorted_safetensors_header(a), sorted_safetensors_header(b));
        assert_eq!(a, b);
        assert_eq!(&a[a.len() - 4..], &[1, 2, 3, 4]);
        assert_eq!(sorted_safetensors_header(vec![1, 2]), vec![1, 2]);
    }
}
