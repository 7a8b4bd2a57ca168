//! Audit events: the log the server keeps, `POST /v1/events` (idempotent per
//! `Idempotency-Key`) and the session audit page `GET /v1/audit/sessions/{id}`.
//!
//! The log is bounded in bytes as well as in events: each event is kept as its
//! compact JSON text, what it costs is that text plus a fixed slot, and the
//! oldest events go first when either cap would be passed. Posted events are
//! checked before anything is recorded: a short identifier field that is too
//! long is a `400`, an event too large as a whole a `413`.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Value};

use super::correlation::Correlation;
use super::idempotency;
use super::server::{body_bytes, parse_json, Caller, Failure, Shared, MAX_FIELD_BYTES};
use tappass::Timestamp;

/// How many events the server keeps; the oldest go first.
pub(crate) const MAX_EVENTS: usize = 100_000;
/// How many bytes of events the server keeps unless configured otherwise: 64 MiB.
pub(crate) const DEFAULT_MAX_LOG_BYTES: usize = 64 << 20;
/// The smallest byte cap a server can be configured with: 1 MiB, room for
/// several of the largest events.
pub(crate) const MIN_LOG_BYTES: usize = 1 << 20;
/// The largest one event may be, as compact JSON: 64 KiB.
pub(crate) const MAX_EVENT_BYTES: usize = 64 << 10;
/// The short string fields of an event that [`MAX_FIELD_BYTES`] limits.
const LIMITED_FIELDS: [&str; 5] = [
    "event_type",
    "agent_id",
    "session_id",
    "task_id",
    "occurred_at",
];
/// How many idempotency keys of `/v1/events` the server remembers; the oldest go first.
const MAX_KEYS: usize = 10_000;
/// The most events one audit page holds, and how many it holds unless asked.
pub(crate) const MAX_PAGE_EVENTS: usize = 1_000;
/// A page stops before this many bytes of events (it always holds at least one).
pub(crate) const MAX_PAGE_BYTES: usize = 1 << 20;

/// One recorded event: its compact JSON text and what the log filters and
/// summarises on.
pub(crate) struct Stored {
    /// Its position in the log, from 0; never reused, so it makes a cursor.
    seq: u64,
    meta: Meta,
    json: Box<str>,
}

/// The string fields of an event that the log filters on and the console
/// summarises, copied out of its JSON so that neither parses every event.
#[derive(Default)]
pub(crate) struct Meta {
    pub(crate) session_id: Option<Box<str>>,
    pub(crate) event_type: Option<Box<str>>,
    pub(crate) agent_id: Option<Box<str>>,
    pub(crate) occurred_at: Option<Box<str>>,
}

impl Meta {
    /// The string fields of `event` (a field that is not a string is left out).
    fn of(event: &Value) -> Meta {
        let field = |name: &str| event.get(name).and_then(Value::as_str).map(Box::from);
        Meta {
            session_id: field("session_id"),
            event_type: field("event_type"),
            agent_id: field("agent_id"),
            occurred_at: field("occurred_at"),
        }
    }

    fn bytes(&self) -> usize {
        [
            &self.session_id,
            &self.event_type,
            &self.agent_id,
            &self.occurred_at,
        ]
        .into_iter()
        .map(|f| f.as_deref().map_or(0, str::len))
        .sum()
    }
}

/// What one event costs beyond its text: its slot in the log.
const SLOT_BYTES: usize = std::mem::size_of::<Stored>();

impl Stored {
    /// The bytes this event accounts for.
    fn cost(&self) -> usize {
        SLOT_BYTES + self.json.len() + self.meta.bytes()
    }

    /// Its string fields.
    pub(crate) fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The event itself (parsed again from its text).
    pub(crate) fn value(&self) -> Value {
        parse_stored(self)
    }
}

/// The recorded events and the idempotency keys of `/v1/events` already seen.
pub(crate) struct EventLog {
    events: VecDeque<Stored>,
    /// The sum of [`Stored::cost`] over `events`.
    bytes: usize,
    max_bytes: usize,
    next_seq: u64,
    keys: HashSet<String>,
    key_order: VecDeque<String>,
}

/// Which events a page holds: `limit` events at most, after `after` (a cursor
/// from an earlier page), of one session or of all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageQuery<'a> {
    pub(crate) session_id: Option<&'a str>,
    pub(crate) after: Option<Cursor>,
    pub(crate) limit: usize,
}

/// Where a page ended: the next page starts after it. Opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor(u64);

