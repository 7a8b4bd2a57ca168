//! Mandates over HTTP: the keys at `GET /.well-known/jwks.json`, the
//! revocation list `GET /v1/mandates/revoked`, and the dev extension
//! `POST /v1/mandates/{mandate_id}/revoke`. Issuing is `/v1/govern`'s.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde_json::json;

use crate::reply::json_error;
use crate::state::Shared;

/// `GET /.well-known/jwks.json` (no authentication).
pub(crate) async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.mandates().jwks()).into_response()
}

/// `GET /v1/mandates/revoked` (bearer API key).
pub(crate) async fn revoked(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!({ "revoked": shared.mandates().revoked() })).into_response()
}

/// `POST /v1/mandates/{mandate_id}/revoke`: a dev extension.
pub(crate) async fn revoke(
    State(shared): State<Arc<Shared>>,
    Path(mandate_id): Path<String>,
) -> Response {
    if shared.mandates().revoke(&mandate_id) {
        Json(json!({ "mandate_id": mandate_id, "revoked": true })).into_response()
    } else {
        json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no mandate with this id was issued by this server; list them with DevServer::mandates()",
        )
    }
}
