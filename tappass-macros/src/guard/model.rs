//! The parsed model of a guarded function: its parameters (the tool's
//! arguments) and the `#[constraint(…)]` on each, borrowed from the syntax
//! tree so that errors point at the user's tokens.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Attribute, Expr, FnArg, Ident, ItemFn, Pat, PatType};

use crate::errors::{closest, Errors};

/// The helper attribute on a parameter.
pub(crate) const CONSTRAINT: &str = "constraint";

/// The constraint types of `tappass::capability`, by the name the
/// shorthand `Name(args…)` uses, and whether `Name` alone is one.
const CONSTRAINTS: &[(&str, Bare)] = &[
    ("Wildcard", Bare::Variant),
    ("Exact", Bare::No),
    ("Pattern", Bare::No),
    ("Range", Bare::No),
    ("OneOf", Bare::No),
    ("NotOneOf", Bare::No),
    ("Subpath", Bare::No),
    ("UrlSafe", Bare::New),
    ("Shlex", Bare::No),
    ("Cidr", Bare::No),
    ("UrlPattern", Bare::No),
    ("Regex", Bare::No),
    ("Cel", Bare::No),
];

/// What the bare name of a constraint type stands for.
#[derive(Clone, Copy, PartialEq)]
enum Bare {
    /// Nothing: it takes arguments.
    No,
    /// `Constraint::Name`.
    Variant,
    /// `Name::new()`.
    New,
}

/// A guarded function, borrowed from the syntax tree.
pub(crate) struct Guarded<'a> {
    pub original: &'a ItemFn,
    pub params: Vec<Param<'a>>,
    /// A `#[constraint]` on `self`, kept for its error.
    pub receiver_constraint: Option<&'a Attribute>,
}

/// One typed parameter: a tool argument.
pub(crate) struct Param<'a> {
    pub original: &'a PatType,
    /// Its name, when its pattern is one (`path`, `mut path`).
    pub ident: Option<&'a Ident>,
    /// Its `#[constraint(…)]` attributes (one is allowed).
    pub constraints: Vec<&'a Attribute>,
    /// The constraint's expression, as it is evaluated (the shorthand
    /// `Subpath("/data")` rewritten to `::tappass::capability::Subpath::new("/data")`).
    pub constraint: Option<TokenStream>,
}

impl<'a> Guarded<'a> {
    /// The model; a constraint whose expression cannot be read is recorded
    /// in `errors`.
    pub(crate) fn from_syn(original: &'a ItemFn, errors: &mut Errors) -> Self {
        let mut params = Vec::new();
        let mut receiver_constraint = None;
        for input in &original.sig.inputs {
            match input {
                FnArg::Receiver(r) => {
                    receiver_constraint = r.attrs.iter().find(|a| is_constraint(a));
                }
                FnArg::Typed(param) => {
                    let constraints: Vec<&Attribute> =
                        param.attrs.iter().filter(|a| is_constraint(a)).collect();
                    let constraint = constraints
                        .first()
                        .and_then(|attr| errors.ok(constraint_expr(attr)));
                    let ident = match &*param.pat {
                        Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => Some(&p.ident),
                        _ => None,
                    };
                    params.push(Param {
                        original: param,
                        ident,
                        constraints,
                        constraint,
                    });
                }
            }
        }
        Guarded {
            original,
            params,
            receiver_constraint,
        }
    }

    /// The tool's name when the attribute gives none: the function's.
    pub(crate) fn default_tool(&self) -> String {
        let name = self.original.sig.ident.to_string();
        name.strip_prefix("r#").unwrap_or(&name).to_owned()
    }
}

pub(crate) fn is_constraint(attr: &Attribute) -> bool {
    attr.path().is_ident(CONSTRAINT)
}

/// The expression of `#[constraint(<expr>)]`, with the shorthand of the
/// constraint types rewritten.
fn constraint_expr(attr: &Attribute) -> syn::Result<TokenStream> {
    let expr: Expr = attr.parse_args().map_err(|e| {
        syn::Error::new(
            e.span(),
            "`#[constraint(…)]` holds one constraint: `#[constraint(Subpath(\"/data\"))]`, `#[constraint(OneOf([\"a\", \"b\"]))]`, or any expression of a `tappass::capability` constraint",
        )
    })?;
    shorthand(&expr)
}

/// `Name(args…)` for a constraint type `Name`: its `new(args…)`; `Wildcard`
/// and `UrlSafe` alone; any other expression as written.
fn shorthand(expr: &Expr) -> syn::Result<TokenStream> {
    let names = || {
        CONSTRAINTS
            .iter()
            .map(|(n, _)| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let unknown = |ident: &Ident| {
        let name = ident.to_string();
        let known: Vec<&str> = CONSTRAINTS.iter().map(|(n, _)| *n).collect();
        let hint = closest(&name, &known)
            .map(|c| format!("did you mean `{c}`? "))
            .unwrap_or_default();
        syn::Error::new_spanned(
            ident,
            format!(
                "unknown constraint `{name}`; {hint}the constraints are {}",
                names()
            ),
        )
    };
    match expr {
        Expr::Call(call) => {
            if let Some(ident) = single_ident(&call.func) {
                if starts_upper(ident) {
                    let Some(_) = CONSTRAINTS.iter().find(|(n, _)| ident == n) else {
                        return Err(unknown(ident));
                    };
                    let args = &call.args;
                    let new = quote_spanned!(ident.span()=> ::tappass::capability::#ident::new);
                    return Ok(quote!(#new(#args)));
                }
            }
            Ok(expr.to_token_stream())
        }
        Expr::Path(_) => {
            match single_ident(expr) {
                Some(ident) if starts_upper(ident) => {
                    match CONSTRAINTS.iter().find(|(n, _)| ident == n) {
                    None => Err(unknown(ident)),
                    Some((_, Bare::Variant)) => Ok(
                        quote_spanned!(ident.span()=> ::tappass::capability::Constraint::#ident),
                    ),
                    Some((_, Bare::New)) => {
                        Ok(quote_spanned!(ident.span()=> ::tappass::capability::#ident::new()))
                    }
                    Some((name, Bare::No)) => Err(syn::Error::new_spanned(
                        ident,
                        format!("the constraint `{name}` takes arguments: `{name}(…)`, as its `new`"),
                    )),
                }
                }
                _ => Ok(expr.to_token_stream()),
            }
        }
        _ => Ok(expr.to_token_stream()),
    }
}

fn single_ident(expr: &Expr) -> Option<&Ident> {
    match expr {
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => p.path.get_ident(),
        _ => None,
    }
}

fn starts_upper(ident: &Ident) -> bool {
    ident
        .to_string()
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_uppercase())
}

impl Param<'_> {
    /// The span of the parameter's type.
    pub(crate) fn ty_span(&self) -> proc_macro2::Span {
        self.original.ty.span()
    }
}
