//! The parsed model of a `#[derive(GovernanceError)]` input. It borrows the
//! syntax tree so that every error can point at the user's own tokens.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Data, DeriveInput, Fields, Ident, Index, Member, Type};

use super::attr::{self, CaseAttrs, ContainerAttrs, FieldAttrs, Place};
use crate::errors::Errors;

/// The derive input: a struct (one case) or an enum (one case per variant).
pub(crate) struct Input<'a> {
    pub original: &'a DeriveInput,
    /// The type's own attributes (`problem`, `openapi`).
    pub attrs: ContainerAttrs,
    /// The type's doc comment.
    pub docs: Option<String>,
    pub cases: Vec<Case<'a>>,
}

/// One way the type maps to a response: the struct itself or one variant.
pub(crate) struct Case<'a> {
    /// The struct's or the variant's name.
    pub ident: &'a Ident,
    /// The path that matches this case in a pattern: `Self` or `Self::Variant`.
    pub path: TokenStream,
    pub attrs: CaseAttrs,
    /// The variant's `#[cfg(…)]` attributes, repeated on everything generated
    /// for it (its match arms, its schema), so that a variant compiled out is
    /// out of the impls too.
    pub cfgs: Vec<&'a syn::Attribute>,
    /// The doc comment of the struct or the variant.
    pub docs: Option<String>,
    pub fields: Vec<Field<'a>>,
}

/// One field of a case.
pub(crate) struct Field<'a> {
    pub original: &'a syn::Field,
    /// The field's name or index.
    pub member: Member,
    /// The name it is bound to in generated patterns.
    pub binding: Ident,
    pub ty: &'a Type,
    pub attrs: FieldAttrs,
    /// The field's doc comment.
    pub docs: Option<String>,
}

impl<'a> Input<'a> {
    /// Reads the input and its attributes, recording attribute errors in
    /// `errors`. Fails only when the input is not a struct or an enum.
    pub(crate) fn from_syn(input: &'a DeriveInput, errors: &mut Errors) -> syn::Result<Self> {
        match &input.data {
            Data::Struct(data) => {
                let (container, attrs) = attr::case_attrs(&input.attrs, Place::Struct, errors);
                let docs = attr::docs(&input.attrs);
                let case = Case::new(
                    &input.ident,
                    quote!(Self),
                    Vec::new(),
                    attrs,
                    docs.clone(),
                    &data.fields,
                    errors,
                );
                Ok(Input {
                    original: input,
                    attrs: container,
                    docs,
                    cases: vec![case],
                })
            }
            Data::Enum(data) => {
                let (container, _) = attr::case_attrs(&input.attrs, Place::Enum, errors);
                let cases = data
                    .variants
                    .iter()
                    .map(|variant| {
                        let (_, attrs) = attr::case_attrs(&variant.attrs, Place::Variant, errors);
                        let ident = &variant.ident;
                        let docs = attr::docs(&variant.attrs);
                        let cfgs = variant
                            .attrs
                            .iter()
                            .filter(|a| a.path().is_ident("cfg"))
                            .collect();
                        Case::new(
                            ident,
                            quote!(Self::#ident),
                            cfgs,
                            attrs,
                            docs,
                            &variant.fields,
                            errors,
                        )
                    })
                    .collect();
                Ok(Input {
                    original: input,
                    attrs: container,
                    docs: attr::docs(&input.attrs),
                    cases,
                })
            }
            Data::Union(data) => Err(syn::Error::new_spanned(
                data.union_token,
                "`GovernanceError` cannot be derived for a union; use an enum with one variant per case, or a struct",
            )),
        }
    }
}

impl<'a> Case<'a> {
    /// The only field of a transparent case, or `None` when the case is not one.
    pub(crate) fn transparent(&self) -> Option<&Field<'a>> {
        self.attrs.transparent.as_ref()?;
        self.fields.first()
    }

    fn new(
        ident: &'a Ident,
        path: TokenStream,
        cfgs: Vec<&'a syn::Attribute>,
        attrs: CaseAttrs,
        docs: Option<String>,
        fields: &'a Fields,
        errors: &mut Errors,
    ) -> Self {
        let fields = fields
            .iter()
            .enumerate()
            .map(|(index, field)| Field {
                original: field,
                member: match &field.ident {
                    Some(ident) => Member::Named(ident.clone()),
                    None => Member::Unnamed(Index {
                        index: index as u32,
                        span: Span::call_site(),
                    }),
                },
                binding: quote::format_ident!("__field{}", index),
                ty: &field.ty,
                attrs: attr::field_attrs(&field.attrs, errors),
                docs: attr::docs(&field.attrs),
            })
            .collect();
        Case {
            ident,
            path,
            cfgs,
            attrs,
            docs,
            fields,
        }
    }

    /// The named field called `name`.
    pub(crate) fn field(&self, name: &Ident) -> Option<&Field<'a>> {
        self.fields
            .iter()
            .find(|field| field.original.ident.as_ref() == Some(name))
    }

    /// The fields written to the JSON body: the named ones not skipped.
    pub(crate) fn body_fields(&self) -> impl Iterator<Item = &Field<'a>> {
        self.fields
            .iter()
            .filter(|field| field.original.ident.is_some() && field.attrs.skip.is_none())
    }

    /// The `error` code when no `code` is given: the snake-case name.
    pub(crate) fn default_code(&self) -> String {
        snake_case(&self.ident.to_string())
    }

    /// The HTTP status as a number; validation guarantees one in
    /// 400..=599 before anything is generated (500 stands in for a missing
    /// one on the fallback path).
    pub(crate) fn status_code(&self) -> u16 {
        self.attrs
            .status
            .as_ref()
            .and_then(|status| status.value.base10_parse::<u16>().ok())
            .unwrap_or(500)
    }
}

impl Field<'_> {
    /// The field's key in the JSON body: its rename or its name.
    pub(crate) fn key(&self) -> String {
        match (&self.attrs.rename, &self.original.ident) {
            (Some(rename), _) => rename.value.value(),
            (None, Some(ident)) => unraw(&ident.to_string()).to_owned(),
            (None, None) => String::new(),
        }
    }
}

/// `PolicyBlock` -> `policy_block`, `HTTPError` -> `http_error`.
pub(crate) fn snake_case(name: &str) -> String {
    let chars: Vec<char> = unraw(name).chars().collect();
    let mut out = String::with_capacity(chars.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let boundary =
                prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower);
            if boundary && prev != '_' {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

fn unraw(name: &str) -> &str {
    name.strip_prefix("r#").unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn snake_case_of_variant_names() {
        assert_eq!(snake_case("PolicyBlock"), "policy_block");
        assert_eq!(snake_case("HTTPError"), "http_error");
        assert_eq!(snake_case("Tier2Denied"), "tier2_denied");
        assert_eq!(snake_case("Rejected"), "rejected");
        assert_eq!(snake_case("ABC"), "abc");
        assert_eq!(snake_case("Already_Snake"), "already_snake");
    }
}
