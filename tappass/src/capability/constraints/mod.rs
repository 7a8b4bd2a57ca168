//! Argument constraints: the Python SDK's `tappass.constraints`, with
//! `satisfies` (does a value pass?) and `contains` (is a delegated
//! constraint at most as wide?).
//!
//! Each type reads its value as Python does (`str(value)` for the string
//! constraints, `float(value)` for [`Range`]) and answers as Python answers,
//! except where the module documentation of [`capability`](super) lists a
//! stricter answer.

mod glob;
mod net;
mod number;
mod path;
mod pyregex;
mod shell;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use serde_json::Value;

use super::canonical::{py_str, Json};
use super::errors::ConstraintError;
pub use number::Number;

/// One argument constraint. The variants are the Python SDK's classes; the
/// wire form (`{"type": "subpath", "root": "/data"}`) is theirs too.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Constraint {
    /// `{"type": "wildcard"}`: any value.
    Wildcard,
    /// `{"type": "exact", "value": …}`
    Exact(Exact),
    /// `{"type": "pattern", "glob": …}`
    Pattern(Pattern),
    /// `{"type": "range", "min": …, "max": …}`
    Range(Range),
    /// `{"type": "one_of", "values": […]}`
    OneOf(OneOf),
    /// `{"type": "not_one_of", "values": […]}`
    NotOneOf(NotOneOf),
    /// `{"type": "subpath", "root": …, "case_sensitive": false}`
    Subpath(Subpath),
    /// `{"type": "url_safe", …}`
    UrlSafe(UrlSafe),
    /// `{"type": "shlex", "allow": […], "block_globs": true}`
    Shlex(Shlex),
    /// `{"type": "cidr", "network": …}`
    Cidr(Cidr),
    /// `{"type": "url_pattern", "pattern": …}`
    UrlPattern(UrlPattern),
    /// `{"type": "regex", "pattern": …}`
    Regex(Regex),
    /// `{"type": "cel", "expression": …}`
    Cel(Cel),
}

/// Python's `repr` of a string, near enough for messages.
fn quoted(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn quoted_list(values: &[String]) -> String {
    let items: Vec<String> = values.iter().map(|v| quoted(v)).collect();
    format!("[{}]", items.join(", "))
}

impl fmt::Display for Constraint {
    /// As Python's `repr` of the constraint: `Subpath('/data')`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Constraint::Wildcard => f.write_str("Wildcard()"),
            Constraint::Exact(c) => write!(f, "Exact({})", quoted(&c.value)),
            Constraint::Pattern(c) => write!(f, "Pattern({})", quoted(&c.glob)),
            Constraint::Range(c) => {
                let mut parts = Vec::new();
                if let Some(min) = c.min {
                    parts.push(format!("min={min}"));
                }
                if let Some(max) = c.max {
                    parts.push(format!("max={max}"));
                }
                write!(f, "Range({})", parts.join(", "))
            }
            Constraint::OneOf(c) => write!(f, "OneOf({})", quoted_list(&c.values)),
            Constraint::NotOneOf(c) => write!(f, "NotOneOf({})", quoted_list(&c.values)),
            Constraint::Subpath(c) => write!(f, "Subpath({})", quoted(&c.root)),
            Constraint::UrlSafe(c) => {
                if c.allow_domains.is_empty() {
                    f.write_str("UrlSafe()")
                } else {
                    write!(
                        f,
                        "UrlSafe(allow_domains={})",
                        quoted_list(&c.allow_domains)
                    )
                }
            }
            Constraint::Shlex(c) => write!(f, "Shlex(allow={})", quoted_list(&c.allow)),
            Constraint::Cidr(c) => write!(f, "Cidr({})", quoted(&c.network)),
            Constraint::UrlPattern(c) => write!(f, "UrlPattern({})", quoted(&c.pattern)),
            Constraint::Regex(c) => write!(f, "Regex({})", quoted(&c.pattern)),
            Constraint::Cel(c) => write!(f, "CEL({})", quoted(&c.expression)),
        }
    }
}

impl Constraint {
    /// Whether `value` (a call argument) satisfies the constraint.
    pub fn satisfies(&self, value: &Value) -> bool {
        match self {
            Constraint::Wildcard => true,
            Constraint::Exact(c) => py_str(value).is_some_and(|s| *s == c.value),
            Constraint::Pattern(c) => py_str(value).is_some_and(|s| c.compiled.matches(&s)),
            Constraint::Range(c) => c.satisfies(value),
            Constraint::OneOf(c) => {
                py_str(value).is_some_and(|s| c.values.iter().any(|v| *v == *s))
            }
            Constraint::NotOneOf(c) => {
                py_str(value).is_some_and(|s| !c.values.iter().any(|v| *v == *s))
            }
            Constraint::Subpath(c) => py_str(value).is_some_and(|s| c.satisfies_str(&s)),
            Constraint::UrlSafe(c) => py_str(value).is_some_and(|s| c.satisfies_str(&s)),
            Constraint::Shlex(c) => py_str(value).is_some_and(|s| c.satisfies_str(&s)),
            Constraint::Cidr(c) => py_str(value)
                .is_some_and(|s| net::ip_address(&s).is_some_and(|ip| c.net.contains(ip))),
            Constraint::UrlPattern(c) => py_str(value).is_some_and(|s| c.satisfies_str(&s)),
            Constraint::Regex(c) => py_str(value).is_some_and(|s| c.satisfies_str(&s)),
            // Python without `celpy` (which the SDK does not depend on) denies.
            Constraint::Cel(_) => false,
        }
    }

