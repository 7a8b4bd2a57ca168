//! [`MandateRejection`]: why a request's mandate was refused.

/// Why a request's mandate was refused: each a `403` with its `error` code,
/// except a failure to get the keys (`503 governance_unavailable`, fail
/// closed) and a missing verifier (`500 governance_misconfigured`).
///
/// The body is the shape of every governance error (the `error` code, a
/// `message` that says what to do, the session's correlation ids) and the
/// response carries the session's correlation headers. The token is never
/// echoed: not in the body, not in a header, not in a log line.
///
/// | case | status | `error` | body fields |
/// |---|---|---|---|
/// | [`Missing`](Self::Missing) | 403 | `mandate_missing` | `header` |
/// | [`Invalid`](Self::Invalid) | 403 | `mandate_invalid` | |
/// | [`Expired`](Self::Expired) | 403 | `mandate_expired` | |
/// | [`Insufficient`](Self::Insufficient) | 403 | `mandate_insufficient` | `required_capability` |
/// | [`Revoked`](Self::Revoked) | 403 | `mandate_revoked` | `mandate_id` |
/// | [`TapPass`](Self::TapPass) | 503 / 500 | `governance_unavailable` / `governance_misconfigured` | |
#[derive(Debug, thiserror::Error, tappass_macros::GovernanceError)]
#[cfg_attr(feature = "utoipa", governance(openapi = "MandateRejection"))]
#[non_exhaustive]
pub enum MandateRejection {
    /// The request carries no mandate (`mandate_missing`).
    #[governance(status = 403, code = "mandate_missing")]
    #[error("this route needs a mandate: send the mandate TapPass issued when it allowed the tool call in the `{header}` header")]
    Missing {
        /// The header the mandate is read from.
        header: String,
    },

    /// The mandate is not a valid ES256 token signed by a key of TapPass
    /// (`mandate_invalid`): malformed, too large, another algorithm, a bad
    /// signature, an unknown key after a re-fetch, the wrong audience or
    /// issuer, no `mandate_id` while revocation is checked.
    #[governance(
        status = 403,
        code = "mandate_invalid",
        message = "the request's mandate is not valid (malformed, not signed by TapPass with ES256, or meant for another service); ask TapPass for a new one by governing the tool call again"
    )]
    #[error("the mandate is invalid: {reason}")]
    Invalid {
        /// What was wrong, for logs; the client sees a fixed message.
        #[governance(skip)]
        reason: &'static str,
    },

    /// The mandate has expired, or is not valid yet (`mandate_expired`).
    #[governance(status = 403, code = "mandate_expired")]
    #[error("the mandate has expired or is not valid yet; ask TapPass for a new one by governing the tool call again")]
    Expired,

    /// The mandate does not grant the capability the route requires
    /// (`mandate_insufficient`).
    #[governance(status = 403, code = "mandate_insufficient")]
    #[error(
        "the mandate does not grant `{required_capability}`; this route needs a mandate for it"
    )]
    Insufficient {
        /// The capability the route requires.
        required_capability: String,
    },

    /// The mandate was revoked (`mandate_revoked`).
    #[governance(status = 403, code = "mandate_revoked")]
    #[error("mandate `{mandate_id}` has been revoked; ask TapPass for a new one")]
    Revoked {
        /// The revoked mandate's id.
        mandate_id: String,
    },

    /// No key or revocation list could be had to verify with (`503
    /// governance_unavailable`, fail closed), or no verifier is configured
    /// (`500 governance_misconfigured`).
    #[governance(transparent)]
    #[error(transparent)]
    TapPass(#[from] crate::error::Error),
}

impl MandateRejection {
    pub(crate) fn invalid(reason: &'static str) -> MandateRejection {
        MandateRejection::Invalid { reason }
    }
}
