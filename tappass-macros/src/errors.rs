//! Collects every error of one macro input, so that the user sees all of them
//! in one build (serde_derive's `Ctxt`), and suggests the key a typo meant.

use std::fmt::Display;

use quote::ToTokens;

/// The errors found so far; [`Errors::finish`] combines them into one.
#[derive(Default)]
pub(crate) struct Errors {
    combined: Option<syn::Error>,
}

impl Errors {
    /// Records `error`.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.combined {
            Some(combined) => combined.combine(error),
            None => self.combined = Some(error),
        }
    }

    /// Records an error spanning `tokens`.
    pub(crate) fn spanned(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error at `span`.
    pub(crate) fn at(&mut self, span: proc_macro2::Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Records the error of `result`, if any, and returns its value.
    pub(crate) fn ok<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|error| self.push(error)).ok()
    }

    /// Whether no error was recorded.
    pub(crate) fn is_empty(&self) -> bool {
        self.combined.is_none()
    }

    /// All errors found, combined, or `Ok` when there were none.
    pub(crate) fn finish(self) -> syn::Result<()> {
        match self.combined {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// The key of `known` nearest to `name`, when it is a likely typo or a
/// shortening (`auto_open` for `auto_open_session`).
pub(crate) fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    let limit = (name.chars().count() / 3).max(1);
    known
        .iter()
        .map(|key| (edit_distance(name, key), *key))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, key)| key)
        .or_else(|| {
            known
                .iter()
                .copied()
                .find(|key| name.len() >= 4 && key.starts_with(name))
        })
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::{closest, edit_distance};

    const KEYS: &[&str] = &[
        "status",
        "code",
        "message",
        "retry_after",
        "headers",
        "transparent",
    ];

    #[test]
    fn typos_get_a_suggestion() {
        assert_eq!(edit_distance("statuss", "status"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(closest("statuss", KEYS), Some("status"));
        assert_eq!(closest("retry_afer", KEYS), Some("retry_after"));
        assert_eq!(closest("x", KEYS), None);
        assert_eq!(closest("reason", KEYS), None);
        assert_eq!(closest("retry", KEYS), Some("retry_after"));
        assert_eq!(
            closest("auto_open", &["auto_open_session"]),
            Some("auto_open_session")
        );
        assert_eq!(closest("re", KEYS), None);
    }
}
