//! [`Error`]: what every fallible call of the toolkit returns.

use http::{HeaderMap, StatusCode};
use serde::ser::SerializeMap;

use crate::response::GovernanceError;
use crate::GovernanceDecision;

/// A boxed error source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What every fallible call of the toolkit returns.
///
/// A [`Governance`](Error::Governance) error is a decision, not a failure: the
/// control plane understood the request and a policy stopped or paused it. The
/// other variants are failures. All of them map to an HTTP response
/// (`IntoResponse`), so a handler returning `Result<_, tappass::Error>` needs
/// nothing else; failures fail closed and keep their details out of the body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A governance decision stopped or paused the request.
    #[error(transparent)]
    Governance(#[from] GovernanceDecision),

    /// The toolkit is misconfigured (`governance_misconfigured`, 500).
    #[error("tappass is misconfigured: {0}")]
    Config(String),

    /// The control plane could not be reached, timed out or answered 5xx
    /// (`governance_unavailable`, 503: fail closed).
    #[error("the TapPass control plane is unavailable: {message}")]
    Unavailable {
        /// What happened, for logs.
        message: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<BoxError>,
    },

    /// The control plane refused the API key (`governance_misconfigured`, 500).
    #[error(
        "TapPass refused the API key (HTTP {status}): check TAPPASS_API_KEY and the key's scopes"
    )]
    Authentication {
        /// The status the server answered, 401 or 403.
        status: u16,
    },

    /// The control plane answered something this client does not understand
    /// (`governance_protocol_error`, 502).
    #[error("TapPass answered outside its protocol: {0}")]
    Protocol(String),
}

impl Error {
    /// The decision, when this error is one.
    pub fn decision(&self) -> Option<&GovernanceDecision> {
        match self {
            Error::Governance(d) => Some(d),
            _ => None,
        }
    }

    /// Whether this is a governance decision rather than a failure.
    pub fn is_decision(&self) -> bool {
        matches!(self, Error::Governance(_))
    }

    /// Whether the control plane was unavailable (down, timed out, 5xx).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Unavailable { .. })
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error::Config(message.into())
    }

    pub(crate) fn unavailable(
        message: impl Into<String>,
        source: impl Into<Option<BoxError>>,
    ) -> Self {
        Error::Unavailable {
            message: message.into(),
            source: source.into(),
        }
    }
}

impl GovernanceError for Error {
    fn status(&self) -> StatusCode {
        match self {
            Error::Governance(d) => d.status(),
            Error::Config(_) | Error::Authentication { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::Protocol(_) => StatusCode::BAD_GATEWAY,
        }
    }

    fn code(&self) -> &str {
        match self {
            Error::Governance(d) => d.code(),
            Error::Config(_) | Error::Authentication { .. } => "governance_misconfigured",
            Error::Unavailable { .. } => "governance_unavailable",
            Error::Protocol(_) => "governance_protocol_error",
        }
    }

    fn public_message(&self) -> Option<&'static str> {
        match self {
            Error::Governance(d) => d.public_message(),
            Error::Config(_) | Error::Authentication { .. } => Some(
                "the governance layer of this service is misconfigured; the request was not processed (details are in the service's logs)",
            ),
            Error::Unavailable { .. } => Some(
                "the governance control plane is unavailable, so the request was refused (fail closed); retry later",
            ),
            Error::Protocol(_) => Some(
                "the governance control plane gave an answer this service does not understand; the request was refused (details are in the service's logs)",
            ),
        }
    }

    fn field_names(&self) -> &'static [&'static str] {
        match self {
            Error::Governance(d) => d.field_names(),
            _ => &[],
        }
    }

    fn serialize_fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        match self {
            Error::Governance(d) => d.serialize_fields(map),
            _ => Ok(()),
        }
    }

    fn headers(&self, headers: &mut HeaderMap) {
        if let Error::Governance(d) = self {
            d.headers(headers)
        }
    }
}

impl axum::response::IntoResponse for Error {
    fn into_response(self) -> axum::response::Response {
        crate::response::render(&self)
    }
}
