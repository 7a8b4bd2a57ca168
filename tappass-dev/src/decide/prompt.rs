//! The governing of a chat prompt: the policy's prompt rules, in order, over
//! the last user message. The first rule that matches decides, except a
//! redaction, which rewrites the prompt and lets evaluation go on; an
//! approval rule opens (or resumes) an approval in the store.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

use super::correlate::Correlation;
use super::stop::Stop;
use crate::ids;
use crate::policy::{Action, Matcher, TokenGrant};
use crate::reply::Failure;
use crate::state::Shared;
use crate::stores::approvals::{Asked, NewApproval, Resume};
use tappass::agent::ApprovalState;
use tappass::decision::Redaction;

/// Prompts up to this size are evaluated on the runtime's worker; a longer one
/// goes to tokio's blocking pool, since a policy's own regular expressions can
/// take up to quadratic time to find every match in it.
const INLINE_PROMPT_BYTES: usize = 16 << 10;

/// What the prompt rules decided.
pub(crate) enum Outcome {
    Pass {
        prompt: String,
        redactions: Vec<Redaction>,
        steps: Vec<Value>,
        /// The capability token the allowing rule grants, with the rule's name.
        token: Option<(String, TokenGrant)>,
    },
    Stop {
        stop: Stop,
        rule: String,
        reason: String,
    },
}

fn step(name: &str, action: &str, detected: bool, message: &str, started: Instant) -> Value {
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    json!({
        "step": name,
        "action": action,
        "detected": detected,
        "message": message,
        "duration_ms": (ms * 1000.0).round() / 1000.0,
    })
}

/// Runs the prompt rules of the policy over `prompt`: on this worker for a
/// short prompt, on the blocking pool for a long one ([`INLINE_PROMPT_BYTES`]).
pub(crate) async fn evaluate_off_worker(
    shared: &Arc<Shared>,
    corr: &Correlation,
    prompt: String,
    resume_token: Option<String>,
) -> Result<Outcome, Failure> {
    if prompt.len() <= INLINE_PROMPT_BYTES {
        return Ok(evaluate(shared, corr, &prompt, resume_token.as_deref()));
    }
    let (shared, corr) = (shared.clone(), corr.clone());
    tokio::task::spawn_blocking(move || evaluate(&shared, &corr, &prompt, resume_token.as_deref()))
        .await
        .map_err(|e| Failure::internal(format_args!("the policy evaluation failed: {e}")))
}

/// Runs the prompt rules of the policy over `prompt`; an approval rule
/// resumes the approval `resume_token` names (see [`Approvals::resume`](crate::stores::approvals::Approvals::resume)).
fn evaluate(
    shared: &Shared,
    corr: &Correlation,
    prompt: &str,
    resume_token: Option<&str>,
) -> Outcome {
    let mut prompt = prompt.to_owned();
    let mut redactions = Vec::new();
    let mut steps = Vec::new();
    let mut token = None;
    for rule in shared.policy.rules() {
        let Matcher::Prompt(m) = &rule.matcher else {
            continue;
        };
        let started = Instant::now();
        if !m.matches(&prompt) {
            steps.push(step(&rule.name, "continue", false, "", started));
            continue;
        }
        match &rule.action {
            Action::Allow => {
                steps.push(step(&rule.name, "allow", true, &rule.reason, started));
                token = rule.token.clone().map(|grant| (rule.name.clone(), grant));
                break;
            }
            Action::Redact { replacement } => {
                let (text, found) = m.redact(&rule.name, replacement.as_deref(), &prompt);
                prompt = text;
                redactions.extend(found);
                steps.push(step(&rule.name, "redact", true, &rule.reason, started));
            }
            Action::ApprovalRequired { expires_in } => {
                let fingerprint = ids::prompt_fingerprint(&rule.name, &prompt, &corr.agent_uuid);
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
                        return Outcome::Stop {
                            stop: Stop::resume_token_used(request_id),
                            rule: rule.name.clone(),
                            reason: "this resume token was used already".into(),
                        }
                    }
                    Resume::Elsewhere { request_id } => {
                        return Outcome::Stop {
                            stop: Stop::resume_token_elsewhere(request_id),
                            rule: rule.name.clone(),
                            reason: "this resume token belongs to another session or API key"
                                .into(),
                        }
                    }
                    Resume::Ask => approvals.open(NewApproval {
                        fingerprint,
                        asked: Asked::prompt(&prompt),
                        agent: &corr.agent_uuid,
                        caller: &corr.caller,
                        bound_session: &corr.bound_session,
                        tool: None,
                        reason: &rule.reason,
                        session_id: &corr.session_id,
                        expires_in: *expires_in,
                    }),
                };
                drop(approvals);
                let id = &found.row.request_id;
                match found.row.state {
                    ApprovalState::Approved => {
                        let note = if found.by_token {
                            format!("approved by a human ({id}), resumed with its token")
                        } else {
                            format!("approved by a human ({id})")
                        };
                        steps.push(step(&rule.name, "approved", true, &note, started));
                    }
                    ApprovalState::Denied => {
                        return Outcome::Stop {
                            stop: Stop::PolicyBlock {
                                blocked_by: rule.name.clone(),
                                classification: "CONFIDENTIAL".into(),
                                details: json!({ "rule": rule.name, "request_id": id }),
                            },
                            rule: rule.name.clone(),
                            reason: format!("a human denied this request (approval {id})"),
                        }
                    }
                    _ => {
                        return Outcome::Stop {
                            stop: Stop::ApprovalRequired {
                                approval_url: shared.approval_url(id),
                                request_id: id.clone(),
                                resume_token: found.resume_token,
                                expires_at: found.row.expires_at,
                            },
                            rule: rule.name.clone(),
                            reason: rule.reason.clone(),
                        }
                    }
                }
            }
            _ => {
                if let Some(stop) = Stop::from_action(rule, None) {
                    return Outcome::Stop {
                        stop,
                        rule: rule.name.clone(),
                        reason: rule.reason.clone(),
                    };
                }
            }
        }
    }
    Outcome::Pass {
        prompt,
        redactions,
        steps,
        token,
    }
}
