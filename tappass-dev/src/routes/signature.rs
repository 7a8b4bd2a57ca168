//! Signed requests: an agent that registered an Ed25519 key
//! (`POST /v1/agents/{agent_id}/signing-key`, or
//! [`DevServer::register_signing_key`](crate::DevServer::register_signing_key))
//! signs its requests as the Python SDK's `signing.py` does, and the server
//! checks each signed one: the signature over the request as received, a
//! timestamp within five minutes of the server's clock, a nonce never seen
//! before. A request that fails is a `401` that says why; a request that
//! passes is recorded as signed by that agent (`details.signed_by` on its
//! events, a badge in the console). An unsigned request is served as before.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequest, Path, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Value};
use tappass::signing::{verify_request, PublicKey, SignedRequest, MAX_CLOCK_SKEW};

use super::auth::Caller;
use crate::reply::{body_bytes, json_error, parse_json, Failure};
use crate::state::Shared;
use crate::stores::signing_keys::MAX_KEYS;

/// Middleware of the authenticated routes; see the module's documentation.
pub(crate) async fn verify(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let signed = match SignedRequest::from_headers(request.headers()) {
        Ok(None) => return next.run(request).await,
        Ok(Some(signed)) => signed,
        Err(e) => return refused("invalid_signature", &e.to_string()),
    };
    let Some(key) = shared.signing_keys().key(&signed.agent_id) else {
        return refused(
            "unknown_signing_key",
            &format!(
                "the request is signed as agent `{}`, which registered no signing key; register its public key with POST /v1/agents/{{agent_id}}/signing-key, or send the request unsigned",
                signed.agent_id
            ),
        );
    };
    let (parts, body) = request.into_parts();
    // Read as the handlers read it: within the router's body limit.
    let read = Bytes::from_request(Request::from_parts(parts.clone(), body), &()).await;
    let body = match body_bytes(read) {
        Ok(body) => body,
        Err(failure) => return failure.into_response(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let checked = verify_request(
        &key,
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query().unwrap_or(""),
        &body,
        &signed,
        now,
        MAX_CLOCK_SKEW,
    );
    if let Err(e) = checked {
        return refused(
            "invalid_signature",
            &format!("{e}; sign the request with the agent's registered key, at the current time"),
        );
    }
    let first = shared.signing_keys().first_use(
        &signed.agent_id,
        &signed.nonce,
        signed.timestamp,
        now.saturating_sub(2 * MAX_CLOCK_SKEW),
    );
    if !first {
        return refused(
            "replayed_nonce",
            "this request's nonce was used before: a signed request is accepted once; sign each request (and each retry) with a fresh nonce",
        );
    }
    let mut request = Request::from_parts(parts, Body::from(body));
    if let Some(caller) = request.extensions_mut().get_mut::<Caller>() {
        caller.signed_by = Some(signed.agent_id);
    }
    next.run(request).await
}

fn refused(code: &str, message: &str) -> Response {
    json_error(StatusCode::UNAUTHORIZED, code, message)
}

/// `POST /v1/agents/{agent_id}/signing-key` with `{"public_key": "<64 hex>"}`
/// (a dev-server extension): registers or replaces the agent's key.
pub(crate) async fn register(
    State(shared): State<Arc<Shared>>,
    Path(agent_id): Path<String>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, Failure> {
    let body: Value = parse_json(&body_bytes(body)?)?;
    let key = body
        .get("public_key")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Failure::invalid(
                "send {\"public_key\": \"<the agent's Ed25519 public key, 64 hex digits>\"}",
            )
        })?;
    let key = PublicKey::from_hex(key)
        .map_err(|e| Failure::invalid(format_args!("`public_key`: {e}")))?;
    if !valid_agent_id(&agent_id) {
        return Err(Failure::invalid(
            "an agent id is 1 to 128 visible ASCII characters",
        ));
    }
    if !shared.signing_keys().register(&agent_id, key) {
        return Err(Failure::too_large(format_args!(
            "the dev server keeps at most {MAX_KEYS} agents' keys"
        )));
    }
    Ok(Json(json!({ "agent_id": agent_id, "public_key": key.to_hex() })).into_response())
}

/// An agent id a signature can carry: 1 to 128 visible ASCII characters.
pub(crate) fn valid_agent_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}
