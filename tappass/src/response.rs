//! The HTTP mapping of governance errors: the [`GovernanceError`] trait and the
//! renderer that turns any implementation into a JSON response.
//!
//! Every body is one JSON object:
//!
//! ```json
//! {"error": "policy_block", "message": "…", "blocked_by": "detect_pii", …,
//!  "session_id": "ses_…", "audit_url": "https://…"}
//! ```
//!
//! `error` is the case's code, `message` the error's `Display` text (or the
//! fixed public message of a server-side failure), then the case's own fields,
//! then the correlation ids of the current session that the fields did not
//! already carry. The response also carries the session's correlation headers.
//! Decisions, [`Error`](crate::Error), the extractors' rejections and the
//! layer's own `400` all answer in this one shape.
//!
//! # Problem details (RFC 9457)
//!
//! The same error can answer `application/problem+json` instead: the body
//! keeps every member above and starts with the four standard ones,
//!
//! ```json
//! {"type": "urn:tappass:error:policy_block", "title": "Forbidden", "status": 403,
//!  "detail": "blocked by policy `detect_pii`: …",
//!  "error": "policy_block", "message": "blocked by policy `detect_pii`: …", …}
//! ```
//!
//! - `type` is [`PROBLEM_TYPE_PREFIX`] followed by the `error` code
//!   (`urn:tappass:error:approval_required`, …): a stable URN per case, not a
//!   link to fetch; characters outside `[A-Za-z0-9._-]` in a code are
//!   percent-encoded;
//! - `title` is the canonical reason phrase of the status (`Forbidden`,
//!   `Precondition Required`, …);
//! - `status` is the HTTP status, as a number;
//! - `detail` is the `message`.
//!
//! Status and headers (`Retry-After`, `WWW-Authenticate`, the correlation
//! headers) are the same in both forms. Choose problem+json
//!
//! - for every governance error of a service: [`TapPassLayerBuilder::problem_json`](crate::layer::TapPassLayerBuilder::problem_json)
//!   rewrites every response that [`render`] built under the layer (decisions,
//!   [`Error`](crate::Error), rejections, your derived errors) and answers its
//!   own `400` that way;
//! - for one response: return [`Problem(error)`](Problem);
//! - for one error type: `#[governance(problem)]` on the type that derives
//!   `GovernanceError` (see the [macros guide](crate::macros_guide)).
//!
//! ```
//! use axum::response::IntoResponse;
//! use http_body_util::BodyExt;
//! use tappass::response::Problem;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let decision = tappass::GovernanceDecision::from_json(&serde_json::json!({
//!     "decision": "policy_block", "blocked_by": "detect_pii", "reason": "PII in prompt",
//! }))
//! .unwrap();
//! let response = Problem(tappass::Error::from(decision)).into_response();
//! assert_eq!(response.status(), 403);
//! assert_eq!(response.headers()["content-type"], "application/problem+json");
//!
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
//! assert_eq!(body["type"], "urn:tappass:error:policy_block");
//! assert_eq!(body["title"], "Forbidden");
//! assert_eq!(body["status"], 403);
//! assert_eq!(body["detail"], body["message"]);
//! assert_eq!(body["blocked_by"], "detect_pii");
//! # }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::ser::{SerializeMap, Serializer as _};

use crate::session;

/// The HTTP mapping of a governance error: status, `error` code, body fields
/// and headers.
///
/// Implement it with `#[derive(tappass::GovernanceError)]`; the toolkit's own
/// [`GovernanceDecision`](crate::GovernanceDecision) and [`Error`](crate::Error)
/// use the same derive. [`render`] turns an implementation into a response.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no governance HTTP mapping",
    note = "derive it: `#[derive(tappass::GovernanceError)]` with `#[governance(status = …)]`"
)]
pub trait GovernanceError: fmt::Display {
    /// The response status.
    fn status(&self) -> StatusCode;

    /// The body's `error` code, e.g. `policy_block`.
    fn code(&self) -> &str;

    /// A fixed message shown instead of the `Display` text, for cases whose
    /// details belong in logs rather than in the response.
    fn public_message(&self) -> Option<&'static str> {
        None
    }

    /// The keys that [`serialize_fields`](Self::serialize_fields) writes.
    fn field_names(&self) -> &'static [&'static str] {
        &[]
    }

    /// Writes the case's own fields into the JSON body.
    fn serialize_fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error>;

    /// Adds the case's own headers (such as `Retry-After`) to the response.
    fn headers(&self, headers: &mut HeaderMap) {
        let _ = headers;
    }
}

