//! `POST /v1/govern`: tool governance.
//!
//! The behaviour is read leniently (as the Python SDK sends it) and decided
//! by the policy's tool rules ([`decide::tool_call`](crate::decide::tool_call)):
//! an outcome (`allow`, `block`, `needs_approval`, `escalate`) is answered as
//! a 200 decision object, with a signed mandate on `allow`; a stop as a
//! non-2xx decision body. Both are recorded as `tool_call` (and `decision`)
//! events.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use http::HeaderMap;
use serde_json::{json, Value};

use super::approvals::resume_token;
use super::auth::Caller;
use crate::decide::correlate::{server_event, Correlation};
use crate::decide::tool_call::evaluate;
use crate::ids;
use crate::reply::{body_bytes, parse_json, with_headers, Failure};
use crate::state::{Shared, MAX_FIELD_BYTES};
use crate::stores::approvals::wire_name;
use crate::stores::mandates::NewMandate;
use tappass::Timestamp;

/// The `agent_id` the Python SDK (and tappass's agent) sends for "no agent
/// said". The dev server reads it off the wire as any server would, so it
/// spells it here rather than taking the toolkit's constant.
const UNKNOWN_AGENT: &str = "sdk:unknown";

/// A behaviour, as far as the dev server reads it.
struct Behaviour {
    behavior_id: String,
    agent_id: Option<String>,
    session_id: Option<String>,
    tool: String,
    args: Value,
}

fn parse_behaviour(body: &Value) -> Result<Behaviour, String> {
    let obj = body
        .as_object()
        .ok_or("the body must be a JSON object: {\"type\": \"TOOL_CALL\", \"payload\": {\"tool\": …, \"args\": {…}}, …}")?;
    let opt_str = |key: &str| -> Result<Option<String>, String> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.len() <= MAX_FIELD_BYTES => Ok(Some(s.clone())),
            Some(Value::String(s)) => Err(format!(
                "`{key}` is {} bytes; it may be at most {MAX_FIELD_BYTES}",
                s.len()
            )),
            Some(_) => Err(format!("`{key}` must be a string or null")),
        }
    };
    let behavior_id = opt_str("behavior_id")?.unwrap_or_else(ids::random_hex32);
    // The Python SDK sends `""` for no session and `"sdk:unknown"` (or `""`)
    // for no agent: both mean "not said", and the key's agent is used.
    let agent_id = opt_str("agent_id")?.filter(|a| !a.is_empty() && a != UNKNOWN_AGENT);
    let session_id = opt_str("session_id")?.filter(|s| !s.is_empty());
    let payload = match obj.get("payload") {
        Some(Value::Object(p)) => p,
        Some(_) => return Err("`payload` must be a JSON object with `tool` and `args`".into()),
        None => return Err(
            "`payload` is missing; send {\"payload\": {\"tool\": \"send_email\", \"args\": {…}}}"
                .into(),
        ),
    };
    let tool = match payload.get("tool") {
        Some(Value::String(t)) if t.len() > MAX_FIELD_BYTES => {
            return Err(format!(
                "`payload.tool` is {} bytes; a tool's name may be at most {MAX_FIELD_BYTES}",
                t.len()
            ))
        }
        Some(Value::String(t)) if !t.trim().is_empty() => {
            ids::check_tool_name(t)?;
            t.clone()
        }
        _ => return Err("`payload.tool` must be the tool's name, a non-empty string".into()),
    };
    let args = match payload.get("args") {
        None | Some(Value::Null) => json!({}),
        Some(args) => args.clone(),
    };
    Ok(Behaviour {
        behavior_id,
        agent_id,
        session_id,
        tool,
        args,
    })
}

/// `POST /v1/govern`.
pub(crate) async fn govern(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let bytes = body_bytes(body)?;
    let behaviour = parse_behaviour(&parse_json(&bytes)?).map_err(Failure::invalid)?;
    let corr = Correlation::resolve(
        &shared,
        &caller.key_agent_uuid,
        caller.signed_by.as_deref(),
        &headers,
        ("session_id", behaviour.session_id.as_deref()),
        behaviour.agent_id.as_deref(),
    )?;
    let fingerprint = ids::tool_fingerprint(&behaviour.tool, &behaviour.args, &corr.agent_uuid);

    let resume_token = resume_token(&headers);
    let outcome = match evaluate(
        &shared,
        &corr,
        &behaviour.tool,
        &behaviour.args,
        resume_token.as_deref(),
    ) {
        Ok(outcome) => outcome,
        Err(stopped) => {
            let (stop, rule, reason) = *stopped;
            let body = stop.body(&reason, &corr);
            let mut log = shared.events();
            log.push(server_event(
                "tool_call",
                &corr,
                json!({
                    "tool": behaviour.tool,
                    "behavior_id": behaviour.behavior_id,
                    "fingerprint": fingerprint,
                    "outcome": stop.name(),
                    "rule": rule,
                }),
            ));
            log.push(server_event(
                "decision",
                &corr,
                json!({
                    "decision": stop.name(),
                    "rule": rule,
                    "reason": reason,
                    "status": stop.status().as_u16(),
                    "call": "tool",
                    "tool": behaviour.tool,
                }),
            ));
            drop(log);
            return Ok(stop.respond(body, &corr));
        }
    };

    let approval = outcome.approval.as_ref().map(|found| {
        let row = &found.row;
        json!({
            "request_id": row.request_id,
            "fingerprint": row.fingerprint,
            "expires_at": row.expires_at,
            "state": wire_name(&row.state),
            "approval_url": shared.approval_url(&row.request_id),
            "resume_token": found.resume_token,
            "resumed_by_token": found.by_token,
        })
    });
    {
        let request_id = outcome
            .approval
            .as_ref()
            .map(|found| found.row.request_id.clone());
        let mut log = shared.events();
        log.push(server_event(
            "tool_call",
            &corr,
            json!({
                "tool": behaviour.tool,
                "behavior_id": behaviour.behavior_id,
                "fingerprint": fingerprint,
                "outcome": outcome.outcome,
                "rule": outcome.rule,
                "request_id": request_id,
            }),
        ));
        if outcome.outcome != "allow" {
            log.push(server_event(
                "decision",
                &corr,
                json!({
                    "decision": outcome.outcome,
                    "rule": outcome.rule,
                    "reason": outcome.reason,
                    "status": 200,
                    "call": "tool",
                    "tool": behaviour.tool,
                    "request_id": request_id,
                }),
            ));
        }
    }
    let mandate = if outcome.outcome == "allow" {
        let token = shared.mandates().issue(
            &shared.base_url,
            NewMandate {
                tool: &behaviour.tool,
                capabilities: outcome.grant.capabilities.clone(),
                ttl: outcome.grant.ttl,
                session_id: &corr.session_id,
                agent_uuid: &corr.agent_uuid,
            },
        );
        Some(token.map_err(Failure::internal)?)
    } else {
        None
    };
    let body = json!({
        "outcome": outcome.outcome,
        "mandate": mandate,
        "reason": outcome.reason,
        "behavior_id": behaviour.behavior_id,
        "pipeline_id": corr.pipeline_uuid,
        "decided_at": Timestamp::now(),
        "details": {
            "blocking_step": outcome.blocking_step,
            "rule": outcome.rule,
            "tool": behaviour.tool,
        },
        "approval": approval,
        "session_id": corr.session_id,
        "task_id": corr.task_id,
        "agent_uuid": corr.agent_uuid,
        "audit_url": corr.audit_url,
    });
    Ok(with_headers(Json(body).into_response(), corr.headers()))
}

#[cfg(test)]
mod tests;
