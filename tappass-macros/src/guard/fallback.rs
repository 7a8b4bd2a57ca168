//! What `#[guard]` emits beside `compile_error!` when it is misused: the
//! function as written, without its `#[constraint]` attributes, so that
//! its callers do not add unrelated errors to the real ones.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{FnArg, ItemFn};

use super::model::is_constraint;

/// The errors, then the function without its helper attributes.
pub(crate) fn expand(item: &ItemFn, error: syn::Error) -> TokenStream {
    let errors = error.into_compile_error();
    let item = without_constraints(item);
    quote! {
        #errors
        #item
    }
}

/// `item` without the `#[constraint(…)]` of its parameters (the compiler
/// knows no such attribute).
pub(crate) fn without_constraints(item: &ItemFn) -> ItemFn {
    let mut item = item.clone();
    for input in item.sig.inputs.iter_mut() {
        let attrs = match input {
            FnArg::Receiver(r) => &mut r.attrs,
            FnArg::Typed(p) => &mut p.attrs,
        };
        attrs.retain(|a| !is_constraint(a));
    }
    item
}

/// The error, then the item as written, for an item that is not a fn.
pub(crate) fn not_a_fn(item: TokenStream, error: syn::Error) -> TokenStream {
    let errors = error.into_compile_error();
    quote! {
        #errors
        #item
    }
}