impl<T: GovernanceError + ?Sized> GovernanceError for Box<T> {
    fn status(&self) -> StatusCode {
        (**self).status()
    }
    fn code(&self) -> &str {
        (**self).code()
    }
    fn public_message(&self) -> Option<&'static str> {
        (**self).public_message()
    }
    fn field_names(&self) -> &'static [&'static str] {
        (**self).field_names()
    }
    fn serialize_fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        (**self).serialize_fields(map)
    }
    fn headers(&self, headers: &mut HeaderMap) {
        (**self).headers(headers)
    }
}

/// Renders a governance error as its JSON response, with the correlation
/// headers of the current session. Server errors (5xx) are logged with their
/// full `Display` text, which never reaches the client.
///
/// Under a [`TapPassLayer`](crate::TapPassLayer) built with
/// [`problem_json(true)`](crate::layer::TapPassLayerBuilder::problem_json),
/// the layer answers the same error as `application/problem+json`.
pub fn render<E: GovernanceError + ?Sized>(error: &E) -> Response {
    respond(error, false)
}

/// Renders a governance error as its RFC 9457 `application/problem+json`
/// response: the body of [`render`] with `type`, `title`, `status` and
/// `detail` in front (see the [module documentation](self#problem-details-rfc-9457)).
pub fn render_problem<E: GovernanceError + ?Sized>(error: &E) -> Response {
    respond(error, true)
}

fn respond<E: GovernanceError + ?Sized>(error: &E, problem: bool) -> Response {
    let status = error.status();
    if status.is_server_error() {
        tracing::error!(status = status.as_u16(), code = error.code(), error = %error, "governance request failed");
    }
    session::with_current(|session| {
        let body = body(error, session).unwrap_or_else(|err| {
            tracing::error!(code = error.code(), %err, "could not serialize a governance error body");
            format!(r#"{{"error":{}}}"#, serde_json::Value::from(error.code())).into_bytes()
        });
        let mut response = if problem {
            let body = problem_body(status, &body);
            let mut response = Response::new(axum::body::Body::from(body));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
            response
        } else {
            let body = Bytes::from(body);
            let mut response = Response::new(axum::body::Body::from(body.clone()));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if PROBLEM_LAYERS.load(Ordering::Relaxed) {
                // A layer may answer it as problem+json: keep the body at
                // hand (a reference count, not a copy).
                response.extensions_mut().insert(RenderedBody(body));
            }
            response
        };
        *response.status_mut() = status;
        let headers = response.headers_mut();
        error.headers(headers);
        if let Some(session) = session {
            session.write_headers(headers);
        }
        response
    })
}

fn body<E: GovernanceError + ?Sized>(
    error: &E,
    session: Option<&session::Session>,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::new(&mut out);
    let mut map = ser.serialize_map(None)?;
    map.serialize_entry("error", error.code())?;
    match error.public_message() {
        Some(message) => map.serialize_entry("message", message)?,
        None => map.serialize_entry("message", &DisplayStr(error))?,
    }
    error.serialize_fields(&mut map)?;
    if let Some(session) = session {
        let own = error.field_names();
        if !own.contains(&"session_id") {
            map.serialize_entry("session_id", session.id())?;
        }
        if !own.contains(&"audit_url") {
            if let Some(url) = session.audit_url() {
                map.serialize_entry("audit_url", url)?;
            }
        }
    }
    map.end()?;
    Ok(out)
}

struct DisplayStr<'a, E: ?Sized>(&'a E);

impl<E: fmt::Display + ?Sized> serde::Serialize for DisplayStr<'_, E> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

/// The media type of a problem body: `application/problem+json` (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The start of a problem body's `type`: the `error` code follows, as in
/// `urn:tappass:error:policy_block`.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:tappass:error:";

/// Answers a governance error as RFC 9457 `application/problem+json`, whatever
/// the layer's setting: the per-response choice.
///
/// ```
/// use tappass::response::Problem;
///
/// // `?` wraps a `tappass::Error` into `Problem<tappass::Error>`.
/// async fn handler(agent: tappass::Agent) -> Result<String, Problem<tappass::Error>> {
///     Ok(agent.chat("Summarize Q4 revenue").await?.content)
/// }
/// ```
///
/// The status and headers are those of the inner error; the body is the
/// inner error's with `type`, `title`, `status` and `detail` in front (see the
/// [module documentation](self#problem-details-rfc-9457)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Problem<E>(pub E);

impl<E> Problem<E> {
    /// The inner error.
    pub fn into_inner(self) -> E {
        self.0
    }
}

impl<E> From<E> for Problem<E> {
    fn from(error: E) -> Self {
        Problem(error)
    }
}

