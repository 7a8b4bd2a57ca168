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
mod tests {
    use super::*;

    fn answer(body_bytes: usize) -> Answer {
        Answer {
            request: 1,
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from(vec![b'x'; body_bytes]),
        }
    }

    /// Runs `key` to its end with an answer of `body_bytes`.
    fn remember(answers: &mut Answers, key: &str, body_bytes: usize) {
        assert!(matches!(answers.begin(key), Begin::Run(_)), "{key} is new");
        answers.finish(key, answer(body_bytes));
    }

    #[test]
    fn the_oldest_answers_are_forgotten_past_the_count_cap() {
        let mut answers = Answers::default();
        for i in 0..MAX_ANSWERS + 5 {
            remember(&mut answers, &format!("k{i}"), 10);
        }
        assert_eq!(answers.usage().0, MAX_ANSWERS);
        for i in 0..5 {
            assert!(matches!(answers.begin(&format!("k{i}")), Begin::Run(_)));
        }
        assert!(matches!(answers.begin("k5"), Begin::Replay(_)));
        assert!(matches!(
            answers.begin(&format!("k{}", MAX_ANSWERS + 4)),
            Begin::Replay(_)
        ));
    }

    #[test]
    fn the_oldest_answers_are_forgotten_past_the_byte_cap() {
        let mut answers = Answers::default();
        let big = MAX_ANSWER_BYTES - 1024;
        let fit = MAX_TOTAL_BYTES / big;
        for i in 0..fit * 3 {
            remember(&mut answers, &format!("k{i}"), big);
            assert!(answers.usage().1 <= MAX_TOTAL_BYTES);
        }
        assert_eq!(answers.usage().0, fit);
        assert!(matches!(answers.begin("k0"), Begin::Run(_)));
        assert!(matches!(
            answers.begin(&format!("k{}", fit * 3 - 1)),
            Begin::Replay(_)
        ));
        // An answer too large to keep is not remembered: a repeat runs again.
        remember(&mut answers, "huge", MAX_ANSWER_BYTES);
        assert!(matches!(answers.begin("huge"), Begin::Run(_)));
    }

    #[test]
    fn a_running_key_is_waited_on_and_forgotten_when_abandoned() {
        let mut answers = Answers::default();
        let Begin::Run(done) = answers.begin("k") else {
            panic!("a new key runs")
        };
        let Begin::Wait(waiting) = answers.begin("k") else {
            panic!("a running key is waited on")
        };
        answers.abandon("k");
        drop(done);
        assert!(waiting.has_changed().is_err(), "the waiter is woken");
        assert!(matches!(answers.begin("k"), Begin::Run(_)));
    }

    #[test]
    fn keys_must_be_short_visible_ascii() {
        let headers = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("idempotency-key", HeaderValue::from_str(v).unwrap());
            h
        };
        assert_eq!(key(&HeaderMap::new()).unwrap(), None);
        assert_eq!(key(&headers("abc-123")).unwrap(), Some("abc-123"));
        let max = "k".repeat(MAX_KEY_LEN);
        assert_eq!(key(&headers(&max)).unwrap(), Some(max.as_str()));
        for bad in ["", "a b", &"k".repeat(MAX_KEY_LEN + 1)] {
            assert!(key(&headers(bad)).is_err(), "{bad:?}");
        }
    }
}
