//! Authentication of the API routes: any bearer key that starts with `tp_`.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{header, StatusCode};

use crate::ids;
use crate::reply::json_error;

/// The authenticated caller, put in the request's extensions by [`authenticate`].
///
/// It holds the agent UUID derived from the key, never the key itself.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) key_agent_uuid: String,
    /// The agent whose registered key signed the request, when it was signed
    /// (see [`signature`](super::signature)).
    pub(crate) signed_by: Option<String>,
}

/// Middleware of the routes that need an agent key: a missing key or one
/// that does not start with `tp_` is a plain `401`.
pub(crate) async fn authenticate(mut request: Request, next: Next) -> Response {
    const HOW: &str =
        "send `Authorization: Bearer tp_…`; the dev server accepts any agent key that starts with `tp_` (for example `tp_dev`)";
    let key = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, key) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
        });
    match key {
        Some(key) if key.len() > 3 && key.starts_with("tp_") => {
            let caller = Caller {
                key_agent_uuid: ids::agent_uuid_for_key(key),
                signed_by: None,
            };
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Some(_) => json_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            &format!("the API key is not an agent key: {HOW}"),
        ),
        None => json_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            &format!("no API key: {HOW}"),
        ),
    }
}
