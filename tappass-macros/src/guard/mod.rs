//! `#[guard]`: parse the options (`args`) and the function (`model`),
//! validate (`valid`), then rewrite (`expand`), or emit the errors beside
//! the function as written (`fallback`).

mod args;
mod expand;
mod fallback;
mod model;
mod valid;

use proc_macro2::TokenStream;
use syn::ItemFn;

use crate::errors::Errors;
use model::Guarded;

/// The guarded function, or its errors beside the function as written.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let item: ItemFn = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(error) => {
            let error = syn::Error::new(
                error.span(),
                format_args!("`#[tappass::guard]` goes on an `async fn`, a tool function: {error}"),
            );
            return fallback::not_a_fn(item, error);
        }
    };
    let mut errors = Errors::default();
    let options = args::parse(args, &mut errors);
    let guarded = Guarded::from_syn(&item, &mut errors);
    valid::check(&options, &guarded, &mut errors);
    match errors.finish() {
        Ok(()) => expand::function(&options, &guarded),
        Err(error) => fallback::expand(&item, error),
    }
}
