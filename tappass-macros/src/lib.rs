//! Procedural macros for `tappass`; use them through the `tappass` crate
//! (`#[tappass::governed]`, `#[derive(tappass::GovernanceError)]`).

use proc_macro::TokenStream;
use syn::parse::Parse;

mod errors;
mod governance_error;

/// Placeholder until the macros land: passes the handler through unchanged.
#[proc_macro_attribute]
pub fn governed(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}

/// DOC
#[proc_macro_derive(GovernanceError, attributes(governance))]
pub fn derive_governance_error(input: TokenStream) -> TokenStream {
    expand(input, |input: syn::DeriveInput| {
        Ok(governance_error::derive(&input))
    })
}

/// Parses `tokens` as `T` and expands it with `f`; an error becomes
/// `compile_error!` at its span.
fn expand<T: Parse>(
    tokens: TokenStream,
    f: impl FnOnce(T) -> syn::Result<proc_macro2::TokenStream>,
) -> TokenStream {
    syn::parse::<T>(tokens)
        .and_then(f)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
