//! The governing of a tool call: the first of the policy's tool rules that
//! matches decides its outcome (`allow`, `block`, `needs_approval`,
//! `escalate`), or stops it with a non-2xx decision (tool integrity, trust
//! tier, break glass, authorization). An approval covers the identical
//! behaviour: the same tool, arguments and agent.

use serde_json::Value;

use super::correlate::Correlation;
use super::stop::Stop;
use crate::ids;
use crate::policy::{Action, Grant, Matcher};
use crate::state::Shared;
use crate::stores::approvals::{Asked, Found, NewApproval, Resume};
use tappass::agent::ApprovalState;

/// The 200 answer's outcome.
pub(crate) struct Outcome {
    /// `allow`, `block`, `needs_approval` or `escalate`.
    pub(crate) outcome: &'static str,
    pub(crate) reason: String,
    /// The rule that decided; `None` when none matched.
    pub(crate) rule: Option<String>,
    pub(crate) blocking_step: Option<String>,
    /// The approval an approval rule opened or resumed.
    pub(crate) approval: Option<Found>,
    /// What the mandate of an `allow` grants.
    pub(crate) grant: Grant,
}

impl Outcome {
    fn allow(reason: String, rule: Option<String>) -> Outcome {
        Outcome {
            outcome: "allow",
            reason,
            rule,
            blocking_step: None,
            approval: None,
            grant: Grant::default(),
        }
    }

    fn block(reason: String, rule: &str, blocking_step: String) -> Outcome {
        Outcome {
            outcome: "block",
            reason,
            rule: Some(rule.to_owned()),
            blocking_step: Some(blocking_step),
            approval: None,
            grant: Grant::default(),
        }
    }
}

/// Runs the tool rules of the policy over a call of `tool` with `args`: the
/// outcome, or the stop with the deciding rule and its reason. An approval
/// rule resumes the approval `resume_token` names (see
/// [`Approvals::resume`](crate::stores::approvals::Approvals::resume)).
pub(crate) fn evaluate(
    shared: &Shared,
    corr: &Correlation,
    tool: &str,
    args: &Value,
    resume_token: Option<&str>,
) -> Result<Outcome, Box<(Stop, String, String)>> {
    for rule in shared.policy.rules() {
        let Matcher::Tool(m) = &rule.matcher else {
            continue;
        };
        if !m.matches(tool, args) {
            continue;
        }
        let reason = rule.reason.clone();
        return Ok(match &rule.action {
            Action::Allow => Outcome {
                grant: rule.grant.clone(),
                ..Outcome::allow(reason, Some(rule.name.clone()))
            },
            Action::Block { blocked_by } | Action::PolicyBlock { blocked_by, .. } => {
                Outcome::block(reason, &rule.name, blocked_by.clone())
            }
            Action::ToolApproval {
                escalate,
                expires_in,
            } => {
                let fingerprint = ids::tool_fingerprint(tool, args, &corr.agent_uuid);
                let mut approvals = shared.approvals();
                let resumed = approvals.resume(
                    &fingerprint,
                    &corr.bound_session,
                    &corr.caller,
                    resume_token,
                );
                let found = match resumed {
                    Resume::Found(found) => *found,
                    Resume::Used { request_id } => {
                        return Err(Box::new((
                            Stop::resume_token_used(request_id),
                            rule.name.clone(),
                            "this resume token was used already".into(),
                        )))
                    }
                    Resume::Elsewhere { request_id } => {
                        return Err(Box::new((
                            Stop::resume_token_elsewhere(request_id),
                            rule.name.clone(),
                            "this resume token belongs to another session or API key".into(),
                        )))
                    }
                    Resume::Ask => approvals.open(NewApproval {
                        fingerprint,
                        asked: Asked::tool(tool, args),
                        agent: &corr.agent_uuid,
                        caller: &corr.caller,
                        bound_session: &corr.bound_session,
                        tool: Some(tool),
                        reason: &rule.reason,
                        session_id: &corr.session_id,
                        expires_in: *expires_in,
                    }),
                };
                drop(approvals);
                let id = found.row.request_id.clone();
                let mut outcome = match found.row.state {
                    ApprovalState::Approved => Outcome::allow(
                        format!("approved by a human ({id})"),
                        Some(rule.name.clone()),
                    ),
                    ApprovalState::Denied => Outcome::block(
                        format!("denied by a human ({id})"),
                        &rule.name,
                        rule.name.clone(),
                    ),
                    _ => Outcome {
                        outcome: if *escalate {
                            "escalate"
                        } else {
                            "needs_approval"
                        },
                        reason,
                        rule: Some(rule.name.clone()),
                        blocking_step: Some(rule.name.clone()),
                        approval: None,
                        grant: Grant::default(),
                    },
                };
                outcome.approval = Some(found);
                outcome
            }
            _ => match Stop::from_action(rule, Some(tool)) {
                Some(stop) => return Err(Box::new((stop, rule.name.clone(), reason))),
                None => Outcome::allow(reason, Some(rule.name.clone())),
            },
        });
    }
    Ok(Outcome::allow(
        "no rule of the policy matched this tool call".into(),
        None,
    ))
}
