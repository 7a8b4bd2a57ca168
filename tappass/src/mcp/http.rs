//! [`McpService`]: the HTTP side of a governed MCP server, in front of
//! rmcp's streamable-HTTP service.
//!
//! rmcp reads a call's params into its own types, which keep `_meta` but
//! drop every other member, so `params["tappass-correlation"]` (where the
//! Python SDK stamps a message) would never reach the handler. This service
//! reads each `POST` body first (bounded as rmcp bounds it), finds the
//! `tools/call` requests whose params name `tappass-correlation`, and hands
//! their values to the handler in the request's extensions, which rmcp
//! passes on with the request's [`http::request::Parts`]. Other requests
//! (the `GET` of an event stream, `DELETE`) pass untouched.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::Value;
use tower_service::Service;

use super::correlation::{FromParams, CORRELATION_KEY};
use crate::error::BoxError;

/// The `tappass-correlation` params of the `tools/call` requests of one
/// `POST`, by JSON-RPC id: what [`McpService`] found, for the handler.
#[derive(Debug, Clone, Default)]
pub(crate) struct ParamsCorrelation {
    calls: Vec<(Value, FromParams)>,
}

impl ParamsCorrelation {
    /// What the params of the call with this JSON-RPC id said.
    pub(crate) fn of(&self, id: &Value) -> FromParams {
        self.calls
            .iter()
            .find(|(call, _)| call == id)
            .map_or(FromParams::Absent, |(_, found)| found.clone())
    }
}

/// The HTTP service of a governed MCP server: rmcp's streamable-HTTP service
/// (`S`) behind a reader of the params rmcp would drop (see the
/// [module documentation](super#the-wire)).
///
/// [`Governance::streamable_http_service`](super::Governance::streamable_http_service)
/// builds one; [`McpService::new`] wraps a streamable-HTTP service you built
/// yourself (another session manager, say) around a
/// [`Governed`](super::Governed) server. Mount it with axum's
/// `Router::nest_service` or `route_service`.
#[derive(Debug, Clone)]
pub struct McpService<S> {
    inner: S,
    max_body: usize,
}

impl<S> McpService<S> {
    /// Wraps `inner`, reading `POST` bodies of at most `max_body` bytes (give
    /// it the `max_request_body_bytes` of `inner`'s configuration): a longer
    /// one is answered `413` without reaching `inner`.
    pub fn new(inner: S, max_body: usize) -> McpService<S> {
        McpService { inner, max_body }
    }

    /// The service it wraps.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// The future of [`McpService`].
pub type McpFuture =
    Pin<Box<dyn Future<Output = Result<Response<axum::body::Body>, Infallible>> + Send>>;

impl<S, B, R> Service<Request<B>> for McpService<S>
where
    S: Service<Request<axum::body::Body>, Response = Response<R>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    R: http_body::Body<Data = Bytes> + Send + 'static,
    R::Error: Into<BoxError>,
{
    type Response = Response<axum::body::Body>;
    type Error = Infallible;
    type Future = McpFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> McpFuture {
        // The clone that was polled ready serves this request; a fresh clone
        // waits for the next (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if request.method() != Method::POST {
            let request = request.map(axum::body::Body::new);
            return Box::pin(async move {
                let response = inner.call(request).await?;
                Ok(response.map(axum::body::Body::new))
            });
        }
        let max_body = self.max_body;
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let bytes = match http_body_util::Limited::new(body, max_body).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(err) => return Ok(unread(&err, max_body)),
            };
            if let Some(found) = peek(&bytes) {
                parts.extensions.insert(found);
            }
            let request = Request::from_parts(parts, axum::body::Body::from(bytes));
            let response = inner.call(request).await?;
            Ok(response.map(axum::body::Body::new))
        })
    }
}

/// The answer to a body that could not be read: `413` past the limit, else
/// `400`. Plain text, as rmcp answers transport failures.
fn unread(err: &BoxError, max_body: usize) -> Response<axum::body::Body> {
    let (status, text) = if err.is::<http_body_util::LengthLimitError>() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than the {max_body} bytes this MCP server reads"),
        )
    } else {
        (
            StatusCode::BAD_REQUEST,
            "the request body could not be read".to_owned(),
        )
    };
    let mut response = Response::new(axum::body::Body::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// One JSON-RPC message's id and method; its params are read apart.
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    method: Option<String>,
}

/// One JSON-RPC message's params, read from the body's bytes: serde's
/// derive refuses a member given twice, which is what makes a repeated
/// `tappass-correlation` unreadable rather than the last one read.
#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    params: Option<Params>,
}

#[derive(Deserialize)]
struct Params {
    #[serde(rename = "tappass-correlation", default)]
    correlation: Option<Value>,
}

/// One message, or a batch of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    Many(Vec<T>),
    One(T),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::Many(items) => items,
            OneOrMany::One(item) => vec![item],
        }
    }
}

/// What the body's `tools/call` requests say in `params["tappass-correlation"]`;
/// `None` when none does (most bodies: they are not parsed at all unless
/// the name appears in them).
fn peek(body: &[u8]) -> Option<ParamsCorrelation> {
    let needle = CORRELATION_KEY.as_bytes();
    if !body.windows(needle.len()).any(|window| window == needle) {
        return None;
    }
    // Not JSON-RPC at all: rmcp answers it.
    let heads = serde_json::from_slice::<OneOrMany<Head>>(body)
        .ok()?
        .into_vec();
    let bodies = serde_json::from_slice::<OneOrMany<Body>>(body)
        .ok()
        .map(OneOrMany::into_vec)
        .filter(|bodies| bodies.len() == heads.len());
    let mut found = ParamsCorrelation::default();
    for (i, head) in heads.into_iter().enumerate() {
        let (Some(id), Some("tools/call")) = (head.id, head.method.as_deref()) else {
            continue;
        };
        let said = match bodies.as_ref().map(|bodies| &bodies[i]) {
            Some(Body {
                params:
                    Some(Params {
                        correlation: Some(value),
                    }),
            }) => FromParams::Value(value.clone()),
            Some(_) => continue,
            None => FromParams::Unreadable("a member is repeated, or the params are not an object"),
        };
        found.calls.push((id, said));
    }
    (!found.calls.is_empty()).then_some(found)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_tools_call_params_are_read_by_id() {
        let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "x", "arguments": {}, "tappass-correlation": {"session_id": "ses_1"}}});
        let found = peek(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            found.of(&json!(7)),
            FromParams::Value(json!({"session_id": "ses_1"}))
        );
        assert_eq!(found.of(&json!("7")), FromParams::Absent);
        // Named in the arguments only, or by another method: nothing.
        let elsewhere = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "x", "arguments": {"tappass-correlation": 1}}});
        assert!(peek(elsewhere.to_string().as_bytes()).is_none());
        let other = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list",
            "params": {"tappass-correlation": {"session_id": "s"}}});
        assert!(peek(other.to_string().as_bytes()).is_none());
        assert!(peek(b"not json tappass-correlation").is_none());
        assert!(peek(br#"{"id": 1, "method": "tools/call", "params": {}}"#).is_none());
    }

    #[test]
    fn a_repeated_member_has_no_one_meaning() {
        let body = br#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x",
            "tappass-correlation": {"session_id": "ses_a"}, "tappass-correlation": {"session_id": "ses_b"}}}"#;
        let found = peek(body).unwrap();
        assert!(matches!(found.of(&json!(1)), FromParams::Unreadable(_)));
    }
}
