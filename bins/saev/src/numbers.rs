//! Value parsers for numeric flags: a value that makes no sense (a zero
//! size, a NaN rate, a fraction above one) is refused when the flags are
//! parsed, with clap's error naming the flag, before anything runs.

use std::str::FromStr;

use crate::pyargs::py_int;

/// A count of at least 1 (Python integer syntax: `100_000`).
pub fn at_least_one<T: TryFrom<u64>>(s: &str) -> Result<T, String> {
    match count::<T>(s) {
        Ok(_) if py_int(s) == Ok(0) => Err("must be at least 1".into()),
        other => other,
    }
}

/// A count, zero allowed (Python integer syntax).
pub fn count<T: TryFrom<u64>>(s: &str) -> Result<T, String> {
    let n = py_int(s).map_err(|_| format!("{s:?} is not a whole number >= 0"))?;
    T::try_from(n).map_err(|_| format!("{n} is too large"))
}

fn number<T: FromStr + Into<f64> + Copy>(s: &str) -> Result<(T, f64), String> {
    let v: T = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    Ok((v, v.into()))
}

/// A finite number above zero.
pub fn positive<T: FromStr + Into<f64> + Copy>(s: &str) -> Result<T, String> {
    match number::<T>(s)? {
        (v, x) if x.is_finite() && x > 0.0 => Ok(v),
        _ => Err("must be a finite number above 0".into()),
    }
}

/// A number above zero, infinity allowed (a clamp of `inf` is none).
pub fn above_zero<T: FromStr + Into<f64> + Copy>(s: &str) -> Result<T, String> {
    match number::<T>(s)? {
        (v, x) if x > 0.0 => Ok(v),
        _ => Err("must be a number above 0 (inf allowed)".into()),
    }
}

/// A finite number, zero or more.
pub fn non_negative<T: FromStr + Into<f64> + Copy>(s: &str) -> Result<T, String> {
    match number::<T>(s)? {
        (v, x) if x.is_finite() && x >= 0.0 => Ok(v),
        _ => Err("must be a finite number >= 0".into()),
    }
}

/// A fraction in (0, 1].
pub fn fraction<T: FromStr + Into<f64> + Copy>(s: &str) -> Result<T, String> {
    match number::<T>(s)? {
        (v, x) if x > 0.0 && x <= 1.0 => Ok(v),
        _ => Err("must be a number in (0, 1]".into()),
    }
}

/// Any finite number.
pub fn finite<T: FromStr + Into<f64> + Copy>(s: &str) -> Result<T, String> {
    match number::<T>(s)? {
        (v, x) if x.is_finite() => Ok(v),
        _ => Err("must be a finite number".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonsense_is_refused_and_sense_kept() {
        assert_eq!(at_least_one::<usize>("2_400"), Ok(2400));
        assert!(at_least_one::<usize>("0").is_err());
        assert!(at_least_one::<usize>("-1").is_err());
        assert!(at_least_one::<u16>("70000").is_err());
        assert_eq!(count::<u64>("0"), Ok(0));
        assert_eq!(positive::<f32>("4e-4"), Ok(4e-4));
        for bad in ["0", "-1", "NaN", "inf", "x"] {
            assert!(positive::<f32>(bad).is_err(), "{bad}");
        }
        assert_eq!(above_zero::<f32>("inf"), Ok(f32::INFINITY));
        assert_eq!(non_negative::<f64>("0"), Ok(0.0));
        assert!(non_negative::<f64>("NaN").is_err());
        assert_eq!(fraction::<f32>("1"), Ok(1.0));
        assert!(fraction::<f32>("1.5").is_err() && fraction::<f32>("0").is_err());
        assert_eq!(finite::<f32>("-3"), Ok(-3.0));
        assert!(finite::<f32>("-inf").is_err());
    }
}
