//! `POST /v1/chat/completions`: governed chat with a deterministic echo model.
//!
//! The prompt is the last user message. The policy's prompt rules decide it
//! ([`decide::prompt`](crate::decide::prompt)); a stop is answered as a
//! non-2xx decision body. What passes, redacted, is answered
//! `"Echo: " + prompt`, as one OpenAI-shaped JSON body with the `tappass`
//! envelope or as Server-Sent Events, and recorded as a `chat_call` event.
//!
//! When the rule that allowed the prompt has a `capability_token`, the
//! answer carries one in `tappass.capability_token` (the Python SDK's shape:
//! `{"token", "token_id", "classification", "tools", "ops", "checks_passed",
//! "expires_at", "ttl"}`), bound to the agent's key: the key the request was
//! signed with (the agent's registered key, see
//! [`signature`](super::signature)), else the key the request names in
//! `X-TapPass-Holder-Key` (64 hex digits). A signed request that names
//! another key is refused (`400`); a request with neither gets no token, and
//! a `capability_token` step that says why.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue};
use serde_json::{json, Value};

use super::approvals::resume_token;
use super::auth::Caller;
use crate::decide::correlate::{server_event, Correlation};
use crate::decide::prompt::{evaluate_off_worker, Outcome};
use crate::ids;
use crate::policy::TokenGrant;
use crate::reply::{body_bytes, parse_json, with_headers, Failure};
use crate::state::{Shared, MAX_FIELD_BYTES};
use crate::stores::capability_tokens::NewToken;
use tappass::capability::PublicKey;

/// How many words go into one streamed chunk, at least.
const WORDS_PER_CHUNK: usize = 3;
/// The most text chunks one streamed answer has: a long answer gets more words
/// per chunk, so its size stays within a small factor of the text's.
const MAX_CHUNKS: usize = 256;

/// A chat request, as far as the dev server reads it.
struct ChatRequest {
    model: String,
    /// `(role, text)` of every message.
    messages: Vec<(String, String)>,
    /// The index of the last user message.
    last_user: usize,
    stream: bool,
    metadata_session: Option<String>,
}

fn parse_request(body: &Value) -> Result<ChatRequest, String> {
    let obj = body
        .as_object()
        .ok_or("the body must be a JSON object with `messages`")?;
    let model = match obj.get("model") {
        None | Some(Value::Null) => "tappass-dev-echo".to_owned(),
        Some(Value::String(m)) if m.len() <= MAX_FIELD_BYTES => m.clone(),
        Some(Value::String(m)) => {
            return Err(format!(
                "`model` is {} bytes; it may be at most {MAX_FIELD_BYTES}",
                m.len()
            ))
        }
        Some(_) => return Err("`model` must be a string".into()),
    };
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("`stream` must be true or false".into()),
    };
    let metadata_session = match obj.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => match m.get("session_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err("`metadata.session_id` must be a string".into()),
        },
        Some(_) => return Err("`metadata` must be a JSON object".into()),
    };
    let items = match obj.get("messages") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) => return Err("`messages` is empty; send at least one user message".into()),
        Some(_) => return Err("`messages` must be an array of {\"role\", \"content\"} objects".into()),
        None => return Err("`messages` is missing; send e.g. {\"messages\": [{\"role\": \"user\", \"content\": \"hello\"}]}".into()),
    };
    let mut messages = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let role = item
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("`messages[{i}].role` must be a string"))?;
        let text = match item.get("content") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
            Some(_) => {
                return Err(format!(
                    "`messages[{i}].content` must be a string, null or an array of content parts"
                ))
            }
        };
        messages.push((role.to_owned(), text));
    }
    let last_user = messages
        .iter()
        .rposition(|(role, _)| role == "user")
        .ok_or(
            "`messages` holds no message with role \"user\"; the echo model answers the last one",
        )?;
    Ok(ChatRequest {
        model,
        messages,
        last_user,
        stream,
        metadata_session,
    })
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// The header in which an agent that does not sign its requests names its
/// public key, the holder of the capability tokens minted for it.
const HOLDER_KEY: &str = "x-tappass-holder-key";

