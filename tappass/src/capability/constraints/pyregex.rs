//! Python `re` patterns, translated to the `regex` crate where the two agree.
//!
//! `Regex` constraints are matched with `re.fullmatch(pattern, str(value))`.
//! The `regex` crate (linear time, no backtracking) differs from `re` in
//! syntax and in meaning, so a pattern is read with Python 3.11's grammar and
//! rewritten construct by construct into one the `regex` crate matches the
//! same way:
//!
//! - literals become `\x{…}` escapes (so `{`, `&&`, `--`, `[` inside classes,
//!   which `re` takes literally and `regex` does not, mean what `re` means);
//! - `.` is `[^\n]`, `\s` is `str.isspace()`'s exact set, `\Z` is `\z`;
//! - `\d`, `\w`, `\D`, `\W`, `\b`, `\B` become their ASCII forms; a value
//!   with a non-ASCII character is then refused, because `re` answers from
//!   the Unicode tables of the Python that runs it, which change between
//!   versions (see [`Translated::ascii_only`]);
//! - `^` only at the very start and `$` only at the very end (where, under
//!   `fullmatch`, they cannot change the answer); lazy quantifiers become
//!   greedy (a full match exists for both or for neither).
//!
//! Constructs with no faithful counterpart are refused, and a token
//! carrying one is refused as a whole (Python would accept it): backrefs,
//! lookaround, atomic groups and possessive quantifiers, inline flags,
//! conditionals, comments, `\N{…}`, a surrogate escape, repetition counts
//! above 1,000. Patterns Python itself refuses (`a**`, `(`, `[z-a]`, `\q`)
//! are refused as Python refuses them.

/// Why a pattern is not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Problem {
    /// Python's `re.compile` refuses it too.
    Invalid(&'static str),
    /// Python accepts it; this crate cannot match it faithfully.
    Unsupported(&'static str),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Invalid(m) => write!(f, "invalid regular expression: {m}"),
            Problem::Unsupported(m) => write!(
                f,
                "regular expression outside what can be matched as Python does: {m}"
            ),
        }
    }
}

/// A translated pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Translated {
    /// The `regex` crate's pattern, anchored at both ends.
    pub(crate) rust: String,
    /// The pattern uses `\d`, `\w`, `\b` or their negations: only ASCII
    /// values can be matched as Python matches them.
    pub(crate) ascii_only: bool,
}

/// Repetition counts above this are refused.
const MAX_REPEAT: u32 = 1000;
/// Groups nested deeper than this are refused.
const MAX_NEST: usize = 32;

const SPACE_CLASS: &str = r"\t\n\x0B\x0C\r\x1C-\x20\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}";

