//! Generates the OpenAPI schema of a type with `#[governance(openapi)]`:
//! `utoipa::PartialSchema` and `utoipa::ToSchema`, built with the helpers of
//! `tappass::__private::openapi`.
//!
//! The proc macro cannot see whether `tappass` has its `utoipa` feature, so
//! the impls go through `tappass::__openapi!`, which passes them on with the
//! feature and turns them into a clear compile error without it.

use proc_macro2::{Literal, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{GenericArgument, LitStr, PathArguments, Type};

use super::ast::{Case, Input};
use super::attr::{Code, Keyed};

/// `utoipa::openapi::RefOr<Schema>`, what a schema fn returns.
pub(crate) fn schema_type() -> TokenStream {
    quote!(::tappass::__private::openapi::utoipa::openapi::RefOr<
        ::tappass::__private::openapi::utoipa::openapi::schema::Schema,
    >)
}

/// The impls, wrapped in `tappass::__openapi!`. One hidden inherent fn
/// builds the schema and collects what it refers to, so that each field type
/// is named once and a type without a schema is reported once.
pub(crate) fn impls(input: &Input<'_>, openapi: &Keyed<Option<LitStr>>) -> TokenStream {
    let ty = &input.original.ident;
    let (impl_generics, ty_generics, where_clause) = input.original.generics.split_for_impl();
    let name = match &openapi.value {
        Some(name) => name.value(),
        None => {
            let ident = ty.to_string();
            ident.strip_prefix("r#").unwrap_or(&ident).to_owned()
        }
    };
    let docs = opt_str(input.docs.as_deref());
    // One push per case, under the case's own `#[cfg]`s.
    let cases = input.cases.iter().map(|c| {
        let cfgs = &c.cfgs;
        let schema = case(c);
        quote!(#(#cfgs)* __cases.push(#schema);)
    });
    let openapi_macro = quote_spanned!(openapi.key.span()=> ::tappass::__openapi!);
    let schema_type = schema_type();

    quote! {
        #openapi_macro {
            #[automatically_derived]
            impl #impl_generics #ty #ty_generics #where_clause {
                #[doc(hidden)]
                fn __tappass_openapi_schema(
                    __references: &mut ::tappass::__private::openapi::Schemas,
                ) -> #schema_type {
                    let mut __cases = ::std::vec::Vec::new();
                    #(#cases)*
                    ::tappass::__private::openapi::cases(#docs, __cases)
                }
            }

            #[automatically_derived]
            impl #impl_generics ::tappass::__private::openapi::utoipa::PartialSchema for #ty #ty_generics #where_clause {
                fn schema() -> #schema_type {
                    Self::__tappass_openapi_schema(&mut ::std::vec::Vec::new())
                }
            }

            #[automatically_derived]
            impl #impl_generics ::tappass::__private::openapi::utoipa::ToSchema for #ty #ty_generics #where_clause {
                fn name() -> ::std::borrow::Cow<'static, ::core::primitive::str> {
                    ::tappass::__private::openapi::name(#name)
                }

                fn schemas(__references: &mut ::tappass::__private::openapi::Schemas) {
                    let _ = Self::__tappass_openapi_schema(__references);
                }
            }
        }
    }
}

/// The expression of one case's schema: a reference to the inner error's
/// for a transparent case, else the case's body, field by field.
fn case(case: &Case<'_>) -> TokenStream {
    if let Some(inner) = case.transparent() {
        let inner = unboxed(inner.ty);
        let transparent = quote_spanned! {inner.span()=>
            ::tappass::__private::openapi::transparent::<#inner>
        };
        return quote!(#transparent(__references));
    }
    let status = Literal::u16_unsuffixed(case.status_code());
    let code = match case.attrs.code.as_ref().map(|code| &code.value) {
        Some(Code::Literal(lit)) => quote!(::core::option::Option::Some(#lit)),
        Some(Code::Field(_)) => quote!(::core::option::Option::None),
        None => {
            let code = Literal::string(&case.default_code());
            quote!(::core::option::Option::Some(#code))
        }
    };
    let docs = opt_str(case.docs.as_deref());
    let message = match &case.attrs.message {
        Some(message) => {
            let message = &message.value;
            quote!(::core::option::Option::Some(#message))
        }
        None => quote!(::core::option::Option::None),
    };
    let fields = case.body_fields().map(|field| {
        let ty = field.ty;
        let key = Literal::string(&field.key());
        let docs = opt_str(field.docs.as_deref());
        let method = quote_spanned!(ty.span()=> field::<#ty>);
        quote!(.#method(#key, #docs))
    });
    quote! {
        ::tappass::__private::openapi::Case::new(__references, #status, #code, #docs, #message)
            #(#fields)*
            .build()
    }
}

/// `T` for `Box<T>`: a boxed inner error has the inner error's schema.
fn unboxed(ty: &Type) -> &Type {
    if let Type::Path(path) = ty {
        if let Some(last) = path.path.segments.last() {
            if last.ident == "Box" {
                if let PathArguments::AngleBracketed(args) = &last.arguments {
                    if let [GenericArgument::Type(inner)] =
                        args.args.iter().collect::<Vec<_>>().as_slice()
                    {
                        return inner;
                    }
                }
            }
        }
    }
    ty
}

fn opt_str(text: Option<&str>) -> TokenStream {
    match text {
        Some(text) => {
            let text = Literal::string(text);
            quote!(::core::option::Option::Some(#text))
        }
        None => quote!(::core::option::Option::None),
    }
}