/// The key a capability token minted for this request is bound to, and how
/// it reached the server; see the module's documentation.
fn holder(
    shared: &Shared,
    caller: &Caller,
    headers: &HeaderMap,
) -> Result<Option<(PublicKey, &'static str)>, Failure> {
    let named = match headers.get(HOLDER_KEY) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|hex| PublicKey::from_hex(hex.trim()).ok())
                .ok_or_else(|| {
                    Failure::invalid(
                        "`X-TapPass-Holder-Key` is not an Ed25519 public key: send the agent's public key as 64 hexadecimal digits",
                    )
                })?,
        ),
    };
    let signed = caller
        .signed_by
        .as_deref()
        .and_then(|agent| shared.signing_keys().key(agent));
    match (signed, named) {
        (Some(signed), Some(named)) if signed != named => Err(Failure::invalid(
            "`X-TapPass-Holder-Key` names another key than the one that signed the request: a capability token is bound to the key that signed its request; leave the header out",
        )),
        (Some(signed), _) => Ok(Some((signed, "signed request"))),
        (None, Some(named)) => Ok(Some((named, "header"))),
        (None, None) => Ok(None),
    }
}

/// The envelope's `capability_token` (and a step when none could be
/// minted), for the grant of the rule that allowed the prompt.
#[allow(clippy::too_many_arguments)]
fn mint_token(
    shared: &Shared,
    corr: &Correlation,
    rule: &str,
    grant: &TokenGrant,
    holder: Option<(PublicKey, &'static str)>,
    classification: &str,
    steps: &mut Vec<Value>,
) -> Result<Value, Failure> {
    let Some((holder, holder_from)) = holder else {
        steps.push(json!({
            "step": "capability_token",
            "action": "skipped",
            "detected": false,
            "message": format!("rule `{rule}` grants a capability token, but the request named no holder key: sign the request with the agent's registered key, or send its public key in X-TapPass-Holder-Key"),
            "duration_ms": 0.0,
        }));
        return Ok(Value::Null);
    };
    let (token, row) = shared
        .capability_tokens()
        .mint(NewToken {
            rule,
            grant,
            holder,
            holder_from,
            session_id: &corr.session_id,
            agent_uuid: &corr.agent_uuid,
        })
        .map_err(Failure::internal)?;
    Ok(json!({
        "token": token.encode(),
        "token_id": row.token_id,
        "classification": classification,
        "tools": token.tools().map(|(name, _)| name).collect::<Vec<_>>(),
        "ops": [],
        "checks_passed": steps.len(),
        "expires_at": token.expires_at(),
        "ttl": grant.ttl.as_secs(),
    }))
}

/// `POST /v1/chat/completions`.
pub(crate) async fn completions(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let bytes = body_bytes(body)?;
    let mut request = parse_request(&parse_json(&bytes)?).map_err(Failure::invalid)?;
    let corr = Correlation::resolve(
        &shared,
        &caller.key_agent_uuid,
        caller.signed_by.as_deref(),
        &headers,
        ("metadata.session_id", request.metadata_session.as_deref()),
        None,
    )?;

    let holder = holder(&shared, &caller, &headers)?;

    // Only the evaluated prompt counts from here on.
    let original = std::mem::take(&mut request.messages[request.last_user].1);
    let resume_token = resume_token(&headers);
    let (prompt, redactions, mut steps, token) =
        match evaluate_off_worker(&shared, &corr, original, resume_token).await? {
            Outcome::Stop { stop, rule, reason } => {
                let body = stop.body(&reason, &corr);
                shared.events().push(server_event(
                    "decision",
                    &corr,
                    json!({
                        "decision": stop.name(),
                        "rule": rule,
                        "reason": reason,
                        "status": stop.status().as_u16(),
                        "call": "chat",
                    }),
                ));
                return Ok(stop.respond(body, &corr));
            }
            Outcome::Pass {
                prompt,
                redactions,
                steps,
                token,
            } => (prompt, redactions, steps, token),
        };

    let reply = format!("Echo: {prompt}");
    let prompt_tokens: u64 = request
        .messages
        .iter()
        .enumerate()
        .map(|(i, (_, text))| {
            if i == request.last_user {
                words(&prompt)
            } else {
                words(text)
            }
        })
        .sum();
    let completion_tokens = words(&reply);
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    });
    let redacted = !redactions.is_empty();
    let classification = if redacted { "CONFIDENTIAL" } else { "PUBLIC" };
    let capability_token = match &token {
        Some((rule, grant)) => mint_token(
            &shared,
            &corr,
            rule,
            grant,
            holder,
            classification,
            &mut steps,
        )?,
        None => Value::Null,
    };
    let mut envelope = serde_json::Map::new();
    corr.write_fields(&mut envelope);
    envelope.insert("blocked".into(), false.into());
    envelope.insert("blocked_by".into(), "".into());
    envelope.insert("classification".into(), classification.into());
    envelope.insert("steps".into(), steps.into());
    let token_id = capability_token.get("token_id").cloned();
    envelope.insert("capability_token".into(), capability_token);
    envelope.insert("redactions".into(), json!(redactions));
    envelope.insert(
        "redacted_content".into(),
        if redacted {
            prompt.clone().into()
        } else {
            Value::Null
        },
    );
    shared.events().push(server_event(
        "chat_call",
        &corr,
        json!({
            "model": request.model,
            "stream": request.stream,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "redactions": redactions.len(),
            "classification": classification,
            "capability_token": token_id,
        }),
    ));

    let id = ids::random_id("chatcmpl-", 24);
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let envelope = Value::Object(envelope);
    if request.stream {
        return Ok(stream(
            &id,
            created,
            &request.model,
            &reply,
            envelope,
            usage,
            &corr,
        ));
    }
    let body = json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": request.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": reply, "tool_calls": []},
            "finish_reason": "stop",
        }],
        "usage": usage,
        "tappass": envelope,
    });
    Ok(with_headers(Json(body).into_response(), corr.headers()))
}

