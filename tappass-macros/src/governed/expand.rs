//! Rewrites a valid handler: the governed context first, the injected
//! `Agent`/`Session` extractors next, the other parameters after them in their
//! order (so the body extractor stays last), and the body run inside the
//! request's session with its response wrapped in `Governed`.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{quote, ToTokens};
use syn::{Ident, ReturnType, Type};

use super::args::Options;
use super::handler::Handler;

/// The rewritten handler.
pub(crate) fn handler(options: &Options, handler: &Handler<'_>) -> TokenStream {
    let original = handler.original;
    let attrs = &original.attrs;
    let vis = &original.vis;
    let block = &original.block;
    let sig = &original.sig;
    let constness = &sig.constness;
    let asyncness = &sig.asyncness;
    let unsafety = &sig.unsafety;
    let abi = &sig.abi;
    let fn_token = &sig.fn_token;
    let ident = &sig.ident;
    let generics = &sig.generics;
    let where_clause = &sig.generics.where_clause;

    // Hygienic: the body cannot see, shadow or clash with it.
    let ctx = Ident::new("__tappass_ctx", Span::mixed_site());
    let mode = match &options.auto_open_session {
        None => quote!(::tappass::__private::INHERIT),
        Some(flag) if flag.value => quote!(::tappass::__private::OPEN),
        Some(_) => quote!(::tappass::__private::JOIN_ONLY),
    };
    let injected = handler.injected();
    let others = handler.others();

    let (output, body) = match &sig.output {
        ReturnType::Type(_, ty) if contains_impl_trait(ty) => (
            quote!(::tappass::__private::Governed<#ty>),
            quote!(#ctx.run(async move #block).await),
        ),
        ReturnType::Type(_, ty) => (
            quote!(::tappass::__private::Governed<#ty>),
            quote!(#ctx.run(::tappass::__private::typed::<#ty, _>(async move #block)).await),
        ),
        ReturnType::Default => (
            quote!(::tappass::__private::Governed<()>),
            quote!(#ctx.run(::tappass::__private::typed::<(), _>(async move #block)).await),
        ),
    };

    quote! {
        #(#attrs)*
        #vis #constness #asyncness #unsafety #abi #fn_token #ident #generics (
            #ctx: ::tappass::__private::GovernedContext<{ #mode }>,
            #(#injected,)*
            #(#others,)*
        ) -> #output #where_clause {
            #body
        }
    }
}

/// Whether `ty` holds an `impl Trait`, which cannot be named in a turbofish.
fn contains_impl_trait(ty: &Type) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|token| match token {
            TokenTree::Ident(ident) => ident == "impl",
            TokenTree::Group(group) => walk(group.stream()),
            _ => false,
        })
    }
    walk(ty.to_token_stream())
}
