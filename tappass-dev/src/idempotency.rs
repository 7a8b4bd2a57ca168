//! `Idempotency-Key`: a retried call is answered, not governed or recorded again.
//!
//! `POST /v1/chat/completions` and `POST /v1/govern` go through [`replay`]: the
//! first request with a key runs and its answer (status, headers, body) is
//! remembered; a repeat of the key answers that same answer with
//! `Idempotent-Replayed: true` and runs nothing, so no second audit event and
//! no second approval. A repeat that arrives while the first is still running
//! waits for it. Keys are scoped by the caller's API key and the route, so one
//! client can never read another's answer; a key sent again with a different
//! body is a `422`. `POST /v1/events` keeps its own, lighter rule (a repeated
//! batch answers `"duplicate": true`), with keys scoped the same way.
//!
//! Memory is bounded: at most [`MAX_ANSWERS`] answers and [`MAX_TOTAL_BYTES`]
//! of them, the oldest forgotten first; an answer over [`MAX_ANSWER_BYTES`] is
//! not remembered (within the 1 MiB request limit, no answer is that large).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tokio::sync::watch;

use super::ids;
use super::server::{body_bytes, json_error, Caller, Failure, Shared};

/// The longest `Idempotency-Key` accepted, in bytes.
pub(crate) const MAX_KEY_LEN: usize = 256;
/// How many answers the server remembers.
pub(crate) const MAX_ANSWERS: usize = 10_000;
/// How many bytes of answers the server remembers: 32 MiB.
pub(crate) const MAX_TOTAL_BYTES: usize = 32 << 20;
/// The largest answer the server remembers: 4 MiB.
pub(crate) const MAX_ANSWER_BYTES: usize = 4 << 20;
/// What one remembered answer costs beyond its key, headers and body.
const SLOT_BYTES: usize = 128;

/// The header a replayed answer carries.
pub(crate) static REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The request's `Idempotency-Key`, or a 400 for one that is empty, too long
/// or not visible ASCII.
pub(crate) fn key(headers: &HeaderMap) -> Result<Option<&str>, Failure> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(k))
        }
        _ => Err(Failure::invalid(format_args!(
            "`Idempotency-Key` must be 1 to {MAX_KEY_LEN} bytes of visible ASCII, e.g. 32 random hex digits"
        ))),
    }
}

/// A key as the server remembers it: scoped by the caller's API key (through
/// the agent id derived from it) and the route.
pub(crate) fn scoped(caller: &Caller, route: &str, key: &str) -> String {
    format!("{}\n{route}\n{key}", caller.key_agent_uuid)
}

/// A remembered answer and the request it answered.
struct Answer {
    request: u128,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn cost(&self, key: &str) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        SLOT_BYTES + key.len() + headers + self.body.len()
    }

    fn response(&self) -> Response {
        let mut response = (self.status, self.body.clone()).into_response();
        *response.headers_mut() = self.headers.clone();
        response
            .headers_mut()
            .insert(REPLAYED.clone(), HeaderValue::from_static("true"));
        response
    }
}

enum Slot {
    /// The first request is running; the sender says when it ends.
    Running(watch::Receiver<()>),
    Done(Arc<Answer>),
}

/// The remembered answers, by scoped key.
#[derive(Default)]
pub(crate) struct Answers {
    slots: HashMap<String, Slot>,
    /// The keys of `Done` slots, oldest first.
    order: VecDeque<String>,
    /// The sum of the costs of `Done` slots.
    bytes: usize,
}

enum Begin {
    Replay(Arc<Answer>),
    Wait(watch::Receiver<()>),
    Run(watch::Sender<()>),
}

impl Answers {
    fn begin(&mut self, key: &str) -> Begin {
        match self.slots.entry(key.to_owned()) {
            Entry::Occupied(slot) => match slot.get() {
                Slot::Done(answer) => Begin::Replay(answer.clone()),
                Slot::Running(done) => Begin::Wait(done.clone()),
            },
            Entry::Vacant(slot) => {
                let (done, running) = watch::channel(());
                slot.insert(Slot::Running(running));
                Begin::Run(done)
            }
        }
    }

    /// Forgets a running slot whose request ended without an answer to keep.
    fn abandon(&mut self, key: &str) {
        if let Some(Slot::Running(_)) = self.slots.get(key) {
            self.slots.remove(key);
        }
    }

    /// Remembers the answer of a running slot, forgetting the oldest answers
    /// until both caps hold.
    fn finish(&mut self, key: &str, answer: Answer) {
        let cost = answer.cost(key);
        if cost > MAX_ANSWER_BYTES {
            self.abandon(key);
            return;
        }
        while self.order.len() >= MAX_ANSWERS || self.bytes + cost > MAX_TOTAL_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(Slot::Done(answer)) = self.slots.remove(&old) {
                self.bytes -= answer.cost(&old);
            }
        }
        self.bytes += cost;
        self.order.push_back(key.to_owned());
        self.slots
            .insert(key.to_owned(), Slot::Done(Arc::new(answer)));
    }

    /// How many answers are remembered, and their bytes.
    pub(crate) fn usage(&self) -> (usize, usize) {
        (self.order.len(), self.bytes)
    }
}

/// Forgets the running slot when the first request is dropped before it
/// answers (the client went away), so that a repeat runs instead of waiting.
struct Running<'a> {
    shared: &'a Shared,
    key: &'a str,
    done: Option<watch::Sender<()>>,
}

impl Running<'_> {
    fn finish(mut self, answer: Answer) {
        self.shared.answers().finish(self.key, answer);
        self.done.take(); // wakes the waiters
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if self.done.is_some() {
            self.shared.answers().abandon(self.key);
        }
    }
}

/// Middleware of the chat and govern routes; see the module's documentation.
pub(crate) async fn replay(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let key = match key(request.headers()) {
        Ok(Some(key)) => key,
        Ok(None) => return next.run(request).await,
        Err(failure) => return failure.into_response(),
    };
    let Some(caller) = request.extensions().get::<Caller>() else {
        return next.run(request).await;
    };
    let key = scoped(caller, request.uri().path(), key);
    let (parts, body) = request.into_parts();
    // Read as the handlers read it: within the router's body limit.
    let read = Bytes::from_request(Request::from_parts(parts.clone(), body), &()).await;
    let body = match body_bytes(read) {
        Ok(body) => body,
        Err(failure) => return failure.into_response(),
    };
    let fingerprint = ids::fnv1a128(&[&body]);

    let running = loop {
        let begin = shared.answers().begin(&key);
        match begin {
            Begin::Replay(answer) if answer.request == fingerprint => return answer.response(),
            Begin::Replay(_) => {
                return json_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "this `Idempotency-Key` was sent before with a different body; a retry must repeat its call exactly, and a new call needs a new key",
                )
            }
            // The first request is running: wait for its end, then look again.
            Begin::Wait(mut done) => {
                // An error only says the sender is gone: it has ended too.
                done.changed().await.ok();
            }
            Begin::Run(done) => {
                break Running {
                    shared: &shared,
                    key: &key,
                    done: Some(done),
                }
            }
        }
    };
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let (parts, body) = response.into_parts();
    // The dev server builds every answer in memory, streams included.
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the dev server could not read its own answer",
        );
    };
    running.finish(Answer {
        request: fingerprint,
        status: parts.status,
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests;
