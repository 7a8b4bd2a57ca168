//! Extractors: [`Agent`], [`Session`] and `Option<Session>` in axum handlers,
//! [`Json`] bodies, and their rejections.
//!
//! Behind [`TapPassLayer`](crate::TapPassLayer) they read what the layer
//! resolved (and a `#[governed]` route's override of it), from the same
//! task-local scope that [`current_session`](crate::current_session) reads:
//! the extractors and `current_session()` always agree, and the layer costs
//! no request extension. (A `#[governed]` handler's own `Session` parameters
//! are filled by the route itself, with or without the layer.)
//! (A router called in-process from inside a layered handler, with no layer of
//! its own, therefore sees the calling request's session, as
//! `current_session()` does there.) Without the layer, a `Session` comes from
//! the request's correlation headers, and an `Agent` from an
//! `Extension<Agent>` or, failing that, from the environment
//! (`TAPPASS_URL`, `TAPPASS_API_KEY`).
//!
//! Rejections answer in the same JSON shape as governance decisions:
//!
//! | rejection | status | `error` |
//! |---|---|---|
//! | [`SessionRejection::Invalid`] ([`InvalidHeader`]) | 400 | `invalid_correlation_header` |
//! | [`SessionRejection::Missing`] | 400 | `session_required` |
//! | [`AgentRejection`] | 500 | `governance_misconfigured` |
//! | [`JsonRejection`] (of [`Json`], axum's `Json` in the toolkit's shape) | 400, 413, 415, 422 | `malformed_json`, `invalid_json_body`, `unsupported_media_type`, `unreadable_body` |

use std::fmt;
use std::sync::OnceLock;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;
use serde::ser::SerializeMap;

use crate::agent::Agent;
use crate::response::GovernanceError;
use crate::session::Session;
use crate::session::{self, scope, InvalidHeader};

/// A malformed correlation header, refused by the layer (before the inner
/// service) and by the `Session` extractors: 400
/// `invalid_correlation_header`, naming the header, never its value.
impl GovernanceError for InvalidHeader {
    fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
    fn code(&self) -> &str {
        "invalid_correlation_header"
    }
    fn field_names(&self) -> &'static [&'static str] {
        &["header"]
    }
    fn serialize_fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry("header", self.header)
    }
}

impl IntoResponse for InvalidHeader {
    fn into_response(self) -> Response {
        crate::response::render(&self)
    }
}

/// Why a [`Session`] could not be extracted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionRejection {
    /// The request has no session (400 `session_required`).
    Missing,
    /// A correlation header is malformed (400 `invalid_correlation_header`).
    Invalid(InvalidHeader),
}

impl fmt::Display for SessionRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionRejection::Missing => f.write_str(
                "this route needs a TapPass session: send the X-TapPass-Session-Id header (with X-TapPass-Agent-Uuid when you have one)",
            ),
            SessionRejection::Invalid(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for SessionRejection {}

impl From<InvalidHeader> for SessionRejection {
    fn from(value: InvalidHeader) -> Self {
        SessionRejection::Invalid(value)
    }
}

impl GovernanceError for SessionRejection {
    fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
    fn code(&self) -> &str {
        match self {
            SessionRejection::Missing => "session_required",
            SessionRejection::Invalid(e) => e.code(),
        }
    }
    fn field_names(&self) -> &'static [&'static str] {
        match self {
            SessionRejection::Missing => &[],
            SessionRejection::Invalid(e) => e.field_names(),
        }
    }
    fn serialize_fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        match self {
            SessionRejection::Missing => Ok(()),
            SessionRejection::Invalid(e) => e.serialize_fields(map),
        }
    }
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        crate::response::render(&self)
    }
}

/// No [`Agent`] is available to the handler (500 `governance_misconfigured`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRejection {
    reason: String,
}

impl fmt::Display for AgentRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no TapPass agent for this handler: add `.layer(tappass::TapPassLayer::builder()…build()?)` to the router with an API key (a layer built with only `.mandates(verifier)` has no agent), or `.layer(Extension(agent))`, or set TAPPASS_URL and TAPPASS_API_KEY ({})",
            self.reason
        )
    }
}

impl std::error::Error for AgentRejection {}

impl GovernanceError for AgentRejection {
    fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
    fn code(&self) -> &str {
        "governance_misconfigured"
    }
    fn public_message(&self) -> Option<&'static str> {
        Some("the governance layer of this service has no TapPass agent (TapPassLayer is not installed, or has no API key); details are in the service's logs")
    }
    fn serialize_fields<M: SerializeMap>(&self, _map: &mut M) -> Result<(), M::Error> {
        Ok(())
    }
}

impl IntoResponse for AgentRejection {
    fn into_response(self) -> Response {
        crate::response::render(&self)
    }
}

