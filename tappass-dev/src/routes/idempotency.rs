//! `Idempotency-Key`: a retried call is answered, not governed or recorded again.
//!
//! `POST /v1/chat/completions` and `POST /v1/govern` go through [`replay`]: the
//! first request with a key runs and its answer (status, headers, body) is
//! remembered; a repeat of the key answers that same answer with
//! `Idempotent-Replayed: true` and runs nothing, so no second audit event and
//! no second approval. A repeat that arrives while the first is still running
//! waits for it. Keys are scoped by the caller's API key and the route, so one
//! client can never read another's answer; a key sent again with a different
//! body, or in another session (or with another agent, pipeline or resume
//! token), is another request: a `422`, never the first answer. `POST /v1/events` keeps its own, lighter rule (a repeated
//! batch answers `"duplicate": true`), with keys scoped the same way.
//!
//! What is remembered, and how much, is the store's:
//! [`stores::answers`](crate::stores::answers).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tokio::sync::watch;

use super::auth::Caller;
use crate::ids;
use crate::reply::{body_bytes, json_error, Failure};
use crate::state::Shared;
use crate::stores::answers::{Answer, Begin};

/// The longest `Idempotency-Key` accepted, in bytes.
pub(crate) const MAX_KEY_LEN: usize = 256;

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

/// What makes a request the same request as far as a key's replay goes: its
/// body and its TapPass headers (the session under either spelling, the
/// agent, the pipeline, the resume token). The same key and body in another
/// session is another request: a `422`, never the first session's answer.
fn request_fingerprint(headers: &HeaderMap, body: &[u8]) -> u128 {
    use tappass::session::{AGENT_UUID, PIPELINE_UUID, RESUME_TOKEN, SESSION_ALIAS, SESSION_ID};
    let header = |name: &HeaderName| -> &[u8] {
        headers.get(name).map_or(b"\0absent", HeaderValue::as_bytes)
    };
    let session = match headers.get(&SESSION_ID) {
        Some(id) => id.as_bytes(),
        None => header(&SESSION_ALIAS),
    };
    ids::fnv1a128(&[
        body,
        session,
        header(&AGENT_UUID),
        header(&PIPELINE_UUID),
        header(&RESUME_TOKEN),
    ])
}

/// A remembered answer, answered again with `Idempotent-Replayed: true`.
fn replayed(answer: &Answer) -> Response {
    let mut response = (answer.status, answer.body.clone()).into_response();
    *response.headers_mut() = answer.headers.clone();
    response
        .headers_mut()
        .insert(REPLAYED.clone(), HeaderValue::from_static("true"));
    response
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
    let fingerprint = request_fingerprint(&parts.headers, &body);

    let running = loop {
        let begin = shared.answers().begin(&key);
        match begin {
            Begin::Replay(answer) if answer.request == fingerprint => return replayed(&answer),
            Begin::Replay(_) => {
                return json_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "this `Idempotency-Key` was sent before with a different body or different TapPass headers (another session, agent or resume token); a retry must repeat its call exactly, and a new call needs a new key",
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
