//! Governance decisions: what the control plane answers instead of going ahead.
//!
//! A decision is not a failure: the request was understood and a policy said
//! no (or not yet). [`GovernanceDecision`] holds one, with a struct per kind so
//! that each carries exactly its fields. Parsing is lenient: a decision body
//! that lacks a field of its kind is still that kind of decision, with the
//! field's default.

use std::fmt;

use http::{HeaderMap, HeaderValue};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::timestamp::Timestamp;
use tappass_macros::GovernanceError;

/// Declares a decision struct: its own fields, then the fields every
/// decision has, defined here once (`reason`, `session_id`, `audit_url`,
/// written last in the body, in that order), with the derives every decision
/// has (its HTTP mapping by `#[derive(GovernanceError)]`, an OpenAPI schema
/// with the `utoipa` feature).
macro_rules! decision {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($(#[$field_meta:meta])* pub $field:ident: $ty:ty,)*
        }
    ) => {
        #[derive(Debug, Clone, Default, PartialEq, GovernanceError)]
        $(#[$meta])*
        #[cfg_attr(feature = "utoipa", governance(openapi))]
        #[non_exhaustive]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $ty,)*
            /// Why, in words.
            pub reason: String,
            /// The session the decision belongs to.
            pub session_id: Option<String>,
            /// The dashboard link of the session.
            pub audit_url: Option<String>,
        }
    };
}

/// A governance decision that stops or pauses a request.
///
/// Its HTTP mapping ([`GovernanceError`], `IntoResponse`) follows the table of
/// the crate documentation: 403 for a policy block, 428 for an approval, …
#[derive(Debug, Clone, PartialEq, GovernanceError)]
#[cfg_attr(feature = "utoipa", governance(openapi))]
#[non_exhaustive]
pub enum GovernanceDecision {
    /// A policy hard-blocked the request (403).
    #[governance(transparent)]
    PolicyBlock(PolicyBlock),
    /// Content was redacted and the caller asked to treat that as an error (403).
    #[governance(transparent)]
    RedactionApplied(RedactionApplied),
    /// Paused until a human approves (428).
    #[governance(transparent)]
    ApprovalRequired(ApprovalRequired),
    /// The end user must connect an account first (401).
    #[governance(transparent)]
    AuthorizationRequired(AuthorizationRequired),
    /// The agent's clearance tier is too low (403).
    #[governance(transparent)]
    TrustTierDenied(TrustTierDenied),
    /// An emergency override is in effect (503, `Retry-After`).
    #[governance(transparent)]
    BreakGlassActive(BreakGlassActive),
    /// The tool is unapproved, altered or revoked (422).
    #[governance(transparent)]
    ToolIntegrityViolation(ToolIntegrityViolation),
    /// Any other decision (403).
    #[governance(transparent)]
    Other(OtherDecision),
}

decision! {
    /// A policy hard-blocked the request.
    #[governance(status = 403, code = "policy_block")]
    pub struct PolicyBlock {
        /// The pipeline step that blocked, e.g. `detect_pii`.
        pub blocked_by: String,
        /// The data classification the server assigned, when given.
        #[governance(skip)]
        pub classification: Option<String>,
        /// The server's `details` object, as sent.
        #[governance(skip)]
        pub details: Value,
    }
}

/// One redaction of a [`RedactionApplied`] decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(default)]
#[non_exhaustive]
pub struct Redaction {
    /// What was redacted, e.g. `email`.
    pub kind: String,
    /// Start offset in the original content.
    pub start: u64,
    /// End offset in the original content.
    pub end: u64,
    /// The text that replaced it.
    pub replacement: String,
}

decision! {
    /// Content was redacted.
    #[governance(status = 403, code = "redaction_applied")]
    pub struct RedactionApplied {
        /// The redactions made.
        pub redactions: Vec<Redaction>,
        /// The content after redaction.
        pub redacted_content: Option<String>,
    }
}