    /// Whether every value that satisfies `child` satisfies `self`: the
    /// check that a delegated token only narrows.
    ///
    /// The Python SDK's rules, with its unsound cases refused: a `Pattern`
    /// contains another only when that is certain from their literal
    /// prefix or suffix (Python also accepts `*@sub.x.com` under `*@x.com`,
    /// and `a*` under `a?`), a case-sensitive `Subpath` does not contain a
    /// case-insensitive one, a `Shlex` that blocks globs does not contain
    /// one that allows them.
    pub fn contains(&self, child: &Constraint) -> bool {
        use Constraint as C;
        if let C::Wildcard = self {
            return true;
        }
        if let C::Exact(e) = child {
            return match self {
                C::Exact(p) => p.value == e.value,
                C::Cel(_) => false,
                parent => parent.satisfies(&Value::String(e.value.clone())),
            };
        }
        match (self, child) {
            (C::Pattern(p), C::Pattern(c)) => {
                if p.glob == c.glob {
                    return true;
                }
                if let Some(prefix) = p.compiled.literal_prefix_then_star() {
                    if c.compiled.leading_literals().starts_with(&prefix) {
                        return true;
                    }
                }
                if let Some(suffix) = p.compiled.star_then_literal_suffix() {
                    if c.compiled.trailing_literals().ends_with(&suffix) {
                        return true;
                    }
                }
                false
            }
            (C::Range(p), C::Range(c)) => {
                let bound_ok = |parent: Option<Number>, child: Option<Number>, lower: bool| match (
                    parent, child,
                ) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some(p), Some(c)) => match compare_numbers(c, p) {
                        Some(std::cmp::Ordering::Less) => !lower,
                        Some(std::cmp::Ordering::Greater) => lower,
                        Some(std::cmp::Ordering::Equal) => true,
                        None => false,
                    },
                };
                bound_ok(p.min, c.min, true) && bound_ok(p.max, c.max, false)
            }
            (C::OneOf(p), C::OneOf(c)) => c.values.iter().all(|v| p.values.contains(v)),
            (C::NotOneOf(p), C::NotOneOf(c)) => p.values.iter().all(|v| c.values.contains(v)),
            (C::Subpath(p), C::Subpath(c)) => {
                if p.case_sensitive && !c.case_sensitive {
                    return false;
                }
                let fold = |s: String| {
                    if p.case_sensitive {
                        s
                    } else {
                        s.to_ascii_lowercase()
                    }
                };
                let parent_root = fold(path::normpath(&p.root));
                let child_root = fold(path::normpath(&c.root));
                child_root == parent_root || child_root.starts_with(&format!("{parent_root}/"))
            }
            (C::UrlSafe(p), C::UrlSafe(c)) => {
                c.allow_schemes.iter().all(|s| p.allow_schemes.contains(s))
                    && (!p.block_private || c.block_private)
                    && (!p.block_loopback || c.block_loopback)
                    && (!p.block_metadata || c.block_metadata)
                    && (p.allow_domains.is_empty()
                        || (!c.allow_domains.is_empty()
                            && c.allow_domains.iter().all(|d| p.allow_domains.contains(d))))
            }
            (C::Shlex(p), C::Shlex(c)) => {
                c.allow.iter().all(|a| p.allow.contains(a)) && (!p.block_globs || c.block_globs)
            }
            (C::Cidr(p), C::Cidr(c)) => {
                p.net.v6 == c.net.v6 && c.net.addr >= p.net.addr && c.net.last() <= p.net.last()
            }
            (C::UrlPattern(p), C::UrlPattern(c)) => p.pattern == c.pattern,
            (C::Regex(p), C::Regex(c)) => p.pattern == c.pattern,
            // A CEL constraint is never satisfied here, so any CEL child is
            // narrower; the Python SDK's syntactic rule is kept.
            (C::Cel(p), C::Cel(c)) => {
                c.expression == p.expression
                    || c.expression.starts_with(&format!("({}) && ", p.expression))
            }
            _ => false,
        }
    }

    /// Reads the Python SDK's dictionary form, `{"type": "subpath", "root":
    /// "/data"}` (as policies and tokens carry it), strictly: known keys
    /// only, each of the type the SDK writes.
    pub fn from_dict(dict: &Value) -> Result<Constraint, ConstraintError> {
        let json = Json::from_value(dict).map_err(ConstraintError)?;
        Constraint::from_json(&json).map_err(ConstraintError)
    }

    /// The dictionary form, as the SDK's `to_dict()` (an infinite `Range`
    /// bound, which JSON cannot spell, becomes `null`).
    pub fn to_dict(&self) -> Value {
        self.to_json().to_value()
    }

    /// The wire form, as Python's `to_dict()`.
    pub(crate) fn to_json(&self) -> Json {
        let s = |v: &str| Json::Str(v.to_owned());
        let list = |vs: &[String]| Json::Array(vs.iter().map(|v| s(v)).collect());
        let num = |n: Number| match n {
            Number::Int(i) => Json::Int(i),
            Number::Float(f) => Json::Float(f),
        };
        let mut m: Vec<(String, Json)> = Vec::new();
        let mut put = |k: &str, v: Json| m.push((k.to_owned(), v));
        match self {
            Constraint::Wildcard => put("type", s("wildcard")),
            Constraint::Exact(c) => {
                put("type", s("exact"));
                put("value", s(&c.value));
            }
            Constraint::Pattern(c) => {
                put("type", s("pattern"));
                put("glob", s(&c.glob));
            }
            Constraint::Range(c) => {
                put("type", s("range"));
                if let Some(min) = c.min {
                    put("min", num(min));
                }
                if let Some(max) = c.max {
                    put("max", num(max));
                }
            }
            Constraint::OneOf(c) => {
                put("type", s("one_of"));
                put("values", list(&c.values));
            }
            Constraint::NotOneOf(c) => {
                put("type", s("not_one_of"));
                put("values", list(&c.values));
            }
            Constraint::Subpath(c) => {
                put("type", s("subpath"));
                put("root", s(&c.root));
                if !c.case_sensitive {
                    put("case_sensitive", Json::Bool(false));
                }
            }
            Constraint::UrlSafe(c) => {
                put("type", s("url_safe"));
                if c.allow_schemes != ["http", "https"] {
                    put("allow_schemes", list(&c.allow_schemes));
                }
                if !c.allow_domains.is_empty() {
                    put("allow_domains", list(&c.allow_domains));
                }
                put("block_private", Json::Bool(c.block_private));
                put("block_loopback", Json::Bool(c.block_loopback));
                put("block_metadata", Json::Bool(c.block_metadata));
            }
            Constraint::Shlex(c) => {
                put("type", s("shlex"));
                put("allow", list(&c.allow));
                if c.block_globs {
                    put("block_globs", Json::Bool(true));
                }
            }
            Constraint::Cidr(c) => {
                put("type", s("cidr"));
                put("network", s(&c.network));
            }
            Constraint::UrlPattern(c) => {
                put("type", s("url_pattern"));
                put("pattern", s(&c.pattern));
            }
            Constraint::Regex(c) => {
                put("type", s("regex"));
                put("pattern", s(&c.pattern));
            }
            Constraint::Cel(c) => {
                put("type", s("cel"));
                put("expression", s(&c.expression));
            }
        }
        Json::Object(m)
    }

    /// Reads the wire form strictly: known keys only, each of the type
    /// Python writes (Python ignores unknown keys and coerces some types,
    /// which the signature then does not cover).
    pub(crate) fn from_json(v: &Json) -> Result<Constraint, String> {
        let Json::Object(members) = v else {
            return Err(format!("a constraint is an object, not {}", v.kind()));
        };
        let ty = match v.get("type") {
            Some(Json::Str(t)) => t.as_str(),
            Some(other) => return Err(format!("constraint `type` is {}", other.kind())),
            None => return Err("a constraint without `type`".into()),
        };
        let allowed: &[&str] = match ty {
            "wildcard" => &[],
            "exact" => &["value"],
            "pattern" => &["glob"],
            "range" => &["min", "max"],
            "one_of" | "not_one_of" => &["values"],
            "subpath" => &["root", "case_sensitive"],
            "url_safe" => &[
                "allow_schemes",
                "allow_domains",
                "block_private",
                "block_loopback",
                "block_metadata",
            ],
            "shlex" => &["allow", "block_globs"],
            "cidr" => &["network"],
            "url_pattern" | "regex" => &["pattern"],
            "cel" => &["expression"],
            other => {
                return Err(format!(
                    "unknown constraint type {}",
                    quoted(&other.chars().take(64).collect::<String>())
                ))
            }
        };
        if let Some((k, _)) = members
            .iter()
            .find(|(k, _)| k != "type" && !allowed.contains(&k.as_str()))
        {
            return Err(format!(
                "unknown key {} in a {ty} constraint",
                quoted(&k.chars().take(64).collect::<String>())
            ));
        }
        let string = |key: &str| -> Result<String, String> {
            match v.get(key) {
                Some(Json::Str(s)) => Ok(s.clone()),
                Some(other) => Err(format!("`{key}` of a {ty} constraint is {}", other.kind())),
                None => Err(format!("a {ty} constraint without `{key}`")),
            }
        };
        let strings = |key: &str, default: Option<&[&str]>| -> Result<Vec<String>, String> {
            match v.get(key) {
                Some(Json::Array(items)) => items
                    .iter()
                    .map(|i| match i {
                        Json::Str(s) => Ok(s.clone()),
                        other => Err(format!(
                            "`{key}` of a {ty} constraint holds {}",
                            other.kind()
                        )),
                    })
                    .collect(),
                Some(other) => Err(format!("`{key}` of a {ty} constraint is {}", other.kind())),
                None => match default {
                    Some(d) => Ok(d.iter().map(|s| s.to_string()).collect()),
                    None => Err(format!("a {ty} constraint without `{key}`")),
                },
            }
        };
        let boolean = |key: &str, default: bool| -> Result<bool, String> {
            match v.get(key) {
                Some(Json::Bool(b)) => Ok(*b),
                Some(other) => Err(format!("`{key}` of a {ty} constraint is {}", other.kind())),
                None => Ok(default),
            }
        };
        let number = |key: &str| -> Result<Option<Number>, String> {
            match v.get(key) {
                None | Some(Json::Null) => Ok(None),
                Some(Json::Int(i)) => Ok(Some(Number::Int(*i))),
                Some(Json::Float(f)) if f.is_nan() => {
                    Err(format!("`{key}` of a range constraint is NaN"))
                }
                Some(Json::Float(f)) => Ok(Some(Number::Float(*f))),
                Some(other) => Err(format!("`{key}` of a range constraint is {}", other.kind())),
            }
        };
        let e = |r: Result<Constraint, ConstraintError>| r.map_err(|e| e.0);
        Ok(match ty {
            "wildcard" => Constraint::Wildcard,
            "exact" => Constraint::Exact(Exact::new(string("value")?)),
            "pattern" => Constraint::Pattern(Pattern::new(string("glob")?)),
            "range" => e(Range::new(number("min")?, number("max")?).map(Constraint::Range))?,
            "one_of" => Constraint::OneOf(OneOf::new(strings("values", None)?)),
            "not_one_of" => Constraint::NotOneOf(NotOneOf::new(strings("values", None)?)),
            "subpath" => {
                let sub = e(Subpath::new(string("root")?).map(Constraint::Subpath))?;
                match sub {
                    Constraint::Subpath(s) if !boolean("case_sensitive", true)? => {
                        Constraint::Subpath(s.case_insensitive())
                    }
                    other => other,
                }
            }
            "url_safe" => Constraint::UrlSafe(UrlSafe {
                allow_schemes: strings("allow_schemes", Some(&["http", "https"]))?,
                allow_domains: strings("allow_domains", Some(&[]))?,
                block_private: boolean("block_private", true)?,
                block_loopback: boolean("block_loopback", true)?,
                block_metadata: boolean("block_metadata", true)?,
            }),
            "shlex" => {
                let shlex = e(Shlex::new(strings("allow", None)?).map(Constraint::Shlex))?;
                match shlex {
                    Constraint::Shlex(s) => {
                        Constraint::Shlex(s.block_globs(boolean("block_globs", false)?))
                    }
                    other => other,
                }
            }
            "cidr" => e(Cidr::new(string("network")?).map(Constraint::Cidr))?,
            "url_pattern" => Constraint::UrlPattern(UrlPattern::new(string("pattern")?)),
            "regex" => e(Regex::new(string("pattern")?).map(Constraint::Regex))?,
            "cel" => Constraint::Cel(Cel::new(string("expression")?)),
            _ => unreachable!("types are checked above"),
        })
    }
}