/// The request's session: the one its scope holds behind the layer (as a
/// `#[governed]` route there left it), else the one its headers carry.
pub(crate) fn resolve(parts: &Parts) -> Result<Option<Session>, SessionRejection> {
    let layered = scope::with(|scope| {
        let scope = scope?;
        scope.lent()?;
        Some(scope.session())
    });
    match layered {
        Some(session) => Ok(session),
        None => Ok(session::from_headers(&parts.headers)?),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        resolve(parts)?.ok_or(SessionRejection::Missing)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        resolve(parts)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Agent {
    type Rejection = AgentRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match request_agent(parts) {
            Some(agent) => Ok(agent),
            None => env_agent(),
        }
    }
}

/// The agent the request already has: the layer's (a layer that only
/// verifies mandates has none), or an `Extension<Agent>`.
pub(crate) fn request_agent(parts: &Parts) -> Option<Agent> {
    scope::lent::<Agent>().or_else(|| parts.extensions.get::<Agent>().cloned())
}

/// The agent configured from the environment, built once.
pub(crate) fn env_agent() -> Result<Agent, AgentRejection> {
    static AGENT: OnceLock<Result<Agent, String>> = OnceLock::new();
    AGENT
        .get_or_init(|| {
            if std::env::var_os("TAPPASS_API_KEY").is_none() {
                return Err("TAPPASS_API_KEY is not set".to_owned());
            }
            Agent::from_env().map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|reason| {
            let rejection = AgentRejection { reason };
            tracing::error!(%rejection, "no TapPass agent");
            rejection
        })
}

// ---- JSON bodies ------------------------------------------------------------------

/// axum's [`Json`](axum::Json) extractor and response, whose rejection
/// answers in the toolkit's JSON shape instead of axum's plain text.
///
/// A body that is not JSON, does not fit `T`, or comes without
/// `Content-Type: application/json` answers with the same status as axum's
/// own rejection (400, 422, 415; 413 for a body over the size limit), but as
/// a [`JsonRejection`] body: `error`, `message`, the correlation ids, and
/// problem+json under a layer built with
/// [`problem_json(true)`](crate::layer::TapPassLayerBuilder::problem_json),
/// like every other error of the service. As a response, it is axum's `Json`.
///
/// ```
/// use serde::Deserialize;
/// use tappass::extract::Json;
///
/// #[derive(Deserialize)]
/// struct SummarizeIn { text: String }
///
/// #[tappass::governed]
/// async fn summarize(agent: tappass::Agent, Json(req): Json<SummarizeIn>)
///     -> Result<String, tappass::Error> {
///     Ok(agent.chat(format!("Summarize: {}", req.text)).await?.content)
/// }
/// # let _: axum::Router = axum::Router::new().route("/summarize", axum::routing::post(summarize));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use]
pub struct Json<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = JsonRejection;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(JsonRejection::from(rejection)),
        }
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Json<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T> From<T> for Json<T> {
    fn from(value: T) -> Self {
        Json(value)
    }
}

/// Why a [`Json`] body was refused, in the toolkit's shape.
///
/// | case | status | `error` |
/// |---|---|---|
/// | no `Content-Type: application/json` | 415 | `unsupported_media_type` |
/// | not JSON | 400 | `malformed_json` |
/// | JSON that does not fit the type | 422 | `invalid_json_body` |
/// | a body that could not be read (too large, cut off) | 413, 400, … | `unreadable_body` |
///
/// The `message` is axum's description of the problem (which names the
/// field and position, never anything but the client's own input) and what
/// to send instead.
#[derive(Debug)]
pub struct JsonRejection {
    status: StatusCode,
    code: &'static str,
    detail: String,
}

impl JsonRejection {
    /// axum's rejection it stands for.
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::JsonRejection as R;
        let code = match &rejection {
            R::MissingJsonContentType(_) => "unsupported_media_type",
            R::JsonSyntaxError(_) => "malformed_json",
            R::JsonDataError(_) => "invalid_json_body",
            _ => "unreadable_body",
        };
        JsonRejection {
            status: rejection.status(),
            code,
            detail: rejection.body_text(),
        }
    }
}

impl fmt::Display for JsonRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.detail.trim_end_matches('.'))?;
        match self.code {
            "unsupported_media_type" => {
                f.write_str("; send the body with `Content-Type: application/json`")
            }
            "unreadable_body" => f.write_str("; send a complete JSON body within the size limit"),
            _ => f.write_str("; send a JSON object that matches the route's schema"),
        }
    }
}

impl std::error::Error for JsonRejection {}

impl GovernanceError for JsonRejection {
    fn status(&self) -> StatusCode {
        self.status
    }
    fn code(&self) -> &str {
        self.code
    }
    fn serialize_fields<M: SerializeMap>(&self, _map: &mut M) -> Result<(), M::Error> {
        Ok(())
    }
}

impl IntoResponse for JsonRejection {
    fn into_response(self) -> Response {
        crate::response::render(&self)
    }
}
