//! The approval routes: `GET /v1/me/approvals/{request_id}` and its
//! long-poll `…/wait`, and the dev-server extensions that list the pending
//! approvals and decide one as the human would.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde_json::json;

use crate::reply::json_error;
use crate::state::Shared;
use crate::stores::approvals::wire_name;
use tappass::agent::ApprovalState;

/// The longest a client may long-poll `…/wait`, in seconds.
pub(crate) const MAX_WAIT_SECONDS: u64 = 30;

/// The `X-TapPass-Resume-Token` a chat or govern call carries, when it is
/// one readable value (anything else resumes nothing).
pub(crate) fn resume_token(headers: &http::HeaderMap) -> Option<String> {
    let mut values = headers.get_all(tappass::session::RESUME_TOKEN).iter();
    let token = values.next()?.to_str().ok()?;
    if values.next().is_some() || token.is_empty() || token.len() > 128 {
        return None;
    }
    Some(token.to_owned())
}

fn not_found(request_id: &str) -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("no approval `{request_id}` on this server; approval ids come from approval_required, needs_approval and escalate decisions"),
    )
}

/// `GET /v1/me/approvals`: the pending approvals (a dev-server extension).
pub(crate) async fn list(State(shared): State<Arc<Shared>>) -> Response {
    let pending = shared.approvals().pending();
    Json(json!({ "approvals": pending })).into_response()
}

/// `GET /v1/me/approvals/{request_id}`: the row.
pub(crate) async fn get(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match shared.approvals().get(&id) {
        Some(row) => Json(row).into_response(),
        None => not_found(&id),
    }
}

/// `GET /v1/me/approvals/{request_id}/wait?timeout_seconds=N`: long-polls
/// until the row is decided (200) or the timeout passes (408).
pub(crate) async fn wait(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let mut timeout = MAX_WAIT_SECONDS as f64;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if key == "timeout_seconds" {
            match value.parse::<f64>() {
                Ok(n) if n.is_finite() && n >= 0.0 => timeout = n.min(MAX_WAIT_SECONDS as f64),
                _ => {
                    return json_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        &format!("`timeout_seconds` must be a number of seconds from 0 to {MAX_WAIT_SECONDS}"),
                    )
                }
            }
        }
    }
    let Some((mut changes, expires_at)) = shared.approvals().subscribe(&id) else {
        return not_found(&id);
    };
    // Wake at the deadline too, so that a row that times out meanwhile answers 200.
    let limit = Duration::from_secs_f64(timeout).min(expires_at.duration_from_now());
    let _ = tokio::time::timeout(limit, changes.wait_for(ApprovalState::is_settled)).await;
    match shared.approvals().get(&id) {
        None => not_found(&id),
        Some(row) if row.state == ApprovalState::Pending => (
            StatusCode::REQUEST_TIMEOUT,
            Json(json!({
                "error": "approval_pending",
                "message": format!("approval `{id}` is still pending; wait again, or approve it (POST /v1/me/approvals/{id}/approve on the dev server)"),
                "request_id": row.request_id,
                "state": wire_name(&row.state),
            })),
        )
            .into_response(),
        Some(row) => Json(row).into_response(),
    }
}

/// `POST /v1/me/approvals/{request_id}/approve` (a dev-server extension).
pub(crate) async fn approve(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    settle(&shared, &id, ApprovalState::Approved)
}

/// `POST /v1/me/approvals/{request_id}/deny` (a dev-server extension).
pub(crate) async fn deny(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    settle(&shared, &id, ApprovalState::Denied)
}

fn settle(shared: &Shared, id: &str, state: ApprovalState) -> Response {
    let decided = shared.decide(id, state);
    match shared.approvals().get(id) {
        None => not_found(id),
        Some(row) if decided => Json(row).into_response(),
        Some(row) => (
            StatusCode::CONFLICT,
            Json(json!({
                "error": "already_decided",
                "message": format!("approval `{id}` is already {}; only a pending approval can be decided", wire_name(&row.state)),
                "request_id": row.request_id,
                "state": wire_name(&row.state),
            })),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests;
