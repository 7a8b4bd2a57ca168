//! Numbers as `Range` sees them: Python's `float(value)` and its exact
//! comparison of a float with an integer bound.

use std::cmp::Ordering;

/// A bound of a `Range`: Python keeps the integer or float it was given, and
/// the signed bytes show which (`5` or `5.0`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// An integer bound.
    Int(i64),
    /// A float bound (never NaN in a token this crate accepts).
    Float(f64),
}

impl Number {
    /// Compares the float `v` with this bound exactly, as Python compares a
    /// float with an int (no rounding of the int); `None` when either is NaN.
    pub(crate) fn compare(self, v: f64) -> Option<Ordering> {
        match self {
            Number::Float(b) => v.partial_cmp(&b),
            Number::Int(b) => compare_float_int(v, b),
        }
    }
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => f.write_str(&crate::capability::canonical::float_repr(*x)),
        }
    }
}

impl From<i64> for Number {
    fn from(i: i64) -> Self {
        Number::Int(i)
    }
}

impl From<i32> for Number {
    fn from(i: i32) -> Self {
        Number::Int(i.into())
    }
}

impl From<f64> for Number {
    fn from(f: f64) -> Self {
        Number::Float(f)
    }
}

fn compare_float_int(v: f64, b: i64) -> Option<Ordering> {
    if v.is_nan() {
        return None;
    }
    // 2^63 is exact as a float; every i64 is below it and at or above -2^63.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if v >= TWO_63 {
        return Some(Ordering::Greater);
    }
    if v < -TWO_63 {
        return Some(Ordering::Less);
    }
    let whole = v.trunc();
    // Exact: |whole| < 2^63.
    let w = whole as i64;
    match w.cmp(&b) {
        Ordering::Equal => {
            let frac = v - whole;
            Some(if frac > 0.0 {
                Ordering::Greater
            } else if frac < 0.0 {
                Ordering::Less
            } else {
                Ordering::Equal
            })
        }
        other => Some(other),
    }
}

/// Python's `float(value)` for an argument: strings by `float(str)` (ASCII
/// only here, see below), integers and floats as themselves, booleans as 1
/// and 0; `None` where Python raises (`None`, lists, dicts, bad strings).
///
/// Python also reads strings with non-ASCII digits (`'١٢'`) and non-ASCII
/// whitespace; this crate refuses them (stricter).
pub(crate) fn py_float(value: &serde_json::Value) -> Option<f64> {
    use serde_json::Value;
    match value {
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Some(u as f64)
            } else if let Some(i) = n.as_i64() {
                Some(i as f64)
            } else {
                n.as_f64()
            }
        }
        Value::String(s) => parse_py_float(s),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// `float(str)` for ASCII text: surrounding whitespace, a sign, `inf`,
/// `infinity`, `nan` in any case, decimal digits with single underscores
/// between digits, an optional fraction and exponent.
pub(crate) fn parse_py_float(s: &str) -> Option<f64> {
    if !s.is_ascii() {
        return None;
    }
    // Python strips ASCII whitespace only (`\x1c` to `\x1f` are not).
    let s = s.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r'));
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let special = match lower.as_str() {
        "inf" | "infinity" => Some(f64::INFINITY),
        "nan" => Some(f64::NAN),
        _ => None,
    };
    if let Some(v) = special {
        return Some(if negative { -v } else { v });
    }
    // Validate the grammar (and the underscores), then let Rust round.
    let b = body.as_bytes();
    let mut clean = String::with_capacity(b.len() + 1);
    if negative {
        clean.push('-');
    }
    let mut i = 0;
    let digits = |i: &mut usize, clean: &mut String| -> usize {
        let start = *i;
        while *i < b.len() {
            match b[*i] {
                b'0'..=b'9' => {
                    clean.push(b[*i] as char);
                    *i += 1;
                }
                b'_' if *i > start
                    && b[*i - 1].is_ascii_digit()
                    && b.get(*i + 1).is_some_and(u8::is_ascii_digit) =>
                {
                    *i += 1;
                }
                _ => break,
            }
        }
        *i - start
    };
    let int_digits = digits(&mut i, &mut clean);
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        clean.push('.');
        i += 1;
        frac_digits = digits(&mut i, &mut clean);
    }
    if int_digits == 0 && frac_digits == 0 {
        return None;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        clean.push('e');
        i += 1;
        if let Some(sign @ (b'+' | b'-')) = b.get(i) {
            clean.push(*sign as char);
            i += 1;
        }
        if digits(&mut i, &mut clean) == 0 {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    clean.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_float_of_strings() {
        for (s, want) in [
            ("5", 5.0),
            (" 5 ", 5.0),
            ("\t-2.5\n", -2.5),
            ("1_000", 1000.0),
            ("1_0.5_0", 10.5),
            ("1e1_0", 1e10),
            ("5.", 5.0),
            (".5", 0.5),
            ("+1E+2", 100.0),
            ("1e400", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
            ("iNf", f64::INFINITY),
        ] {
            assert_eq!(parse_py_float(s), Some(want), "{s:?}");
        }
        assert!(parse_py_float("nan").unwrap().is_nan());
        for bad in [
            "", " ", "_1", "1_", "1__0", "1_.5", "1._5", "0x10", "1e", "e5", ".", "1.2.3", "--1",
            "in f", "١٢", "\u{a0}5", "5 5", "infinit",
        ] {
            assert_eq!(parse_py_float(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn python_float_of_values() {
        assert_eq!(py_float(&json!(true)), Some(1.0));
        assert_eq!(py_float(&json!(7)), Some(7.0));
        assert_eq!(py_float(&json!(-7)), Some(-7.0));
        assert_eq!(py_float(&json!(u64::MAX)), Some(u64::MAX as f64));
        assert_eq!(py_float(&json!(null)), None);
        assert_eq!(py_float(&json!([1])), None);
    }

    #[test]
    fn float_and_int_compare_exactly() {
        let big = 9_007_199_254_740_993_i64; // 2^53 + 1: not a float
        assert_eq!(
            Number::Int(big).compare(9_007_199_254_740_992.0),
            Some(Ordering::Less)
        );
        assert_eq!(Number::Int(3).compare(3.0), Some(Ordering::Equal));
        assert_eq!(Number::Int(3).compare(3.5), Some(Ordering::Greater));
        assert_eq!(Number::Int(-3).compare(-3.5), Some(Ordering::Less));
        assert_eq!(Number::Int(i64::MAX).compare(1e19), Some(Ordering::Greater));
        assert_eq!(Number::Int(i64::MIN).compare(-1e19), Some(Ordering::Less));
        assert_eq!(Number::Int(0).compare(f64::NAN), None);
        assert_eq!(Number::Float(1.5).compare(1.5), Some(Ordering::Equal));
    }
}