/// Compares two bounds exactly (an int with a float as Python does).
fn compare_numbers(a: Number, b: Number) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Number::Int(x), Number::Int(y)) => Some(x.cmp(&y)),
        (Number::Float(x), other) => other.compare(x),
        (Number::Int(x), Number::Float(y)) => Number::Int(x).compare(y).map(|o| o.reverse()),
    }
}

macro_rules! into_constraint {
    ($($t:ident),*) => {$(
        impl From<$t> for Constraint {
            fn from(c: $t) -> Self {
                Constraint::$t(c)
            }
        }
    )*};
}
into_constraint!(
    Exact, Pattern, Range, OneOf, NotOneOf, Subpath, UrlSafe, Shlex, Cidr, UrlPattern, Regex, Cel
);

/// Exactly one string: `str(value) == value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exact {
    value: String,
}

impl Exact {
    /// The constraint.
    pub fn new(value: impl Into<String>) -> Self {
        Exact {
            value: value.into(),
        }
    }
    /// The one value.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// A shell-style glob (`fnmatch`): `*`, `?`, `[abc]`, `[!a-z]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    glob: String,
    compiled: glob::Glob,
}

impl Pattern {
    /// The constraint.
    pub fn new(glob: impl Into<String>) -> Self {
        let glob = glob.into();
        Pattern {
            compiled: glob::Glob::new(&glob),
            glob,
        }
    }
    /// The glob.
    pub fn glob(&self) -> &str {
        &self.glob
    }
}

