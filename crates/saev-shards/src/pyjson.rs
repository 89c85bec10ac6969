//! The few JSON shapes Python's `json` module writes for saev's metadata.
//!
//! `serde_json` escapes differently from Python (which escapes every
//! non-ASCII character as `\uXXXX` with lowercase hex) and pretty-prints
//! differently (Python puts each list item on its own line), and the store's
//! directory name is a hash of the exact text, so we write it ourselves.

/// A metadata value.
#[derive(Clone, Debug)]
pub enum Value {
    Str(String),
    Int(i128),
    Bool(bool),
    IntList(Vec<i64>),
}

/// Python's `json.encoder.py_encode_basestring_ascii`.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if !(' '..='~').contains(&c) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Str(s) => string(s),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => if *b { "true" } else { "false" }.to_string(),
        Value::IntList(items) => {
            let items: Vec<String> = items.iter().map(i64::to_string).collect();
            format!("[{}]", items.join(", "))
        }
    }
}

/// `json.dumps(d)`: separators `", "` and `": "`, one line.
pub fn object_compact(fields: &[(&str, Value)]) -> String {
    let items: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}: {}", string(k), scalar(v)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// `json.dump(d, fd, indent=4)`: lists spread one item per line, empty ones as `[]`.
pub fn object_indent4(fields: &[(&str, Value)]) -> String {
    let items: Vec<String> = fields
        .iter()
        .map(|(k, v)| {
            let value = match v {
                Value::IntList(list) if !list.is_empty() => {
                    let inner: Vec<String> = list.iter().map(|i| format!("        {i}")).collect();
                    format!("[\n{}\n    ]", inner.join(",\n"))
                }
                other => scalar(other),
            };
            format!("    {}: {}", string(k), value)
        })
        .collect();
    format!("{{\n{}\n}}", items.join(",\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_python() {
        // json.dumps('a"b\\c\n\x01é😀\x7f')
        assert_eq!(
            string("a\"b\\c\n\u{1}é😀\u{7f}"),
            "\"a\\\"b\\\\c\\n\\u0001\\u00e9\\ud83d\\ude00\\u007f\""
        );
    }

    #[test]
    fn indent4_spreads_lists() {
        let fields = [
            ("layers", Value::IntList(vec![3, -2])),
            ("empty", Value::IntList(vec![])),
            ("ok", Value::Bool(true)),
        ];
        assert_eq!(
            object_indent4(&fields),
            "{\n    \"layers\": [\n        3,\n        -2\n    ],\n    \"empty\": [],\n    \"ok\": true\n}"
        );
        assert_eq!(
            object_compact(&fields),
            "{\"layers\": [3, -2], \"empty\": [], \"ok\": true}"
        );
    }
}
