//! `shlex.split(s)` (POSIX mode, no comments), as Python 3.11 splits.

/// Why a command line does not split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SplitError {
    /// "No closing quotation"
    NoClosingQuotation,
    /// "No escaped character"
    NoEscapedCharacter,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Whitespace,
    Word,
    Quote(char),
    Escape,
}

/// `shlex.split(s)`: whitespace is `' \t\r\n'`; `'` quotes everything,
/// `"` quotes all but `\` before `"` or `\`; `\` outside quotes takes the next
/// character literally; an empty quoted word is a word.
pub(crate) fn split(s: &str) -> Result<Vec<String>, SplitError> {
    let is_ws = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    let mut words = Vec::new();
    let mut token = String::new();
    let mut quoted = false;
    let mut state = State::Whitespace;
    // The state an escape returns to.
    let mut escaped_state = State::Word;
    let mut chars = s.chars();
    loop {
        let next = chars.next();
        match state {
            State::Whitespace => match next {
                None => break,
                Some(c) if is_ws(c) => {
                    if !token.is_empty() || quoted {
                        words.push(std::mem::take(&mut token));
                        quoted = false;
                    }
                }
                Some('\\') => {
                    escaped_state = State::Word;
                    state = State::Escape;
                }
                Some(q @ ('\'' | '"')) => state = State::Quote(q),
                Some(c) => {
                    token.push(c);
                    state = State::Word;
                }
            },
            State::Quote(q) => {
                quoted = true;
                match next {
                    None => return Err(SplitError::NoClosingQuotation),
                    Some(c) if c == q => state = State::Word,
                    Some('\\') if q == '"' => {
                        escaped_state = State::Quote(q);
                        state = State::Escape;
                    }
                    Some(c) => token.push(c),
                }
            }
            State::Escape => match next {
                None => return Err(SplitError::NoEscapedCharacter),
                Some(c) => {
                    // Inside quotes only the quote and the backslash itself
                    // are escaped; otherwise the backslash stays.
                    if let State::Quote(q) = escaped_state {
                        if c != '\\' && c != q {
                            token.push('\\');
                        }
                    }
                    token.push(c);
                    state = escaped_state;
                }
            },
            State::Word => match next {
                None => break,
                Some(c) if is_ws(c) => {
                    state = State::Whitespace;
                    if !token.is_empty() || quoted {
                        words.push(std::mem::take(&mut token));
                        quoted = false;
                    }
                }
                Some(q @ ('\'' | '"')) => state = State::Quote(q),
                Some('\\') => {
                    escaped_state = State::Word;
                    state = State::Escape;
                }
                Some(c) => token.push(c),
            },
        }
    }
    if !token.is_empty() || quoted {
        words.push(token);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Vec<String> {
        split(s).unwrap()
    }

    #[test]
    fn as_shlex_split() {
        assert_eq!(ok("ls -la /tmp"), ["ls", "-la", "/tmp"]);
        assert_eq!(ok("  a\t b\n"), ["a", "b"]);
        assert_eq!(ok("a 'b c' \"d e\""), ["a", "b c", "d e"]);
        assert_eq!(ok("a '' b"), ["a", "", "b"]);
        assert_eq!(ok("a''b"), ["ab"]);
        assert_eq!(ok("\"\""), [""]);
        assert_eq!(ok(r#"a\ b"#), ["a b"]);
        assert_eq!(ok(r#""a\"b\\c\d""#), [r#"a"b\c\d"#]);
        assert_eq!(ok(r#"'a\b'"#), [r#"a\b"#]);
        assert_eq!(ok("a#b # c"), ["a#b", "#", "c"]);
        assert!(ok("").is_empty());
        assert!(ok("   ").is_empty());
        assert_eq!(split("'abc"), Err(SplitError::NoClosingQuotation));
        assert_eq!(split("abc\\"), Err(SplitError::NoEscapedCharacter));
        assert_eq!(split("\"a\\"), Err(SplitError::NoEscapedCharacter));
    }
}
