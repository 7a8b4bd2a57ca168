//! Parses `#[governance(...)]` attributes: on the type ([`ContainerAttrs`]),
//! on a struct or an enum variant ([`CaseAttrs`]) and on a field
//! ([`FieldAttrs`]). A struct is both a type and a case. Every mistake is
//! recorded and parsing goes on, so that all of them are reported at once.

use syn::meta::ParseNestedMeta;
use syn::{Attribute, Expr, ExprLit, ExprPath, Ident, Lit, LitInt, LitStr, Path, Token};

use crate::errors::{closest, Errors};
use crate::meta::{path_name, skip_value, value};

/// The attribute's name.
pub(crate) const GOVERNANCE: &str = "governance";

pub(crate) const STATUS: &str = "status";
pub(crate) const CODE: &str = "code";
pub(crate) const MESSAGE: &str = "message";
pub(crate) const RETRY_AFTER: &str = "retry_after";
pub(crate) const HEADERS: &str = "headers";
pub(crate) const TRANSPARENT: &str = "transparent";
pub(crate) const SKIP: &str = "skip";
pub(crate) const RENAME: &str = "rename";
pub(crate) const PROBLEM: &str = "problem";
pub(crate) const OPENAPI: &str = "openapi";

const CASE_KEYS: &[&str] = &[STATUS, CODE, MESSAGE, RETRY_AFTER, HEADERS, TRANSPARENT];
const CONTAINER_KEYS: &[&str] = &[PROBLEM, OPENAPI];
const STRUCT_KEYS: &[&str] = &[
    STATUS,
    CODE,
    MESSAGE,
    RETRY_AFTER,
    HEADERS,
    TRANSPARENT,
    PROBLEM,
    OPENAPI,
];
const FIELD_KEYS: &[&str] = &[SKIP, RENAME];

/// Where a `#[governance(...)]` attribute is written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// On a struct: the type and its only case.
    Struct,
    /// On an enum: the type.
    Enum,
    /// On an enum variant: a case.
    Variant,
}

/// One key of an attribute with its value, keeping the key for error spans.
pub(crate) struct Keyed<T> {
    pub key: Path,
    pub value: T,
}

/// The `error` code of a case.
pub(crate) enum Code {
    /// `code = "prompt_rejected"`.
    Literal(LitStr),
    /// `code = field`: the code is the value of a named field.
    Field(Ident),
}

/// The attributes of a struct or of an enum variant.
#[derive(Default)]
pub(crate) struct CaseAttrs {
    pub status: Option<Keyed<LitInt>>,
    pub code: Option<Keyed<Code>>,
    pub message: Option<Keyed<LitStr>>,
    pub retry_after: Option<Keyed<Ident>>,
    pub headers: Option<Keyed<ExprPath>>,
    pub transparent: Option<Keyed<()>>,
    /// The known keys that appeared, even with a malformed value (already
    /// reported), so that they are not reported again as missing.
    pub mentioned: Vec<&'static str>,
}

/// The attributes of the type itself.
#[derive(Default)]
pub(crate) struct ContainerAttrs {
    /// `problem`: the type answers `application/problem+json`.
    pub problem: Option<Keyed<()>>,
    /// `openapi` or `openapi = "Name"`: the type gets an OpenAPI schema,
    /// named `Name` when given.
    pub openapi: Option<Keyed<Option<LitStr>>>,
}

/// The attributes of a field.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    pub skip: Option<Keyed<()>>,
    pub rename: Option<Keyed<LitStr>>,
}

impl CaseAttrs {
    /// Whether `key` appeared, even with a malformed value.
    pub(crate) fn mentions(&self, key: &str) -> bool {
        self.mentioned.contains(&key)
    }

    /// The keys given besides `transparent`, which cannot be combined with it.
    pub(crate) fn mapping_keys(&self) -> impl Iterator<Item = &Path> {
        let status = self.status.as_ref().map(|k| &k.key);
        let code = self.code.as_ref().map(|k| &k.key);
        let message = self.message.as_ref().map(|k| &k.key);
        let retry_after = self.retry_after.as_ref().map(|k| &k.key);
        let headers = self.headers.as_ref().map(|k| &k.key);
        [status, code, message, retry_after, headers]
            .into_iter()
            .flatten()
    }
}

