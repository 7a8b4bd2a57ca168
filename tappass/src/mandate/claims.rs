//! What a verified mandate says: [`Mandate`], its [`Capability`]s and the one
//! function that decides whether a capability grants another.

use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::timestamp::Timestamp;

/// A verified mandate: a signed grant of capabilities that TapPass issued
/// when it allowed a tool call.
///
/// Only [`MandateVerifier::verify`](super::MandateVerifier::verify) makes one,
/// so holding a `Mandate` means its signature, algorithm, expiry, audience,
/// issuer and revocation were checked. It is an axum extractor (see the
/// [module documentation](super)); `Option<Mandate>` is `None` only when the
/// request carries no mandate at all (a mandate that fails verification is
/// refused, never treated as absent). Cheap to clone. Its `Debug` shows the
/// claims, never the token.
#[derive(Clone)]
pub struct Mandate {
    inner: Arc<Claims>,
}

/// The claims the verifier reads, and the whole claim set beside them.
#[derive(Debug)]
pub(crate) struct Claims {
    pub(crate) mandate_id: Option<String>,
    pub(crate) capabilities: Vec<Capability>,
    pub(crate) exp: u64,
    pub(crate) expires_at: Timestamp,
    pub(crate) session_id: Option<String>,
    pub(crate) sub: Option<String>,
    pub(crate) raw: Value,
}

/// The typed part of the claims; the rest stays in `raw`.
#[derive(Deserialize)]
struct Typed {
    #[serde(default)]
    mandate_id: Option<String>,
    #[serde(default)]
    capabilities: Vec<Capability>,
    exp: u64,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    sub: Option<String>,
}

impl Claims {
    /// Reads the claims of a token whose signature and registered claims were
    /// checked already. `None` when they do not have the mandate's shape.
    pub(crate) fn from_json(raw: Value) -> Option<Claims> {
        let typed = Typed::deserialize(&raw).ok()?;
        // An `exp` no calendar can show (past the year 9999) is not a mandate.
        let expires_at = i64::try_from(typed.exp)
            .ok()
            .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())?
            .into();
        Some(Claims {
            expires_at,
            mandate_id: typed.mandate_id,
            capabilities: typed.capabilities,
            exp: typed.exp,
            session_id: typed.session_id,
            sub: typed.sub,
            raw,
        })
    }
}

impl Mandate {
    pub(crate) fn new(claims: Claims) -> Mandate {
        Mandate {
            inner: Arc::new(claims),
        }
    }

    /// The mandate's id (`m_…`), used for revocation. `None` only when
    /// revocation checking is off and the issuer left it out.
    pub fn id(&self) -> Option<&str> {
        self.inner.mandate_id.as_deref()
    }

    /// The capabilities it grants, as issued.
    pub fn capabilities(&self) -> &[Capability] {
        &self.inner.capabilities
    }

    /// Whether one of its capabilities grants `required` (see [`Capability::grants`]).
    ///
    /// ```
    /// # async fn handler(mandate: tappass::mandate::Mandate) {
    /// if mandate.grants("tool:call:search") { /* … */ }
    /// # }
    /// ```
    pub fn grants(&self, required: &str) -> bool {
        self.inner.capabilities.iter().any(|c| c.grants(required))
    }

    /// When it expires (`exp`).
    pub fn expires_at(&self) -> Timestamp {
        self.inner.expires_at
    }

    /// The session the decision was made in (`session_id`).
    pub fn session_id(&self) -> Option<&str> {
        self.inner.session_id.as_deref()
    }

    /// The agent it was issued to (`sub`, the agent UUID).
    pub fn agent(&self) -> Option<&str> {
        self.inner.sub.as_deref()
    }

    /// Every claim, as signed.
    pub fn claims(&self) -> &Value {
        &self.inner.raw
    }

    pub(crate) fn exp(&self) -> u64 {
        self.inner.exp
    }
}

impl fmt::Debug for Mandate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mandate")
            .field("id", &self.inner.mandate_id)
            .field("capabilities", &self.inner.capabilities)
            .field("exp", &self.inner.exp)
            .field("session_id", &self.inner.session_id)
            .field("agent", &self.inner.sub)
            .finish()
    }
}

