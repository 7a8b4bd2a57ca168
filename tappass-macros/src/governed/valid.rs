//! What a `#[governed]` handler must be: an `async fn` without a receiver,
//! whose body extractor (if any) is its last parameter.

use super::handler::Handler;
use crate::errors::Errors;

/// Records every rule the handler breaks.
pub(crate) fn check(handler: &Handler<'_>, errors: &mut Errors) {
    check_async(handler, errors);
    check_receiver(handler, errors);
    check_body_last(handler, errors);
}

fn check_body_last(handler: &Handler<'_>, errors: &mut Errors) {
    for param in handler.misplaced_bodies() {
        let ty = &param.ty;
        errors.spanned(
            ty,
            format_args!(
                "`{}` reads the request body, so it must be the last parameter of the handler: move it after the others (a request has one body, and axum lets only the last extractor read it)",
                quote::quote!(#ty).to_string().replace(' ', ""),
            ),
        );
    }
}

fn check_async(handler: &Handler<'_>, errors: &mut Errors) {
    let sig = &handler.original.sig;
    if sig.asyncness.is_none() {
        errors.spanned(
            sig.fn_token,
            format_args!(
                "`#[governed]` needs an `async fn`: axum handlers are async; write `async fn {}(…)`",
                sig.ident,
            ),
        );
    }
}

fn check_receiver(handler: &Handler<'_>, errors: &mut Errors) {
    if let Some(receiver) = handler.receiver {
        errors.spanned(
            receiver,
            "`#[governed]` goes on a free `async fn`: an axum handler cannot take `self`; pass what it needs as `State` or `Extension` instead",
        );
    }
}