/// Numeric bounds on `float(value)`, inclusive.
///
/// Stricter than Python: NaN (`"nan"`) satisfies no range (Python's
/// comparisons with NaN are all false, so NaN passes any range there), and a
/// NaN bound is refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    min: Option<Number>,
    max: Option<Number>,
}

impl Range {
    /// The constraint; a NaN bound is refused.
    pub fn new(min: Option<Number>, max: Option<Number>) -> Result<Self, ConstraintError> {
        let nan = |n: Option<Number>| matches!(n, Some(Number::Float(f)) if f.is_nan());
        if nan(min) || nan(max) {
            return Err(ConstraintError("a range bound is NaN".into()));
        }
        Ok(Range { min, max })
    }
    /// `min <= value <= max`.
    pub fn between(
        min: impl Into<Number>,
        max: impl Into<Number>,
    ) -> Result<Self, ConstraintError> {
        Self::new(Some(min.into()), Some(max.into()))
    }
    /// `value <= max`.
    pub fn at_most(max: impl Into<Number>) -> Result<Self, ConstraintError> {
        Self::new(None, Some(max.into()))
    }
    /// `min <= value`.
    pub fn at_least(min: impl Into<Number>) -> Result<Self, ConstraintError> {
        Self::new(Some(min.into()), None)
    }
    /// The lower bound.
    pub fn min(&self) -> Option<Number> {
        self.min
    }
    /// The upper bound.
    pub fn max(&self) -> Option<Number> {
        self.max
    }

    fn satisfies(&self, value: &Value) -> bool {
        use std::cmp::Ordering::{Greater, Less};
        let Some(v) = number::py_float(value) else {
            return false;
        };
        if v.is_nan() {
            return false;
        }
        // `compare` orders the value against the bound.
        !(self.min.is_some_and(|min| min.compare(v) == Some(Less))
            || self.max.is_some_and(|max| max.compare(v) == Some(Greater)))
    }
}