/// One capability of a mandate: `{"id": "action:resource:qualifier", …}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Capability {
    /// Its id, e.g. `tool:call:search` or `tool:call:*`.
    pub id: String,
}

impl Capability {
    /// Whether this (granted) capability grants `required`: the same id, or
    /// the same number of `:` segments where each granted segment equals the
    /// required one or is `*`.
    ///
    /// ```
    /// use tappass::mandate::Capability;
    ///
    /// let granted = Capability::new("tool:call:*");
    /// assert!(granted.grants("tool:call:search"));
    /// assert!(!granted.grants("tool:call:search:deep")); // another segment count
    /// assert!(!Capability::new("tool:call:search").grants("tool:call:admin"));
    /// ```
    pub fn grants(&self, required: &str) -> bool {
        capability_grants(&self.id, required)
    }

    /// A capability with this id.
    pub fn new(id: impl Into<String>) -> Capability {
        Capability { id: id.into() }
    }
}

/// The one rule of capability matching (`docs/protocol.md`, Mandates): the
/// same number of `:`-separated segments, each granted segment equal to the
/// required one or a whole `*`; an empty segment, granted or required,
/// never matches (`tool:call:` is granted by nothing, and `tool:call:*`
/// does not grant it).
pub(crate) fn capability_grants(granted: &str, required: &str) -> bool {
    let mut granted_segments = granted.split(':');
    let mut required_segments = required.split(':');
    loop {
        match (granted_segments.next(), required_segments.next()) {
            (None, None) => return true,
            (Some(g), Some(r)) if !g.is_empty() && !r.is_empty() && (g == "*" || g == r) => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mandate_reads_each_claim_it_names() {
        let raw = serde_json::json!({
            "mandate_id": "m_1",
            "capabilities": [{"id": "tool:call:search"}, {"id": "tool:call:send_email"}],
            "exp": 2_000_000_000u64,
            "session_id": "ses_1",
            "sub": "agt_1",
            "extra": true,
        });
        let mandate = Mandate::new(Claims::from_json(raw.clone()).expect("a mandate's claims"));
        assert_eq!(mandate.id(), Some("m_1"));
        assert_eq!(
            mandate.capabilities(),
            [
                Capability::new("tool:call:search"),
                Capability::new("tool:call:send_email")
            ]
        );
        assert!(mandate.grants("tool:call:send_email"));
        assert!(!mandate.grants("tool:call:delete_database"));
        assert_eq!(mandate.session_id(), Some("ses_1"));
        assert_eq!(mandate.agent(), Some("agt_1"));
        assert_eq!(mandate.claims(), &raw);
        assert_eq!(mandate.exp(), 2_000_000_000);

        let bare = Mandate::new(
            Claims::from_json(serde_json::json!({"exp": 2_000_000_000u64})).expect("claims"),
        );
        assert_eq!(
            (bare.id(), bare.session_id(), bare.agent()),
            (None, None, None)
        );
        assert!(bare.capabilities().is_empty());
        assert!(!bare.grants("tool:call:search"));
        // Debug names the claims and nothing else (no signature, no token).
        assert!(format!("{mandate:?}").contains("m_1"));
    }

    #[test]
    fn a_capability_grants_by_whole_segments_and_a_whole_star() {
        for (granted, required, grants) in [
            ("tool:call:search", "tool:call:search", true),
            ("tool:call:*", "tool:call:search", true),
            ("*:*:*", "tool:call:search", true),
            ("tool:call:search", "tool:call:admin", false),
            ("tool:call:*", "tool:call:search:deep", false),
            ("tool:call:*", "tool:call", false),
            ("tool:call:*", "tool:call:", false),
            ("tool:call:", "tool:call:", false),
            ("tool::search", "tool::search", false),
            ("tool:call:sea*", "tool:call:search", false),
            ("", "", false),
        ] {
            assert_eq!(
                Capability::new(granted).grants(required),
                grants,
                "{granted} for {required}"
            );
        }
    }
}
