//! The parsed model of a policy: rules, what they match and what they decide,
//! and how the console writes them back as settings.
//!
//! [`Action`] is the policy file's vocabulary (`decision = "…"`), not the
//! wire's: beside the decisions that stop a call it has outcomes that are no
//! governance decision (`allow`, a redaction that lets evaluation go on,
//! `/v1/govern`'s 200 outcomes `block`, `needs_approval`, `escalate`), and it
//! holds settings (durations) where a decision holds instants. The decisions
//! the server answers are [`Stop`](crate::decide::stop::Stop), and the
//! client's are `tappass::decision`; the [`decide`](crate::decide) module
//! says why the server keeps its own.

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;
use tappass::capability::{Clearance, ConstraintSet};

use super::detect::Detector;

/// How long a mandate lasts unless its rule says `mandate_ttl_seconds`: 5 minutes.
pub(crate) const DEFAULT_MANDATE_TTL: Duration = Duration::from_secs(300);

/// One rule of a policy.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) name: String,
    pub(crate) reason: String,
    pub(crate) matcher: Matcher,
    pub(crate) action: Action,
    /// What the mandate of an `allow` grants (tool rules only).
    pub(crate) grant: Grant,
    /// The capability token a chat answer carries when this rule allows
    /// its prompt (`allow` prompt rules only).
    pub(crate) token: Option<TokenGrant>,
}

/// How long a capability token lasts unless its rule says `ttl_seconds`:
/// 5 minutes (the Python SDK's `DEFAULT_TTL_SECS`).
pub(crate) const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(300);

/// What the capability token of a chat answer grants: its tools with their
/// argument constraints, clearance, trust score and lifetime.
#[derive(Debug, Clone)]
pub(crate) struct TokenGrant {
    pub(crate) tools: BTreeMap<String, ConstraintSet>,
    pub(crate) clearance: Clearance,
    pub(crate) trust_score: u32,
    pub(crate) ttl: Duration,
}

impl TokenGrant {
    /// The grant as the policy file writes it, for the console.
    pub(crate) fn settings(&self) -> Vec<Setting> {
        let mut out: Vec<Setting> = self
            .tools
            .iter()
            .map(|(tool, set)| {
                (
                    "capability_token.tools",
                    format!("{tool} {}", set.to_dict()),
                )
            })
            .collect();
        out.push((
            "capability_token.clearance",
            self.clearance.name().to_owned(),
        ));
        out.push(("capability_token.trust_score", self.trust_score.to_string()));
        out.push((
            "capability_token.ttl_seconds",
            self.ttl.as_secs().to_string(),
        ));
        out
    }
}

/// The mandate an `allow` of a tool call carries: its capabilities (empty:
/// `tool:call:<tool>`) and how long it lasts.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) capabilities: Vec<String>,
    pub(crate) ttl: Duration,
}

impl Default for Grant {
    fn default() -> Self {
        Grant {
            capabilities: Vec::new(),
            ttl: DEFAULT_MANDATE_TTL,
        }
    }
}

/// What a rule looks at: a chat prompt or a tool call.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    Prompt(PromptMatch),
    Tool(ToolMatch),
}

/// Conditions on a prompt; all that are given must hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct PromptMatch {
    /// Lowercased; compared ASCII-case-insensitively.
    pub(super) contains: Option<String>,
    pub(super) regex: Option<Regex>,
    pub(super) detector: Option<Detector>,
}

/// Conditions on a tool call; all that are given must hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct ToolMatch {
    pub(super) tool: Option<String>,
    pub(super) tool_regex: Option<Regex>,
    /// Lowercased; compared ASCII-case-insensitively with the JSON arguments.
    pub(super) args_contains: Option<String>,
    pub(super) args_regex: Option<Regex>,
}

