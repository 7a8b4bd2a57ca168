//! What a guarded function must be: an `async fn` returning a `Result`,
//! whose parameters are named (they are the tool's arguments), with at most
//! one constraint each, and a tool name the control plane can grant.

use syn::spanned::Spanned;
use syn::{ReturnType, Type};

use super::args::Options;
use super::model::Guarded;
use crate::errors::Errors;
use crate::tool;

/// Records every rule the function breaks.
pub(crate) fn check(options: &Options, guarded: &Guarded<'_>, errors: &mut Errors) {
    check_async(guarded, errors);
    check_result(guarded, errors);
    check_params(guarded, errors);
    check_tool(options, guarded, errors);
}

fn check_async(guarded: &Guarded<'_>, errors: &mut Errors) {
    let sig = &guarded.original.sig;
    if sig.asyncness.is_none() {
        errors.spanned(
            sig.fn_token,
            format_args!(
                "`#[tappass::guard]` goes on an `async fn`: a guarded tool function is async; write `async fn {}(…)`",
                sig.ident
            ),
        );
    }
}

fn check_result(guarded: &Guarded<'_>, errors: &mut Errors) {
    const HOW: &str = "return `Result<T, E>` where `E: From<tappass::capability::CapabilityRejection>` (`tappass::Error` is one): a refused call returns `Err`";
    let sig = &guarded.original.sig;
    match &sig.output {
        ReturnType::Default => errors.spanned(
            &sig.ident,
            format_args!("a guarded function returns a `Result`: {HOW}"),
        ),
        ReturnType::Type(_, ty) => {
            let is_result = match &**ty {
                Type::Path(path) if path.qself.is_none() => path
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "Result"),
                _ => false,
            };
            if !is_result {
                errors.spanned(
                    ty,
                    format_args!(
                        "a guarded function returns a `Result`, not `{}`: {HOW}",
                        quote::quote!(#ty).to_string().replace(' ', "")
                    ),
                );
            }
        }
    }
}

fn check_params(guarded: &Guarded<'_>, errors: &mut Errors) {
    if let Some(attr) = guarded.receiver_constraint {
        errors.spanned(
            attr,
            "`self` is not an argument of the tool call: put `#[constraint(…)]` on a named parameter",
        );
    }
    for param in &guarded.params {
        if param.ident.is_none() {
            errors.push(syn::Error::new(
                param.original.pat.span(),
                "a guarded function's parameters are the tool's arguments, by name: write `name: Type` (not a pattern)",
            ));
        }
        for extra in param.constraints.iter().skip(1) {
            errors.spanned(
                extra,
                "one `#[constraint(…)]` per argument: the token's constraint and this one are both checked; to require more, write a `Regex`, `Pattern` or `OneOf` that says it all",
            );
        }
    }
}

fn check_tool(options: &Options, guarded: &Guarded<'_>, errors: &mut Errors) {
    match &options.tool {
        Some(tool) => {
            if let Err(message) = tool::check_name(&tool.value()) {
                errors.spanned(tool, message);
            }
        }
        None => {
            if let Err(message) = tool::check_name(&guarded.default_tool()) {
                errors.spanned(
                    &guarded.original.sig.ident,
                    format_args!("the function's name is the tool's unless `tool = \"…\"` says otherwise: {message}"),
                );
            }
        }
    }
}
