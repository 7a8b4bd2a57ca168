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

use std::fmt;

use axum::response::Response;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
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
pub fn render<E: GovernanceError + ?Sized>(error: &E) -> Response {
    let status = error.status();
    if status.is_server_error() {
        tracing::error!(status = status.as_u16(), code = error.code(), error = %error, "governance request failed");
    }
    session::with_current(|session| {
        let body = body(error, session).unwrap_or_else(|err| {
            tracing::error!(code = error.code(), %err, "could not serialize a governance error body");
            format!(r#"{{"error":{}}}"#, serde_json::Value::from(error.code())).into_bytes()
        });
        let mut response = Response::new(axum::body::Body::from(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
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

/// A value that can fill the `Retry-After` header: a point in time (sent as an
/// HTTP date) or a delay (sent as delta-seconds). `#[governance(retry_after =
/// field)]` needs the field's type to implement it.
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
        HeaderValue::from_str(&httpdate::fmt_http_date(*self)).ok()
    }
}

impl RetryAfter for crate::Timestamp {
    fn retry_after(&self) -> Option<HeaderValue> {
        self.to_system_time().retry_after()
    }
}

impl RetryAfter for std::time::Duration {
    fn retry_after(&self) -> Option<HeaderValue> {
        // Round up: a client must not come back before the delay is over.
        let secs = self.as_secs() + u64::from(self.subsec_nanos() > 0);
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
