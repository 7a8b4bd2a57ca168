//! `#[derive(GovernanceError)]`: parse (`ast`, `attr`), validate (`valid`),
//! then generate (`expand`, and `schema` for `#[governance(openapi)]`), or
//! emit the errors with stub impls (`fallback`).

mod ast;
mod attr;
mod expand;
mod fallback;
mod schema;
mod valid;

use proc_macro2::TokenStream;
use syn::DeriveInput;

use crate::errors::Errors;
use ast::Input;

/// The impls for `input`, or its errors beside stub impls.
pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    try_derive(input).unwrap_or_else(|error| fallback::expand(input, error))
}

fn try_derive(input: &DeriveInput) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let input = Input::from_syn(input, &mut errors)?;
    valid::check(&input, &mut errors);
    errors.finish()?;
    Ok(expand::impls(&input))
}
