//! The plain answers every route shares: a JSON failure
//! (`{"error": code, "message": message}`, no `decision`), [`Failure`] for a
//! handler to return one with `?`, the `404` and `405` of what the server
//! does not serve, and reading a request's body within the server's limit.
//!
//! It sits below the routes, the console and the governing logic, and imports
//! none of them.

use std::fmt;

use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{json, Value};

/// The largest request body the server reads: 1 MiB.
pub(crate) const MAX_BODY_BYTES: usize = 1 << 20;

/// A plain failure: `{"error": code, "message": message}` (no `decision`).
pub(crate) fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": code, "message": message }))).into_response()
}

/// A plain failure of a request, answered by [`json_error`].
#[derive(Debug)]
pub(crate) struct Failure {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Failure {
    /// 413 `payload_too_large` with `message`.
    pub(crate) fn too_large(message: impl fmt::Display) -> Failure {
        Failure {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "payload_too_large",
            message: message.to_string(),
        }
    }

    /// 500 `internal` with `message`.
    pub(crate) fn internal(message: impl fmt::Display) -> Failure {
        Failure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: message.to_string(),
        }
    }

    /// 400 `invalid_request` with `message`.
    pub(crate) fn invalid(message: impl fmt::Display) -> Failure {
        Failure {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            message: message.to_string(),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        json_error(self.status, self.code, &self.message)
    }
}

/// The request body, or the JSON failure for a body that could not be read
/// (413 over [`MAX_BODY_BYTES`]).
pub(crate) fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Failure> {
    body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            body_too_large()
        } else {
            Failure {
                status,
                code: "invalid_request",
                message: rejection.body_text(),
            }
        }
    })
}

/// The 413 for a request body over [`MAX_BODY_BYTES`].
fn body_too_large() -> Failure {
    Failure::too_large(format_args!(
        "request bodies are limited to {} KiB",
        MAX_BODY_BYTES / 1024
    ))
}

/// Parses a JSON body, or answers 400 `invalid_request`.
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value, Failure> {
    serde_json::from_slice(bytes)
        .map_err(|e| Failure::invalid(format_args!("the body is not valid JSON: {e}")))
}

/// Adds `headers` to a response.
pub(crate) fn with_headers(mut response: Response, headers: HeaderMap) -> Response {
    response.headers_mut().extend(headers);
    response
}

/// The router's fallback (and `GET /` for a client that is no browser): a
/// JSON `404` that lists the routes.
pub(crate) async fn not_found(method: Method, uri: Uri) -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!(
            "no route for {method} {}; the dev server serves GET /health, POST /v1/chat/completions, POST /v1/govern, POST /v1/events, GET /v1/me/approvals/{{request_id}}[/wait], GET /v1/audit/sessions/{{session_id}}, GET /.well-known/jwks.json, GET /v1/mandates/revoked, POST /v1/mandates/{{mandate_id}}/revoke and POST /v1/traces (OTLP/HTTP)",
            uri.path()
        ),
    )
}

/// A route the server serves, asked with another method: a JSON `405`.
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!("{} does not take {method}", uri.path()),
    )
}
