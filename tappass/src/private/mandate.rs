//! What `#[governed(capability = "…")]` generates code against: the hidden
//! first parameter that verifies the request's mandate before any other
//! extractor, and where it finds a verifier in the router's state.

use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;

use super::governed::Probe;
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
/// request's mandate with the request's verifier (the layer's, else an `Extension`) (for a
/// handler that takes `State<T>`, else with the state's, `F`), checks
/// `C::REQUIRED`, and leaves the mandate for a `Mandate` parameter. Not
/// public API.
#[doc(hidden)]
pub struct RequiredMandate<C, F = NoState>(PhantomData<fn() -> (C, F)>);

impl<S, C, F> FromRequestParts<S> for RequiredMandate<C, F>
where
    S: Send + Sync,
    C: Capabilities,
    F: StateVerifier<S>,
{
    type Rejection = MandateRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let mandate = match parts.extensions.get::<Verified>() {
            // Already verified by a `RequireMandate` in front of the route.
            Some(Verified(mandate)) => mandate.clone(),
            None => {
                let verifier = request_verifier(parts)
                    .or_else(|| F::verifier(state))
                    .ok_or_else(no_verifier)?;
                verifier.verify_headers(&parts.headers).await?
            }
        };
        require(&mandate, C::REQUIRED)?;
        parts.extensions.insert(Verified(mandate));
        Ok(RequiredMandate(PhantomData))
    }
}

/// Where a `#[governed(capability = "…")]` handler finds a verifier in the
/// router's state `S`, after the layer's and an `Extension`'s. Not public API.
#[doc(hidden)]
pub trait StateVerifier<S> {
    /// The state's verifier, if it holds one.
    fn verifier(state: &S) -> Option<MandateVerifier>;
}

/// A handler without a `State<T>` parameter: no state to look in.
#[doc(hidden)]
pub struct NoState;

impl<S> StateVerifier<S> for NoState {
    fn verifier(_: &S) -> Option<MandateVerifier> {
        None
    }
}

/// A handler with a `State<T>` parameter: `T`, looked in through `Src`
/// (which the macro implements for the concrete `T`).
#[doc(hidden)]
pub struct FromState<T, Src>(PhantomData<fn() -> (T, Src)>);

impl<S, T, Src> StateVerifier<S> for FromState<T, Src>
where
    T: FromRef<S>,
    Src: VerifierSource<T>,
{
    fn verifier(state: &S) -> Option<MandateVerifier> {
        Src::verifier(&T::from_ref(state))
    }
}

/// Where a `#[governed(capability = "…")]` handler with a `State<T>`
/// parameter finds a verifier in `T`: implemented by the macro for a hidden
/// type, per handler. Not public API.
#[doc(hidden)]
pub trait VerifierSource<T> {
    /// The verifier held by the state, if the state holds one.
    fn verifier(state: &T) -> Option<MandateVerifier>;
}

/// Chosen (autoref specialization on [`Probe`])
/// when `MandateVerifier: FromRef<T>`. Not public API.
#[doc(hidden)]
pub trait VerifierViaFromRef<T> {
    /// The state's verifier.
    fn verifier_from_state(&self, state: &T) -> Option<MandateVerifier>;
}

impl<T> VerifierViaFromRef<T> for &Probe<T>
where
    MandateVerifier: FromRef<T>,
{
    fn verifier_from_state(&self, state: &T) -> Option<MandateVerifier> {
        Some(MandateVerifier::from_ref(state))
    }
}

/// Chosen when the state holds no verifier. Not public API.
#[doc(hidden)]
pub trait VerifierViaNothing<T> {
    /// No verifier.
    fn verifier_from_state(&self, state: &T) -> Option<MandateVerifier> {
        let _ = state;
        None
    }
}

impl<T> VerifierViaNothing<T> for Probe<T> {}
