//! [`CapabilityRejection`]: a refused call as an HTTP response.

use super::errors::{Rejection, RejectionKind};
use super::{POP_HEADER, TOKEN_HEADER};

/// Why a request (or a guarded call) was refused, as the governance error it
/// answers: the status and `error` code of its [`RejectionKind`].
///
/// A `401` says the credentials are missing or unusable (present a token,
/// a fresh one, or a proof of possession that verifies); a `403` says they
/// are good but do not permit this call (no retry with the same token
/// helps). Each `401` carries `WWW-Authenticate: TapPass-Capability
/// error="<code>"`. The body is the shape of every governance error (the
/// `error` code, a `message` that says what to do, the session's
/// correlation ids); it never repeats the token, the proof or an
/// argument's value.
///
/// | case | status | `error` | body fields |
/// |---|---|---|---|
/// | [`Missing`](Self::Missing) | 401 | `capability_missing` | `header` |
/// | [`Invalid`](Self::Invalid) | 401 | `capability_invalid` | |
/// | [`Expired`](Self::Expired) | 401 | `capability_expired` | `expires_at` |
/// | [`PopMissing`](Self::PopMissing) | 401 | `capability_pop_missing` | `header` |
/// | [`PopInvalid`](Self::PopInvalid) | 401 | `capability_pop_invalid` | `tool` |
/// | [`ToolNotGranted`](Self::ToolNotGranted) | 403 | `capability_tool_not_granted` | `tool` |
/// | [`ConstraintViolated`](Self::ConstraintViolated) | 403 | `capability_constraint_violated` | `tool`, `argument` |
/// | [`Clearance`](Self::Clearance) | 403 | `capability_clearance` | `required_clearance`, `clearance` |
/// | [`TrustScore`](Self::TrustScore) | 403 | `capability_trust_score` | `min_trust_score`, `trust_score` |
/// | [`Unreadable`](Self::Unreadable) | 400 | `capability_arguments_unreadable` | |
/// | [`Misconfigured`](Self::Misconfigured) | 500 | `governance_misconfigured` | |
///
/// `From<Rejection>` maps each [`Rejection`] to its case; the route's tool
/// is filled in where the case names it.
#[derive(Debug, thiserror::Error, tappass_macros::GovernanceError)]
#[cfg_attr(feature = "utoipa", governance(openapi = "CapabilityRejection"))]
#[non_exhaustive]
pub enum CapabilityRejection {
    /// No token was presented (`capability_missing`).
    #[governance(status = 401, code = "capability_missing", headers = challenge)]
    #[error("this route needs a capability token: send the token TapPass issued in its chat answer (`tappass.capability_token`) in the `{header}` header, with a proof of possession in `X-TapPass-PoP`")]
    Missing {
        /// The header the token is read from.
        header: String,
    },

    /// The token is not one this service accepts (`capability_invalid`):
    /// malformed, too large, not an execution token, not yet valid or
    /// living too long, not issued by a trusted root, a broken or widened
    /// delegation chain, a bad signature.
    #[governance(status = 401, code = "capability_invalid", headers = challenge)]
    #[error("the capability token is not valid ({reason}); ask TapPass for a new one")]
    Invalid {
        /// What was wrong; its message never contains the token.
        #[governance(skip)]
        reason: Rejection,
    },

    /// The token has expired (`capability_expired`).
    #[governance(status = 401, code = "capability_expired", headers = challenge)]
    #[error(
        "the capability token expired at {expires_at} (Unix seconds); ask TapPass for a new one"
    )]
    Expired {
        /// Its `exp`, Unix seconds.
        expires_at: i64,
    },

    /// No proof of possession was presented (`capability_pop_missing`).
    #[governance(status = 401, code = "capability_pop_missing", headers = challenge)]
    #[error("this route needs a proof of possession in the `{header}` header: the holder key's signature over this call's tool and arguments")]
    PopMissing {
        /// The header the proof is read from.
        header: String,
    },

    /// The proof of possession does not verify (`capability_pop_invalid`):
    /// not the holder's signature over this call (tool and arguments), or
    /// made outside the accepted time windows.
    #[governance(status = 401, code = "capability_pop_invalid", headers = challenge)]
    #[error("the proof of possession does not verify: sign this exact call (tool `{tool}` and the arguments the route reads) with the holder key, with a synchronised clock")]
    PopInvalid {
        /// The tool the call was checked for.
        tool: String,
    },

    /// The token does not grant the tool (`capability_tool_not_granted`).
    #[governance(status = 403, code = "capability_tool_not_granted")]
    #[error("the capability token does not grant the tool `{tool}`")]
    ToolNotGranted {
        /// The tool asked for.
        tool: String,
    },

    /// An argument is outside the token's constraints, or not allowed at
    /// all (`capability_constraint_violated`).
    #[governance(status = 403, code = "capability_constraint_violated")]
    #[error("{}", constraint_message(tool, argument.as_deref()))]
    ConstraintViolated {
        /// The tool the call was checked for.
        tool: String,
        /// The argument at fault (`null` when the arguments as a whole are
        /// refused: nested too deep to be signed).
        argument: Option<String>,
        /// What was wrong, for logs: the constraint, as Python's `repr`.
        #[governance(skip)]
        reason: Rejection,
    },

    /// The token's clearance is below the route's (`capability_clearance`).
    #[governance(status = 403, code = "capability_clearance")]
    #[error(
        "this route needs clearance {required_clearance}; the capability token has {clearance}"
    )]
    Clearance {
        /// The clearance the route requires (`INTERNAL`, …).
        required_clearance: String,
        /// The token's.
        clearance: String,
    },

    /// The token's trust score is below the service's minimum
    /// (`capability_trust_score`).
    #[governance(status = 403, code = "capability_trust_score")]
    #[error("this service needs a trust score of at least {min_trust_score}; the capability token has {trust_score}")]
    TrustScore {
        /// The authorizer's minimum.
        min_trust_score: u32,
        /// The token's score.
        trust_score: u32,
    },

    /// The call's arguments could not be read from the request
    /// (`capability_arguments_unreadable`, 400): a named query parameter
    /// given twice, a path parameter that is not UTF-8, a body that is not
    /// a JSON object or is over the route's limit.
    #[governance(status = 400, code = "capability_arguments_unreadable")]
    #[error("the call's arguments could not be read: {reason}")]
    Unreadable {
        /// What was wrong.
        #[governance(skip)]
        reason: String,
    },

    /// The service is misconfigured: no authorizer, a `path_param` the
    /// route does not have, a guarded call outside a capability scope
    /// (`500 governance_misconfigured`, as [`tappass::Error::Config`](crate::Error::Config),
    /// which it converts to).
    #[governance(
        status = 500,
        code = "governance_misconfigured",
        message = "the governance layer of this service is misconfigured; the request was not processed (details are in the service's logs)"
    )]
    #[error("tappass is misconfigured: {0}")]
    Misconfigured(String),
}

