//! What the derive emits beside `compile_error!` when the input has mistakes:
//! stub impls, so that the uses of the type as a `GovernanceError` or as a
//! response do not add a cascade of unrelated errors to the real ones.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput};

use super::attr::{self, OPENAPI};

/// The errors, then stub impls whose bodies are never run.
pub(crate) fn expand(input: &DeriveInput, error: syn::Error) -> TokenStream {
    let errors = error.into_compile_error();
    if let Data::Union(_) = input.data {
        // No stub: the derive does not apply to a union at all.
        return errors;
    }
    let ty = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let schema = wants_openapi(input).then(|| {
        let schema_type = super::schema::schema_type();
        quote! {
            ::tappass::__openapi! {
                #[automatically_derived]
                impl #impl_generics ::tappass::__private::openapi::utoipa::PartialSchema for #ty #ty_generics #where_clause {
                    fn schema() -> #schema_type {
                        ::core::unreachable!()
                    }
                }

                #[automatically_derived]
                impl #impl_generics ::tappass::__private::openapi::utoipa::ToSchema for #ty #ty_generics #where_clause {}
            }
        }
    });
    quote! {
        #errors

        #schema

        #[automatically_derived]
        impl #impl_generics ::tappass::GovernanceError for #ty #ty_generics #where_clause {
            fn status(&self) -> ::tappass::__private::http::StatusCode {
                ::core::unreachable!()
            }

            fn code(&self) -> &::core::primitive::str {
                ::core::unreachable!()
            }

            fn serialize_fields<__S>(&self, __map: &mut __S) -> ::core::result::Result<(), __S::Error>
            where
                __S: ::tappass::__private::serde::ser::SerializeMap,
            {
                ::core::unreachable!()
            }
        }

        #[automatically_derived]
        impl #impl_generics ::tappass::__private::axum::response::IntoResponse for #ty #ty_generics #where_clause {
            fn into_response(self) -> ::tappass::__private::axum::response::Response {
                ::core::unreachable!()
            }
        }
    }
}

/// Whether the type asks for an OpenAPI schema, read leniently: the
/// attributes may be the mistakes being reported.
fn wants_openapi(input: &DeriveInput) -> bool {
    let mut wants = false;
    for attr in attr::governance_attrs(&input.attrs) {
        let _ = attr.parse_nested_meta(|meta| {
            wants |= meta.path.is_ident(OPENAPI);
            crate::meta::skip_value(&meta)
        });
    }
    wants
}
