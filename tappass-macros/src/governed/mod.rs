//! `#[governed]`: parse the options (`args`) and the handler (`handler`),
//! validate (`valid`), then rewrite (`expand`), or emit the errors beside the
//! handler as written (`fallback`).

mod args;
mod expand;
mod fallback;
mod handler;
mod valid;

use proc_macro2::TokenStream;
use syn::ItemFn;

use crate::errors::Errors;
use handler::Handler;

/// The rewritten handler, or its errors beside the handler as written.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let item: ItemFn = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(error) => {
            let error = syn::Error::new(
                error.span(),
                format_args!("`#[governed]` goes on an `async fn` axum handler: {error}"),
            );
            return fallback::not_a_fn(item, error);
        }
    };
    match try_expand(args, &item) {
        Ok(tokens) => tokens,
        Err(error) => fallback::expand(item, error),
    }
}
fn try_expand(args: TokenStream, item: &ItemFn) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let options = args::parse(args, &mut errors);
    let handler = Handler::from_syn(item);
    valid::check(&handler, &mut errors);
    errors.finish()?;
    Ok(expand::handler(&options, &handler))
}
