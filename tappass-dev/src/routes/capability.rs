//! Capability tokens over HTTP: the public key at
//! `GET /v1/capability/public-key`. Minting is the chat route's (a rule's
//! `capability_token`), and where the holder's key comes from is said there.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::state::Shared;

/// `GET /v1/capability/public-key` (no authentication): the root a tool
/// service trusts, as the Python SDK's `PublicKey.to_hex()` writes it.
pub(crate) async fn public_key(State(shared): State<Arc<Shared>>) -> Response {
    let key = shared.capability_tokens().public_key();
    Json(json!({ "public_key": key.to_hex(), "algorithm": "Ed25519" })).into_response()
}