impl<E: fmt::Display> fmt::Display for Problem<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl<E: std::error::Error> std::error::Error for Problem<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl<E: GovernanceError> IntoResponse for Problem<E> {
    fn into_response(self) -> Response {
        render_problem(&self.0)
    }
}

/// Set by [`render`] on the responses it builds once a layer with
/// `problem_json(true)` exists: their plain JSON body, from which the layer
/// writes the problem+json one.
#[derive(Clone)]
pub(crate) struct RenderedBody(Bytes);

/// Whether a layer with `problem_json(true)` was ever built in this process.
/// Until one is, the plain renderer does no extra work at all; from then on
/// it keeps the plain body at hand (a layer's response future may outlive
/// the layer, so this is never reset).
static PROBLEM_LAYERS: AtomicBool = AtomicBool::new(false);

/// Notes that a layer with `problem_json(true)` exists.
pub(crate) fn enable_problem_layers() {
    PROBLEM_LAYERS.store(true, Ordering::Relaxed);
}

/// When [`render`] built `response`, rewrites it as problem+json (content
/// type included) and returns the new body; otherwise leaves it untouched.
pub(crate) fn take_problem<B>(response: &mut Response<B>) -> Option<axum::body::Body> {
    let RenderedBody(plain) = response.extensions_mut().remove::<RenderedBody>()?;
    let body = problem_body(response.status(), &plain);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    headers.remove(CONTENT_LENGTH);
    Some(axum::body::Body::from(body))
}

/// The problem+json form of a plain body that [`body`] wrote: the standard
/// members, then the plain body's members as they are.
fn problem_body(status: StatusCode, plain: &[u8]) -> Vec<u8> {
    #[derive(serde::Deserialize, Default)]
    struct Head<'a> {
        #[serde(borrow, default)]
        error: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        message: Option<Cow<'a, str>>,
    }

    let head: Head<'_> = serde_json::from_slice(plain).unwrap_or_default();
    let code = head.error.as_deref().unwrap_or("governance_error");
    let mut kind = String::with_capacity(PROBLEM_TYPE_PREFIX.len() + code.len());
    kind.push_str(PROBLEM_TYPE_PREFIX);
    for byte in code.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-') {
            kind.push(char::from(byte));
        } else {
            kind.push_str(&format!("%{byte:02X}"));
        }
    }
    let title = status
        .canonical_reason()
        .unwrap_or(if status.is_server_error() {
            "Server Error"
        } else {
            "Client Error"
        });

    let mut out = Vec::with_capacity(plain.len() + kind.len() + 96);
    out.extend_from_slice(b"{\"type\":");
    json_string(&mut out, &kind);
    out.extend_from_slice(b",\"title\":");
    json_string(&mut out, title);
    out.extend_from_slice(b",\"status\":");
    out.extend_from_slice(status.as_str().as_bytes());
    if let Some(detail) = &head.message {
        out.extend_from_slice(b",\"detail\":");
        json_string(&mut out, detail);
    }
    match plain.strip_prefix(b"{") {
        Some(rest) if rest.first().is_some_and(|&b| b != b'}') => {
            out.push(b',');
            out.extend_from_slice(rest);
        }
        _ => out.push(b'}'),
    }
    out
}

fn json_string(out: &mut Vec<u8>, value: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// A value that can fill the `Retry-After` header: a point in time (sent as an
/// HTTP date) or a delay (sent as delta-seconds). `#[governance(retry_after =
/// field)]` needs the field's type to implement it.
///
/// Every value gives a valid header:
///
/// - a point in time that has passed (before 1970 included) gives `0`;
/// - a point in time ahead gives its HTTP date, rounded up to the whole
///   second (a client must not come back early) and clamped to
///   `Fri, 31 Dec 9999 23:59:59 GMT`, the last an HTTP date can say;
/// - a delay gives its whole seconds, rounded up, up to `u64::MAX` for
///   `Duration::MAX`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use tappass::response::RetryAfter;
///
/// assert_eq!(UNIX_EPOCH.retry_after().unwrap(), "0");
/// assert_eq!(Duration::from_millis(1500).retry_after().unwrap(), "2");
/// assert_eq!(Duration::MAX.retry_after().unwrap(), u64::MAX.to_string().as_str());
/// let never = tappass::Timestamp::MAX;
/// assert_eq!(never.retry_after().unwrap(), "Fri, 31 Dec 9999 23:59:59 GMT");
/// ```
#[diagnostic::on_unimplemented(
    message = "`retry_after` needs a `SystemTime`, `Duration` or `tappass::Timestamp` field, not `{Self}`",
    note = "`Retry-After` is sent as an HTTP date for a point in time and as delta-seconds for a delay; `Option` of these is accepted too"
)]
pub trait RetryAfter {
    /// The header value, or `None` to send no header.
    fn retry_after(&self) -> Option<HeaderValue>;
}