/// Parses the `#[governance(...)]` attributes written at `place`: the type's
/// own keys (struct and enum) and the case's (struct and variant).
pub(crate) fn case_attrs(
    attrs: &[Attribute],
    place: Place,
    errors: &mut Errors,
) -> (ContainerAttrs, CaseAttrs) {
    let mut container = ContainerAttrs::default();
    let mut out = CaseAttrs::default();
    for attr in governance_attrs(attrs) {
        let result = attr.parse_nested_meta(|meta| {
            let key = meta.path.clone();
            if let Some(known) = CASE_KEYS.iter().find(|known| key.is_ident(known)) {
                if place == Place::Enum {
                    errors.spanned(
                        &key,
                        format_args!("on an enum, `{known}` goes on each variant, not on the enum"),
                    );
                    return skip_value(&meta);
                }
                out.mentioned.push(known);
            }
            if let Some(known) = CONTAINER_KEYS.iter().find(|known| key.is_ident(known)) {
                if place == Place::Variant {
                    errors.spanned(
                        &key,
                        format_args!("`{known}` goes on the enum, not on a variant: it applies to the whole type"),
                    );
                    return skip_value(&meta);
                }
            }
            if key.is_ident(PROBLEM) {
                flag(&meta, errors)?;
                set(&mut container.problem, key, (), errors);
            } else if key.is_ident(OPENAPI) {
                let name = if meta.input.peek(Token![=]) {
                    match meta.value()?.parse::<Expr>()? {
                        Expr::Lit(ExprLit { lit: Lit::Str(lit), .. }) if !lit.value().is_empty() => Some(lit),
                        other => {
                            errors.spanned(
                                other,
                                "expected the schema's name as a non-empty string, like `openapi = \"ChatError\"`, or `openapi` alone for the type's name",
                            );
                            None
                        }
                    }
                } else {
                    flag(&meta, errors)?;
                    None
                };
                set(&mut container.openapi, key, name, errors);
            } else if key.is_ident(STATUS) {
                if let Some(expr) = value::<Expr>(&meta, errors, "a value: `status = 403`")? {
                    match expr {
                        Expr::Lit(ExprLit { lit: Lit::Int(lit), .. }) => {
                            set(&mut out.status, key, lit, errors)
                        }
                        other => errors.spanned(
                            other,
                            "expected an integer HTTP status between 400 and 599, like `status = 403`",
                        ),
                    }
                }
            } else if key.is_ident(CODE) {
                if let Some(expr) = value::<Expr>(&meta, errors, "a value: `code = \"prompt_rejected\"` or `code = field`")? {
                    match expr {
                        Expr::Lit(ExprLit { lit: Lit::Str(lit), .. }) => {
                            set(&mut out.code, key, Code::Literal(lit), errors)
                        }
                        other => match field_name(&other) {
                            Some(ident) => set(&mut out.code, key, Code::Field(ident), errors),
                            None => errors.spanned(
                                other,
                                "expected a snake-case string like `code = \"prompt_rejected\"` or a field name like `code = decision`",
                            ),
                        },
                    }
                }
            } else if key.is_ident(MESSAGE) {
                if let Some(expr) = value::<Expr>(&meta, errors, "a value: `message = \"…\"`")? {
                    match expr {
                        Expr::Lit(ExprLit { lit: Lit::Str(lit), .. }) => {
                            set(&mut out.message, key, lit, errors)
                        }
                        other => errors.spanned(
                            other,
                            "expected a string: the fixed message shown instead of the `Display` text, like `message = \"try again later\"`",
                        ),
                    }
                }
            } else if key.is_ident(RETRY_AFTER) {
                if let Some(expr) = value::<Expr>(&meta, errors, "a value: `retry_after = field`")? {
                    match field_name(&expr) {
                        Some(ident) => set(&mut out.retry_after, key, ident, errors),
                        None => errors.spanned(
                            expr,
                            "expected the name of a field, like `retry_after = expires_at`",
                        ),
                    }
                }
            } else if key.is_ident(HEADERS) {
                if let Some(expr) = value::<Expr>(&meta, errors, "a value: `headers = path::to_fn`")? {
                    match expr {
                        Expr::Path(path) => set(&mut out.headers, key, path, errors),
                        other => errors.spanned(
                            other,
                            "expected the path of a `fn(&Self, &mut http::HeaderMap)`, like `headers = Self::www_authenticate`",
                        ),
                    }
                }
            } else if key.is_ident(TRANSPARENT) {
                flag(&meta, errors)?;
                set(&mut out.transparent, key, (), errors);
            } else {
                let expected = match place {
                    Place::Struct => STRUCT_KEYS,
                    Place::Enum => CONTAINER_KEYS,
                    Place::Variant => CASE_KEYS,
                };
                unknown(&meta, expected, &[(FIELD_KEYS, "a field")], errors)?;
            }
            Ok(())
        });
        errors.ok(result);
    }
    // thiserror's `#[error(transparent)]` implies `#[governance(transparent)]`
    // on a case that says nothing else about its mapping: an error that
    // shows its inner error's message answers with its inner error's mapping.
    if place != Place::Enum && out.transparent.is_none() && out.mentioned.is_empty() {
        if let Some(key) = thiserror_transparent(attrs) {
            out.transparent = Some(Keyed { key, value: () });
        }
    }
    (container, out)
}

