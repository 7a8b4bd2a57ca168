//! The governance decisions the dev server answers as non-2xx JSON bodies:
//! `{"decision": …, "reason", "message", <the kind's fields>, <correlation>}`.
//!
//! [`Stop`] is the server's own vocabulary of them, written independently of
//! `tappass::decision` on purpose (see [`decide`](super)).

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{header, HeaderValue, StatusCode};
use serde_json::{json, Map, Value};

use super::correlate::Correlation;
use crate::policy::{Action, Matcher, Rule};
use crate::reply::with_headers;
use tappass::Timestamp;

/// A decision that stops a request before it runs.
#[derive(Debug, Clone)]
pub(crate) enum Stop {
    PolicyBlock {
        blocked_by: String,
        classification: String,
        details: Value,
    },
    ApprovalRequired {
        request_id: String,
        approval_url: String,
        resume_token: String,
        expires_at: Timestamp,
    },
    AuthorizationRequired {
        provider: String,
        authorize_url: String,
        scopes: Vec<String>,
    },
    TrustTierDenied {
        required_tier: String,
        actual_tier: String,
    },
    BreakGlass {
        level: String,
        expires_at: Timestamp,
        expires_in: Duration,
    },
    ToolIntegrity {
        tool_name: String,
        violation: String,
    },
    /// A decision the protocol's table does not name, answered `403` with its
    /// own name (the client's "other decision").
    Refused {
        name: &'static str,
        message: String,
        details: Value,
    },
}

impl Stop {
    /// A resume token whose approval already let a request through.
    pub(crate) fn resume_token_used(request_id: String) -> Stop {
        Stop::Refused {
            name: "resume_token_used",
            message: format!(
                "The resume token of approval {request_id} was used already: an approval lets one request through, once. Send the request without the token to ask for a new approval."
            ),
            details: json!({ "request_id": request_id }),
        }
    }

    /// A resume token sent from another session or API key than the
    /// approval was asked in.
    pub(crate) fn resume_token_elsewhere(request_id: String) -> Stop {
        Stop::Refused {
            name: "resume_token_elsewhere",
            message: format!(
                "The resume token of approval {request_id} belongs to another session or API key: send it with the `X-TapPass-Session-Id` of the response that carried it, with the same API key."
            ),
            details: json!({ "request_id": request_id }),
        }
    }

    /// The stop a stateless rule action makes (`None` for actions that do not
    /// stop here: allow, redaction, approvals and tool outcomes). `tool` is the
    /// tool called, for a tool rule.
    pub(crate) fn from_action(rule: &Rule, tool: Option<&str>) -> Option<Stop> {
        Some(match &rule.action {
            Action::PolicyBlock {
                blocked_by,
                classification,
            } => Stop::PolicyBlock {
                blocked_by: blocked_by.clone(),
                classification: classification.clone(),
                details: match &rule.matcher {
                    Matcher::Prompt(m) => match m.detector() {
                        Some(d) => json!({ "rule": rule.name, "detector": d.name() }),
                        None => json!({ "rule": rule.name }),
                    },
                    Matcher::Tool(_) => json!({ "rule": rule.name, "tool": tool }),
                },
            },
            Action::AuthorizationRequired {
                provider,
                authorize_url,
                scopes,
            } => Stop::AuthorizationRequired {
                provider: provider.clone(),
                authorize_url: authorize_url.clone(),
                scopes: scopes.clone(),
            },
            Action::TrustTierDenied {
                required_tier,
                actual_tier,
            } => Stop::TrustTierDenied {
                required_tier: required_tier.clone(),
                actual_tier: actual_tier.clone(),
            },
            Action::BreakGlass { level, expires_in } => Stop::BreakGlass {
                level: level.clone(),
                expires_at: Timestamp::now().after(*expires_in),
                expires_in: *expires_in,
            },
            Action::ToolIntegrity {
                tool_name,
                violation,
            } => Stop::ToolIntegrity {
                tool_name: tool_name
                    .clone()
                    .or_else(|| tool.map(str::to_owned))
                    .unwrap_or_default(),
                violation: violation.clone(),
            },
            Action::Allow
            | Action::Redact { .. }
            | Action::ApprovalRequired { .. }
            | Action::Block { .. }
            | Action::ToolApproval { .. } => return None,
        })
    }