fn constraint_message(tool: &str, argument: Option<&str>) -> String {
    match argument {
        Some(argument) => format!(
            "argument `{argument}` of `{tool}` is outside what the capability token allows (or not allowed at all)"
        ),
        None => format!("the arguments of `{tool}` are nested too deep to be signed"),
    }
}

/// `WWW-Authenticate` on the `401` cases.
fn challenge(rejection: &CapabilityRejection, headers: &mut http::HeaderMap) {
    if let Ok(value) = http::HeaderValue::from_str(&format!(
        "TapPass-Capability error=\"{}\"",
        rejection_code(rejection)
    )) {
        headers.insert(http::header::WWW_AUTHENTICATE, value);
    }
}

fn rejection_code(rejection: &CapabilityRejection) -> &'static str {
    rejection
        .kind()
        .map(RejectionKind::code)
        .unwrap_or("capability_invalid")
}

impl CapabilityRejection {
    /// The refusal of a call to `tool` for `rejection`.
    pub fn for_tool(tool: &str, rejection: Rejection) -> CapabilityRejection {
        match rejection {
            Rejection::MissingToken => CapabilityRejection::Missing {
                header: TOKEN_HEADER.to_owned(),
            },
            Rejection::Expired { expires_at, .. } => CapabilityRejection::Expired { expires_at },
            Rejection::ToolNotGranted { tool } => CapabilityRejection::ToolNotGranted { tool },
            Rejection::UnknownArgument { ref argument }
            | Rejection::ConstraintViolated { ref argument, .. } => {
                CapabilityRejection::ConstraintViolated {
                    tool: tool.to_owned(),
                    argument: Some(argument.clone()),
                    reason: rejection,
                }
            }
            Rejection::ArgumentsTooDeep => CapabilityRejection::ConstraintViolated {
                tool: tool.to_owned(),
                argument: None,
                reason: rejection,
            },
            Rejection::PopMissing => CapabilityRejection::PopMissing {
                header: POP_HEADER.to_owned(),
            },
            Rejection::PopInvalid => CapabilityRejection::PopInvalid {
                tool: tool.to_owned(),
            },
            Rejection::Clearance { actual, required } => CapabilityRejection::Clearance {
                required_clearance: required.name().to_owned(),
                clearance: actual.name().to_owned(),
            },
            Rejection::TrustScore { score, min } => CapabilityRejection::TrustScore {
                min_trust_score: min,
                trust_score: score,
            },
            other => CapabilityRejection::Invalid { reason: other },
        }
    }

    /// The family of the refusal; `None` for [`Unreadable`](Self::Unreadable)
    /// and [`Misconfigured`](Self::Misconfigured), which are not about the token.
    pub fn kind(&self) -> Option<RejectionKind> {
        Some(match self {
            CapabilityRejection::Missing { .. } => RejectionKind::Missing,
            CapabilityRejection::Invalid { .. } => RejectionKind::Invalid,
            CapabilityRejection::Expired { .. } => RejectionKind::Expired,
            CapabilityRejection::PopMissing { .. } => RejectionKind::PopMissing,
            CapabilityRejection::PopInvalid { .. } => RejectionKind::PopInvalid,
            CapabilityRejection::ToolNotGranted { .. } => RejectionKind::ToolNotGranted,
            CapabilityRejection::ConstraintViolated { .. } => RejectionKind::ConstraintViolated,
            CapabilityRejection::Clearance { .. } => RejectionKind::Clearance,
            CapabilityRejection::TrustScore { .. } => RejectionKind::TrustScore,
            CapabilityRejection::Unreadable { .. } | CapabilityRejection::Misconfigured(_) => {
                return None
            }
        })
    }

    /// A `500 governance_misconfigured` that says what to configure.
    pub(crate) fn misconfigured(message: impl Into<String>) -> CapabilityRejection {
        let rejection = CapabilityRejection::Misconfigured(message.into());
        tracing::error!(error = %rejection, "capability tokens");
        rejection
    }
}

/// A refusal with no route to name: the tool of a [`Rejection`] that names
/// one, else an empty name.
impl From<Rejection> for CapabilityRejection {
    fn from(rejection: Rejection) -> Self {
        let tool = match &rejection {
            Rejection::ToolNotGranted { tool } => tool.clone(),
            _ => String::new(),
        };
        CapabilityRejection::for_tool(&tool, rejection)
    }
}