/// Parses the `#[governance(...)]` attributes of a field.
pub(crate) fn field_attrs(attrs: &[Attribute], errors: &mut Errors) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for attr in governance_attrs(attrs) {
        let result = attr.parse_nested_meta(|meta| {
            let key = meta.path.clone();
            if key.is_ident(SKIP) {
                flag(&meta, errors)?;
                set(&mut out.skip, key, (), errors);
            } else if key.is_ident(RENAME) {
                if let Some(expr) = value::<Expr>(&meta, errors, "a value: `rename = \"key\"`")? {
                    match expr {
                        Expr::Lit(ExprLit { lit: Lit::Str(lit), .. }) => {
                            set(&mut out.rename, key, lit, errors)
                        }
                        other => errors.spanned(
                            other,
                            "expected a string: the field's key in the JSON body, like `rename = \"key\"`",
                        ),
                    }
                }
            } else {
                unknown(
                    &meta,
                    FIELD_KEYS,
                    &[
                        (CASE_KEYS, "an enum variant or a struct"),
                        (CONTAINER_KEYS, "the enum or the struct"),
                    ],
                    errors,
                )?;
            }
            Ok(())
        });
        errors.ok(result);
    }
    out
}

/// The `#[governance(...)]` attributes among `attrs`.
/// The `transparent` of a thiserror `#[error(transparent)]`, if there is one.
fn thiserror_transparent(attrs: &[Attribute]) -> Option<Path> {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("error"))
        .find_map(|attr| {
            let path: Path = attr.parse_args().ok()?;
            path.is_ident(TRANSPARENT).then_some(path)
        })
}

pub(crate) fn governance_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|attr| attr.path().is_ident(GOVERNANCE))
}

/// Stores `value` under `slot`, or records a duplicate.
fn set<T>(slot: &mut Option<Keyed<T>>, key: Path, value: T, errors: &mut Errors) {
    if slot.is_some() {
        let name = path_name(&key);
        errors.spanned(
            &key,
            format_args!("duplicate governance attribute `{name}`"),
        );
    } else {
        *slot = Some(Keyed { key, value });
    }
}

/// Checks that a flag such as `transparent` comes without a value.
fn flag(meta: &ParseNestedMeta<'_>, errors: &mut Errors) -> syn::Result<()> {
    if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
        let name = path_name(&meta.path);
        errors.spanned(
            &meta.path,
            format_args!("`{name}` takes no value: write `{name}` alone"),
        );
        skip_value(meta)?;
    }
    Ok(())
}

/// Records an unknown key and skips its value. A key that belongs elsewhere
/// (one of `elsewhere`'s lists) is told where it goes; a near miss gets a
/// suggestion.
fn unknown(
    meta: &ParseNestedMeta<'_>,
    expected: &[&str],
    elsewhere: &[(&[&str], &str)],
    errors: &mut Errors,
) -> syn::Result<()> {
    let name = path_name(&meta.path);
    let place = elsewhere
        .iter()
        .find(|(keys, _)| keys.contains(&name.as_str()));
    let message = if let Some((_, place)) = place {
        format!("`{name}` goes on {place}, not here")
    } else {
        let list = expected
            .iter()
            .map(|key| format!("`{key}`"))
            .collect::<Vec<_>>()
            .join(", ");
        match closest(&name, expected) {
            Some(close) => format!(
                "unknown governance attribute `{name}`; did you mean `{close}`? (expected one of {list})"
            ),
            None => format!("unknown governance attribute `{name}`; expected one of {list}"),
        }
    };
    errors.spanned(&meta.path, message);
    skip_value(meta)
}

/// The bare identifier of `expr`, if it is one.
fn field_name(expr: &Expr) -> Option<Ident> {
    match expr {
        Expr::Path(path) if path.qself.is_none() => path.path.get_ident().cloned(),
        _ => None,
    }
}

/// The text of the `///` doc comments among `attrs`, one paragraph per blank
/// line, or `None` when there are none.
pub(crate) fn docs(attrs: &[Attribute]) -> Option<String> {
    let mut lines = Vec::new();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("doc")) {
        if let syn::Meta::NameValue(syn::MetaNameValue {
            value: Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }),
            ..
        }) = &attr.meta
        {
            let text = lit.value();
            if text.trim().is_empty() {
                lines.push(String::new());
            } else {
                lines.extend(text.lines().map(|line| line.trim().to_owned()));
            }
        }
    }
    let text = lines.join("\n");
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
