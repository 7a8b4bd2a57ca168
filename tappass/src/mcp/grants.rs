//! The grants a caller presents with a call (feature `mandate`: a mandate in
//! `X-TapPass-Mandate`; feature `capability`: a capability token in
//! `X-TapPass-Token` with its proof of possession in `X-TapPass-PoP`), and
//! what a tool that needs a capability asks of them.

use http::HeaderMap;
use serde::ser::SerializeMap;
use serde_json::{Map, Value};

use super::shared::Shared;

/// Why a caller's grant does not let it call a tool: the mandate's
/// rejection, the capability token's, or no grant at all.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Nothing was presented that this server could verify.
    Missing { tool: String, headers: &'static str },
    #[cfg(feature = "mandate")]
    Mandate(crate::mandate::MandateRejection),
    #[cfg(feature = "capability")]
    Token(crate::capability::Rejection),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Missing { tool, headers } => write!(
                f,
                "the tool `{tool}` needs a grant: send {headers} with the call"
            ),
            #[cfg(feature = "mandate")]
            Refusal::Mandate(rejection) => std::fmt::Display::fmt(rejection, f),
            #[cfg(feature = "capability")]
            Refusal::Token(rejection) => write!(f, "{rejection}"),
        }
    }
}

impl crate::response::GovernanceError for Refusal {
    fn status(&self) -> http::StatusCode {
        match self {
            #[cfg(feature = "mandate")]
            Refusal::Mandate(rejection) => rejection.status(),
            _ => http::StatusCode::FORBIDDEN,
        }
    }

    fn code(&self) -> &str {
        match self {
            Refusal::Missing { .. } => "grant_missing",
            #[cfg(feature = "mandate")]
            Refusal::Mandate(rejection) => rejection.code(),
            #[cfg(feature = "capability")]
            Refusal::Token(rejection) => rejection.kind().code(),
        }
    }

    fn public_message(&self) -> Option<&'static str> {
        match self {
            #[cfg(feature = "mandate")]
            Refusal::Mandate(rejection) => rejection.public_message(),
            _ => None,
        }
    }

    fn serialize_fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        match self {
            Refusal::Missing { tool, .. } => map.serialize_entry("tool", tool),
            #[cfg(feature = "mandate")]
            Refusal::Mandate(rejection) => rejection.serialize_fields(map),
            #[cfg(feature = "capability")]
            Refusal::Token(rejection) => match rejection.argument() {
                Some(argument) => map.serialize_entry("argument", argument),
                None => Ok(()),
            },
        }
    }
}

/// The headers a caller sends grants in, for the messages of this server.
pub(crate) fn grant_headers(shared: &Shared) -> &'static str {
    let _ = shared;
    #[cfg(all(feature = "mandate", feature = "capability"))]
    if shared.mandates.is_some() && shared.authorizer.is_some() {
        return "a mandate in `X-TapPass-Mandate`, or a capability token in `X-TapPass-Token` with its proof of possession in `X-TapPass-PoP`,";
    }
    #[cfg(feature = "capability")]
    if shared.authorizer.is_some() {
        return "a capability token in `X-TapPass-Token` with its proof of possession in `X-TapPass-PoP`";
    }
    "a mandate TapPass issued for it in `X-TapPass-Mandate`"
}

/// Whether a caller presents anything a grant could be read from.
fn presents(shared: &Shared, headers: Option<&HeaderMap>) -> (bool, bool) {
    let Some(headers) = headers else {
        return (false, false);
    };
    let _ = shared;
    #[cfg(feature = "mandate")]
    let mandate = shared
        .mandates
        .as_ref()
        .is_some_and(|v| headers.contains_key(v.header()));
    #[cfg(not(feature = "mandate"))]
    let mandate = false;
    let token = headers.contains_key(TOKEN);
    (mandate, token)
}

const TOKEN: &str = "x-tappass-token";
#[cfg(feature = "capability")]
const POP: &str = "x-tappass-pop";

/// Checks that the caller may call `tool` with `args`: a valid mandate that
/// grants `capability`, or a capability token that authorizes the call.
/// Either suffices; when neither does, the refusal of what was presented
/// (the token's before the mandate's), or [`Refusal::Missing`].
pub(crate) async fn check_call(
    shared: &Shared,
    headers: Option<&HeaderMap>,
    tool: &str,
    capability: &str,
    args: &Map<String, Value>,
) -> Result<(), Refusal> {
    let (has_mandate, has_token) = presents(shared, headers);
    let _ = (capability, args, has_mandate);
    #[allow(unused_mut)]
    let mut refused: Option<Refusal> = None;
    #[cfg(feature = "capability")]
    if let (Some(authorizer), Some(headers), true) = (&shared.authorizer, headers, has_token) {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        match authorizer.check(text(TOKEN), text(POP), tool, args) {
            Ok(_) => return Ok(()),
            Err(rejection) => refused = Some(Refusal::Token(rejection)),
        }
    }
    #[cfg(feature = "mandate")]
    if let (Some(verifier), Some(headers), true) = (&shared.mandates, headers, has_mandate) {
        match verifier.verify_headers(headers).await {
            Ok(mandate) if mandate.grants(capability) => return Ok(()),
            Ok(_) => {
                refused.get_or_insert(Refusal::Mandate(
                    crate::mandate::MandateRejection::Insufficient {
                        required_capability: capability.to_owned(),
                    },
                ));
            }
            Err(rejection) => {
                refused.get_or_insert(Refusal::Mandate(rejection));
            }
        }
    }
    let _ = has_token;
    Err(refused.unwrap_or_else(|| Refusal::Missing {
        tool: tool.to_owned(),
        headers: grant_headers(shared),
    }))
}

/// What a caller's grants let it see in `tools/list`: read once per
/// listing, asked per tool.
pub(crate) struct Listing {
    #[cfg(feature = "mandate")]
    mandate: Option<crate::mandate::Mandate>,
    #[cfg(feature = "capability")]
    token: Option<String>,
}

impl Listing {
    /// Verifies what the caller presents: a mandate fully (signature,
    /// expiry, revocation); a capability token as far as it goes without a
    /// call (form, times, trust score, chain and signatures: everything but
    /// the arguments and the proof of possession, which belong to a call).
    pub(crate) async fn read(shared: &Shared, headers: Option<&HeaderMap>) -> Listing {
        let _ = (shared, headers);
        Listing {
            #[cfg(feature = "mandate")]
            mandate: match (&shared.mandates, headers) {
                (Some(verifier), Some(headers)) if headers.contains_key(verifier.header()) => {
                    verifier.verify_headers(headers).await.ok()
                }
                _ => None,
            },
            #[cfg(feature = "capability")]
            token: headers
                .and_then(|h| h.get(TOKEN))
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }

    /// Whether the caller may see `tool`, which needs `capability`.
    pub(crate) fn shows(&self, shared: &Shared, tool: &str, capability: &str) -> bool {
        let _ = (shared, tool, capability);
        #[cfg(feature = "mandate")]
        if self.mandate.as_ref().is_some_and(|m| m.grants(capability)) {
            return true;
        }
        #[cfg(feature = "capability")]
        if let (Some(authorizer), Some(token)) = (&shared.authorizer, &self.token) {
            // Without a call there is no proof of possession: a token that
            // passes every other check is refused for that alone, last.
            let refused = authorizer.check(Some(token), None, tool, &Map::new());
            return matches!(refused, Err(crate::capability::Rejection::PopMissing));
        }
        false
    }
}
