//! Values as tyro (saev's flag parser) spells them.

/// Python-style integers: `2_4000_000` is 24,000,000.
pub fn py_int(s: &str) -> Result<u64, String> {
    if s.starts_with('_') || s.ends_with('_') || s.contains("__") {
        return Err(format!("{s:?} is not an integer"));
    }
    s.replace('_', "")
        .parse()
        .map_err(|_| format!("{s:?} is not an integer"))
}

/// Python booleans: `True`/`False` (lowercase accepted too).
pub fn py_bool(s: &str) -> Result<bool, String> {
    match s {
        "True" | "true" => Ok(true),
        "False" | "false" => Ok(false),
        _ => Err(format!("expected True or False, got {s:?}")),
    }
}
