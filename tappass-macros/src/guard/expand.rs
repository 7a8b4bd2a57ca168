//! Rewrites a valid guarded function: the check of the call first (the
//! credentials in scope, the code's constraints, a proof of possession, the
//! authorizer's decision), returning `Err` for a refused call, then the
//! body as written.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, LitStr, ReturnType};

use super::args::Options;
use super::fallback::without_constraints;
use super::model::Guarded;

/// The function with its check.
pub(crate) fn function(options: &Options, guarded: &Guarded<'_>) -> TokenStream {
    let mut item = without_constraints(guarded.original);
    let tool = match &options.tool {
        Some(tool) => tool.clone(),
        None => LitStr::new(&guarded.default_tool(), guarded.original.sig.ident.span()),
    };
    // Hygienic: the body cannot see or clash with them.
    let constraints = Ident::new("__TAPPASS_CONSTRAINTS", Span::mixed_site());
    let refusal = Ident::new("__tappass_refusal", Span::mixed_site());

    let mut args = Vec::new();
    let mut checks = Vec::new();
    let mut built = Vec::new();
    for param in &guarded.params {
        let Some(ident) = param.ident else { continue };
        let name = ident.to_string();
        let name = LitStr::new(name.strip_prefix("r#").unwrap_or(&name), ident.span());
        let ty = &param.original.ty;
        if !contains_impl_trait(ty) {
            checks.push(quote_spanned! {param.ty_span()=>
                ::tappass::__private::guard::argument_type::<#ty>();
            });
        }
        args.push(quote! {
            .arg(#name, {
                #[allow(unused_imports)]
                use ::tappass::__private::guard::{ArgViaNothing as _, ArgViaSerialize as _};
                (&&::tappass::__private::guard::ArgProbe(&#ident)).to_json()
            })
        });
        if let Some(expr) = &param.constraint {
            let call = quote_spanned!(expr.span()=> ::tappass::__private::guard::constraint);
            built.push(quote!(#call(#name, #expr)));
        }
    }
    // Spanned whole on the return type: an error type that cannot carry a
    // refusal is reported there.
    let refuse = match &guarded.original.sig.output {
        ReturnType::Type(_, ty) => {
            quote_spanned!(ty.span()=> return ::tappass::__private::guard::refuse(#refusal);)
        }
        ReturnType::Default => quote!(return ::tappass::__private::guard::refuse(#refusal);),
    };
    let block = &item.block;
    item.block = syn::parse_quote!({
        ::tappass::__guard! {
            #(#checks)*
            static #constraints: ::tappass::__private::guard::Constraints =
                ::tappass::__private::guard::Constraints::new();
            if let ::core::result::Result::Err(#refusal) = ::tappass::__private::guard::check(
                #tool,
                ::tappass::__private::guard::GuardArgs::new() #(#args)*,
                #constraints.get_or_init(|| ::std::vec![#(#built),*]),
            ) {
                #refuse
            }
        }
        #block
    });
    quote!(#item)
}

/// Whether `ty` holds an `impl Trait`, which cannot be named in a turbofish.
fn contains_impl_trait(ty: &syn::Type) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|token| match token {
            proc_macro2::TokenTree::Ident(ident) => ident == "impl",
            proc_macro2::TokenTree::Group(group) => walk(group.stream()),
            _ => false,
        })
    }
    walk(quote!(#ty))
}
