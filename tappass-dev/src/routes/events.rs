//! Audit events over HTTP: `POST /v1/events` (idempotent per
//! `Idempotency-Key`) and the session audit page
//! `GET /v1/audit/sessions/{id}`, answered as JSON to a client and as the
//! console's page to a browser.
//!
//! Posted events are checked before anything is recorded: a short identifier
//! field that is too long is a `400`, an event too large as a whole a `413`.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Value};

use super::auth::Caller;
use super::idempotency;
use crate::console;
use crate::reply::{body_bytes, parse_json, Failure};
use crate::state::{Shared, MAX_FIELD_BYTES};
use crate::stores::event_log::{Cursor, Meta, PageQuery, MAX_EVENT_BYTES};

/// The short string fields of an event that [`MAX_FIELD_BYTES`] limits.
const LIMITED_FIELDS: [&str; 5] = [
    "event_type",
    "agent_id",
    "session_id",
    "task_id",
    "occurred_at",
];
/// The most events one audit page holds, and how many it holds unless asked.
pub(crate) const MAX_PAGE_EVENTS: usize = 1_000;

/// Checks one posted event against the limits: its text and session, or the failure.
fn admit(i: usize, event: &Value) -> Result<(String, Meta), Failure> {
    let Value::Object(map) = event else {
        return Err(Failure::invalid(format_args!(
            "event #{i} is not a JSON object"
        )));
    };
    for field in LIMITED_FIELDS {
        if let Some(Value::String(s)) = map.get(field) {
            if s.len() > MAX_FIELD_BYTES {
                return Err(Failure::invalid(format_args!(
                    "event #{i}: `{field}` is {} bytes; it may be at most {MAX_FIELD_BYTES}",
                    s.len()
                )));
            }
        }
    }
    let json = event.to_string();
    if json.len() > MAX_EVENT_BYTES {
        return Err(Failure::too_large(format_args!(
            "event #{i} is {} bytes as compact JSON; one event may be at most {} KiB: keep large payloads elsewhere and put a link in `details`",
            json.len(),
            MAX_EVENT_BYTES / 1024
        )));
    }
    Ok((json, Meta::of(event)))
}

/// `POST /v1/events`: records a JSON array of events.
///
/// A batch whose `Idempotency-Key` the same caller sent before records nothing
/// and still answers 200 (`"duplicate": true`); a new batch answers 202. A
/// batch with one event over the limits records nothing.
pub(crate) async fn ingest(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let key = idempotency::key(&headers)?;
    let bytes = body_bytes(body)?;
    let Value::Array(batch) = parse_json(&bytes)? else {
        return Err(Failure::invalid("the body must be a JSON array of events, e.g. [{\"event_type\": \"chat_call\", \"session_id\": \"ses_…\", …}]"));
    };
    let admitted = batch
        .iter()
        .enumerate()
        .map(|(i, e)| admit(i, e))
        .collect::<Result<Vec<_>, _>>()?;
    for agent in batch
        .iter()
        .filter_map(|e| e.get("agent_id").and_then(Value::as_str))
        // `""`: not said (the Python SDK's default).
        .filter(|agent| !agent.is_empty())
    {
        shared.saw_agent(agent);
    }
    drop(batch);
    let accepted = admitted.len();
    let key = key.map(|key| idempotency::scoped(&caller, "/v1/events", key));
    let recorded = shared.events().record_batch(key, admitted).map_err(|e| {
        Failure::internal(format!(
            "the dev server could not write the events to its database ({e}); nothing was recorded"
        ))
    })?;
    if !recorded {
        return Ok(Json(json!({ "accepted": 0, "duplicate": true })).into_response());
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "accepted": accepted, "duplicate": false })),
    )
        .into_response())
}

/// `GET /v1/audit/sessions/{session_id}?limit=N&cursor=C`: the session's
/// recorded events, a page at a time. No authentication, so that the
/// `audit_url` opens in a browser, which gets the console's page of the
/// session (`Accept: text/html`); others get the JSON.
///
/// The JSON answer is `{"session_id", "events": […], "next_cursor"}`: at most
/// `limit` events (1 to [`MAX_PAGE_EVENTS`], the default) and about
/// [`MAX_PAGE_BYTES`](crate::stores::event_log::MAX_PAGE_BYTES); `next_cursor` is `null` on the last page, else the
/// value to send as `cursor` for the next one.
pub(crate) async fn audit_session(
    State(shared): State<Arc<Shared>>,
    Path(session_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    if console::wants_html(&headers) {
        return Ok(with_vary(console::session_page(
            &shared,
            &session_id,
            query.as_deref(),
        )));
    }
    let mut after = None;
    let mut limit = MAX_PAGE_EVENTS;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match &*key {
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE_EVENTS).contains(n))
                    .ok_or_else(|| {
                        Failure::invalid(format_args!(
                            "`limit` must be a whole number from 1 to {MAX_PAGE_EVENTS}"
                        ))
                    })?;
            }
            "cursor" => {
                after = Some(Cursor::parse(&value).ok_or_else(|| {
                    Failure::invalid(
                        "`cursor` must be the `next_cursor` of an earlier page, sent back as it came",
                    )
                })?);
            }
            _ => {}
        }
    }
    let log = shared.events();
    let page = log.page(PageQuery {
        session_id: Some(&session_id),
        after,
        limit,
    });
    // The events are stored as JSON text already: the page is written around
    // them rather than parsed and serialized again.
    let size: usize = page.events.iter().map(|e| e.len() + 1).sum();
    let mut body = String::with_capacity(size + session_id.len() + 64);
    body.push_str("{\"session_id\":");
    body.push_str(&Value::String(session_id.clone()).to_string());
    body.push_str(",\"events\":[");
    for (i, event) in page.events.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(event);
    }
    body.push_str("],\"next_cursor\":");
    match page.next {
        Some(cursor) => {
            body.push('"');
            body.push_str(&cursor.to_string());
            body.push('"');
        }
        None => body.push_str("null"),
    }
    body.push('}');
    drop(log);
    Ok(with_vary(
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
    ))
}

/// Marks an answer that depends on `Accept`, so that caches keep both.
fn with_vary(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(http::header::VARY, http::HeaderValue::from_static("accept"));
    response
}

#[cfg(test)]
mod tests;