impl Cursor {
    /// Reads a cursor a client sent back.
    pub(crate) fn parse(text: &str) -> Option<Cursor> {
        text.parse().ok().map(Cursor)
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One page of events, oldest first, as compact JSON texts.
pub(crate) struct Page<'a> {
    pub(crate) events: Vec<&'a str>,
    /// `Some` when more events match after this page.
    pub(crate) next: Option<Cursor>,
}

impl EventLog {
    /// An empty log that keeps at most `max_bytes` of events (never less than
    /// [`MIN_LOG_BYTES`]).
    pub(crate) fn new(max_bytes: usize) -> EventLog {
        EventLog {
            events: VecDeque::new(),
            bytes: 0,
            max_bytes: max_bytes.max(MIN_LOG_BYTES),
            next_seq: 0,
            keys: HashSet::new(),
            key_order: VecDeque::new(),
        }
    }

    /// Records one event the server built itself.
    pub(crate) fn push(&mut self, event: Value) {
        let meta = Meta::of(&event);
        self.insert(event.to_string(), meta);
    }

    /// Records one event as its compact JSON text, evicting the oldest events
    /// until both caps hold.
    fn insert(&mut self, json: String, meta: Meta) {
        let stored = Stored {
            seq: self.next_seq,
            meta,
            json: json.into_boxed_str(),
        };
        self.next_seq += 1;
        let cost = stored.cost();
        if cost > self.max_bytes {
            // Only an event the server built itself from a very long policy
            // reason could get here: posted events are checked before.
            tracing::warn!(
                bytes = cost,
                "the TapPass dev server dropped an audit event larger than its whole event log"
            );
            return;
        }
        while !self.events.is_empty()
            && (self.events.len() >= MAX_EVENTS || self.bytes + cost > self.max_bytes)
        {
            if let Some(old) = self.events.pop_front() {
                self.bytes -= old.cost();
            }
        }
        self.bytes += cost;
        self.events.push_back(stored);
    }

    /// How many events the log holds.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// The bytes the log accounts for: every event's compact JSON, its session
    /// id and its slot. Never above [`max_bytes`](EventLog::max_bytes).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The byte cap of the log.
    pub(crate) fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Every event, oldest first.
    pub(crate) fn all(&self) -> Vec<Value> {
        self.events.iter().map(parse_stored).collect()
    }

    /// Every event, oldest first, borrowed (for the console's summaries).
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &Stored> + '_ {
        self.events.iter()
    }

    /// The events of one session, oldest first.
    pub(crate) fn for_session(&self, session_id: &str) -> Vec<Value> {
        self.events
            .iter()
            .filter(|e| e.meta.session_id.as_deref() == Some(session_id))
            .map(parse_stored)
            .collect()
    }

    /// One page of events: at most `query.limit` (and at least one), fewer when
    /// they pass [`MAX_PAGE_BYTES`] together.
    pub(crate) fn page(&self, query: PageQuery<'_>) -> Page<'_> {
        let start = match query.after {
            None => 0,
            Some(Cursor(seq)) => {
                let first = self.events.front().map_or(self.next_seq, |e| e.seq);
                usize::try_from(seq.saturating_add(1).saturating_sub(first))
                    .unwrap_or(usize::MAX)
                    .min(self.events.len())
            }
        };
        let limit = query.limit.max(1);
        let mut events = Vec::new();
        let mut bytes = 0;
        let mut last = None;
        let mut more = false;
        for e in self.events.range(start..) {
            if query
                .session_id
                .is_some_and(|s| e.meta.session_id.as_deref() != Some(s))
            {
                continue;
            }
            if events.len() >= limit
                || (!events.is_empty() && bytes + e.json.len() > MAX_PAGE_BYTES)
            {
                more = true;
                break;
            }
            bytes += e.json.len();
            events.push(&*e.json);
            last = Some(Cursor(e.seq));
        }
        Page {
            events,
            next: if more { last } else { None },
        }
    }

    /// Remembers an idempotency key; `false` when it was seen before.
    fn remember(&mut self, key: String) -> bool {
        if self.keys.contains(&key) {
            return false;
        }
        if self.key_order.len() >= MAX_KEYS {
            if let Some(old) = self.key_order.pop_front() {
                self.keys.remove(&old);
            }
        }
        self.keys.insert(key.clone());
        self.key_order.push_back(key);
        true
    }
}

/// The server wrote every stored text from a [`Value`], so it parses.
fn parse_stored(e: &Stored) -> Value {
    serde_json::from_str(&e.json).unwrap_or(Value::Null)
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
    let mut log = shared.events();
    if let Some(key) = key {
        if !log.remember(idempotency::scoped(&caller, "/v1/events", key)) {
            return Ok(Json(json!({ "accepted": 0, "duplicate": true })).into_response());
        }
    }
    let accepted = admitted.len();
    for (json, meta) in admitted {
        log.insert(json, meta);
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
/// [`MAX_PAGE_BYTES`]; `next_cursor` is `null` on the last page, else the
/// value to send as `cursor` for the next one.
pub(crate) async fn audit_session(
    State(shared): State<Arc<Shared>>,
    Path(session_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    if super::console::wants_html(&headers) {
        return Ok(with_vary(super::console::session_page(
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
