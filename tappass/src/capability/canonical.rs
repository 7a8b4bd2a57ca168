//! The JSON the Python SDK signs, read and written byte for byte.
//!
//! Python writes the signed bytes with `json.dumps(obj, sort_keys=True,
//! separators=(",", ":"))` and the token's transport form with
//! `json.dumps(obj, sort_keys=True)` (separators `", "` and `": "`). Both keep
//! `json`'s defaults: `ensure_ascii` (everything outside `' '..='~'` is escaped
//! as `\uXXXX`, lowercase hex, astral characters as surrogate pairs), floats as
//! `repr(float)` (shortest round trip, `1.0` not `1`, `1e+16`, `1e-05`), the
//! non-finite floats as `Infinity`, `-Infinity` and `NaN`, integers of any size
//! in decimal. Keys are sorted by code point, which is the byte order of UTF-8.
//!
//! The reader accepts what Python's `json.loads` accepts for a token, minus
//! what makes one text mean two things: duplicate keys (Python keeps the last),
//! lone surrogates, integers beyond 64 bits, and nesting deeper than a token
//! has any use for are refused.

use std::borrow::Cow;
use std::fmt::Write as _;

/// A parsed JSON value, with Python's distinction between integers and floats.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    /// Members in the order read; keys are unique.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The member `key` of an object.
    pub(crate) fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// What the value is, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Int(_) => "an integer",
            Json::Float(_) => "a float",
            Json::Str(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

impl Json {
    /// From a `serde_json` value; integers beyond `i64` are refused.
    pub(crate) fn from_value(v: &serde_json::Value) -> Result<Json, String> {
        use serde_json::Value;
        Ok(match v {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Json::Int(i),
                (None, Some(_)) if n.is_u64() => {
                    return Err("an integer outside the 64-bit range".into())
                }
                (None, Some(f)) => Json::Float(f),
                (None, None) => return Err("a number outside the 64-bit range".into()),
            },
            Value::String(s) => Json::Str(s.clone()),
            Value::Array(items) => Json::Array(
                items
                    .iter()
                    .map(Json::from_value)
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Json::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), Json::from_value(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
        })
    }

    /// To a `serde_json` value (non-finite floats become `null`: JSON has
    /// no spelling for them).
    pub(crate) fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Int(i) => Value::from(*i),
            Json::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Json::Str(s) => Value::String(s.clone()),
            Json::Array(items) => Value::Array(items.iter().map(Json::to_value).collect()),
            Json::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

/// Why a text is not a token's JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonError {
    /// Byte offset in the text.
    pub(crate) offset: usize,
    pub(crate) message: &'static str,
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

/// Parses one JSON value (whitespace around it allowed, nothing else), nested
/// at most `max_depth` arrays and objects deep.
pub(crate) fn parse(text: &str, max_depth: usize) -> Result<Json, JsonError> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        text,
        pos: 0,
        max_depth,
    };
    parser.skip_ws();
    let value = parser.value(0)?;
    parser.skip_ws();
    if parser.pos != parser.bytes.len() {
        return Err(parser.error("extra data after the value"));
    }
    Ok(value)
}

struct Parser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
    max_depth: usize,
}

