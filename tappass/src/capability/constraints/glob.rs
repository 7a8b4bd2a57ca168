//! `fnmatch.fnmatch` on POSIX (case-sensitive): `*`, `?`, `[abc]`, `[!a-z]`,
//! with the character classes exactly as `fnmatch.translate` builds them
//! (Python 3.11: a `[` without its `]` is literal, empty ranges such as
//! `z-a` are dropped with their endpoints, `[!]`-style leftovers match any
//! character). No escape character: `[*]` is how a literal `*` is written.
//!
//! Matching is the classic star-backtracking walk (each element but `*`
//! matches one character), which accepts exactly what Python's regular
//! expression accepts.

/// One element of a glob.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Elem {
    Lit(char),
    /// `?`
    Any,
    /// `[...]`: inclusive ranges (a literal is a one-character range).
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `*` (runs of them are one).
    Star,
}

impl Elem {
    fn matches(&self, c: char) -> bool {
        match self {
            Elem::Lit(l) => *l == c,
            Elem::Any => true,
            Elem::Class { negated, ranges } => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
            }
            Elem::Star => false,
        }
    }
}

/// A compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    elems: Vec<Elem>,
}

impl Glob {
    /// Compiles `pattern` as `fnmatch.translate` does (it never fails).
    pub(crate) fn new(pattern: &str) -> Glob {
        let pat: Vec<char> = pattern.chars().collect();
        let n = pat.len();
        let mut elems = Vec::new();
        let mut i = 0;
        while i < n {
            let c = pat[i];
            i += 1;
            match c {
                '*' => {
                    if elems.last() != Some(&Elem::Star) {
                        elems.push(Elem::Star);
                    }
                }
                '?' => elems.push(Elem::Any),
                '[' => {
                    let mut j = i;
                    if j < n && pat[j] == '!' {
                        j += 1;
                    }
                    if j < n && pat[j] == ']' {
                        j += 1;
                    }
                    while j < n && pat[j] != ']' {
                        j += 1;
                    }
                    if j >= n {
                        elems.push(Elem::Lit('['));
                        continue;
                    }
                    elems.push(class(&pat, i, j));
                    i = j + 1;
                }
                c => elems.push(Elem::Lit(c)),
            }
        }
        Glob { elems }
    }