/// The answer as Server-Sent Events: text chunks of a few words (the first one
/// with the `tappass` envelope), a final chunk with `finish_reason` and the
/// usage, then `data: [DONE]`.
fn stream(
    id: &str,
    created: u64,
    model: &str,
    reply: &str,
    envelope: Value,
    usage: Value,
    corr: &Correlation,
) -> Response {
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    };
    let words = reply.split_inclusive(' ').count();
    let per_chunk = WORDS_PER_CHUNK.max(words.div_ceil(MAX_CHUNKS));
    let mut pieces: Vec<String> = Vec::new();
    let mut current = String::new();
    for (i, word) in reply.split_inclusive(' ').enumerate() {
        if i > 0 && i % per_chunk == 0 {
            pieces.push(std::mem::take(&mut current));
        }
        current.push_str(word);
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    let mut events = Vec::with_capacity(pieces.len() + 2);
    for (i, piece) in pieces.into_iter().enumerate() {
        let mut data = if i == 0 {
            chunk(json!({"role": "assistant", "content": piece}), Value::Null)
        } else {
            chunk(json!({"content": piece}), Value::Null)
        };
        if i == 0 {
            data["tappass"] = envelope.clone();
        }
        events.push(data);
    }
    let mut last = chunk(json!({}), "stop".into());
    last["usage"] = usage;
    events.push(last);
    let frames: Vec<Result<Bytes, Infallible>> = events
        .iter()
        .map(|e| Ok(Bytes::from(format!("data: {e}\n\n"))))
        .chain(std::iter::once(Ok(Bytes::from_static(b"data: [DONE]\n\n"))))
        .collect();
    let mut response = Body::from_stream(futures_util::stream::iter(frames)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.extend(corr.headers());
    response
}

#[cfg(test)]
mod tests;