fn sorted(values: impl IntoIterator<Item = impl Into<String>>) -> Vec<String> {
    let mut v: Vec<String> = values.into_iter().map(Into::into).collect();
    v.sort();
    v
}

/// One of a set of strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneOf {
    values: Vec<String>,
}

impl OneOf {
    /// The constraint (the values are kept sorted, as Python keeps them).
    pub fn new(values: impl IntoIterator<Item = impl Into<String>>) -> Self {
        OneOf {
            values: sorted(values),
        }
    }
    /// The values, sorted.
    pub fn values(&self) -> &[String] {
        &self.values
    }
}

/// None of a set of strings. Stricter than Python: a list or object
/// argument does not satisfy it (Python compares its `repr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotOneOf {
    values: Vec<String>,
}

impl NotOneOf {
    /// The constraint (values kept sorted).
    pub fn new(values: impl IntoIterator<Item = impl Into<String>>) -> Self {
        NotOneOf {
            values: sorted(values),
        }
    }
    /// The excluded values, sorted.
    pub fn values(&self) -> &[String] {
        &self.values
    }
}

/// A path inside a root directory, judged lexically (no file system).
///
/// As Python: absolute paths only, no NUL, `posixpath.normpath` before
/// comparing. Stricter: no `..` component at all (a symbolic link inside
/// the root can make `link/..` leave it, which no lexical check sees), no
/// backslash, no control character, no percent-encoded `.`, `/` or `\`
/// (`%2e`, `%2f`, `%5c`, which a later decoding would turn into a
/// traversal), and a case-insensitive root compares ASCII letters only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subpath {
    root: String,
    case_sensitive: bool,
}

impl Subpath {
    /// The constraint; the root must be absolute (Python raises otherwise).
    pub fn new(root: impl Into<String>) -> Result<Self, ConstraintError> {
        let root = root.into();
        if !root.starts_with('/') {
            return Err(ConstraintError(format!(
                "Subpath root must be absolute: {}",
                quoted(&root)
            )));
        }
        Ok(Subpath {
            root,
            case_sensitive: true,
        })
    }
    /// The same root, compared without regard to ASCII case.
    pub fn case_insensitive(mut self) -> Self {
        self.case_sensitive = false;
        self
    }
    /// The root.
    pub fn root(&self) -> &str {
        &self.root
    }
    /// Whether the comparison is case-sensitive.
    pub fn is_case_sensitive(&self) -> bool {
        self.case_sensitive
    }

    fn satisfies_str(&self, path: &str) -> bool {
        // Python's checks.
        if path.contains('\0') || !path.starts_with('/') {
            return false;
        }
        // The stricter ones.
        if path.contains('\\')
            || path.chars().any(|c| c.is_control())
            || path.split('/').any(|c| c == "..")
        {
            return false;
        }
        let lower = path.to_ascii_lowercase();
        if lower.contains("%2e") || lower.contains("%2f") || lower.contains("%5c") {
            return false;
        }
        let mut normalized = path::normpath(path);
        let mut root = path::normpath(&self.root);
        if !self.case_sensitive {
            normalized.make_ascii_lowercase();
            root.make_ascii_lowercase();
        }
        normalized == root || normalized.starts_with(&format!("{root}/"))
    }
}

/// A URL that is safe to fetch from the server side (SSRF).
///
/// As Python: the scheme in `allow_schemes`; no loopback, private or
/// link-local address literal, no `localhost`, no cloud metadata endpoint;
/// the host in `allow_domains` when that is set (`*.example.com` matches the
/// domain and its subdomains). Stricter: the WHATWG URL parser that HTTP
/// clients use must read the same scheme and host as Python's `urlparse`
/// (no backslashes, control characters, spaces or non-ASCII hosts); a host
/// that is an address in any spelling (`2130706433`, `0x7f.1`, `0177.0.0.1`,
/// `127.1`) is judged as that address; `localhost.`, `*.localhost` and the
/// metadata names with a trailing dot are refused; carrier-grade NAT
/// (`100.64.0.0/10`), multicast, IPv6 site-local and IPv4 addresses
/// embedded in IPv6 (mapped, compatible, NAT64, 6to4) are refused as their
/// IPv4 address is. Host names are not resolved: a public name that
/// resolves to a private address passes, as in Python.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlSafe {
    allow_schemes: Vec<String>,
    allow_domains: Vec<String>,
    block_private: bool,
    block_loopback: bool,
    block_metadata: bool,
}

impl Default for UrlSafe {
    fn default() -> Self {
        UrlSafe {
            allow_schemes: vec!["http".into(), "https".into()],
            allow_domains: Vec::new(),
            block_private: true,
            block_loopback: true,
            block_metadata: true,
        }
    }
}

/// Names of cloud metadata endpoints (Python's list).
const METADATA_HOSTS: [&str; 3] = [
    "169.254.169.254",
    "fd00:ec2::254",
    "metadata.google.internal",
];

impl UrlSafe {
    /// The defaults: `http` and `https`, every block on, any domain.
    pub fn new() -> Self {
        Self::default()
    }
    /// The schemes allowed (lowercase; Python compares the lowercased scheme).
    pub fn allow_schemes(mut self, schemes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.allow_schemes = schemes.into_iter().map(Into::into).collect();
        self
    }
    /// Only these hosts (`example.com`, or `*.example.com` for it and its
    /// subdomains).
    pub fn allow_domains(mut self, domains: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.allow_domains = domains.into_iter().map(Into::into).collect();
        self
    }
    /// Whether private addresses are refused (default: yes).
    pub fn block_private(mut self, block: bool) -> Self {
        self.block_private = block;
        self
    }
    /// Whether loopback addresses and `localhost` are refused (default: yes).
    pub fn block_loopback(mut self, block: bool) -> Self {
        self.block_loopback = block;
        self
    }
    /// Whether cloud metadata endpoints are refused (default: yes).
    pub fn block_metadata(mut self, block: bool) -> Self {
        self.block_metadata = block;
        self
    }