    /// The literal characters the glob starts with, and whether the rest is
    /// exactly one `*`.
    pub(crate) fn literal_prefix_then_star(&self) -> Option<String> {
        let (last, head) = self.elems.split_last()?;
        if *last != Elem::Star {
            return None;
        }
        head.iter()
            .map(|e| match e {
                Elem::Lit(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    /// Whether the glob is exactly one `*` followed by literal characters.
    pub(crate) fn star_then_literal_suffix(&self) -> Option<String> {
        let (first, tail) = self.elems.split_first()?;
        if *first != Elem::Star {
            return None;
        }
        tail.iter()
            .map(|e| match e {
                Elem::Lit(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    /// The literal characters every match starts with (up to the first
    /// element that is not a literal).
    pub(crate) fn leading_literals(&self) -> String {
        self.elems
            .iter()
            .map_while(|e| match e {
                Elem::Lit(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    /// The literal characters every match ends with.
    pub(crate) fn trailing_literals(&self) -> String {
        let mut out: Vec<char> = self
            .elems
            .iter()
            .rev()
            .map_while(|e| match e {
                Elem::Lit(c) => Some(*c),
                _ => None,
            })
            .collect();
        out.reverse();
        out.into_iter().collect()
    }

    /// `fnmatch.fnmatchcase(text, pattern)`.
    pub(crate) fn matches(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        let elems = &self.elems;
        let (mut p, mut s) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while s < chars.len() {
            match elems.get(p) {
                Some(Elem::Star) => {
                    star = Some((p, s));
                    p += 1;
                }
                Some(e) if e.matches(chars[s]) => {
                    p += 1;
                    s += 1;
                }
                _ => match star {
                    Some((sp, mark)) => {
                        p = sp + 1;
                        s = mark + 1;
                        star = Some((sp, mark + 1));
                    }
                    None => return false,
                },
            }
        }
        while elems.get(p) == Some(&Elem::Star) {
            p += 1;
        }
        p == elems.len()
    }
}

/// The class between `pat[i]` (just after `[`) and `pat[j]` (its `]`), as
/// `fnmatch.translate` turns it into a regular expression class.
fn class(pat: &[char], mut i: usize, j: usize) -> Elem {
    let stuff = &pat[i..j];
    let chunks: Vec<Vec<char>> = if !stuff.contains(&'-') {
        vec![stuff.to_vec()]
    } else {
        let mut chunks: Vec<Vec<char>> = Vec::new();
        let mut k = if pat[i] == '!' { i + 2 } else { i + 1 };
        loop {
            let found = if k < j {
                pat[k..j].iter().position(|c| *c == '-').map(|d| k + d)
            } else {
                None
            };
            let Some(hyphen) = found else { break };
            chunks.push(pat[i..hyphen].to_vec());
            i = hyphen + 1;
            k = hyphen + 3;
        }
        let chunk = pat[i..j].to_vec();
        if chunk.is_empty() {
            chunks
                .last_mut()
                .expect("a chunk before a trailing hyphen")
                .push('-');
        } else {
            chunks.push(chunk);
        }
        // Remove empty ranges, dropping both endpoints, as translate does.
        let mut k = chunks.len() - 1;
        while k > 0 {
            let prev_last = *chunks[k - 1].last().expect("chunks are never empty here");
            let next_first = chunks[k][0];
            if prev_last > next_first {
                let next = chunks.remove(k);
                let prev = &mut chunks[k - 1];
                prev.pop();
                prev.extend_from_slice(&next[1..]);
            }
            k -= 1;
        }
        chunks
    };
    // The class's text is the chunks joined by range hyphens.
    let total: usize = chunks.iter().map(Vec::len).sum();
    if total == 0 {
        // Empty range: never matches.
        return Elem::Class {
            negated: false,
            ranges: Vec::new(),
        };
    }
    let negated = chunks[0][0] == '!';
    if negated && total == 1 {
        // `[!]`-like leftover: any character.
        return Elem::Class {
            negated: true,
            ranges: Vec::new(),
        };
    }
    let mut ranges = Vec::new();
    let last = chunks.len() - 1;
    for (idx, chunk) in chunks.iter().enumerate() {
        let start = if idx == 0 && negated { 1 } else { 0 };
        let body = &chunk[start..];
        // The first character closes the previous chunk's range; the last
        // one opens the next chunk's range.
        let from = if idx == 0 { 0 } else { 1 };
        let to = if idx == last {
            body.len()
        } else {
            body.len().saturating_sub(1)
        };
        if idx > 0 {
            let lo = *chunks[idx - 1].last().expect("non-empty chunk");
            ranges.push((lo, body[0]));
        }
        if from < to {
            for c in &body[from..to] {
                ranges.push((*c, *c));
            }
        }
    }
    Elem::Class { negated, ranges }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        Glob::new(pattern).matches(text)
    }

    #[test]
    fn stars_questions_and_literals() {
        assert!(m("*.txt", "a.txt"));
        assert!(m("*.txt", ".txt"));
        assert!(!m("*.txt", "a.txt.gz"));
        assert!(m("a*b*c", "aXbYbc"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*", ""));
        assert!(m("*", "line\nbreak"));
        assert!(m("?", "\n"));
        assert!(m("**a", "xa"));
        assert!(m("*@company.com", "bob@company.com"));
        assert!(!m("*@company.com", "bob@sub.company.com"));
    }

    #[test]
    fn classes_as_fnmatch_translate_builds_them() {
        assert!(m("[abc]", "b"));
        assert!(!m("[abc]", "d"));
        assert!(m("[!abc]", "d"));
        assert!(!m("[!abc]", "a"));
        assert!(m("[a-c]", "b"));
        assert!(m("[]]", "]"));
        assert!(m("[!]]", "a"));
        assert!(!m("[!]]", "]"));
        assert!(m("[a-]", "-"));
        assert!(m("[-a]", "-"));
        assert!(m("[!-a]", "b"));
        assert!(!m("[!-a]", "-"));
        // An unclosed bracket is a literal.
        assert!(m("[abc", "[abc"));
        assert!(m("a[", "a["));
        // Empty ranges are dropped with their endpoints.
        assert!(!m("[z-a]", "z"));
        assert!(!m("[z-a]", "-"));
        assert!(m("[!z-a]", "q"));
        assert!(m("[az-ab]", "b"));
        assert!(!m("[az-ab]", "z"));
        // Hyphens inside chunks are literal.
        assert!(m("[a-b-c]", "-"));
        assert!(m("[a-b-c]", "c"));
        assert!(!m("[a-b-c]", "d"));
        // `^` and `[` inside a class are literal; no escape character.
        assert!(m("[^a]", "^"));
        assert!(m("[[]", "["));
        assert!(m("[\\]", "\\"));
        assert!(m("[*]", "*"));
        assert!(!m("[*]", "x"));
    }

    #[test]
    fn shapes_used_by_attenuation() {
        assert_eq!(
            Glob::new("/data/*").literal_prefix_then_star().as_deref(),
            Some("/data/")
        );
        assert_eq!(Glob::new("/data/?*").literal_prefix_then_star(), None);
        assert_eq!(
            Glob::new("*@x.com").star_then_literal_suffix().as_deref(),
            Some("@x.com")
        );
        assert_eq!(Glob::new("ab[c]*d").leading_literals(), "ab");
        assert_eq!(Glob::new("*x[y]zz").trailing_literals(), "zz");
    }
}