decision! {
    /// The request is paused until a human approves it.
    ///
    /// To resume, the client repeats the same request with the header
    /// `X-TapPass-Resume-Token: <resume_token>`
    /// ([`session::RESUME_TOKEN`](crate::session::RESUME_TOKEN)); the layer
    /// checks it and the agent sends it upstream with the call. Approved, the
    /// call passes; still pending, the same `428` again; denied, a
    /// [`PolicyBlock`] (`403`); expired, a fresh `428` with a new token. The
    /// body's `message` says so to the client. A service in the loop itself can
    /// instead wait with [`Agent::wait_for_approval`](crate::Agent::wait_for_approval)
    /// on `request_id` and repeat the call.
    #[governance(status = 428, code = "approval_required")]
    pub struct ApprovalRequired {
        /// Where a person approves or denies: a page, when the server or the
        /// agent's [`approval_base_url`](crate::agent::AgentBuilder::approval_base_url)
        /// says where.
        pub approval_url: Option<String>,
        /// The value to send in `X-TapPass-Resume-Token` when repeating the
        /// request after the approval.
        pub resume_token: Option<String>,
        /// The approval's id, to wait on with
        /// [`Agent::wait_for_approval`](crate::Agent::wait_for_approval).
        pub request_id: Option<String>,
        /// When the approval request lapses.
        pub expires_at: Option<Timestamp>,
    }
}

decision! {
    /// The end user must connect an account first.
    #[governance(
        status = 401,
        code = "authorization_required",
        headers = AuthorizationRequired::www_authenticate
    )]
    pub struct AuthorizationRequired {
        /// The account provider, e.g. `github`.
        pub provider: Option<String>,
        /// Where the end user connects the account.
        pub authorize_url: Option<String>,
        /// The scopes asked for.
        pub scopes: Vec<String>,
    }
}

decision! {
    /// The agent's clearance tier is too low.
    #[governance(status = 403, code = "trust_tier_denied")]
    pub struct TrustTierDenied {
        /// The tier the request needs.
        pub required_tier: Option<String>,
        /// The tier the agent has.
        pub actual_tier: Option<String>,
    }
}

decision! {
    /// An emergency override is in effect.
    #[governance(status = 503, code = "break_glass_active", retry_after = expires_at)]
    pub struct BreakGlassActive {
        /// `relax`, `bypass_step` or `full_bypass`.
        pub level: Option<String>,
        /// When the override ends; sent as `Retry-After`.
        pub expires_at: Option<Timestamp>,
    }
}

decision! {
    /// The tool is unapproved, altered or revoked.
    #[governance(status = 422, code = "tool_integrity_violation")]
    pub struct ToolIntegrityViolation {
        /// The tool's name.
        pub tool_name: String,
        /// `not_approved`, `hash_mismatch` or `revoked`.
        pub violation: String,
    }
}

decision! {
    /// A decision of a kind this client has no struct for.
    #[governance(status = 403, code = decision)]
    pub struct OtherDecision {
        /// The decision's name as the server sent it; it is the body's `error` code.
        #[governance(skip)]
        pub decision: String,
    }
}

impl GovernanceDecision {
    /// Reads a decision from a server's JSON body, or `None` when the body is
    /// not a decision (no `decision`, no `blocked_by`, and no
    /// `"code": "authorization_required"`).
    pub fn from_json(body: &Value) -> Option<GovernanceDecision> {
        let obj = body.as_object()?;
        let decision = obj.get("decision").and_then(Value::as_str);
        let code = obj.get("code").and_then(Value::as_str);
        let kind = match (decision, code) {
            (Some(d), _) => d,
            (None, Some("authorization_required")) => "authorization_required",
            (None, _) if obj.contains_key("blocked_by") => "policy_block",
            (None, _) if obj.contains_key("decision") => "",
            _ => return None,
        };
        Some(Self::from_parts(kind, obj))
    }

