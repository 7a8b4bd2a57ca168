//! Parses the options of `#[governed(...)]`: `auto_open_session = <bool>` and
//! `capability = "<id>"` (repeatable) and `state = <Type>` (the router's
//! state, for the debug-build checks of the parameters).

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Expr, ExprLit, Lit, LitBool, LitStr};

use crate::errors::{closest, Errors};
use crate::meta::{path_name, skip_value, value};

pub(crate) const AUTO_OPEN_SESSION: &str = "auto_open_session";
pub(crate) const CAPABILITY: &str = "capability";
pub(crate) const STATE: &str = "state";

const OPTIONS: &[&str] = &[AUTO_OPEN_SESSION, CAPABILITY, STATE];

/// The options of one `#[governed]` attribute.
#[derive(Default)]
pub(crate) struct Options {
    /// The route-level `auto_open_session`, when given.
    pub auto_open_session: Option<LitBool>,
    /// The capabilities a mandate must grant, in the order written.
    pub capabilities: Vec<LitStr>,
    /// The router's state type, when given: what the parameters are checked
    /// against in debug builds.
    pub state: Option<syn::Type>,
}

/// Parses `args`, recording every mistake in `errors`.
pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> Options {
    let mut options = Options::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident(CAPABILITY) {
            if let Some(capability) = capability_value(&meta, errors)? {
                options.capabilities.push(capability);
            }
        } else if meta.path.is_ident(AUTO_OPEN_SESSION) {
            if let Some(flag) = bool_value(&meta, errors)? {
                if options.auto_open_session.is_some() {
                    errors.spanned(
                        &meta.path,
                        format_args!("duplicate `#[governed]` option `{AUTO_OPEN_SESSION}`"),
                    );
                } else {
                    options.auto_open_session = Some(flag);
                }
            }
        } else if meta.path.is_ident(STATE) {
            let needs = format!("a type: `{STATE} = AppState`");
            if let Some(ty) = value::<syn::Type>(&meta, errors, &needs)? {
                if options.state.is_some() {
                    errors.spanned(
                        &meta.path,
                        format_args!("duplicate `#[governed]` option `{STATE}`"),
                    );
                } else {
                    options.state = Some(ty);
                }
            }
        } else {
            let name = path_name(&meta.path);
            let hint = match closest(&name, OPTIONS) {
                Some(close) => format!("did you mean `{close}`? "),
                None => String::new(),
            };
            errors.spanned(
                &meta.path,
                format_args!(
                    "unknown `#[governed]` option `{name}`; {hint}the options are `{AUTO_OPEN_SESSION} = true|false`, `{CAPABILITY} = \"action:resource:qualifier\"` and `{STATE} = <the router's state type>`"
                ),
            );
            skip_value(&meta)?;
        }
        Ok(())
    });
    let result = parser.parse2(args);
    errors.ok(result);
    options
}

/// The `true` or `false` after `key =`, or `None` with an error recorded.
fn bool_value(meta: &ParseNestedMeta<'_>, errors: &mut Errors) -> syn::Result<Option<LitBool>> {
    let name = path_name(&meta.path);
    let needs = format!("a value: `{name} = true` or `{name} = false`");
    let Some(expr) = value::<Expr>(meta, errors, &needs)? else {
        return Ok(None);
    };
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(flag),
            ..
        }) => Ok(Some(flag)),
        other => {
            errors.spanned(
                other,
                format_args!("`{name}` is a flag: write `{name} = true` or `{name} = false`"),
            );
            Ok(None)
        }
    }
}

/// The capability after `capability =`: a string of `:`-separated, non-empty
/// segments without spaces, or `None` with an error recorded.
fn capability_value(
    meta: &ParseNestedMeta<'_>,
    errors: &mut Errors,
) -> syn::Result<Option<LitStr>> {
    const HOW: &str = "write the capability the route requires as a string, e.g. `capability = \"tool:call:search\"`";
    let Some(expr) = value::<Expr>(meta, errors, &format!("a value: {HOW}"))? else {
        return Ok(None);
    };
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(capability),
            ..
        }) => {
            let id = capability.value();
            if id.is_empty()
                || id.split(':').any(str::is_empty)
                || id.chars().any(char::is_whitespace)
            {
                errors.spanned(
                    &capability,
                    format_args!(
                        "`{id}` is not a capability: segments separated by `:`, none empty, no spaces (`*` matches any one segment of a granted capability, not of a required one); {HOW}"
                    ),
                );
                return Ok(None);
            }
            Ok(Some(capability))
        }
        other => {
            errors.spanned(other, format_args!("`{CAPABILITY}` is a string: {HOW}"));
            Ok(None)
        }
    }
}