impl Parser<'_> {
    fn error(&self, message: &'static str) -> JsonError {
        JsonError {
            offset: self.pos,
            message,
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, literal: &str) -> bool {
        if self.bytes[self.pos..].starts_with(literal.as_bytes()) {
            self.pos += literal.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        match self.bytes.get(self.pos) {
            None => Err(self.error("expected a value")),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b'n') if self.eat("null") => Ok(Json::Null),
            Some(b't') if self.eat("true") => Ok(Json::Bool(true)),
            Some(b'f') if self.eat("false") => Ok(Json::Bool(false)),
            Some(b'N') if self.eat("NaN") => Ok(Json::Float(f64::NAN)),
            Some(b'I') if self.eat("Infinity") => Ok(Json::Float(f64::INFINITY)),
            Some(b'-') if self.eat("-Infinity") => Ok(Json::Float(f64::NEG_INFINITY)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected a value")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, JsonError> {
        if depth > self.max_depth {
            return Err(self.error("nested too deep"));
        }
        self.pos += 1;
        let mut members: Vec<(String, Json)> = Vec::new();
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b'"') {
                return Err(self.error("expected a string key"));
            }
            let key_at = self.pos;
            let key = self.string()?;
            if members.iter().any(|(k, _)| *k == key) {
                return Err(JsonError {
                    offset: key_at,
                    message: "duplicate key",
                });
            }
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b':') {
                return Err(self.error("expected ':'"));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value(depth)?;
            members.push((key, value));
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, JsonError> {
        if depth > self.max_depth {
            return Err(self.error("nested too deep"));
        }
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    /// Python's number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`;
    /// an integer unless it has a fraction or an exponent.
    fn number(&mut self) -> Result<Json, JsonError> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let from = p.pos;
            while let Some(b'0'..=b'9') = p.bytes.get(p.pos) {
                p.pos += 1;
            }
            p.pos - from
        };
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match self.bytes.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(self.error("expected a value")),
        }
        let mut float = false;
        if self.bytes.get(self.pos) == Some(&b'.')
            && matches!(self.bytes.get(self.pos + 1), Some(b'0'..=b'9'))
        {
            self.pos += 1;
            digits(self);
            float = true;
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            let mark = self.pos;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                // Python stops the number before a bare `e`; what follows is
                // then extra data, refused by the caller.
                self.pos = mark;
            } else {
                float = true;
            }
        }
        let text = &self.text[start..self.pos];
        if float {
            text.parse::<f64>()
                .map(Json::Float)
                .map_err(|_| self.error("invalid number"))
        } else {
            text.parse::<i64>().map(Json::Int).map_err(|_| JsonError {
                offset: start,
                message: "integer outside the 64-bit range",
            })
        }
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1; // the opening quote
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while let Some(&b) = self.bytes.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[run_start..self.pos]);
            match self.bytes.get(self.pos) {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escaped = match self.bytes.get(self.pos) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let unit = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&unit) {
                                if !self.eat("\\u") {
                                    return Err(self.error("lone surrogate"));
                                }
                                let low = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&low) {
                                    return Err(self.error("lone surrogate"));
                                }
                                0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&unit) {
                                return Err(self.error("lone surrogate"));
                            } else {
                                unit
                            };
                            out.push(
                                char::from_u32(c).ok_or_else(|| self.error("lone surrogate"))?,
                            );
                            continue;
                        }
                        _ => return Err(self.error("invalid escape")),
                    };
                    self.pos += 1;
                    out.push(escaped);
                }
                Some(_) => return Err(self.error("control character in a string")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error("invalid \\u escape"))?;
        let mut value = 0u32;
        for &d in digits {
            let v = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.error("invalid \\u escape"))?;
            value = value * 16 + v;
        }
        self.pos += 4;
        Ok(value)
    }
}

/// Which of Python's two `json.dumps` layouts to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// `separators=(",", ":")`: the signed bytes.
    Compact,
    /// The defaults, `", "` and `": "`: the token's transport form.
    Spaced,
}

impl Layout {
    fn comma(self) -> &'static str {
        match self {
            Layout::Compact => ",",
            Layout::Spaced => ", ",
        }
    }
    fn colon(self) -> &'static str {
        match self {
            Layout::Compact => ":",
            Layout::Spaced => ": ",
        }
    }
}

/// Writes `value` as Python's `json.dumps(value, sort_keys=True)` in `layout`.
pub(crate) fn write(out: &mut String, value: &Json, layout: Layout) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(true) => out.push_str("true"),
        Json::Bool(false) => out.push_str("false"),
        Json::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Json::Float(f) => write_float(out, *f),
        Json::Str(s) => write_str(out, s),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(layout.comma());
                }
                write(out, item, layout);
            }
            out.push(']');
        }
        Json::Object(members) => {
            let mut sorted: Vec<&(String, Json)> = members.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            out.push('{');
            for (i, (key, item)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(layout.comma());
                }
                write_str(out, key);
                out.push_str(layout.colon());
                write(out, item, layout);
            }
            out.push('}');
        }
    }
}

/// A JSON string as `json.dumps` writes it with `ensure_ascii=True`.
pub(crate) fn write_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let plain = s
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\');
    if plain {
        out.push_str(s);
    } else {
        for c in s.chars() {
            escape_char(out, c);
        }
    }
    out.push('"');
}

fn escape_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        ' '..='~' => out.push(c),
        _ => {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{:04x}", unit);
            }
        }
    }
}

/// A float as `json.dumps` writes it.
pub(crate) fn write_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
    } else if f == f64::INFINITY {
        out.push_str("Infinity");
    } else if f == f64::NEG_INFINITY {
        out.push_str("-Infinity");
    } else {
        push_repr(out, f);
    }
}

/// Python's `repr(float)` (also `str(float)`): `inf`, `nan`, `1e+16`, `0.0001`.
pub(crate) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let mut out = String::new();
    push_repr(&mut out, f);
    out
}