    fn from_parts(kind: &str, obj: &Map<String, Value>) -> GovernanceDecision {
        let f = Fields(obj);
        let reason = f.reason();
        let session_id = f.opt_str("session_id");
        let audit_url = f.opt_str("audit_url");
        match kind.to_ascii_lowercase().as_str() {
            "policy_block" | "block" | "blocked" => Self::PolicyBlock(PolicyBlock {
                blocked_by: f.opt_str("blocked_by").unwrap_or_default(),
                classification: f.opt_str("classification"),
                details: obj.get("details").cloned().unwrap_or(Value::Null),
                reason,
                session_id,
                audit_url,
            }),
            "redaction_applied" | "redact" | "redacted" => {
                Self::RedactionApplied(RedactionApplied {
                    redactions: f
                        .get("redactions")
                        .and_then(Value::as_array)
                        .map(|items| {
                            items
                                .iter()
                                .filter_map(|r| serde_json::from_value(r.clone()).ok())
                                .collect()
                        })
                        .unwrap_or_default(),
                    redacted_content: f.opt_str("redacted_content"),
                    reason,
                    session_id,
                    audit_url,
                })
            }
            "approval_required" | "needs_approval" => Self::ApprovalRequired(ApprovalRequired {
                approval_url: f.opt_str("approval_url"),
                resume_token: f.opt_str("resume_token"),
                request_id: f.opt_str("request_id"),
                expires_at: f.timestamp("expires_at"),
                reason,
                session_id,
                audit_url,
            }),
            "authorization_required" => Self::AuthorizationRequired(AuthorizationRequired {
                provider: f.opt_str("provider"),
                authorize_url: f.opt_str("authorize_url"),
                scopes: f.strings("scopes"),
                reason,
                session_id,
                audit_url,
            }),
            "trust_tier_denied" => Self::TrustTierDenied(TrustTierDenied {
                required_tier: f.opt_str("required_tier"),
                actual_tier: f.opt_str("actual_tier"),
                reason,
                session_id,
                audit_url,
            }),
            "break_glass_active" | "break_glass" => Self::BreakGlassActive(BreakGlassActive {
                level: f.opt_str("level"),
                expires_at: f.timestamp("expires_at"),
                reason,
                session_id,
                audit_url,
            }),
            "tool_integrity_violation" => Self::ToolIntegrityViolation(ToolIntegrityViolation {
                tool_name: f.opt_str("tool_name").unwrap_or_default(),
                violation: f.opt_str("violation").unwrap_or_default(),
                reason,
                session_id,
                audit_url,
            }),
            other => Self::Other(OtherDecision {
                decision: sanitize_code(other),
                reason,
                session_id,
                audit_url,
            }),
        }
    }

    /// Why, in words.
    pub fn reason(&self) -> &str {
        self.common().0
    }

    /// The session the decision belongs to, when known.
    pub fn session_id(&self) -> Option<&str> {
        self.common().1.as_deref()
    }

    /// The dashboard link of the session, when known.
    pub fn audit_url(&self) -> Option<&str> {
        self.common().2.as_deref()
    }

    fn common(&self) -> (&str, &Option<String>, &Option<String>) {
        macro_rules! pick {
            ($($v:ident),*) => {
                match self { $(Self::$v(d) => (&d.reason, &d.session_id, &d.audit_url),)* }
            };
        }
        pick!(
            PolicyBlock,
            RedactionApplied,
            ApprovalRequired,
            AuthorizationRequired,
            TrustTierDenied,
            BreakGlassActive,
            ToolIntegrityViolation,
            Other
        )
    }

    /// Fills in correlation ids the server left out, from `session`.
    pub(crate) fn fill_correlation(&mut self, session: &crate::session::Session) {
        macro_rules! fill {
            ($($v:ident),*) => {
                match self { $(Self::$v(d) => {
                    if d.session_id.is_none() { d.session_id = Some(session.id().to_owned()); }
                    if d.audit_url.is_none() { d.audit_url = session.audit_url().map(str::to_owned); }
                })* }
            };
        }
        fill!(
            PolicyBlock,
            RedactionApplied,
            ApprovalRequired,
            AuthorizationRequired,
            TrustTierDenied,
            BreakGlassActive,
            ToolIntegrityViolation,
            Other
        )
    }
}

/// Keeps a server-sent decision name usable as an `error` code.
fn sanitize_code(name: &str) -> String {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        name.to_owned()
    } else {
        "governance_decision".to_owned()
    }
}

/// Field lookup that also looks under `details`, leniently.
struct Fields<'a>(&'a Map<String, Value>);

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        match self.0.get(key) {
            Some(Value::Null) | None => self
                .0
                .get("details")
                .and_then(|d| d.get(key))
                .filter(|v| !v.is_null()),
            found => found,
        }
    }

    fn opt_str(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    fn reason(&self) -> String {
        self.opt_str("reason")
            .or_else(|| self.opt_str("message"))
            .unwrap_or_default()
    }

    fn timestamp(&self, key: &str) -> Option<Timestamp> {
        Timestamp::parse_answered(self.get(key)?.as_str()?)
    }

    fn strings(&self, key: &str) -> Vec<String> {
        match self.get(key) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        }
    }
}