    fn blocks(&self) -> net::Blocks {
        net::Blocks {
            private: self.block_private,
            loopback: self.block_loopback,
            metadata: self.block_metadata,
        }
    }

    fn satisfies_str(&self, url: &str) -> bool {
        let Some(parsed) = net::urlparse(url) else {
            return false;
        };
        let Some(host) = self.python_host(&parsed) else {
            return false;
        };
        self.python_verdict(&parsed, &host) && self.strict_verdict(url, &parsed, &host)
    }

    /// Python's `unquote(parsed.hostname or "").lower().strip()`; `None`
    /// for a non-ASCII host (refused here; Python reads it as a name).
    fn python_host(&self, parsed: &net::PyUrl) -> Option<String> {
        let decoded = net::unquote(&parsed.hostname().unwrap_or_default());
        if !decoded.is_ascii() {
            return None;
        }
        Some(net::py_strip(&decoded.to_ascii_lowercase()).to_owned())
    }

    /// `UrlSafe.satisfies` of the Python SDK, step by step.
    fn python_verdict(&self, parsed: &net::PyUrl, hostname: &str) -> bool {
        if !self.allow_schemes.contains(&parsed.scheme) {
            return false;
        }
        if hostname.is_empty() {
            return false;
        }
        if self.block_metadata && METADATA_HOSTS.contains(&hostname) {
            return false;
        }
        if self.block_loopback && (hostname == "localhost" || hostname == "0.0.0.0") {
            return false;
        }
        if let Some(ip) = net::ip_address(hostname) {
            let (loopback, private, link_local) = match ip {
                net::Ip::V4(a) => (
                    net::v4_is_loopback(a),
                    net::v4_is_private(a),
                    net::v4_is_link_local(a),
                ),
                net::Ip::V6(a) => (a == 1, net::v6_is_private(a), net::v6_is_link_local(a)),
            };
            if (self.block_loopback && loopback) || (self.block_private && private) || link_local {
                return false;
            }
        }
        if let Some(inner) = hostname.strip_prefix('[') {
            let inner = inner.trim_end_matches(']');
            if let Some(net::Ip::V6(a)) = net::ip_address(inner) {
                if let Some(v4) = net::v6_mapped(a) {
                    if (self.block_loopback && net::v4_is_loopback(v4))
                        || (self.block_private && net::v4_is_private(v4))
                    {
                        return false;
                    }
                }
            }
        }
        if !self.allow_domains.is_empty() {
            let matched =
                self.allow_domains
                    .iter()
                    .any(|pattern| match pattern.strip_prefix("*.") {
                        Some(domain) => hostname.ends_with(&pattern[1..]) || hostname == domain,
                        None => hostname == pattern,
                    });
            if !matched {
                return false;
            }
        }
        true
    }

    /// The stricter reading (see the type's documentation).
    fn strict_verdict(&self, url: &str, parsed: &net::PyUrl, host: &str) -> bool {
        if net::agree(url, parsed, Some(host)).is_none() {
            return false;
        }
        let name = host.trim_end_matches('.');
        if self.block_loopback && (name == "localhost" || name.ends_with(".localhost")) {
            return false;
        }
        if self.block_metadata && METADATA_HOSTS.contains(&name) {
            return false;
        }
        match net::host_as_address(host) {
            Err(()) => false,
            Ok(None) => true,
            Ok(Some(ip)) => !net::address_refused(ip, self.blocks()),
        }
    }
}

/// One command, an allowed program with literal arguments, no shell syntax.
///
/// As Python: no `;`, `|`, `&&`, `||`, `>`, `<`, backtick, `$`, newline;
/// `shlex.split` must succeed; the program's base name must be allowed;
/// with `block_globs`, no `*`, `?` or `[` in the arguments. Stricter: a
/// lone `&` (which Python lets through: `ls & rm -rf /`) and any control
/// character are refused, and a program given with a path (`/tmp/x/ls`,
/// `./ls`) must itself be in the allow list, not only its base name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shlex {
    allow: Vec<String>,
    block_globs: bool,
}

impl Shlex {
    /// The constraint; at least one program (Python raises otherwise).
    pub fn new(
        allow: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<Self, ConstraintError> {
        let allow = sorted(allow);
        if allow.is_empty() {
            return Err(ConstraintError(
                "Shlex requires at least one allowed binary".into(),
            ));
        }
        Ok(Shlex {
            allow,
            block_globs: false,
        })
    }
    /// Whether glob characters in arguments are refused.
    pub fn block_globs(mut self, block: bool) -> Self {
        self.block_globs = block;
        self
    }
    /// The allowed programs, sorted.
    pub fn allowed(&self) -> &[String] {
        &self.allow
    }

    fn satisfies_str(&self, cmd: &str) -> bool {
        const DANGEROUS: [&str; 11] = [";", "|", "&&", "||", ">", ">>", "<", "<<", "`", "$(", "${"];
        if DANGEROUS.iter().any(|t| cmd.contains(t))
            || cmd.contains('$')
            || cmd.contains('\n')
            || cmd.contains('\r')
        {
            return false;
        }
        // Stricter.
        if cmd.contains('&') || cmd.chars().any(|c| c.is_control() && c != '\t') {
            return false;
        }
        let Ok(parts) = shell::split(cmd) else {
            return false;
        };
        let Some(program) = parts.first() else {
            return false;
        };
        let base = program.rsplit('/').next().unwrap_or(program);
        if !self.allow.iter().any(|a| a == base) {
            return false;
        }
        if program.contains('/') && !self.allow.iter().any(|a| a == program) {
            return false;
        }
        if self.block_globs
            && parts[1..]
                .iter()
                .any(|p| p.contains('*') || p.contains('?') || p.contains('['))
        {
            return false;
        }
        true
    }
}

/// An IP address inside a network (IPv4 or IPv6, `ipaddress` rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cidr {
    network: String,
    net: net::Net,
}