/// What a matching rule decides, as the policy file says it.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    Allow,
    PolicyBlock {
        blocked_by: String,
        classification: String,
    },
    Redact {
        replacement: Option<String>,
    },
    ApprovalRequired {
        expires_in: Duration,
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
        expires_in: Duration,
    },
    ToolIntegrity {
        /// `None` on a tool rule: the tool called.
        tool_name: Option<String>,
        violation: String,
    },
    Block {
        blocked_by: String,
    },
    ToolApproval {
        escalate: bool,
        expires_in: Duration,
    },
}

/// A setting of a rule as the policy file writes it: key and value.
pub(crate) type Setting = (&'static str, String);

impl Matcher {
    /// What the rule looks at (`prompt` or `tool`) and its conditions, as
    /// the policy file writes them.
    pub(crate) fn conditions(&self) -> (&'static str, Vec<Setting>) {
        let mut out = Vec::new();
        let mut add = |key, value: Option<String>| {
            if let Some(value) = value {
                out.push((key, value));
            }
        };
        match self {
            Matcher::Prompt(m) => {
                add("prompt_contains", m.contains.clone());
                add(
                    "prompt_regex",
                    m.regex.as_ref().map(|r| r.as_str().to_owned()),
                );
                add("detector", m.detector.map(|d| d.name().to_owned()));
                ("prompt", out)
            }
            Matcher::Tool(m) => {
                add("tool", m.tool.clone());
                add(
                    "tool_regex",
                    m.tool_regex.as_ref().map(|r| r.as_str().to_owned()),
                );
                add("args_contains", m.args_contains.clone());
                add(
                    "args_regex",
                    m.args_regex.as_ref().map(|r| r.as_str().to_owned()),
                );
                ("tool", out)
            }
        }
    }
}

impl Action {
    /// The decision's wire name and its settings, as the policy file writes them.
    pub(crate) fn decision(&self) -> (&'static str, Vec<Setting>) {
        let secs = |d: &Duration| d.as_secs().to_string();
        match self {
            Action::Allow => ("allow", vec![]),
            Action::PolicyBlock {
                blocked_by,
                classification,
            } => (
                "policy_block",
                vec![
                    ("blocked_by", blocked_by.clone()),
                    ("classification", classification.clone()),
                ],
            ),
            Action::Redact { replacement } => (
                "redaction_applied",
                replacement
                    .iter()
                    .map(|r| ("replacement", r.clone()))
                    .collect(),
            ),
            Action::ApprovalRequired { expires_in } => (
                "approval_required",
                vec![("expires_in_seconds", secs(expires_in))],
            ),
            Action::AuthorizationRequired {
                provider,
                authorize_url,
                scopes,
            } => (
                "authorization_required",
                vec![
                    ("provider", provider.clone()),
                    ("authorize_url", authorize_url.clone()),
                    ("scopes", scopes.join(", ")),
                ],
            ),
            Action::TrustTierDenied {
                required_tier,
                actual_tier,
            } => (
                "trust_tier_denied",
                vec![
                    ("required_tier", required_tier.clone()),
                    ("actual_tier", actual_tier.clone()),
                ],
            ),
            Action::BreakGlass { level, expires_in } => (
                "break_glass_active",
                vec![
                    ("level", level.clone()),
                    ("expires_in_seconds", secs(expires_in)),
                ],
            ),
            Action::ToolIntegrity {
                tool_name,
                violation,
            } => {
                let mut settings: Vec<Setting> =
                    tool_name.iter().map(|t| ("tool_name", t.clone())).collect();
                settings.push(("violation", violation.clone()));
                ("tool_integrity_violation", settings)
            }
            Action::Block { blocked_by } => ("block", vec![("blocked_by", blocked_by.clone())]),
            Action::ToolApproval {
                escalate,
                expires_in,
            } => (
                if *escalate {
                    "escalate"
                } else {
                    "needs_approval"
                },
                vec![("expires_in_seconds", secs(expires_in))],
            ),
        }
    }
}