    /// The decision's wire name.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Stop::PolicyBlock { .. } => "policy_block",
            Stop::ApprovalRequired { .. } => "approval_required",
            Stop::AuthorizationRequired { .. } => "authorization_required",
            Stop::TrustTierDenied { .. } => "trust_tier_denied",
            Stop::BreakGlass { .. } => "break_glass_active",
            Stop::ToolIntegrity { .. } => "tool_integrity_violation",
            Stop::Refused { name, .. } => name,
        }
    }

    /// The status the server answers with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Stop::PolicyBlock { .. } | Stop::TrustTierDenied { .. } | Stop::Refused { .. } => {
                StatusCode::FORBIDDEN
            }
            Stop::ApprovalRequired { .. } => StatusCode::PRECONDITION_REQUIRED,
            Stop::AuthorizationRequired { .. } => StatusCode::UNAUTHORIZED,
            Stop::BreakGlass { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Stop::ToolIntegrity { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// What the caller can do about it, in words.
    fn message(&self, corr: &Correlation) -> String {
        match self {
            Stop::PolicyBlock { blocked_by, .. } => format!(
                "The request was blocked by policy `{blocked_by}`. Remove what the policy objects to and send it again; the session's audit trail is at {}.",
                corr.audit_url
            ),
            Stop::ApprovalRequired {
                approval_url,
                resume_token,
                ..
            } => format!(
                "A human must approve this request at {approval_url}. Once it is approved, send the same request again, once, with the header `X-TapPass-Resume-Token: {resume_token}` and this session's `X-TapPass-Session-Id` ({}).",
                corr.session_id
            ),
            Stop::AuthorizationRequired {
                provider,
                authorize_url,
                ..
            } => format!(
                "Connect your {provider} account at {authorize_url}, then send the request again."
            ),
            Stop::TrustTierDenied {
                required_tier,
                actual_tier,
            } => format!(
                "This needs an agent of trust tier `{required_tier}`; this agent is `{actual_tier}`. Ask an administrator to raise the agent's tier, or use an agent that has it."
            ),
            Stop::BreakGlass {
                level, expires_at, ..
            } => format!(
                "An emergency override ({level}) is in effect until {expires_at}; send the request again after it ends."
            ),
            Stop::ToolIntegrity {
                tool_name,
                violation,
            } => format!(
                "The tool `{tool_name}` failed its integrity check ({violation}); register an approved version of it before using it."
            ),
            Stop::Refused { message, .. } => message.clone(),
        }
    }

    /// The JSON body: `decision`, `reason`, `message`, the kind's fields and
    /// the correlation fields.
    pub(crate) fn body(&self, reason: &str, corr: &Correlation) -> Value {
        let mut map = Map::new();
        map.insert("decision".into(), self.name().into());
        map.insert("reason".into(), reason.into());
        map.insert("message".into(), self.message(corr).into());
        let fields = match self {
            Stop::PolicyBlock {
                blocked_by,
                classification,
                details,
            } => json!({
                "blocked": true,
                "blocked_by": blocked_by,
                "classification": classification,
                "details": details,
            }),
            Stop::ApprovalRequired {
                request_id,
                approval_url,
                resume_token,
                expires_at,
            } => json!({
                "request_id": request_id,
                "approval_url": approval_url,
                "resume_token": resume_token,
                "expires_at": expires_at,
            }),
            Stop::AuthorizationRequired {
                provider,
                authorize_url,
                scopes,
            } => json!({
                "code": "authorization_required",
                "provider": provider,
                "authorize_url": authorize_url,
                "scopes": scopes,
            }),
            Stop::TrustTierDenied {
                required_tier,
                actual_tier,
            } => json!({ "required_tier": required_tier, "actual_tier": actual_tier }),
            Stop::BreakGlass {
                level, expires_at, ..
            } => json!({ "level": level, "expires_at": expires_at }),
            Stop::ToolIntegrity {
                tool_name,
                violation,
            } => json!({ "tool_name": tool_name, "violation": violation }),
            Stop::Refused { details, .. } => json!({ "details": details }),
        };
        if let Value::Object(fields) = fields {
            map.extend(fields);
        }
        corr.write_fields(&mut map);
        Value::Object(map)
    }

    /// The whole response: status, body, the kind's headers (`Retry-After`,
    /// `WWW-Authenticate`) and the correlation headers.
    pub(crate) fn respond(&self, body: Value, corr: &Correlation) -> Response {
        let mut headers = corr.headers();
        match self {
            Stop::BreakGlass { expires_in, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(expires_in.as_secs()));
            }
            Stop::AuthorizationRequired {
                provider,
                authorize_url,
                scopes,
            } => {
                // The challenge's quoting is the toolkit's: the dev server
                // writes it with the decision type's own method.
                let mut challenge = tappass::decision::AuthorizationRequired::default();
                challenge.provider = Some(provider.clone());
                challenge.authorize_url = Some(authorize_url.clone());
                challenge.scopes = scopes.clone();
                challenge.www_authenticate(&mut headers);
            }
            _ => {}
        }
        with_headers((self.status(), Json(body)).into_response(), headers)
    }
}