macro_rules! dispatch {
    ($self:expr, $d:ident => $e:expr) => {
        match $self {
            GovernanceDecision::PolicyBlock($d) => $e,
            GovernanceDecision::RedactionApplied($d) => $e,
            GovernanceDecision::ApprovalRequired($d) => $e,
            GovernanceDecision::AuthorizationRequired($d) => $e,
            GovernanceDecision::TrustTierDenied($d) => $e,
            GovernanceDecision::BreakGlassActive($d) => $e,
            GovernanceDecision::ToolIntegrityViolation($d) => $e,
            GovernanceDecision::Other($d) => $e,
        }
    };
}

// ---- Display -------------------------------------------------------------

impl fmt::Display for PolicyBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blocked by policy")?;
        if !self.blocked_by.is_empty() {
            write!(f, " `{}`", self.blocked_by)?;
        }
        with_reason(f, &self.reason)
    }
}

impl fmt::Display for RedactionApplied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "content was redacted ({} redactions)",
            self.redactions.len()
        )?;
        with_reason(f, &self.reason)
    }
}

impl fmt::Display for ApprovalRequired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a human approval is required")?;
        if let Some(url) = &self.approval_url {
            write!(f, " at {url}")?;
        }
        with_reason(f, &self.reason)?;
        if self.resume_token.is_some() {
            write!(f, "; once it is approved, send the same request again with the header `X-TapPass-Resume-Token` set to this body's `resume_token` and the `X-TapPass-Session-Id` this response carries, once: the token is used up by the call it lets through")?;
        }
        Ok(())
    }
}

impl fmt::Display for AuthorizationRequired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the end user must connect")?;
        match &self.provider {
            Some(p) => write!(f, " their {p} account")?,
            None => write!(f, " an account")?,
        }
        if let Some(url) = &self.authorize_url {
            write!(f, " at {url}")?;
        }
        with_reason(f, &self.reason)
    }
}

impl fmt::Display for TrustTierDenied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "trust tier too low")?;
        if let (Some(req), Some(act)) = (&self.required_tier, &self.actual_tier) {
            write!(f, " (requires {req}, agent has {act})")?;
        }
        with_reason(f, &self.reason)
    }
}

impl fmt::Display for BreakGlassActive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "break glass is active")?;
        if let Some(level) = &self.level {
            write!(f, " ({level})")?;
        }
        if let Some(until) = &self.expires_at {
            write!(f, " until {until}")?;
        }
        with_reason(f, &self.reason)
    }
}

impl fmt::Display for ToolIntegrityViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tool `{}` failed its integrity check", self.tool_name)?;
        if !self.violation.is_empty() {
            write!(f, " ({})", self.violation)?;
        }
        with_reason(f, &self.reason)
    }
}

impl fmt::Display for OtherDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "governance decision `{}`", self.decision)?;
        with_reason(f, &self.reason)
    }
}

fn with_reason(f: &mut fmt::Formatter<'_>, reason: &str) -> fmt::Result {
    if reason.is_empty() {
        Ok(())
    } else {
        write!(f, ": {reason}")
    }
}

impl fmt::Display for GovernanceDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        dispatch!(self, d => fmt::Display::fmt(d, f))
    }
}

impl std::error::Error for GovernanceDecision {}

// ---- HTTP mapping ----------------------------------------------------------
//
// Generated by `#[derive(GovernanceError)]` from the attributes above.

impl AuthorizationRequired {
    /// Writes the `WWW-Authenticate` challenge: where and with which scopes the
    /// end user connects the account.
    pub fn www_authenticate(&self, headers: &mut HeaderMap) {
        let mut challenge = String::from("TapPass realm=\"tappass\"");
        let mut param = |name: &str, value: &str| {
            challenge.push_str(", ");
            challenge.push_str(name);
            challenge.push_str("=\"");
            for c in value.chars().filter(|c| !c.is_control()) {
                if c == '"' || c == '\\' {
                    challenge.push('\\');
                }
                challenge.push(c);
            }
            challenge.push('"');
        };
        if let Some(provider) = &self.provider {
            param("provider", provider);
        }
        if let Some(url) = &self.authorize_url {
            param("authorize_url", url);
        }
        if !self.scopes.is_empty() {
            param("scope", &self.scopes.join(" "));
        }
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            headers.insert(http::header::WWW_AUTHENTICATE, value);
        }
    }
}
