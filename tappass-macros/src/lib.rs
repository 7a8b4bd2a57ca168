//! Procedural macros for `tappass`; use them through the `tappass` crate
//! (`#[tappass::governed]`, `#[tappass::guard]`,
//! `#[derive(tappass::GovernanceError)]`, `#[tappass::mcp::governed]`).
//!
//! Generated code names only `::tappass::…` paths, so it works wherever
//! `tappass` is a dependency (and inside `tappass` itself, which declares
//! `extern crate self as tappass`).
//!
//! `tappass`'s documentation of `governed`, `guard` and `GovernanceError` is their
//! reference, with examples that compile.

#![deny(missing_docs)]

use proc_macro::TokenStream;
use syn::parse::Parse;

mod errors;
mod governance_error;
mod governed;
mod guard;
mod mcp;
mod meta;
mod tool;

/// `#[governed]`: makes an async axum handler governed.
///
/// Defined in `tappass-macros`, used through `tappass`
/// (`#[tappass::governed]`), whose documentation of it is the reference: the
/// route flag, the injected parameters, `capability = …`, and the compile
/// errors, with examples compiled as doctests.
#[proc_macro_attribute]
pub fn governed(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(item, |item: proc_macro2::TokenStream| {
        Ok(governed::expand(args.into(), item))
    })
}

/// `#[guard]`: checks each call of an async tool function against the
/// capability token in scope.
///
/// Defined in `tappass-macros`, used through `tappass`
/// (`#[tappass::guard]`, feature `capability`), whose documentation of it is
/// the reference: the options, `#[constraint(…)]`, the scope, and the
/// compile errors.
#[proc_macro_attribute]
pub fn guard(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(item, |item: proc_macro2::TokenStream| {
        Ok(guard::expand(args.into(), item))
    })
}

/// `#[derive(GovernanceError)]`: derives the HTTP mapping of a governance error.
///
/// Defined in `tappass-macros`, used through `tappass`
/// (`#[derive(tappass::GovernanceError)]`), whose documentation of it is the
/// reference: every attribute, the body, problem details, OpenAPI and the
/// compile errors, with examples compiled as doctests.
#[proc_macro_derive(GovernanceError, attributes(governance))]
pub fn derive_governance_error(input: TokenStream) -> TokenStream {
    expand(input, |input: syn::DeriveInput| {
        Ok(governance_error::derive(&input))
    })
}

/// `#[tappass::mcp::governed]`: declares what the `#[tool]` fns of an rmcp
/// server's impl block need from TapPass.
///
/// Defined in `tappass-macros`, used through `tappass` (feature `mcp`), whose
/// documentation of it is the reference: `#[governance(..)]`, the names it
/// checks and the compile errors.
#[proc_macro_attribute]
pub fn mcp_governed(args: TokenStream, item: TokenStream) -> TokenStream {
    mcp::expand(args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
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
