//! Audit events: the log the server keeps, `POST /v1/events` (idempotent per
//! `Idempotency-Key`) and the session audit page `GET /v1/audit/sessions/{id}`.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use super::correlation::Correlation;
use super::server::{body_bytes, parse_json, Failure, Shared};
use crate::Timestamp;

/// How many events the server keeps; the oldest go first.
const MAX_EVENTS: usize = 100_000;
/// How many idempotency keys the server remembers; the oldest go first.
const MAX_KEYS: usize = 10_000;
/// The longest `Idempotency-Key` accepted, in bytes.
const MAX_KEY_LEN: usize = 256;

/// The recorded events and the idempotency keys already seen.
#[derive(Default)]
pub(crate) struct EventLog {
    events: VecDeque<Value>,
    keys: HashSet<String>,
    key_order: VecDeque<String>,
}

impl EventLog {
    /// Records one event.
    pub(crate) fn push(&mut self, event: Value) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// Every event, oldest first.
    pub(crate) fn all(&self) -> Vec<Value> {
        self.events.iter().cloned().collect()
    }

    /// Every event, oldest first, borrowed (for the console's summaries).
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &Value> + '_ {
        self.events.iter()
    }

    /// The events of one session, oldest first.
    pub(crate) fn for_session(&self, session_id: &str) -> Vec<Value> {
        self.events
            .iter()
            .filter(|e| e.get("session_id").and_then(Value::as_str) == Some(session_id))
            .cloned()
            .collect()
    }

    /// Remembers an idempotency key; `false` when it was seen before.
    fn remember(&mut self, key: &str) -> bool {
        if self.keys.contains(key) {
            return false;
        }
        if self.key_order.len() >= MAX_KEYS {
            if let Some(old) = self.key_order.pop_front() {
                self.keys.remove(&old);
            }
        }
        self.keys.insert(key.to_owned());
        self.key_order.push_back(key.to_owned());
        true
    }
}

/// An event the server records itself, in the shape clients post.
pub(crate) fn server_event(event_type: &str, corr: &Correlation, mut details: Value) -> Value {
    if let Value::Object(map) = &mut details {
        map.insert("recorded_by".into(), "tappass-dev".into());
    }
    json!({
        "event_type": event_type,
        "agent_id": corr.agent_uuid,
        "occurred_at": Timestamp::now(),
        "session_id": corr.session_id,
        "task_id": corr.task_id,
        "details": details,
    })
}

/// `POST /v1/events`: records a JSON array of events.
///
/// A batch whose `Idempotency-Key` was seen before records nothing and still
/// answers 200 (`"duplicate": true`); a new batch answers 202.
pub(crate) async fn ingest(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let bytes = body_bytes(body)?;
    let Value::Array(batch) = parse_json(&bytes)? else {
        return Err(Failure::invalid("the body must be a JSON array of events, e.g. [{\"event_type\": \"chat_call\", \"session_id\": \"ses_…\", …}]"));
    };
    if let Some(i) = batch.iter().position(|e| !e.is_object()) {
        return Err(Failure::invalid(format_args!(
            "event #{i} is not a JSON object"
        )));
    }
    let key = match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => None,
        Some(Ok(k)) if !k.is_empty() && k.len() <= MAX_KEY_LEN => Some(k.to_owned()),
        Some(_) => {
            return Err(Failure::invalid(format_args!(
                "`Idempotency-Key` must be 1 to {MAX_KEY_LEN} bytes of visible ASCII"
            )))
        }
    };
    for agent in batch
        .iter()
        .filter_map(|e| e.get("agent_id").and_then(Value::as_str))
    {
        shared.saw_agent(agent);
    }
    let mut log = shared.events();
    if let Some(key) = &key {
        if !log.remember(key) {
            return Ok(Json(json!({ "accepted": 0, "duplicate": true })).into_response());
        }
    }
    let accepted = batch.len();
    for event in batch {
        log.push(event);
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "accepted": accepted, "duplicate": false })),
    )
        .into_response())
}

/// `GET /v1/audit/sessions/{session_id}`: the session's recorded events. No
/// authentication, so that the `audit_url` opens in a browser, which gets the
/// console's page of the session (`Accept: text/html`); others get the JSON.
pub(crate) async fn audit_session(
    State(shared): State<Arc<Shared>>,
    Path(session_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if super::console::wants_html(&headers) {
        return with_vary(super::console::session_page(
            &shared,
            &session_id,
            query.as_deref(),
        ));
    }
    let events = shared.events().for_session(&session_id);
    with_vary(Json(json!({ "session_id": session_id, "events": events })).into_response())
}

/// Marks an answer that depends on `Accept`, so that caches keep both.
fn with_vary(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(http::header::VARY, http::HeaderValue::from_static("accept"));
    response
}