impl Cidr {
    /// The constraint: `10.0.0.0/8`, `10.0.0.0/255.0.0.0`, `2001:db8::/32`
    /// (host bits are cleared, as `ip_network(strict=False)` does).
    pub fn new(network: impl Into<String>) -> Result<Self, ConstraintError> {
        let network = network.into();
        let net = net::ip_network(&network).ok_or_else(|| {
            ConstraintError(format!(
                "{} does not appear to be an IPv4 or IPv6 network",
                quoted(&network)
            ))
        })?;
        Ok(Cidr { network, net })
    }
    /// The network as written.
    pub fn network(&self) -> &str {
        &self.network
    }
}

/// A URL matching a pattern: scheme (or `*`), host (or `*.domain`), port,
/// path glob.
///
/// As Python's `UrlPattern`; stricter: the URL must read the same (scheme,
/// host and path) under the WHATWG parser, so `/api/../admin`,
/// `/api/%2e%2e/admin` and `good.com\@evil.com` tricks are refused; an
/// invalid port is refused where Python raises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlPattern {
    pattern: String,
}

impl UrlPattern {
    /// The constraint (Python does not validate the pattern either; one
    /// that does not parse matches nothing).
    pub fn new(pattern: impl Into<String>) -> Self {
        UrlPattern {
            pattern: pattern.into(),
        }
    }
    /// The pattern.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    fn satisfies_str(&self, url: &str) -> bool {
        let (Some(actual), Some(expected)) = (net::urlparse(url), net::urlparse(&self.pattern))
        else {
            return false;
        };
        if !expected.scheme.is_empty() && expected.scheme != "*" && actual.scheme != expected.scheme
        {
            return false;
        }
        let exp_host = expected.hostname().unwrap_or_default();
        let act_host = actual.hostname().unwrap_or_default();
        if let Some(domain) = exp_host.strip_prefix("*.") {
            if !(act_host.ends_with(&exp_host[1..]) || act_host == domain) {
                return false;
            }
        } else if !exp_host.is_empty() && exp_host != "*" && act_host != exp_host {
            return false;
        }
        // Python raises on an invalid port (outside its try): a refusal. It
        // reads the URL's port only when the pattern names one.
        let Ok(exp_port) = expected.port() else {
            return false;
        };
        if let Some(p) = exp_port.filter(|p| *p != 0) {
            if actual.port() != Ok(Some(p)) {
                return false;
            }
        }
        let exp_path = if expected.path.is_empty() {
            "/"
        } else {
            &expected.path
        };
        let act_path = if actual.path.is_empty() {
            "/"
        } else {
            &actual.path
        };
        if !glob::Glob::new(exp_path).matches(act_path) {
            return false;
        }
        // Stricter: the same URL for a WHATWG client.
        let python_host = net::unquote(&act_host);
        if !python_host.is_ascii() {
            return false;
        }
        let host = (!python_host.is_empty()).then_some(python_host.as_str());
        let Some(agreed) = net::agree(url, &actual, host) else {
            return false;
        };
        let whatwg_path = if agreed.url.path().is_empty() {
            "/"
        } else {
            agreed.url.path()
        };
        whatwg_path == act_path
    }
}

/// `re.fullmatch(pattern, str(value))`, for the patterns this crate can
/// match exactly as Python does (see the module documentation).
#[derive(Debug, Clone)]
pub struct Regex {
    pattern: String,
    translated: pyregex::Translated,
    compiled: OnceLock<Option<regex::Regex>>,
}

impl PartialEq for Regex {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern
    }
}

impl Regex {
    /// The constraint; a pattern Python refuses, or one whose meaning this
    /// crate cannot reproduce exactly, is an error.
    pub fn new(pattern: impl Into<String>) -> Result<Self, ConstraintError> {
        let pattern = pattern.into();
        let translated =
            pyregex::translate(&pattern).map_err(|p| ConstraintError(p.to_string()))?;
        Ok(Regex {
            pattern,
            translated,
            compiled: OnceLock::new(),
        })
    }
    /// The Python pattern.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    fn satisfies_str(&self, value: &str) -> bool {
        if self.translated.ascii_only && !value.is_ascii() {
            return false;
        }
        self.compiled
            .get_or_init(|| pyregex::compile(&self.translated).ok())
            .as_ref()
            .is_some_and(|r| r.is_match(value))
    }
}

/// A Common Expression Language predicate. Never satisfied: the Python SDK
/// evaluates CEL only when `celpy` is installed (it does not depend on it)
/// and denies otherwise; this crate denies always (see the module
/// documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cel {
    expression: String,
}

