//! `Mandate` and `Option<Mandate>` as axum extractors.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;

use super::{Mandate, MandateRejection, MandateVerifier};

/// A mandate verified for this request by [`RequireMandate`](super::RequireMandate)
/// (capabilities included), put in its extensions.
#[derive(Clone)]
pub(crate) struct Verified(pub(crate) Mandate);

/// The verifier a request can use: an `Extension<MandateVerifier>`.
fn verifier(parts: &Parts) -> Result<MandateVerifier, MandateRejection> {
    parts
        .extensions
        .get::<MandateVerifier>()
        .cloned()
        .ok_or_else(|| {
            let error = crate::Error::config(
                "a handler extracts a `Mandate` but no verifier is configured: add `.layer(tappass::mandate::RequireMandate::new(verifier))` or `.layer(axum::Extension(verifier))` to the router",
            );
            tracing::error!(%error, "no mandate verifier");
            MandateRejection::TapPass(error)
        })
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
