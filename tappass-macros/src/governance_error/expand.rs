//! Generates `impl GovernanceError` and `impl IntoResponse` for a valid input,
//! and the OpenAPI schema when the type asks for it (`schema`).
//!
//! Each trait method is one `match self` with an arm per case. Checks that the
//! user's types must pass (`BodyField`, i.e. `Serialize`, `RetryAfter`, `AsRef<str>`, the inner
//! `GovernanceError` of a transparent case) name the field's type in a
//! turbofish spanned on that type, so that an unmet bound is reported on the
//! field.

use proc_macro2::{Literal, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

use super::ast::{Case, Field, Input};
use super::attr::Code;
use super::schema;

/// The two impls, and the schema's when the type asks for it.
pub(crate) fn impls(input: &Input<'_>) -> TokenStream {
    let ty = &input.original.ident;
    let (impl_generics, ty_generics, where_clause) = input.original.generics.split_for_impl();

    let status = dispatch(input, status);
    let code = dispatch(input, code);
    let serialize_fields = dispatch(input, serialize_fields);

    let any = |f: fn(&Case<'_>) -> bool| input.cases.iter().any(f);
    let public_message = any(|case| {
        case.attrs.transparent.is_some() || case.attrs.message.is_some()
    })
    .then(|| {
        let body = dispatch(input, public_message);
        quote! {
            fn public_message(&self) -> ::core::option::Option<&'static ::core::primitive::str> {
                #body
            }
        }
    });
    let field_names =
        any(|case| case.attrs.transparent.is_some() || case.body_fields().next().is_some()).then(
            || {
                let body = dispatch(input, field_names);
                quote! {
                    fn field_names(&self) -> &'static [&'static ::core::primitive::str] {
                        #body
                    }
                }
            },
        );
    let headers = any(|case| {
        case.attrs.transparent.is_some()
            || case.attrs.retry_after.is_some()
            || case.attrs.headers.is_some()
    })
    .then(|| {
        let body = dispatch(input, headers);
        quote! {
            fn headers(&self, __headers: &mut ::tappass::__private::http::HeaderMap) {
                #body
            }
        }
    });

    let render = match &input.attrs.problem {
        Some(_) => quote!(::tappass::__private::render_problem),
        None => quote!(::tappass::__private::render),
    };
    let schema = input
        .attrs
        .openapi
        .as_ref()
        .map(|openapi| schema::impls(input, openapi));

    quote! {
        #[automatically_derived]
        impl #impl_generics ::tappass::GovernanceError for #ty #ty_generics #where_clause {
            fn status(&self) -> ::tappass::__private::http::StatusCode {
                #status
            }

            fn code(&self) -> &::core::primitive::str {
                #code
            }

            #public_message

            #field_names

            fn serialize_fields<__S>(&self, __map: &mut __S) -> ::core::result::Result<(), __S::Error>
            where
                __S: ::tappass::__private::serde::ser::SerializeMap,
            {
                #serialize_fields
            }

            #headers
        }

        #[automatically_derived]
        impl #impl_generics ::tappass::__private::axum::response::IntoResponse for #ty #ty_generics #where_clause {
            fn into_response(self) -> ::tappass::__private::axum::response::Response {
                #render(&self)
            }
        }

        #schema
    }
}

/// What one method does for one case: the fields it binds and its body.
struct Arm<'c, 'a> {
    fields: Vec<&'c Field<'a>>,
    body: TokenStream,
}

