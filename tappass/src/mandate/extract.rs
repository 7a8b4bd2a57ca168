//! `Mandate` and `Option<Mandate>` as axum extractors.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;

pub(crate) use super::verifier::require;
use super::{Mandate, MandateRejection, MandateVerifier};
use crate::session::scope;

/// A mandate verified for this request by [`RequireMandate`](super::RequireMandate)
/// (capabilities included), put in its extensions.
#[derive(Clone)]
pub(crate) struct Verified(pub(crate) Mandate);

/// The verifier a request has: the one of the [`TapPassLayer`](crate::TapPassLayer)
/// it runs behind (`.mandates(verifier)`, read from the request's scope),
/// else an `Extension<MandateVerifier>`. The one place that decides it, for
/// the extractor, `#[governed(capability = "…")]` and
/// [`RequireMandate::from_extension`](super::RequireMandate::from_extension).
pub(crate) fn request_verifier(parts: &Parts) -> Option<MandateVerifier> {
    scope::lent::<MandateVerifier>().or_else(|| parts.extensions.get::<MandateVerifier>().cloned())
}

/// [`request_verifier`], or the `500` that says how to configure one.
pub(crate) fn verifier(parts: &Parts) -> Result<MandateVerifier, MandateRejection> {
    request_verifier(parts).ok_or_else(no_verifier)
}

/// The `500` for a request that needs a mandate and has no verifier.
pub(crate) fn no_verifier() -> MandateRejection {
    let error = crate::error::Error::config(
        "a handler needs a mandate but no verifier is configured: build the layer with `TapPassLayer::builder().mandates(verifier)`, or add `.layer(axum::Extension(verifier))` (or `.layer(tappass::mandate::RequireMandate::new(verifier))`) to the router",
    );
    tracing::error!(%error, "no mandate verifier");
    MandateRejection::TapPass(error)
}

impl<S: Send + Sync> FromRequestParts<S> for Mandate {
    type Rejection = MandateRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(Verified(mandate)) = parts.extensions.get::<Verified>() {
            return Ok(mandate.clone());
        }
        let verifier = verifier(parts)?;
        verifier.verify_headers(&parts.headers).await
    }
}

/// `None` only when the request carries no mandate: one that is present but
/// fails verification is refused, never treated as absent.
impl<S: Send + Sync> OptionalFromRequestParts<S> for Mandate {
    type Rejection = MandateRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        if let Some(Verified(mandate)) = parts.extensions.get::<Verified>() {
            return Ok(Some(mandate.clone()));
        }
        let verifier = verifier(parts)?;
        match verifier.token(&parts.headers)? {
            Some(token) => verifier.verify(token).await.map(Some),
            None => Ok(None),
        }
    }
}
