//! Parses the options of `#[governed(...)]`: `auto_open_session = <bool>`,
//! `capability = "<id>"` (repeatable), `state = <Type>` (the router's
//! state, for the debug-build checks of the parameters), and the call a
//! capability token must grant: `tool = "<name>"` with `path_param`,
//! `query` and `min_clearance`.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Expr, ExprLit, Lit, LitBool, LitStr};

use crate::errors::{closest, Errors};
use crate::meta::{path_name, skip_value, value};
use crate::tool::{self, Clearance};

pub(crate) const AUTO_OPEN_SESSION: &str = "auto_open_session";
pub(crate) const CAPABILITY: &str = "capability";
pub(crate) const STATE: &str = "state";
pub(crate) const TOOL: &str = "tool";
pub(crate) const PATH_PARAM: &str = "path_param";
pub(crate) const QUERY: &str = "query";
pub(crate) const MIN_CLEARANCE: &str = "min_clearance";
const BODY: &str = "body";

const OPTIONS: &[&str] = &[
    AUTO_OPEN_SESSION,
    CAPABILITY,
    STATE,
    TOOL,
    PATH_PARAM,
    QUERY,
    MIN_CLEARANCE,
];

/// The call of a `#[governed(tool = "…")]` route.
#[derive(Default)]
pub(crate) struct ToolCall {
    /// `tool = "…"`, when given (the other options need it).
    pub tool: Option<LitStr>,
    /// `path_param = "…"` or `path_param = ["…", …]`, in the order written.
    pub path_params: Vec<LitStr>,
    /// `query = ["…", …]` (or one string), in the order written.
    pub query: Vec<LitStr>,
    /// `min_clearance = "…"`, with the option's key for errors.
    pub min_clearance: Option<(syn::Path, Clearance)>,
    /// The keys of the options given other than `tool`, for the error when
    /// `tool` is missing.
    pub dependents: Vec<syn::Path>,
}

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
    /// The call a capability token must grant.
    pub call: ToolCall,
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
        } else if meta.path.is_ident(TOOL) {
            let needs = format!("a value: `{TOOL} = \"read_file\"`");
            if let Some(lit) = value::<Expr>(&meta, errors, &needs)? {
                match string(lit, TOOL, errors) {
                    Some(name) if options.call.tool.is_some() => {
                        let _ = name;
                        errors.spanned(
                            &meta.path,
                            format_args!("duplicate `#[governed]` option `{TOOL}`: a route is a call of one tool"),
                        );
                    }
                    Some(name) => {
                        if let Err(message) = tool::check_name(&name.value()) {
                            errors.spanned(&name, message);
                        }
                        options.call.tool = Some(name);
                    }
                    None => {}
                }
            }
        } else if meta.path.is_ident(PATH_PARAM) || meta.path.is_ident(QUERY) {
            let key = path_name(&meta.path);
            options.call.dependents.push(meta.path.clone());
            let needs = format!("a value: `{key} = \"name\"` or `{key} = [\"a\", \"b\"]`");
            if let Some(expr) = value::<Expr>(&meta, errors, &needs)? {
                let names = names(expr, &key, errors);
                if key == PATH_PARAM {
                    options.call.path_params.extend(names);
                } else {
                    options.call.query.extend(names);
                }
            }
        } else if meta.path.is_ident(MIN_CLEARANCE) {
            options.call.dependents.push(meta.path.clone());
            let needs = format!("a value: `{MIN_CLEARANCE} = \"INTERNAL\"`");
            if let Some(expr) = value::<Expr>(&meta, errors, &needs)? {
                if let Some(level) = string(expr, MIN_CLEARANCE, errors) {
                    match Clearance::parse(&level.value()) {
                        Some(_) if options.call.min_clearance.is_some() => errors.spanned(
                            &meta.path,
                            format_args!("duplicate `#[governed]` option `{MIN_CLEARANCE}`"),
                        ),
                        Some(clearance) => {
                            options.call.min_clearance = Some((meta.path.clone(), clearance))
                        }
                        None => errors.spanned(
                            &level,
                            format_args!(
                                "`{}` is not a clearance level: write one of {}",
                                level.value(),
                                Clearance::NAMES
                            ),
                        ),
                    }
                }
            }
        } else if meta.path.is_ident(BODY) {
            errors.spanned(
                &meta.path,
                "the JSON body's members are arguments of a call only behind the route layer `tappass::capability::RequireCapability::tool(\"…\").body([\"…\"])`: `#[governed(tool = …)]` verifies the call before any extractor runs, so before the body is read; put the layer on the route (the handler's `AuthResult` then reads its verified call)",
            );
            skip_value(&meta)?;
        } else {
            let name = path_name(&meta.path);
            let hint = match closest(&name, OPTIONS) {
                Some(close) => format!("did you mean `{close}`? "),
                None => String::new(),
            };
            errors.spanned(
                &meta.path,
                format_args!(
                    "unknown `#[governed]` option `{name}`; {hint}the options are `{AUTO_OPEN_SESSION} = true|false`, `{CAPABILITY} = \"action:resource:qualifier\"`, `{STATE} = <the router's state type>`, and for a capability token `{TOOL} = \"name\"` with `{PATH_PARAM}`, `{QUERY}` and `{MIN_CLEARANCE}`"
                ),
            );
            skip_value(&meta)?;
        }
        Ok(())
    });
    let result = parser.parse2(args);
    errors.ok(result);
    if options.call.tool.is_none() {
        for key in &options.call.dependents {
            let name = path_name(key);
            errors.spanned(
                key,
                format_args!(
                    "`{name}` describes the call a capability token must grant, which needs the tool: add `{TOOL} = \"…\"`"
                ),
            );
        }
    }
    let mut seen: Vec<String> = Vec::new();
    for name in options.call.path_params.iter().chain(&options.call.query) {
        let value = name.value();
        if seen.contains(&value) {
            errors.spanned(
                name,
                format_args!("the argument `{value}` is named twice: each argument of the call comes from one place (a path parameter or a query parameter)"),
            );
        } else {
            seen.push(value);
        }
    }
    options
}

/// The string literal `expr`, or `None` with an error recorded.
fn string(expr: Expr, key: &str, errors: &mut Errors) -> Option<LitStr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Some(lit),
        other => {
            errors.spanned(other, format_args!("`{key}` is a string: `{key} = \"…\"`"));
            None
        }
    }
}

/// The argument names after `path_param =` or `query =`: one string or an
/// array of strings, each a name (not empty, no spaces).
fn names(expr: Expr, key: &str, errors: &mut Errors) -> Vec<LitStr> {
    let items: Vec<Expr> = match expr {
        Expr::Array(array) => array.elems.into_iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::new();
    for item in items {
        let name = match item {
            Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) => lit,
            other => {
                errors.spanned(
                    other,
                    format_args!("`{key}` names the parameters that are the call's arguments: `{key} = \"name\"` or `{key} = [\"a\", \"b\"]`"),
                );
                continue;
            }
        };
        let value = name.value();
        if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            errors.spanned(
                &name,
                format_args!("`{value}` is not an argument name: a parameter's name, not empty, without spaces"),
            );
            continue;
        }
        out.push(name);
    }
    out
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
