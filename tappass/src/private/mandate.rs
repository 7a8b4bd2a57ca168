//! What `#[governed(capability = "…")]` generates code against: the hidden
//! first parameter that verifies the request's mandate before any other
//! extractor.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use http::request::Parts;

use super::state::{NoState, StateService};
use crate::mandate::extract::{no_verifier, request_verifier, require, Verified};
use crate::mandate::{MandateRejection, MandateVerifier};

/// The capabilities a `#[governed(capability = "…")]` route requires:
/// implemented by the macro for a hidden type, per handler. Not public API.
#[doc(hidden)]
pub trait Capabilities {
    /// The required capabilities, in the order written.
    const REQUIRED: &'static [&'static str];
}

/// The hidden first parameter of a `#[governed(capability = "…")]` handler,
/// before the route's session and every other extractor: verifies the
/// request's mandate with the request's verifier (the layer's, else an
/// `Extension`, else for a handler that takes `State<T>` the state's, `F`),
/// checks `C::REQUIRED`, and leaves the mandate for a `Mandate` parameter.
/// Not public API.
#[doc(hidden)]
pub struct RequiredMandate<C, F = NoState>(PhantomData<fn() -> (C, F)>);

impl<S, C, F> FromRequestParts<S> for RequiredMandate<C, F>
where
    S: Send + Sync,
    C: Capabilities,
    F: StateService<S, MandateVerifier>,
{
    type Rejection = MandateRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let mandate = match parts.extensions.get::<Verified>() {
            // Already verified by a `RequireMandate` in front of the route.
            Some(Verified(mandate)) => mandate.clone(),
            None => {
                let verifier = request_verifier(parts)
                    .or_else(|| F::service(state))
                    .ok_or_else(no_verifier)?;
                verifier.verify_headers(&parts.headers).await?
            }
        };
        require(&mandate, C::REQUIRED)?;
        parts.extensions.insert(Verified(mandate));
        Ok(RequiredMandate(PhantomData))
    }
}
