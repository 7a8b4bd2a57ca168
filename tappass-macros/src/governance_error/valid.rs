//! The rules that look across attributes, as small `check_*` functions. Each
//! records its errors and lets the others run, so that every mistake of an
//! input is reported in one build.

use std::collections::BTreeSet;

use super::ast::{Case, Input};
use super::attr::{Code, RENAME, RETRY_AFTER, SKIP, STATUS, TRANSPARENT};
use crate::errors::Errors;
use crate::meta::path_name;

/// Body keys the renderer writes itself.
const RESERVED_KEYS: &[(&str, &str)] = &[
    ("error", "the `error` code"),
    ("message", "the `Display` text"),
];

/// Records every rule the input breaks.
pub(crate) fn check(input: &Input<'_>, errors: &mut Errors) {
    for case in &input.cases {
        check_status(case, errors);
        check_transparent(case, errors);
        check_code(case, errors);
        check_retry_after(case, errors);
        check_field_attrs(case, errors);
        check_body_keys(case, errors);
    }
}

/// A case needs a status in 400..=599, unless it is transparent.
fn check_status(case: &Case<'_>, errors: &mut Errors) {
    if case.attrs.transparent.is_some() {
        return;
    }
    match &case.attrs.status {
        // A malformed `status` was reported where it was written.
        None if case.attrs.mentions(STATUS) => {}
        None => errors.spanned(
            case.ident,
            format_args!(
                "missing `#[governance({STATUS} = …)]` on `{}`: give the HTTP status of this case (400..=599), or `#[governance({TRANSPARENT})]` to use the mapping of its only field",
                case.ident,
            ),
        ),
        Some(status) => {
            let in_range = status
                .value
                .base10_parse::<u16>()
                .is_ok_and(|code| (400..=599).contains(&code));
            if !in_range {
                errors.spanned(
                    &status.value,
                    format_args!(
                        "`{}` is not an error status: `{STATUS}` must be between 400 and 599",
                        status.value.base10_digits(),
                    ),
                );
            }
        }
    }
}

/// A transparent case has exactly one field and no mapping of its own.
fn check_transparent(case: &Case<'_>, errors: &mut Errors) {
    let Some(transparent) = &case.attrs.transparent else {
        return;
    };
    if case.fields.len() != 1 {
        errors.spanned(
            &transparent.key,
            format_args!(
                "`{TRANSPARENT}` needs exactly one field, the inner error whose mapping is used; `{}` has {}",
                case.ident,
                count(case.fields.len()),
            ),
        );
    }
    for key in case.attrs.mapping_keys() {
        errors.spanned(
            key,
            format_args!(
                "`{}` cannot be combined with `{TRANSPARENT}`, which uses the inner error's mapping as it is",
                path_name(key),
            ),
        );
    }
    for field in &case.fields {
        if let Some(attr) = &field.attrs.skip {
            errors.spanned(
                &attr.key,
                format_args!("`{SKIP}` has no effect on the field of a `{TRANSPARENT}` case"),
            );
        }
        if let Some(attr) = &field.attrs.rename {
            errors.spanned(
                &attr.key,
                format_args!("`{RENAME}` has no effect on the field of a `{TRANSPARENT}` case"),
            );
        }
    }
}

/// A literal code is snake case; a field code names a named field; without a
/// code, the case's name must give one.
fn check_code(case: &Case<'_>, errors: &mut Errors) {
    match case.attrs.code.as_ref().map(|code| &code.value) {
        Some(Code::Literal(lit)) if !is_snake_case(&lit.value()) => errors.spanned(
            lit,
            "`code` must be non-empty snake case (`[a-z0-9_]+`), like `prompt_rejected`",
        ),
        Some(Code::Field(ident)) if case.field(ident).is_none() => errors.spanned(
            ident,
            format_args!(
                "`code` names no field of `{}`{}",
                case.ident,
                known_fields(case)
            ),
        ),
        None if case.attrs.transparent.is_none() && !is_snake_case(&case.default_code()) => {
            errors.spanned(
                case.ident,
                format_args!(
                    "cannot make a snake-case `error` code from `{}`; give one with `#[governance(code = \"…\")]`",
                    case.ident,
                ),
            )
        }
        _ => {}
    }
}

/// `retry_after` names a named field.
fn check_retry_after(case: &Case<'_>, errors: &mut Errors) {
    if let Some(retry_after) = &case.attrs.retry_after {
        if case.field(&retry_after.value).is_none() {
            errors.spanned(
                &retry_after.value,
                format_args!(
                    "`{RETRY_AFTER}` names no field of `{}`{}",
                    case.ident,
                    known_fields(case),
                ),
            );
        }
    }
}

/// Field attributes that would have no effect.
fn check_field_attrs(case: &Case<'_>, errors: &mut Errors) {
    for field in &case.fields {
        if let Some(rename) = &field.attrs.rename {
            if field.original.ident.is_none() {
                errors.spanned(
                    &rename.key,
                    "an unnamed field never reaches the body, so it cannot be renamed",
                );
            } else if field.attrs.skip.is_some() {
                errors.spanned(
                    &rename.key,
                    "a skipped field never reaches the body, so `rename` has no effect",
                );
            } else if rename.value.value().is_empty() {
                errors.spanned(&rename.value, "`rename` needs a non-empty key");
            }
        }
    }
}

/// The body keys of a case are distinct and leave the renderer's own alone.
fn check_body_keys(case: &Case<'_>, errors: &mut Errors) {
    if case.attrs.transparent.is_some() {
        return;
    }
    let mut seen = BTreeSet::new();
    for field in case.body_fields() {
        let key = field.key();
        let span = match (&field.attrs.rename, &field.original.ident) {
            (Some(rename), _) => rename.value.span(),
            (None, Some(ident)) => ident.span(),
            (None, None) => continue,
        };
        if let Some((_, what)) = RESERVED_KEYS.iter().find(|(reserved, _)| *reserved == key) {
            errors.at(
                span,
                format_args!(
                    "the body key `{key}` holds {what}; rename this field with `#[governance({RENAME} = \"…\")]` or leave it out with `#[governance({SKIP})]`",
                ),
            );
        } else if !seen.insert(key.clone()) {
            errors.at(
                span,
                format_args!(
                    "two fields of `{}` write the body key `{key}`; rename one with `#[governance({RENAME} = \"…\")]`",
                    case.ident,
                ),
            );
        }
    }
}

fn is_snake_case(code: &str) -> bool {
    !code.is_empty()
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `: expected one of `a`, `b`` or a note that there are no named fields.
fn known_fields(case: &Case<'_>) -> String {
    let names: Vec<String> = case
        .fields
        .iter()
        .filter_map(|field| field.original.ident.as_ref())
        .map(|ident| format!("`{ident}`"))
        .collect();
    if names.is_empty() {
        ", which has no named fields".to_owned()
    } else {
        format!("; its named fields are {}", names.join(", "))
    }
}

fn count(n: usize) -> String {
    match n {
        0 => "none".to_owned(),
        1 => "one".to_owned(),
        n => n.to_string(),
    }
}