/// `match self { … }` with one arm per case.
fn dispatch<'c, 'a>(input: &'c Input<'a>, arm: fn(&'c Case<'a>) -> Arm<'c, 'a>) -> TokenStream {
    if input.cases.is_empty() {
        return quote!(match *self {});
    }
    let arms = input.cases.iter().map(|case| {
        let Arm { fields, body } = arm(case);
        let path = &case.path;
        let cfgs = &case.cfgs;
        let bindings = fields.iter().map(|field| {
            let member = &field.member;
            let binding = &field.binding;
            quote!(#member: #binding)
        });
        quote!(#(#cfgs)* #path { #(#bindings,)* .. } => { #body })
    });
    quote! {
        match self {
            #(#arms)*
        }
    }
}

/// For a transparent case, the arm that answers with the inner error's own
/// `method`, called with the inner value and then `args`.
fn delegated<'c, 'a>(case: &'c Case<'a>, method: &str, args: TokenStream) -> Option<Arm<'c, 'a>> {
    let inner = case.transparent()?;
    let call = delegate(inner, method);
    let binding = &inner.binding;
    let args = (!args.is_empty()).then(|| quote!(, #args));
    Some(Arm {
        fields: vec![inner],
        body: quote!(#call(#binding #args)),
    })
}

/// `<Inner as GovernanceError>::method`, spanned on the inner field's type.
fn delegate(field: &Field<'_>, method: &str) -> TokenStream {
    let ty = field.ty;
    let method = syn::Ident::new(method, proc_macro2::Span::call_site());
    quote_spanned!(ty.span()=> <#ty as ::tappass::GovernanceError>::#method)
}

fn status<'c, 'a>(case: &'c Case<'a>) -> Arm<'c, 'a> {
    if let Some(arm) = delegated(case, "status", TokenStream::new()) {
        return arm;
    }
    // Validation guarantees a status in 400..=599, which `from_u16` accepts.
    let code = Literal::u16_unsuffixed(case.status_code());
    Arm {
        fields: Vec::new(),
        body: quote! {
            match ::tappass::__private::http::StatusCode::from_u16(#code) {
                ::core::result::Result::Ok(status) => status,
                ::core::result::Result::Err(_) => ::tappass::__private::http::StatusCode::INTERNAL_SERVER_ERROR,
            }
        },
    }
}

fn code<'c, 'a>(case: &'c Case<'a>) -> Arm<'c, 'a> {
    if let Some(arm) = delegated(case, "code", TokenStream::new()) {
        return arm;
    }
    match case.attrs.code.as_ref().map(|code| &code.value) {
        Some(Code::Literal(lit)) => Arm {
            fields: Vec::new(),
            body: lit.to_token_stream(),
        },
        Some(Code::Field(ident)) => match case.field(ident) {
            Some(field) => {
                let ty = field.ty;
                let as_ref = quote_spanned! {ty.span()=>
                    <#ty as ::core::convert::AsRef<::core::primitive::str>>::as_ref
                };
                let binding = &field.binding;
                Arm {
                    fields: vec![field],
                    body: quote!(#as_ref(#binding)),
                }
            }
            None => default_code(case),
        },
        None => default_code(case),
    }
}

fn default_code<'c, 'a>(case: &'c Case<'a>) -> Arm<'c, 'a> {
    let code = Literal::string(&case.default_code());
    Arm {
        fields: Vec::new(),
        body: code.into_token_stream(),
    }
}

fn public_message<'c, 'a>(case: &'c Case<'a>) -> Arm<'c, 'a> {
    if let Some(arm) = delegated(case, "public_message", TokenStream::new()) {
        return arm;
    }
    let body = match &case.attrs.message {
        Some(message) => {
            let message = &message.value;
            quote!(::core::option::Option::Some(#message))
        }
        None => quote!(::core::option::Option::None),
    };
    Arm {
        fields: Vec::new(),
        body,
    }
}

fn field_names<'c, 'a>(case: &'c Case<'a>) -> Arm<'c, 'a> {
    if let Some(arm) = delegated(case, "field_names", TokenStream::new()) {
        return arm;
    }
    let keys = case
        .body_fields()
        .map(|field| Literal::string(&field.key()));
    Arm {
        fields: Vec::new(),
        body: quote!(&[#(#keys),*]),
    }
}

fn serialize_fields<'c, 'a>(case: &'c Case<'a>) -> Arm<'c, 'a> {
    if let Some(arm) = delegated(case, "serialize_fields", quote!(__map)) {
        return arm;
    }
    let fields: Vec<&Field<'_>> = case.body_fields().collect();
    let entries = fields.iter().map(|field| {
        let ty = field.ty;
        let key = Literal::string(&field.key());
        let binding = &field.binding;
        let serialize_field = quote_spanned! {ty.span()=>
            ::tappass::__private::serialize_field::<__S, #ty>
        };
        quote!(#serialize_field(__map, #key, #binding)?;)
    });
    Arm {
        body: quote! {
            #(#entries)*
            ::core::result::Result::Ok(())
        },
        fields,
    }
}

fn headers<'c, 'a>(case: &'c Case<'a>) -> Arm<'c, 'a> {
    if let Some(arm) = delegated(case, "headers", quote!(__headers)) {
        return arm;
    }
    let mut fields = Vec::new();
    let mut body = TokenStream::new();
    if let Some(field) = case
        .attrs
        .retry_after
        .as_ref()
        .and_then(|retry_after| case.field(&retry_after.value))
    {
        let ty = field.ty;
        let binding = &field.binding;
        let set_retry_after = quote_spanned! {ty.span()=>
            ::tappass::__private::set_retry_after::<#ty>
        };
        body.extend(quote!(#set_retry_after(__headers, #binding);));
        fields.push(field);
    }
    if let Some(headers) = &case.attrs.headers {
        let path = &headers.value;
        body.extend(quote!(#path(self, __headers);));
    }
    Arm { fields, body }
}
