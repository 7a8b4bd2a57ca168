//! [`RequireMandate`]: a tower layer that refuses every request without a
//! valid mandate granting the route's capabilities, before the handler runs.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use tower_layer::Layer;
use tower_service::Service;

use super::extract::{request_verifier, Verified};
use super::verifier::require;
use super::{BoxFuture, Mandate, MandateRejection, MandateVerifier};

/// Requires a valid mandate, granting every capability given with
/// [`capability`](Self::capability), on every request of the routes it wraps.
///
/// A refused request never reaches the inner service: it is answered with
/// the [`MandateRejection`]. An accepted one carries its [`Mandate`] to the
/// handler, which extracts it without verifying it again.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tappass::Error> {
/// use axum::{routing::post, Router};
/// use tappass::mandate::{Mandate, MandateVerifier, RequireMandate};
///
/// async fn search(mandate: Mandate) -> String {
///     format!("searching under {}", mandate.id().unwrap_or("?"))
/// }
///
/// let verifier = MandateVerifier::builder()
///     .jwks_url("https://tappass.example.com/.well-known/jwks.json")
///     .no_revocation()
///     .build()?;
/// let app: Router = Router::new()
///     .route("/search", post(search))
///     .route_layer(RequireMandate::new(verifier).capability("tool:call:search"));
///
/// // Without a mandate, the handler never runs.
/// use tower::ServiceExt;
/// let response = app
///     .oneshot(http::Request::post("/search").body(axum::body::Body::empty()).unwrap())
///     .await
///     .unwrap();
/// assert_eq!(response.status(), 403);
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct RequireMandate {
    verifier: Option<MandateVerifier>,
    required: Arc<[String]>,
}

impl RequireMandate {
    /// Verifies with `verifier`.
    pub fn new(verifier: MandateVerifier) -> RequireMandate {
        RequireMandate {
            verifier: Some(verifier),
            required: Arc::from(Vec::new()),
        }
    }

    /// Verifies with the verifier of the [`TapPassLayer`](crate::TapPassLayer)
    /// outside this one (`TapPassLayer::builder().mandates(verifier)`), else
    /// with the request's `Extension<MandateVerifier>`, added by a layer
    /// outside this one (`500 governance_misconfigured` without either).
    pub fn from_extension() -> RequireMandate {
        RequireMandate {
            verifier: None,
            required: Arc::from(Vec::new()),
        }
    }

    /// Also requires `capability` (e.g. `tool:call:search`; see
    /// [`Capability::grants`](super::Capability::grants) for matching).
    pub fn capability(self, capability: impl Into<String>) -> RequireMandate {
        let mut required = self.required.to_vec();
        required.push(capability.into());
        RequireMandate {
            required: required.into(),
            ..self
        }
    }

    /// Verifies the request's mandate and checks the capabilities.
    async fn check(&self, parts: &Parts) -> Result<Mandate, MandateRejection> {
        let mut found = None;
        let verifier: &MandateVerifier = match &self.verifier {
            Some(verifier) => verifier,
            None => found.insert(request_verifier(parts).ok_or_else(|| {
                let error = crate::error::Error::config(
                    "RequireMandate::from_extension() found no verifier: put it behind a `TapPassLayer::builder().mandates(verifier)` layer or an `.layer(axum::Extension(verifier))`, or use RequireMandate::new(verifier)",
                );
                tracing::error!(%error, "no mandate verifier");
                MandateRejection::TapPass(error)
            })?),
        };
        let mandate = verifier.verify_headers(&parts.headers).await?;
        require(&mandate, &self.required)?;
        Ok(mandate)
    }
}

impl fmt::Debug for RequireMandate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireMandate")
            .field("verifier", &self.verifier)
            .field("required", &self.required)
            .finish()
    }
}

impl<S> Layer<S> for RequireMandate {
    type Service = RequireMandateService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireMandateService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`RequireMandate`].
#[derive(Clone, Debug)]
pub struct RequireMandateService<S> {
    inner: S,
    layer: RequireMandate,
}

impl<S> Service<Request> for RequireMandateService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The clone that was driven to readiness serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            match layer.check(&parts).await {
                Ok(mandate) => {
                    parts.extensions.insert(Verified(mandate));
                    inner.call(Request::from_parts(parts, body)).await
                }
                Err(rejection) => Ok(rejection.into_response()),
            }
        })
    }
}