impl RetryAfter for std::time::SystemTime {
    fn retry_after(&self) -> Option<HeaderValue> {
        crate::Timestamp::from(*self).retry_after()
    }
}

impl RetryAfter for crate::Timestamp {
    fn retry_after(&self) -> Option<HeaderValue> {
        if self.duration_from_now().is_zero() {
            return Some(HeaderValue::from_static("0"));
        }
        HeaderValue::from_str(&self.ceil_to_second().to_http_date()).ok()
    }
}

impl RetryAfter for std::time::Duration {
    fn retry_after(&self) -> Option<HeaderValue> {
        // Round up: a client must not come back before the delay is over.
        let secs = self
            .as_secs()
            .saturating_add(u64::from(self.subsec_nanos() > 0));
        Some(HeaderValue::from(secs))
    }
}

impl<T: RetryAfter> RetryAfter for Option<T> {
    fn retry_after(&self) -> Option<HeaderValue> {
        self.as_ref().and_then(RetryAfter::retry_after)
    }
}

impl<T: RetryAfter + ?Sized> RetryAfter for &T {
    fn retry_after(&self) -> Option<HeaderValue> {
        (**self).retry_after()
    }
}

/// Sets `Retry-After` from `value` when it has one.
pub fn set_retry_after<T: RetryAfter + ?Sized>(headers: &mut HeaderMap, value: &T) {
    if let Some(v) = value.retry_after() {
        headers.insert(RETRY_AFTER, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(status: u16, plain: &str) -> serde_json::Value {
        let status = StatusCode::from_u16(status).unwrap();
        let body = problem_body(status, plain.as_bytes());
        serde_json::from_slice(&body).unwrap()
    }

    #[test]
    fn problem_members_come_first_then_the_plain_ones() {
        let plain = r#"{"error":"policy_block","message":"blocked \"x\"","reason":"r"}"#;
        let body = problem_body(StatusCode::FORBIDDEN, plain.as_bytes());
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            r#"{"type":"urn:tappass:error:policy_block","title":"Forbidden","status":403,"detail":"blocked \"x\"","error":"policy_block","message":"blocked \"x\"","reason":"r"}"#
        );
    }

    #[test]
    fn a_body_without_a_message_has_no_detail() {
        let body = problem(500, r#"{"error":"governance_misconfigured"}"#);
        assert_eq!(body["type"], "urn:tappass:error:governance_misconfigured");
        assert_eq!(body["title"], "Internal Server Error");
        assert!(body.get("detail").is_none());
        assert_eq!(body["error"], "governance_misconfigured");
    }

    #[test]
    fn a_status_without_a_reason_phrase_gets_its_class() {
        assert_eq!(
            problem(499, r#"{"error":"x","message":"m"}"#)["title"],
            "Client Error"
        );
        assert_eq!(
            problem(599, r#"{"error":"x","message":"m"}"#)["title"],
            "Server Error"
        );
    }

    #[test]
    fn odd_codes_are_percent_encoded_and_odd_bodies_still_give_json() {
        let body = problem(409, r#"{"error":"é \"x\"/y","message":"m"}"#);
        assert_eq!(body["type"], "urn:tappass:error:%C3%A9%20%22x%22%2Fy");
        let body = problem(400, "not json");
        assert_eq!(body["type"], "urn:tappass:error:governance_error");
        assert_eq!(body["status"], 400);
        let body = problem(400, "{}");
        assert_eq!(body["status"], 400);
    }
}

#[cfg(test)]
mod extension_tests {
    use super::*;

    struct Blocked;

    impl fmt::Display for Blocked {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("blocked")
        }
    }

    impl GovernanceError for Blocked {
        fn status(&self) -> StatusCode {
            StatusCode::FORBIDDEN
        }
        fn code(&self) -> &str {
            "blocked"
        }
        fn serialize_fields<M: SerializeMap>(&self, _: &mut M) -> Result<(), M::Error> {
            Ok(())
        }
    }

    #[test]
    fn the_plain_body_is_kept_for_a_problem_layer_and_rewritten_from_it() {
        enable_problem_layers();
        let mut response = render(&Blocked);
        assert!(response.extensions().get::<RenderedBody>().is_some());
        assert!(take_problem(&mut response).is_some());
        assert_eq!(response.headers()[CONTENT_TYPE], PROBLEM_JSON);
        assert!(response.extensions().get::<RenderedBody>().is_none());
        // A problem response is not rewritten again.
        let mut response = render_problem(&Blocked);
        assert!(take_problem(&mut response).is_none());
    }
}
