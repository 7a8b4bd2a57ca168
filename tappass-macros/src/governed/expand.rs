//! Rewrites a valid handler: with `capability = "…"` the mandate check first
//! (before anything else runs, the route's session and the body included),
//! with `tool = "…"` the capability token's check of the call next,
//! the governed context next (it resolves the
//! route's session and fills the `Session` parameters), the injected `Agent`
//! extractors next, the other parameters after them in their order (so the
//! body extractor stays last), and the body run inside the request's session
//! with its response wrapped in `Governed`.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Ident, ReturnType, Type};

use super::args::Options;
use super::handler::{is_agent, is_required_session, Handler};

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

    // Hygienic: the body cannot see, shadow or clash with them.
    let ctx = Ident::new("__tappass_ctx", Span::mixed_site());
    let route = Ident::new("__tappass_route", Span::mixed_site());
    let session = Ident::new("__tappass_session", Span::mixed_site());
    let flag = match &options.auto_open_session {
        None => quote!(::tappass::__private::Inherit),
        Some(flag) if flag.value => quote!(::tappass::__private::Open),
        Some(_) => quote!(::tappass::__private::JoinOnly),
    };
    // The `Session` and `Option<Session>` parameters are bound from the
    // context, in their order; the last one takes the value, the others a clone.
    let sessions: Vec<_> = handler.sessions().collect();
    let need = if sessions.iter().any(|param| is_required_session(&param.ty)) {
        quote!(::tappass::__private::Required)
    } else if sessions.is_empty() {
        quote!(::tappass::__private::Unused)
    } else {
        quote!(::tappass::__private::Optional)
    };
    let taken = if sessions.is_empty() {
        quote!(_)
    } else {
        quote!(#session)
    };
    let bindings = sessions.iter().enumerate().map(|(i, param)| {
        let attrs = &param.attrs;
        let pat = &param.pat;
        let ty = &param.ty;
        let value = if i + 1 == sessions.len() {
            quote!(#session)
        } else {
            quote!(::core::clone::Clone::clone(&#session))
        };
        quote! {
            #(#attrs)*
            let #pat: #ty = ::core::convert::From::from(#value);
        }
    });
    let others = handler.others();
    // With `capability = "…"`: a hidden parameter, the first of all, that
    // verifies the mandate before any other extractor (the route's session,
    // the body) runs. Without the `mandate` feature, `__mandate!` is the
    // error, at the first capability's string.
    let (capability_items, mandate_param) = match options.capabilities.first() {
        None => (TokenStream::new(), TokenStream::new()),
        Some(first) => {
            let source = format_ident!("__TapPassCapabilities_{}", ident);
            let capabilities = &options.capabilities;
            // With a `State<T>` parameter, the verifier may also come from
            // the state (`MandateVerifier: FromRef<T>`), found at compile
            // time for this concrete `T`, as the `Agent` is.
            let (state_items, param) = match handler.state_type() {
                Some(state) => (
                    state_source(&source, state, quote!(::tappass::mandate::MandateVerifier)),
                    quote!(_: ::tappass::__mandate_param!(#source, #state),),
                ),
                None => (
                    TokenStream::new(),
                    quote!(_: ::tappass::__mandate_param!(#source),),
                ),
            };
            let items = quote_spanned! {first.span()=>
                #[doc(hidden)]
                #[allow(non_camel_case_types, dead_code)]
                #vis struct #source;
                ::tappass::__mandate! {
                    #[automatically_derived]
                    impl ::tappass::__private::Capabilities for #source {
                        const REQUIRED: &'static [&'static str] = &[#(#capabilities),*];
                    }
                    #state_items
                }
            };
            (items, param)
        }
    };
    // With `tool = "…"`: a hidden parameter, before everything but the
    // mandate's, that verifies the capability token and the call. Without
    // the `capability` feature, `__capability!` is the error, at the tool's
    // name.
    let (tool_items, call_param) = match &options.call.tool {
        None => (TokenStream::new(), TokenStream::new()),
        Some(tool) => {
            let source = format_ident!("__TapPassTool_{}", ident);
            let path_params = &options.call.path_params;
            let query = &options.call.query;
            let min_clearance = match &options.call.min_clearance {
                Some((_, level)) => {
                    let level = level.tokens();
                    quote!(::core::option::Option::Some(#level))
                }
                None => quote!(::core::option::Option::None),
            };
            let (state_items, param) = match handler.state_type() {
                Some(state) => (
                    state_source(&source, state, quote!(::tappass::capability::Authorizer)),
                    quote!(_: ::tappass::__capability_param!(#source, #state),),
                ),
                None => (
                    TokenStream::new(),
                    quote!(_: ::tappass::__capability_param!(#source),),
                ),
            };
            let items = quote_spanned! {tool.span()=>
                #[doc(hidden)]
                #[allow(non_camel_case_types, dead_code)]
                #vis struct #source;
                ::tappass::__capability! {
                    #[automatically_derived]
                    impl ::tappass::__private::ToolRoute for #source {
                        const TOOL: &'static ::core::primitive::str = #tool;
                        const PATH_PARAMS: &'static [&'static ::core::primitive::str] = &[#(#path_params),*];
                        const QUERY: &'static [&'static ::core::primitive::str] = &[#(#query),*];
                        const MIN_CLEARANCE: ::core::option::Option<::tappass::capability::Clearance> = #min_clearance;
                    }
                    #state_items
                }
            };
            (items, param)
        }
    };
    // With a `State<T>` parameter, an `Agent` may also come from the state
    // (`Agent: FromRef<T>`), found at compile time for this concrete `T`.
    let mut source_items = TokenStream::new();
    let injected: Vec<TokenStream> = handler
        .agents()
        .map(|param| match handler.state_type() {
            Some(state) if is_agent(&param.ty) => {
                let source = format_ident!("__TapPassAgentSource_{}", ident);
                source_items = quote! {
                    #[doc(hidden)]
                    #[allow(non_camel_case_types)]
                    #vis struct #source;
                    const _: () = {
                        #[automatically_derived]
                        impl ::tappass::__private::AgentSource<#state> for #source {
                            fn agent(state: &#state) -> ::core::option::Option<::tappass::Agent> {
                                #[allow(unused_imports)]
                                use ::tappass::__private::{ViaFromRef as _, ViaNothing as _};
                                (&&::tappass::__private::Probe::<#state>::new()).agent_from_state(state)
                            }
                        }
                    };
                };
                let attrs = &param.attrs;
                let pat = &param.pat;
                quote! {
                    #(#attrs)*
                    ::tappass::__private::InjectedAgent(#pat, _):
                        ::tappass::__private::InjectedAgent<#state, #source>
                }
            }
            _ => param.to_token_stream(),
        })
        .collect();

    // A concrete answer type: the handler returns `Response`, converted in
    // its body by autoref specialization, so that an answer that is not
    // `IntoResponse` is one error (`check_answer`'s, at the return type) and
    // not a second one where the route is registered. A generic or
    // `impl Trait` answer keeps `Governed<R>` (its conversion needs the bound).
    let respond = |ty: TokenStream| {
        let answer = Ident::new("__tappass_answer", Span::mixed_site());
        (
            quote!(::tappass::__private::axum::response::Response),
            quote! {{
                let #answer = #route
                    .run(::tappass::__private::typed::<#ty, _>(async move #block))
                    .await;
                #[allow(unused_imports)]
                use ::tappass::__private::{AnswerViaIntoResponse as _, AnswerViaNothing as _};
                (&&::tappass::__private::Respond::new(#answer)).respond()
            }},
        )
    };
    let generic = !sig.generics.params.is_empty();
    let (output, body) = match &sig.output {
        ReturnType::Type(_, ty) if contains_impl_trait(ty) => (
            quote!(::tappass::__private::Governed<#ty>),
            quote!(#route.run(async move #block).await),
        ),
        ReturnType::Type(_, ty) if generic => (
            quote!(::tappass::__private::Governed<#ty>),
            quote!(#route.run(::tappass::__private::typed::<#ty, _>(async move #block)).await),
        ),
        ReturnType::Type(_, ty) => respond(ty.to_token_stream()),
        ReturnType::Default => respond(quote!(())),
    };

    let checks = checks(options, handler);
    // The context is the last parameter when nothing follows it: then it
    // takes the whole request, which spares axum splitting it once more.
    let context = if injected.is_empty() && handler.others().next().is_none() {
        quote!(::tappass::__private::GovernedRequest<#flag, #need>)
    } else {
        quote!(::tappass::__private::GovernedContext<#flag, #need>)
    };

    quote! {
        #source_items
        #capability_items
        #tool_items
        #checks
        #(#attrs)*
        #vis #constness #asyncness #unsafety #abi #fn_token #ident #generics (
            #mandate_param
            #call_param
            #ctx: #context,
            #(#injected,)*
            #(#others,)*
        ) -> #output #where_clause {
            let (#route, #taken) = #ctx.into_parts();
            #(#bindings)*
            #body
        }
    }
}

/// The debug-build checks of the handler's signature: each parameter the
/// toolkit does not inject is an extractor (`FromRequestParts<S>`, or
/// `FromRequest<S>` for the last one) and the return type implements
/// `IntoResponse`, each reported on the user's own token with a sentence
/// (`tappass::__private`'s traits carry the messages). `S` is the option
/// `state = T`, else the type of a `State<T>` parameter, else `()`. A
/// generic handler, a type holding `impl Trait` and the injected parameters
/// are not checked.
fn checks(options: &Options, handler: &Handler<'_>) -> TokenStream {
    if !handler.original.sig.generics.params.is_empty() {
        return TokenStream::new();
    }
    let state = match (&options.state, handler.state_type()) {
        (Some(state), _) | (None, Some(state)) => quote!(#state),
        (None, None) => quote!(()),
    };
    let others: Vec<_> = handler.others().collect();
    let mut calls = TokenStream::new();
    for (i, param) in others.iter().enumerate() {
        let ty = &param.ty;
        if contains_impl_trait(ty) {
            continue;
        }
        calls.extend(if i + 1 == others.len() {
            quote_spanned!(ty.span()=> ::tappass::__private::check_last_parameter::<#ty, #state, _>();)
        } else {
            quote_spanned!(ty.span()=> ::tappass::__private::check_parameter::<#ty, #state>();)
        });
    }
    let mut answer = TokenStream::new();
    if let ReturnType::Type(_, ty) = &handler.original.sig.output {
        if !contains_impl_trait(ty) {
            answer = quote_spanned!(ty.span()=> ::tappass::__private::check_answer::<#ty>(););
        }
    }
    let mut out = TokenStream::new();
    if !calls.is_empty() {
        out.extend(quote! {
            #[cfg(debug_assertions)]
            const _: fn() = || {
                #calls
            };
        });
    }
    // Always, release builds included: the handler answers `Response` with
    // a stand-in when its answer is not `IntoResponse`, and only this
    // check keeps such a build from succeeding.
    if !answer.is_empty() {
        out.extend(quote! {
            const _: fn() = || {
                #answer
            };
        });
    }
    out
}

/// The hidden impl by which the handler's `State<#state>` lends a `#service`
/// (a mandate verifier, an authorizer) when `#service: FromRef<#state>`,
/// found at compile time for this concrete state.
fn state_source(source: &Ident, state: &Type, service: TokenStream) -> TokenStream {
    quote! {
        const _: () = {
            #[automatically_derived]
            impl ::tappass::__private::ServiceSource<#state, #service> for #source {
                fn service(state: &#state) -> ::core::option::Option<#service> {
                    #[allow(unused_imports)]
                    use ::tappass::__private::{ServiceViaFromRef as _, ServiceViaNothing as _};
                    (&&::tappass::__private::ServiceProbe::<#state, #service>::new()).service_from_state(state)
                }
            }
        };
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
