//! What `#[governed]` emits beside `compile_error!` when it is misused: the
//! handler as written (made `async` if it was not), so that the route that
//! uses it does not add unrelated errors to the real ones.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemFn;

/// The errors, then the handler unchanged but for `async`.
pub(crate) fn expand(mut item: ItemFn, error: syn::Error) -> TokenStream {
    let errors = error.into_compile_error();
    if item.sig.asyncness.is_none() {
        item.sig.asyncness = Some(syn::token::Async(item.sig.fn_token.span));
    }
    quote! {
        #errors
        #item
    }
}

/// The error, then the item as written, for an item that is not a fn.
pub(crate) fn not_a_fn(item: TokenStream, error: syn::Error) -> TokenStream {
    let errors = error.into_compile_error();
    quote! {
        #errors
        #item
    }
}