/// The finite case of `repr(float)`: the shortest digits that round-trip
/// (Rust's `{:e}` finds the same ones as Python's `dtoa` mode 0), laid out as
/// CPython's `format_float_short` does for `'r'`: scientific when the decimal
/// point would sit more than 16 places right of the first digit or 4 or more
/// places left of it.
fn push_repr(out: &mut String, f: f64) {
    let sci = format!("{:e}", f);
    let (mantissa, exponent) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` writes a decimal exponent");
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let decpt = exponent + 1;
    if negative {
        out.push('-');
    }
    if decpt <= -4 || decpt > 16 {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = decpt - 1;
        let _ = write!(out, "e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    } else if decpt <= 0 {
        out.push_str("0.");
        for _ in 0..-decpt {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let decpt = decpt as usize;
        if decpt >= digits.len() {
            out.push_str(&digits);
            for _ in digits.len()..decpt {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            out.push_str(&digits[..decpt]);
            out.push('.');
            out.push_str(&digits[decpt..]);
        }
    }
}

/// Arguments nested deeper than this are refused (`json.dumps` would recurse
/// until Python's recursion limit).
pub(crate) const MAX_ARG_DEPTH: usize = 64;

/// An argument nested deeper than [`MAX_ARG_DEPTH`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooDeep;

/// Writes a call argument (a `serde_json` value) as the compact, sorted JSON
/// of Python's PoP challenge. `serde_json` keeps integers (`u64`, `i64`)
/// apart from floats, as Python does.
pub(crate) fn write_arg(
    out: &mut String,
    value: &serde_json::Value,
    depth: usize,
) -> Result<(), TooDeep> {
    use serde_json::Value;
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            if depth >= MAX_ARG_DEPTH {
                return Err(TooDeep);
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_arg(out, item, depth + 1)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            if depth >= MAX_ARG_DEPTH {
                return Err(TooDeep);
            }
            write_arg_map(out, map, depth + 1)?;
        }
    }
    Ok(())
}

/// Writes an object of arguments with its keys sorted.
pub(crate) fn write_arg_map(
    out: &mut String,
    map: &serde_json::Map<String, serde_json::Value>,
    depth: usize,
) -> Result<(), TooDeep> {
    let mut entries: Vec<(&String, &serde_json::Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (i, (key, item)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, key);
        out.push(':');
        write_arg(out, item, depth)?;
    }
    out.push('}');
    Ok(())
}

fn write_number(out: &mut String, n: &serde_json::Number) {
    if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(f) = n.as_f64() {
        write_float(out, f);
    }
}

/// Python's `str(value)` for a scalar argument, which is what the string
/// constraints compare; `None` for arrays and objects (whose `str` is a
/// Python `repr` this crate does not reproduce: they satisfy no constraint
/// but [`Wildcard`](super::Constraint::Wildcard)).
pub(crate) fn py_str(value: &serde_json::Value) -> Option<Cow<'_, str>> {
    use serde_json::Value;
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Null => Some(Cow::Borrowed("None")),
        Value::Bool(true) => Some(Cow::Borrowed("True")),
        Value::Bool(false) => Some(Cow::Borrowed("False")),
        Value::Number(n) => Some(Cow::Owned(if let Some(u) = n.as_u64() {
            u.to_string()
        } else if let Some(i) = n.as_i64() {
            i.to_string()
        } else {
            float_repr(n.as_f64().unwrap_or(f64::NAN))
        })),
        Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dump(v: &Json) -> String {
        let mut s = String::new();
        write(&mut s, v, Layout::Compact);
        s
    }

    #[test]
    fn float_repr_matches_python_on_the_boundaries() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (9999999999999998.0, "9999999999999998.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (0.1, "0.1"),
            (2.5, "2.5"),
            (1e100, "1e+100"),
            (-12.75, "-12.75"),
        ];
        for (f, want) in cases {
            assert_eq!(float_repr(*f), *want, "{f:e}");
        }
        assert_eq!(float_repr(f64::INFINITY), "inf");
        assert_eq!(float_repr(f64::NAN), "nan");
        let mut s = String::new();
        write_float(&mut s, f64::NEG_INFINITY);
        assert_eq!(s, "-Infinity");
    }

    #[test]
    fn strings_are_escaped_as_ensure_ascii_does() {
        let mut s = String::new();
        write_str(&mut s, "\u{7f}\u{1f}\u{2028}é😀\"\\/\t\u{8}\u{c}\n\r");
        assert_eq!(
            s,
            r#""\u007f\u001f\u2028\u00e9\ud83d\ude00\"\\/\t\b\f\n\r""#
        );
    }

    #[test]
    fn objects_are_written_with_sorted_keys_in_both_layouts() {
        let v = parse(r#"{"b": [1, 2.0, null], "a": {"z": true, "é": "x"}}"#, 8).unwrap();
        assert_eq!(
            dump(&v),
            r#"{"a":{"z":true,"\u00e9":"x"},"b":[1,2.0,null]}"#
        );
        let mut spaced = String::new();
        write(&mut spaced, &v, Layout::Spaced);
        assert_eq!(
            spaced,
            r#"{"a": {"z": true, "\u00e9": "x"}, "b": [1, 2.0, null]}"#
        );
    }

    #[test]
    fn the_reader_keeps_integers_and_floats_apart_and_reads_python_specials() {
        let v = parse("[1, -0, 1.0, 1e2, 1E+2, NaN, Infinity, -Infinity]", 4).unwrap();
        let Json::Array(items) = v else { panic!() };
        assert_eq!(items[0], Json::Int(1));
        assert_eq!(items[1], Json::Int(0));
        assert_eq!(items[2], Json::Float(1.0));
        assert_eq!(items[3], Json::Float(100.0));
        assert_eq!(items[4], Json::Float(100.0));
        assert!(matches!(items[5], Json::Float(f) if f.is_nan()));
        assert_eq!(items[6], Json::Float(f64::INFINITY));
        assert_eq!(items[7], Json::Float(f64::NEG_INFINITY));
    }

    #[test]
    fn the_reader_refuses_what_would_make_one_text_mean_two_things() {
        for bad in [
            r#"{"a": 1, "a": 2}"#,
            r#""\ud800""#,
            r#""\udc00x""#,
            r#""\ud800\u0041""#,
            "99999999999999999999",
            "\"a\u{1}\"",
            "01",
            "1.",
            ".5",
            "[1,]",
            "{\"a\":1,}",
            "\u{feff}{}",
            "{} x",
            "'a'",
            "\"\\x41\"",
            "tru",
            "-",
            "1e",
        ] {
            assert!(parse(bad, 8).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            parse(r#""\ud83d\ude00""#, 1).unwrap(),
            Json::Str("😀".into())
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}{}", "[".repeat(9), "]".repeat(9));
        assert!(parse(&deep, 8).is_err());
        let ok = format!("{}{}", "[".repeat(8), "]".repeat(8));
        assert!(parse(&ok, 8).is_ok());
        let very_deep = "[".repeat(1_000_000);
        assert!(parse(&very_deep, 8).is_err());
    }

    #[test]
    fn arguments_are_written_sorted_compact_and_bounded_in_depth() {
        let args =
            serde_json::json!({"z": 1, "a": [1.5, "é", {"y": null, "b": u64::MAX}], "m": -3});
        let mut s = String::new();
        write_arg(&mut s, &args, 0).unwrap();
        assert_eq!(
            s,
            r#"{"a":[1.5,"\u00e9",{"b":18446744073709551615,"y":null}],"m":-3,"z":1}"#
        );
        let mut deep = serde_json::Value::Null;
        for _ in 0..(MAX_ARG_DEPTH + 1) {
            deep = serde_json::Value::Array(vec![deep]);
        }
        assert_eq!(write_arg(&mut String::new(), &deep, 0), Err(TooDeep));
    }

    #[test]
    fn python_str_of_scalars() {
        use serde_json::json;
        assert_eq!(py_str(&json!("x")).unwrap(), "x");
        assert_eq!(py_str(&json!(null)).unwrap(), "None");
        assert_eq!(py_str(&json!(true)).unwrap(), "True");
        assert_eq!(py_str(&json!(3)).unwrap(), "3");
        assert_eq!(py_str(&json!(3.0)).unwrap(), "3.0");
        assert_eq!(py_str(&json!(1e16)).unwrap(), "1e+16");
        assert!(py_str(&json!([1])).is_none());
    }

    proptest! {
        #[test]
        fn every_finite_float_round_trips_through_its_repr(bits in any::<u64>()) {
            let f = f64::from_bits(bits);
            prop_assume!(f.is_finite());
            let repr = float_repr(f);
            prop_assert_eq!(repr.parse::<f64>().unwrap().to_bits(), f.to_bits());
            prop_assert!(repr.contains('.') || repr.contains('e'));
        }

        #[test]
        fn written_strings_read_back_unchanged(s in any::<String>()) {
            let mut out = String::new();
            write_str(&mut out, &s);
            prop_assert!(out.is_ascii());
            prop_assert_eq!(parse(&out, 1).unwrap(), Json::Str(s));
        }

        #[test]
        fn the_reader_never_panics(s in any::<String>()) {
            let _ = parse(&s, 16);
        }

        #[test]
        fn the_reader_never_panics_on_json_like_text(s in "[\\[\\]{}\":,0-9eE.+\\-a-z\\\\ ]{0,64}") {
            let _ = parse(&s, 16);
        }
    }
}