/// Translates a Python pattern (the whole of `re.fullmatch`'s pattern).
pub(crate) fn translate(pattern: &str) -> Result<Translated, Problem> {
    let mut p = Parser {
        chars: pattern.chars().collect(),
        pos: 0,
        ascii_only: false,
        names: Vec::new(),
    };
    let body = p.alternation(0)?;
    if p.pos < p.chars.len() {
        // Only a `)` stops the top level early.
        return Err(Problem::Invalid("unbalanced parenthesis"));
    }
    Ok(Translated {
        rust: format!(r"\A(?:{body})\z"),
        ascii_only: p.ascii_only,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Something that matches characters (a literal, a class, a group).
    Atom,
    /// A zero-width assertion.
    Anchor,
    /// A repeated item.
    Repeat,
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    ascii_only: bool,
    names: Vec<String>,
}

fn lit(c: char) -> String {
    format!("\\x{{{:X}}}", c as u32)
}

/// An escape that stands for a set of characters, as a `regex` class.
struct Category {
    class: String,
    ascii_only: bool,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn alternation(&mut self, depth: usize) -> Result<String, Problem> {
        let mut out = self.sequence(depth)?;
        while self.peek() == Some('|') {
            self.pos += 1;
            out.push('|');
            out.push_str(&self.sequence(depth)?);
        }
        Ok(out)
    }

    fn sequence(&mut self, depth: usize) -> Result<String, Problem> {
        let mut items: Vec<(String, Kind)> = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                '|' | ')' => break,
                '*' | '+' | '?' | '{' => {
                    let here = self.pos;
                    self.pos += 1;
                    let Some((min, max)) = self.quantifier(c)? else {
                        // A `{` that does not start a count is a literal.
                        self.pos = here + 1;
                        items.push((lit('{'), Kind::Atom));
                        continue;
                    };
                    let last = match items.last() {
                        None => return Err(Problem::Invalid("nothing to repeat")),
                        Some((_, Kind::Anchor)) => {
                            return Err(Problem::Invalid("nothing to repeat"))
                        }
                        Some((_, Kind::Repeat)) => return Err(Problem::Invalid("multiple repeat")),
                        Some(_) => items.pop().expect("checked"),
                    };
                    match self.peek() {
                        Some('?') => self.pos += 1, // lazy: the same full matches
                        Some('+') => return Err(Problem::Unsupported("possessive quantifier")),
                        _ => {}
                    }
                    let q = match (min, max) {
                        (0, None) => "*".to_string(),
                        (1, None) => "+".to_string(),
                        (0, Some(1)) => "?".to_string(),
                        (m, None) => format!("{{{m},}}"),
                        (m, Some(n)) if m == n => format!("{{{m}}}"),
                        (m, Some(n)) => format!("{{{m},{n}}}"),
                    };
                    items.push((format!("(?:{}){q}", last.0), Kind::Repeat));
                }
                '(' => {
                    self.pos += 1;
                    if depth + 1 > MAX_NEST {
                        return Err(Problem::Unsupported("groups nested too deep"));
                    }
                    if self.peek() == Some('?') {
                        self.pos += 1;
                        match self.peek() {
                            Some(':') => self.pos += 1,
                            Some('P') if self.chars.get(self.pos + 1) == Some(&'<') => {
                                self.pos += 2;
                                self.group_name()?;
                            }
                            _ => {
                                return Err(Problem::Unsupported(
                                    "`(?…)` other than `(?:` and `(?P<name>`",
                                ))
                            }
                        }
                    }
                    let inner = self.alternation(depth + 1)?;
                    if self.peek() != Some(')') {
                        return Err(Problem::Invalid("missing ), unterminated subpattern"));
                    }
                    self.pos += 1;
                    items.push((format!("(?:{inner})"), Kind::Atom));
                }
                '[' => {
                    self.pos += 1;
                    let class = self.class()?;
                    items.push((class, Kind::Atom));
                }
                '.' => {
                    self.pos += 1;
                    items.push((r"[^\n]".into(), Kind::Atom));
                }
                '^' => {
                    if self.pos != 0 {
                        return Err(Problem::Unsupported("`^` other than at the start"));
                    }
                    self.pos += 1;
                    items.push((String::new(), Kind::Anchor));
                }
                '$' => {
                    if depth != 0 || self.pos + 1 != self.chars.len() {
                        return Err(Problem::Unsupported("`$` other than at the end"));
                    }
                    self.pos += 1;
                    items.push((String::new(), Kind::Anchor));
                }
                '\\' => {
                    self.pos += 1;
                    let item = self.escape()?;
                    items.push(item);
                }
                c => {
                    self.pos += 1;
                    items.push((lit(c), Kind::Atom));
                }
            }
        }
        Ok(items.into_iter().map(|(s, _)| s).collect())
    }

    /// After `*`, `+`, `?` or `{`: the bounds, or `None` for a literal `{`.
    fn quantifier(&mut self, c: char) -> Result<Option<(u32, Option<u32>)>, Problem> {
        Ok(Some(match c {
            '*' => (0, None),
            '+' => (1, None),
            '?' => (0, Some(1)),
            _ => {
                if self.peek() == Some('}') {
                    return Ok(None);
                }
                let lo = self.digits();
                let hi = if self.peek() == Some(',') {
                    self.pos += 1;
                    self.digits()
                } else {
                    lo.clone()
                };
                if self.peek() != Some('}') {
                    return Ok(None);
                }
                self.pos += 1;
                let count = |s: &str| -> Result<u32, Problem> {
                    match s.parse::<u64>() {
                        Ok(v) if v <= MAX_REPEAT as u64 => Ok(v as u32),
                        _ => Err(Problem::Unsupported("repetition count above 1000")),
                    }
                };
                let min = if lo.is_empty() { 0 } else { count(&lo)? };
                let max = if hi.is_empty() {
                    None
                } else {
                    Some(count(&hi)?)
                };
                if let Some(max) = max {
                    if max < min {
                        return Err(Problem::Invalid("min repeat greater than max repeat"));
                    }
                }
                (min, max)
            }
        }))
    }

    fn digits(&mut self) -> String {
        let mut s = String::new();
        while let Some(c @ '0'..='9') = self.peek() {
            s.push(c);
            self.pos += 1;
        }
        s
    }

    fn group_name(&mut self) -> Result<(), Problem> {
        let mut name = String::new();
        loop {
            match self.peek() {
                None => return Err(Problem::Invalid("missing >, unterminated name")),
                Some('>') => {
                    self.pos += 1;
                    break;
                }
                Some(c) => {
                    name.push(c);
                    self.pos += 1;
                }
            }
        }
        let mut chars = name.chars();
        let identifier = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !identifier {
            return Err(Problem::Unsupported(
                "a group name that is not an ASCII identifier",
            ));
        }
        if self.names.contains(&name) {
            return Err(Problem::Invalid("redefinition of group name"));
        }
        self.names.push(name);
        Ok(())
    }

    /// The shared part of escapes: `\x`, `\u`, `\U`, `\0`-octal and the
    /// single-character ones. `c` is the character after the backslash.
    fn char_escape(&mut self, c: char, in_class: bool) -> Result<Option<char>, Problem> {
        let hex = |p: &mut Self, n: usize| -> Result<char, Problem> {
            let digits: String = p.chars[p.pos..]
                .iter()
                .take(n)
                .take_while(|d| d.is_ascii_hexdigit())
                .collect();
            if digits.chars().count() != n {
                return Err(Problem::Invalid("incomplete escape"));
            }
            p.pos += n;
            let v = u32::from_str_radix(&digits, 16).expect("hex digits");
            if v > 0x10FFFF {
                return Err(Problem::Invalid("bad escape"));
            }
            char::from_u32(v).ok_or(Problem::Unsupported("an escaped surrogate"))
        };
        Ok(Some(match c {
            'a' => '\x07',
            'f' => '\x0c',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\x0b',
            'b' if in_class => '\x08',
            'x' => hex(self, 2)?,
            'u' => hex(self, 4)?,
            'U' => hex(self, 8)?,
            'N' => return Err(Problem::Unsupported(r"\N{…}")),
            '0'..='7' if c == '0' || in_class => {
                let mut v = c.to_digit(8).expect("octal");
                for _ in 0..2 {
                    match self.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            self.pos += 1;
                        }
                        None => break,
                    }
                }
                if v > 0o377 {
                    return Err(Problem::Invalid(
                        "octal escape value outside of range 0-0o377",
                    ));
                }
                char::from_u32(v).expect("below 256")
            }
            '1'..='9' if !in_class => {
                // Three octal digits are an octal escape; anything else is a
                // group reference.
                let octal = |d: Option<&char>| d.is_some_and(|d| ('0'..='7').contains(d));
                if c <= '7'
                    && octal(self.chars.get(self.pos))
                    && octal(self.chars.get(self.pos + 1))
                {
                    let digits: String = [c, self.chars[self.pos], self.chars[self.pos + 1]]
                        .iter()
                        .collect();
                    self.pos += 2;
                    let v = u32::from_str_radix(&digits, 8).expect("octal digits");
                    if v > 0o377 {
                        return Err(Problem::Invalid(
                            "octal escape value outside of range 0-0o377",
                        ));
                    }
                    char::from_u32(v).expect("below 256")
                } else {
                    return Err(Problem::Unsupported("group references"));
                }
            }
            '8' | '9' => return Err(Problem::Invalid("bad escape")),
            c if c.is_ascii_alphabetic() => return Err(Problem::Invalid("bad escape")),
            c => c,
        }))
    }

    fn category(&mut self, c: char) -> Option<Category> {
        let (class, ascii_only) = match c {
            'd' => ("[0-9]".to_string(), true),
            'D' => ("[^0-9]".to_string(), true),
            'w' => ("[0-9A-Za-z_]".to_string(), true),
            'W' => ("[^0-9A-Za-z_]".to_string(), true),
            's' => (format!("[{SPACE_CLASS}]"), false),
            'S' => (format!("[^{SPACE_CLASS}]"), false),
            _ => return None,
        };
        Some(Category { class, ascii_only })
    }

    /// After a `\` outside a class.
    fn escape(&mut self) -> Result<(String, Kind), Problem> {
        let Some(c) = self.peek() else {
            return Err(Problem::Invalid("bad escape (end of pattern)"));
        };
        self.pos += 1;
        if let Some(cat) = self.category(c) {
            self.ascii_only |= cat.ascii_only;
            return Ok((cat.class, Kind::Atom));
        }
        match c {
            'A' => return Ok((r"\A".into(), Kind::Anchor)),
            'Z' => return Ok((r"\z".into(), Kind::Anchor)),
            'b' => {
                self.ascii_only = true;
                return Ok((r"(?-u:\b)".into(), Kind::Anchor));
            }
            'B' => {
                self.ascii_only = true;
                return Ok((r"(?-u:\B)".into(), Kind::Anchor));
            }
            _ => {}
        }
        let ch = self.char_escape(c, false)?.expect("a character");
        Ok((lit(ch), Kind::Atom))
    }

    /// After `[`: the class up to its `]`.
    fn class(&mut self) -> Result<String, Problem> {
        enum Item {
            Char(char),
            Cat(String),
        }
        let negate = if self.peek() == Some('^') {
            self.pos += 1;
            true
        } else {
            false
        };
        let mut members: Vec<String> = Vec::new();
        let next_item = |p: &mut Self| -> Result<Option<Item>, Problem> {
            let Some(c) = p.peek() else {
                return Err(Problem::Invalid("unterminated character set"));
            };
            p.pos += 1;
            if c != '\\' {
                return Ok(Some(Item::Char(c)));
            }
            let Some(e) = p.peek() else {
                return Err(Problem::Invalid("bad escape (end of pattern)"));
            };
            p.pos += 1;
            if let Some(cat) = p.category(e) {
                p.ascii_only |= cat.ascii_only;
                return Ok(Some(Item::Cat(cat.class)));
            }
            Ok(p.char_escape(e, true)?.map(Item::Char))
        };
        loop {
            if self.peek() == Some(']') && !members.is_empty() {
                self.pos += 1;
                break;
            }
            let Some(first) = next_item(self)? else {
                continue;
            };
            if self.peek() == Some('-') {
                self.pos += 1;
                match self.peek() {
                    None => return Err(Problem::Invalid("unterminated character set")),
                    Some(']') => {
                        self.pos += 1;
                        members.push(match first {
                            Item::Char(c) => lit(c),
                            Item::Cat(s) => s,
                        });
                        members.push(lit('-'));
                        break;
                    }
                    Some(_) => {
                        let second = next_item(self)?;
                        match (first, second) {
                            (Item::Char(lo), Some(Item::Char(hi))) if lo <= hi => {
                                members.push(format!("{}-{}", lit(lo), lit(hi)));
                            }
                            _ => return Err(Problem::Invalid("bad character range")),
                        }
                    }
                }
            } else {
                members.push(match first {
                    Item::Char(c) => lit(c),
                    Item::Cat(s) => s,
                });
            }
        }
        Ok(format!(
            "[{}{}]",
            if negate { "^" } else { "" },
            members.concat()
        ))
    }
}

