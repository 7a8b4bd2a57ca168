//! What `#[governed]` emits beside `compile_error!` when it is misused: the
//! handler as written (made `async` if it was not, and without a body
//! extractor that is not last), so that the route that uses it does not add
//! unrelated errors (axum's `Handler<_, _>`) to the real ones.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{FnArg, ItemFn, PatType};

use super::handler::Handler;

/// The errors, then the handler unchanged but for `async` and its
/// misplaced body extractors: those leave the signature and are bound in the
/// body to a value that is never made, so the body still type-checks.
pub(crate) fn expand(mut item: ItemFn, error: syn::Error) -> TokenStream {
    let errors = error.into_compile_error();
    if item.sig.asyncness.is_none() {
        item.sig.asyncness = Some(syn::token::Async(item.sig.fn_token.span));
    }
    // Their positions among the inputs (the model borrows the item).
    let misplaced: Vec<usize> = {
        let handler = Handler::from_syn(&item);
        let misplaced: Vec<&PatType> = handler.misplaced_bodies().collect();
        item.sig
            .inputs
            .iter()
            .enumerate()
            .filter(|(_, input)| {
                matches!(input, FnArg::Typed(p) if misplaced.iter().any(|m| std::ptr::eq(*m, p)))
            })
            .map(|(i, _)| i)
            .collect()
    };
    let mut kept = syn::punctuated::Punctuated::new();
    let mut bound = Vec::new();
    for (i, input) in std::mem::take(&mut item.sig.inputs).into_iter().enumerate() {
        match input {
            FnArg::Typed(param) if misplaced.contains(&i) => bound.push(param),
            other => kept.push(other),
        }
    }
    item.sig.inputs = kept;
    if !bound.is_empty() {
        // What the body does with them never runs: no lint about it either.
        item.attrs
            .push(syn::parse_quote!(#[allow(unused_variables, unreachable_code)]));
        let block = &item.block;
        let (pats, tys): (Vec<_>, Vec<_>) = bound.iter().map(|p| (&p.pat, &p.ty)).unzip();
        item.block = syn::parse_quote!({
            #[allow(unreachable_code, unused_variables)]
            {
                #(let #pats: #tys = ::core::unreachable!();)*
                #block
            }
        });
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
