//! `GET /health`: the server's version, its storage and how many agents it has seen and spans it holds.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::state::{Shared, SERVER_VERSION};

/// `GET /health` (no authentication).
pub(crate) async fn health(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!({
        "status": "ok",
        "version": SERVER_VERSION,
        "storage": "memory",
        "agents": shared.agent_count(),
        "spans": shared.traces().len(),
        "uptime_seconds": shared.uptime().as_secs(),
        "server": "tappass-dev",
    }))
    .into_response()
}