/// Compiles a translated pattern with bounds on the automaton's size.
pub(crate) fn compile(t: &Translated) -> Result<regex::Regex, Problem> {
    regex::RegexBuilder::new(&t.rust)
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .nest_limit(2 * MAX_NEST as u32 + 8)
        .build()
        .map_err(|_| Problem::Unsupported("too large once compiled"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(pattern: &str, text: &str) -> bool {
        let t = translate(pattern).unwrap_or_else(|e| panic!("{pattern:?}: {e}"));
        compile(&t).unwrap().is_match(text)
    }

    #[test]
    fn fullmatch_semantics() {
        assert!(full("abc", "abc"));
        assert!(!full("abc", "abcd"));
        assert!(!full("b", "abc"));
        assert!(full("a|ab", "ab"));
        assert!(full("^[a-z]+$", "hello"));
        assert!(!full("^[a-z]+$", "hello\n"));
        assert!(full("a{2,3}", "aaa"));
        assert!(!full("a{2,3}", "aaaa"));
        assert!(full("a{,2}", ""));
        assert!(full("a{,}", "aaaa"));
        assert!(full("x{", "x{"));
        assert!(full("x{}", "x{}"));
        assert!(full("x{a}", "x{a}"));
        assert!(full("x{1", "x{1"));
        assert!(full("{", "{"));
        assert!(full("a*?b", "aab"));
        assert!(full(r"\d+\.\d{2}", "12.50"));
        assert!(full(r"\s", "\u{1c}"));
        assert!(full(r"\s", "\u{3000}"));
        assert!(!full(r"\s", "\u{180e}"));
        assert!(full(r"[\w-]+", "a_b-c"));
        assert!(full(r"[^a]", "\n"));
        assert!(!full(".", "\n"));
        assert!(full(r"\x41\u00e9\U0001F600", "Aé😀"));
        assert!(full(r"\0\01\101", "\0\u{1}A"));
        assert!(full(r"[\b]", "\u{8}"));
        assert!(full(r"a\b", "a"));
        assert!(full(r"(?P<x>a)(?:b)", "ab"));
        assert!(full(r"[[]", "["));
        assert!(full(r"[a&&b]", "&"));
        assert!(full(r"[--a]", "-"));
        assert!(full(r"[]a]", "]"));
        assert!(full(r"[^]a]", "b"));
        assert!(full(r"[a-]", "-"));
        assert!(full(r"\.\*\+\?\(\)\[\]\{\}\|\\\/\-", r".*+?()[]{}|\/-"));
        assert!(full("", ""));
        assert!(full("a|", ""));
        assert!(full(r"\Aab\Z", "ab"));
    }

    #[test]
    fn patterns_python_refuses_are_refused() {
        for bad in [
            "a**",
            "*a",
            "a|*",
            "(",
            ")",
            "a)",
            "[a",
            "[z-a]",
            r"\q",
            "\\",
            r"\x4",
            r"[\d-z]",
            "a{3,2}",
            "^*",
            r"\b+",
            r"\U00110000",
            r"[\8]",
            "(?P<a>x)(?P<a>y)",
            "(?P<a",
            "a?*",
            r"\777",
            "[a--b]",
        ] {
            assert!(
                matches!(translate(bad), Err(Problem::Invalid(_))),
                "{bad:?}: {:?}",
                translate(bad)
            );
        }
    }

    #[test]
    fn patterns_without_a_faithful_translation_are_refused() {
        for unsupported in [
            r"(a)\1",
            "(?=a)",
            "(?!a)",
            "(?<=a)b",
            "(?i)a",
            "(?>a)",
            "a*+",
            r"\N{DASH}",
            "a$b",
            "(a$)",
            "a^",
            "(?#c)",
            r"\ud800",
            "a{1001}",
            "(?P<é>a)",
            "(?P=x)",
            r"\8",
            r"\1",
            r"\18",
        ] {
            assert!(
                matches!(translate(unsupported), Err(Problem::Unsupported(_))),
                "{unsupported:?}: {:?}",
                translate(unsupported)
            );
        }
    }

    #[test]
    fn unicode_dependent_escapes_mark_the_pattern_ascii_only() {
        assert!(translate(r"\w+").unwrap().ascii_only);
        assert!(translate(r"[^\D]").unwrap().ascii_only);
        assert!(!translate(r"\s[a-z]").unwrap().ascii_only);
    }
}