impl Cel {
    /// The constraint.
    pub fn new(expression: impl Into<String>) -> Self {
        Cel {
            expression: expression.into(),
        }
    }
    /// The expression.
    pub fn expression(&self) -> &str {
        &self.expression
    }
}

/// The constraints of one tool, by argument name.
///
/// Closed world, as in Python: once any constraint is set, an argument the
/// set does not name is refused, unless the set allows unknown arguments.
/// An argument the call leaves out is not checked (the tool's own signature
/// decides whether it is required).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConstraintSet {
    constraints: BTreeMap<String, Constraint>,
    allow_unknown: bool,
}

/// Why arguments fail a [`ConstraintSet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArgFailure {
    Unknown(String),
    Violated {
        argument: String,
        constraint: String,
    },
}

impl ConstraintSet {
    /// An empty set: any arguments.
    pub fn new() -> Self {
        Self::default()
    }

    /// The set with `constraint` on `argument` (replacing any before).
    pub fn with(mut self, argument: impl Into<String>, constraint: impl Into<Constraint>) -> Self {
        self.insert(argument, constraint);
        self
    }

    /// Sets `constraint` on `argument`.
    pub fn insert(&mut self, argument: impl Into<String>, constraint: impl Into<Constraint>) {
        self.constraints.insert(argument.into(), constraint.into());
    }

    /// Whether arguments the set does not name are accepted (`_allow_unknown`).
    pub fn allow_unknown(mut self, allow: bool) -> Self {
        self.allow_unknown = allow;
        self
    }

    /// Whether arguments the set does not name are accepted.
    pub fn allows_unknown(&self) -> bool {
        self.allow_unknown
    }

    /// The constraint on `argument`.
    pub fn get(&self, argument: &str) -> Option<&Constraint> {
        self.constraints.get(argument)
    }

    /// The constraints, by argument name in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Constraint)> {
        self.constraints.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many arguments are constrained.
    pub fn len(&self) -> usize {
        self.constraints.len()
    }

    /// Whether no argument is constrained.
    pub fn is_empty(&self) -> bool {
        self.constraints.is_empty()
    }

    fn closed(&self) -> bool {
        !self.constraints.is_empty() && !self.allow_unknown
    }

    /// Whether the call's arguments pass.
    pub fn matches(&self, args: &serde_json::Map<String, Value>) -> bool {
        self.check(args).is_ok()
    }

    pub(crate) fn check(&self, args: &serde_json::Map<String, Value>) -> Result<(), ArgFailure> {
        if self.closed() {
            if let Some(key) = args.keys().find(|k| !self.constraints.contains_key(*k)) {
                return Err(ArgFailure::Unknown(key.clone()));
            }
        }
        for (key, constraint) in &self.constraints {
            if let Some(value) = args.get(key) {
                if !constraint.satisfies(value) {
                    return Err(ArgFailure::Violated {
                        argument: key.clone(),
                        constraint: constraint.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Whether every call `child` accepts, `self` accepts.
    ///
    /// Stricter than Python's `ConstraintSet.contains`, which ignores the
    /// closed world: a child that allows unknown arguments, or names an
    /// argument its closed parent does not, or leaves open an argument its
    /// parent constrains, is wider and not contained.
    pub fn contains(&self, child: &ConstraintSet) -> bool {
        if self.closed() {
            if !child.closed() {
                return false;
            }
            if child
                .constraints
                .keys()
                .any(|k| !self.constraints.contains_key(k))
            {
                return false;
            }
        }
        self.constraints
            .iter()
            .all(|(key, parent)| match child.constraints.get(key) {
                Some(c) => parent.contains(c),
                // Absent from a closed child: the argument is refused there.
                None => child.closed() || matches!(parent, Constraint::Wildcard),
            })
    }

    /// Reads a tool's constraints in the SDK's dictionary form (argument
    /// name to constraint dictionary, and `"_allow_unknown": true`).
    pub fn from_dict(dict: &Value) -> Result<ConstraintSet, ConstraintError> {
        let json = Json::from_value(dict).map_err(ConstraintError)?;
        ConstraintSet::from_json(&json).map_err(ConstraintError)
    }

    /// The dictionary form, as the SDK's `ConstraintSet.to_dict()`.
    pub fn to_dict(&self) -> Value {
        self.to_json().to_value()
    }

    pub(crate) fn to_json(&self) -> Json {
        let mut members: Vec<(String, Json)> = self
            .constraints
            .iter()
            .map(|(k, c)| (k.clone(), c.to_json()))
            .collect();
        if self.allow_unknown {
            members.push(("_allow_unknown".into(), Json::Bool(true)));
        }
        Json::Object(members)
    }

    pub(crate) fn from_json(v: &Json) -> Result<ConstraintSet, String> {
        let Json::Object(members) = v else {
            return Err(format!(
                "a tool's constraints are an object, not {}",
                v.kind()
            ));
        };
        let mut set = ConstraintSet::new();
        for (key, spec) in members {
            if key == "_allow_unknown" {
                match spec {
                    Json::Bool(b) => set.allow_unknown = *b,
                    other => return Err(format!("`_allow_unknown` is {}", other.kind())),
                }
                continue;
            }
            let constraint = Constraint::from_json(spec).map_err(|e| {
                format!(
                    "argument {}: {e}",
                    quoted(&key.chars().take(64).collect::<String>())
                )
            })?;
            set.constraints.insert(key.clone(), constraint);
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests;
