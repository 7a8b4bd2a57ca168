//! Helpers shared by the attribute parsers of both macros
//! (`governance_error/attr.rs` and `governed/args.rs`): a key's name for
//! messages, a key's value or a clear error, and skipping a bad value so that
//! the keys after it are still read.

use proc_macro2::TokenTree;
use syn::meta::ParseNestedMeta;
use syn::parse::Parse;
use syn::{Expr, Path, Token};

use crate::errors::Errors;

/// A key as written (`status`, `a::b`), for messages.
pub(crate) fn path_name(path: &Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

/// The value after `key =`, or `None` with the error "`key` needs `needs`"
/// recorded when the key has none (`needs` says what to write, e.g.
/// ``a value: `status = 403` ``).
pub(crate) fn value<T: Parse>(
    meta: &ParseNestedMeta<'_>,
    errors: &mut Errors,
    needs: &str,
) -> syn::Result<Option<T>> {
    if meta.input.peek(Token![=]) {
        return meta.value()?.parse().map(Some);
    }
    let name = path_name(&meta.path);
    errors.spanned(&meta.path, format_args!("`{name}` needs {needs}"));
    skip_value(meta)?;
    Ok(None)
}

/// Skips what follows a key (`= expr` or a parenthesized group) so that the
/// keys after it are still read.
pub(crate) fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        let _: Expr = meta.value()?.parse()?;
    } else if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
        let _: TokenTree = meta.input.parse()?;
    }
    Ok(())
}
