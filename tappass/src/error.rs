//! [`Error`]: what every fallible call of the toolkit returns.

use crate::decision::GovernanceDecision;
use tappass_macros::GovernanceError;

/// A boxed error source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What every fallible call of the toolkit returns.
///
/// A [`Governance`](Error::Governance) error is a decision, not a failure: the
/// control plane understood the request and a policy stopped or paused it. The
/// other variants are failures. All of them map to an HTTP response
/// (`IntoResponse`), so a handler returning `Result<_, tappass::Error>` needs
/// nothing else; failures fail closed and keep their details out of the body.
#[derive(Debug, thiserror::Error, GovernanceError)]
#[cfg_attr(feature = "utoipa", governance(openapi = "TapPassError"))]
#[non_exhaustive]
pub enum Error {
    /// A governance decision stopped or paused the request.
    #[governance(transparent)]
    #[error(transparent)]
    Governance(Box<GovernanceDecision>),

    /// The toolkit is misconfigured (`governance_misconfigured`, 500).
    #[governance(
        status = 500,
        code = "governance_misconfigured",
        message = "the governance layer of this service is misconfigured; the request was not processed (details are in the service's logs)"
    )]
    #[error("tappass is misconfigured: {0}")]
    Config(String),

    /// The control plane could not be reached, timed out or answered 5xx
    /// (`governance_unavailable`, 503: fail closed).
    #[governance(
        status = 503,
        code = "governance_unavailable",
        message = "the governance control plane is unavailable, so the request was refused (fail closed); retry later"
    )]
    #[error("the TapPass control plane is unavailable: {message}")]
    Unavailable {
        /// What happened, for logs.
        #[governance(skip)]
        message: String,
        /// The underlying error, when there is one.
        #[governance(skip)]
        #[source]
        source: Option<BoxError>,
    },

    /// The control plane is up but asked this client to slow down (HTTP 429),
    /// on every attempt the retry policy allowed (`governance_unavailable`,
    /// 503: fail closed, with `Retry-After` when the server gave one).
    ///
    /// Unlike [`Unavailable`](Error::Unavailable), this is never let through
    /// ungoverned by [`AgentBuilder::fail_open`](crate::agent::AgentBuilder::fail_open):
    /// the server is alive and governing.
    #[governance(
        status = 503,
        code = "governance_unavailable",
        retry_after = retry_after,
        message = "the governance control plane asked this service to slow down, so the request was refused (fail closed); retry later"
    )]
    #[error("the TapPass control plane asked to slow down: {message}")]
    RateLimited {
        /// What happened, for logs.
        #[governance(skip)]
        message: String,
        /// How long the server asked to wait, when it said.
        #[governance(skip)]
        retry_after: Option<std::time::Duration>,
    },

    /// The control plane refused the API key (`governance_misconfigured`, 500).
    #[governance(
        status = 500,
        code = "governance_misconfigured",
        message = "the governance layer of this service is misconfigured; the request was not processed (details are in the service's logs)"
    )]
    #[error(
        "TapPass refused the API key (HTTP {status}): check {key_setting} and the key's scopes"
    )]
    Authentication {
        /// The status the server answered, 401 or 403.
        #[governance(skip)]
        status: u16,
        /// The setting the key came from, named in the message:
        /// `TAPPASS_API_KEY`, or the key given in code.
        #[governance(skip)]
        key_setting: &'static str,
    },

    /// The control plane answered something this client does not understand
    /// (`governance_protocol_error`, 502).
    #[governance(
        status = 502,
        code = "governance_protocol_error",
        message = "the governance control plane gave an answer this service does not understand; the request was refused (details are in the service's logs)"
    )]
    #[error("TapPass answered outside its protocol: {0}")]
    Protocol(String),

    /// A capability token refused a call (feature `capability`): a
    /// `#[tappass::guard]` function's refusal, with the refusal's own
    /// status and code ([`CapabilityRejection`](crate::capability::CapabilityRejection)).
    #[cfg(feature = "capability")]
    #[cfg_attr(docsrs, doc(cfg(feature = "capability")))]
    #[governance(transparent)]
    #[error(transparent)]
    Capability(Box<crate::capability::CapabilityRejection>),
}

#[cfg(feature = "capability")]
impl From<crate::capability::CapabilityRejection> for Error {
    fn from(rejection: crate::capability::CapabilityRejection) -> Self {
        match rejection {
            crate::capability::CapabilityRejection::Misconfigured(message) => {
                Error::Config(message)
            }
            other => Error::Capability(Box::new(other)),
        }
    }
}

impl From<GovernanceDecision> for Error {
    fn from(decision: GovernanceDecision) -> Self {
        Error::Governance(Box::new(decision))
    }
}

impl From<Box<GovernanceDecision>> for Error {
    fn from(decision: Box<GovernanceDecision>) -> Self {
        Error::Governance(decision)
    }
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
    ///
    /// A server that answered `429` is not unavailable: see
    /// [`is_rate_limited`](Error::is_rate_limited).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Unavailable { .. })
    }

    /// Whether the control plane answered `429` (slow down) until the retries
    /// ran out.
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Error::RateLimited { .. })
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
