#![doc = include_str!("docs/errors.md")]

use std::borrow::Cow;
use std::fmt;

use axum::response::{IntoResponse, Response};
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
///
/// Under a [`TapPassLayer`](crate::TapPassLayer) built with
/// [`problem_json(true)`](crate::layer::TapPassLayerBuilder::problem_json),
/// it renders the error as `application/problem+json` instead: the layer's
/// choice travels with the request in its scope, which this reads.
pub fn render<E: GovernanceError + ?Sized>(error: &E) -> Response {
    render_in(error, Form::current())
}

/// Renders a governance error as its RFC 9457 `application/problem+json`
/// response: the body of [`render`] with `type`, `title`, `status` and
/// `detail` in front (see the [module documentation](self#problem-details-rfc-9457)).
pub fn render_problem<E: GovernanceError + ?Sized>(error: &E) -> Response {
    render_in(error, Form::Problem)
}

/// The two forms of a governance error's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// `application/json`.
    Json,
    /// `application/problem+json` (RFC 9457).
    Problem,
}

impl Form {
    /// The form of the current request: the layer's choice, read from the
    /// request's scope; plain JSON outside a layer.
    pub(crate) fn current() -> Form {
        session::scope::with(|scope| {
            Form::of(scope.and_then(|s| s.lent()).is_some_and(|l| l.problem_json))
        })
    }

    /// The form a layer's `problem_json` setting asks for.
    pub(crate) fn of(problem_json: bool) -> Form {
        if problem_json {
            Form::Problem
        } else {
            Form::Json
        }
    }
}

/// Renders `error` in `form`, with the current session's correlation.
pub(crate) fn render_in<E: GovernanceError + ?Sized>(error: &E, form: Form) -> Response {
    session::with_current(|session| respond(error, session, form))
}

fn respond<E: GovernanceError + ?Sized>(
    error: &E,
    session: Option<&session::Session>,
    form: Form,
) -> Response {
    let status = error.status();
    let body = body_bytes(error, session, form);
    let content_type = match form {
        Form::Json => "application/json",
        Form::Problem => PROBLEM_JSON,
    };
    let mut response = Response::new(axum::body::Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    error.headers(headers);
    if let Some(session) = session {
        session.write_headers(headers);
    }
    response
}

/// A governance error's body alone, in `form`, with `session`'s
/// correlation: what [`render`] would answer, for a streamed event. A body
/// that cannot be serialised is `{"error": <code>}`, as in a response.
pub(crate) fn body_bytes<E: GovernanceError + ?Sized>(
    error: &E,
    session: Option<&session::Session>,
    form: Form,
) -> Vec<u8> {
    if error.status().is_server_error() {
        tracing::error!(status = error.status().as_u16(), code = error.code(), error = %error, "governance request failed");
    }
    body(error, session, form).unwrap_or_else(|err| {
        tracing::error!(code = error.code(), %err, "could not serialize a governance error body");
        format!(r#"{{"error":{}}}"#, serde_json::Value::from(error.code())).into_bytes()
    })
}

/// The body, written once in its form: for problem+json the four standard
/// members first, then the members of the plain body.
fn body<E: GovernanceError + ?Sized>(
    error: &E,
    session: Option<&session::Session>,
    form: Form,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::new(&mut out);
    let mut map = ser.serialize_map(None)?;
    let code = error.code();
    // The message is formatted once, even when it fills two members.
    let message: Cow<'_, str> = match error.public_message() {
        Some(message) => Cow::Borrowed(message),
        None => Cow::Owned(error.to_string()),
    };
    if form == Form::Problem {
        let status = error.status();
        map.serialize_entry("type", &problem_type(code))?;
        map.serialize_entry("title", problem_title(status))?;
        map.serialize_entry("status", &status.as_u16())?;
        map.serialize_entry("detail", &message)?;
    }
    map.serialize_entry("error", code)?;
    map.serialize_entry("message", &message)?;
    error.serialize_fields(&mut map)?;
    let own = error.field_names();
    if let Some(session) = session {
        if !own.contains(&"session_id") {
            map.serialize_entry("session_id", session.id())?;
        }
    }
    // One rule for every body, the derive's included: `audit_url` is always
    // there, `null` when no session in scope knows one.
    if !own.contains(&"audit_url") {
        map.serialize_entry("audit_url", &session.and_then(session::Session::audit_url))?;
    }
    map.end()?;
    Ok(out)
}

/// A problem's `type`: [`PROBLEM_TYPE_PREFIX`] and the code, with the bytes
/// outside `[A-Za-z0-9._-]` percent-encoded.
fn problem_type(code: &str) -> String {
    let mut kind = String::with_capacity(PROBLEM_TYPE_PREFIX.len() + code.len());
    kind.push_str(PROBLEM_TYPE_PREFIX);
    for byte in code.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-') {
            kind.push(char::from(byte));
        } else {
            kind.push_str(&format!("%{byte:02X}"));
        }
    }
    kind
}

/// A problem's `title`: the status's reason phrase, else its class.
fn problem_title(status: StatusCode) -> &'static str {
    status
        .canonical_reason()
        .unwrap_or(if status.is_server_error() {
            "Server Error"
        } else {
            "Client Error"
        })
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

/// Seconds from the epoch to `Fri, 31 Dec 9999 23:59:59 GMT`, the last
/// instant an HTTP date can say.
const LAST_HTTP_DATE: u64 = 253_402_300_799;

impl RetryAfter for std::time::SystemTime {
    fn retry_after(&self) -> Option<HeaderValue> {
        // Plain `SystemTime` arithmetic: this runs for every 503 a derived
        // error answers, and a calendar library's conversions cost more than
        // the rest of the response.
        let passed = || Some(HeaderValue::from_static("0"));
        match self.duration_since(std::time::SystemTime::now()) {
            Ok(ahead) if !ahead.is_zero() => {}
            _ => return passed(),
        }
        // Ahead of now, so after 1970.
        let Ok(since_epoch) = self.duration_since(std::time::UNIX_EPOCH) else {
            return passed();
        };
        // Round up: a client must not come back before the instant.
        let secs = since_epoch
            .as_secs()
            .saturating_add(u64::from(since_epoch.subsec_nanos() > 0))
            .min(LAST_HTTP_DATE);
        let date = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        HeaderValue::from_str(&httpdate::fmt_http_date(date)).ok()
    }
}

impl RetryAfter for crate::timestamp::Timestamp {
    fn retry_after(&self) -> Option<HeaderValue> {
        self.to_system_time().retry_after()
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
    use http_body_util::BodyExt;

    /// An error with any status and code, for the problem members.
    struct Case {
        status: u16,
        code: &'static str,
        message: &'static str,
    }

    impl fmt::Display for Case {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.message)
        }
    }

    impl GovernanceError for Case {
        fn status(&self) -> StatusCode {
            StatusCode::from_u16(self.status).unwrap()
        }
        fn code(&self) -> &str {
            self.code
        }
        fn serialize_fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
            map.serialize_entry("reason", "r")
        }
    }

    fn text(response: Response) -> String {
        let body = futures_util::FutureExt::now_or_never(response.into_body().collect())
            .unwrap()
            .unwrap()
            .to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    }

    fn problem(status: u16, code: &'static str) -> serde_json::Value {
        let response = render_problem(&Case {
            status,
            code,
            message: "m",
        });
        serde_json::from_str(&text(response)).unwrap()
    }

    #[test]
    fn problem_members_come_first_then_the_plain_ones() {
        let case = Case {
            status: 403,
            code: "policy_block",
            message: "blocked \"x\"",
        };
        assert_eq!(
            text(render_problem(&case)),
            r#"{"type":"urn:tappass:error:policy_block","title":"Forbidden","status":403,"detail":"blocked \"x\"","error":"policy_block","message":"blocked \"x\"","reason":"r","audit_url":null}"#
        );
        // The plain form is the same body without the four members.
        assert_eq!(
            text(render(&case)),
            r#"{"error":"policy_block","message":"blocked \"x\"","reason":"r","audit_url":null}"#
        );
    }

    #[test]
    fn a_status_without_a_reason_phrase_gets_its_class() {
        assert_eq!(problem(499, "x")["title"], "Client Error");
        assert_eq!(problem(599, "x")["title"], "Server Error");
        assert_eq!(
            problem(500, "governance_misconfigured")["title"],
            "Internal Server Error"
        );
    }

    #[test]
    fn odd_codes_are_percent_encoded() {
        let body = problem(409, "é \"x\"/y");
        assert_eq!(body["type"], "urn:tappass:error:%C3%A9%20%22x%22%2Fy");
        assert_eq!(body["error"], "é \"x\"/y");
        assert_eq!(body["status"], 409);
    }

    /// A `Retry-After` for an instant ahead names that instant when it is a
    /// whole second, and the next whole second when it is not: a client must
    /// not come back before the instant, nor be kept a second longer.
    #[test]
    fn retry_after_an_instant_rounds_a_fraction_up_and_keeps_a_whole_second() {
        use std::time::{Duration, SystemTime, UNIX_EPOCH};
        // An hour ahead, on a whole second: far enough that the clock
        // never reaches it while the test runs.
        let ahead = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600;
        let whole = UNIX_EPOCH + Duration::from_secs(ahead);
        let date = |t: SystemTime| HeaderValue::from_str(&httpdate::fmt_http_date(t)).unwrap();
        assert_eq!(whole.retry_after(), Some(date(whole)));
        let next = whole + Duration::from_secs(1);
        for fraction in [1, 500_000_000, 999_999_999] {
            let t = whole + Duration::from_nanos(fraction);
            assert_eq!(t.retry_after(), Some(date(next)), "{fraction} ns past");
        }
        // A passed instant is `0`: come back now.
        assert_eq!(UNIX_EPOCH.retry_after().unwrap(), "0");
        // A `Timestamp` says what its instant says.
        let stamp = crate::Timestamp::from(whole + Duration::from_millis(1));
        assert_eq!(stamp.retry_after(), Some(date(next)));
    }

    /// A delay gives its whole seconds, a fraction rounded up.
    #[test]
    fn retry_after_a_delay_rounds_a_fraction_up_and_keeps_a_whole_second() {
        use std::time::Duration;
        assert_eq!(Duration::from_secs(2).retry_after().unwrap(), "2");
        assert_eq!(Duration::ZERO.retry_after().unwrap(), "0");
        assert_eq!(Duration::from_nanos(1).retry_after().unwrap(), "1");
        assert_eq!(Duration::from_millis(2001).retry_after().unwrap(), "3");
    }

    /// A reference, and an `Option` of one, says what the value says (a
    /// derived error's field may be either).
    #[test]
    fn retry_after_through_a_reference_or_an_option_is_the_values() {
        use std::time::Duration;
        fn said<T: RetryAfter>(value: T) -> Option<HeaderValue> {
            value.retry_after()
        }
        let wait = Duration::from_secs(7);
        // The borrow is the point: `RetryAfter for &T`.
        assert_eq!(said::<&Duration>(&wait).unwrap(), "7");
        assert_eq!(said(Some(&wait)).unwrap(), "7");
        assert_eq!(said(None::<&Duration>), None);
        let mut headers = HeaderMap::new();
        set_retry_after(&mut headers, &&wait);
        assert_eq!(headers[RETRY_AFTER], "7");
    }

    /// An error with headers of its own (`Retry-After`), for the box.
    struct Busy;

    impl fmt::Display for Busy {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("busy")
        }
    }

    impl GovernanceError for Busy {
        fn status(&self) -> StatusCode {
            StatusCode::SERVICE_UNAVAILABLE
        }
        fn code(&self) -> &str {
            "busy"
        }
        fn public_message(&self) -> Option<&'static str> {
            Some("try later")
        }
        fn field_names(&self) -> &'static [&'static str] {
            &["reason"]
        }
        fn serialize_fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
            map.serialize_entry("reason", "r")
        }
        fn headers(&self, headers: &mut HeaderMap) {
            set_retry_after(headers, &std::time::Duration::from_secs(30));
        }
    }

    /// A boxed error (`Box<dyn …>`-style error enums) answers exactly as the
    /// error it holds: status, body and its own headers.
    #[test]
    fn a_boxed_error_answers_as_the_error_it_holds() {
        let boxed: Box<Busy> = Box::new(Busy);
        assert_eq!(boxed.field_names(), Busy.field_names());
        for (response, plain) in [
            (render(&boxed), render(&Busy)),
            (render_problem(&boxed), render_problem(&Busy)),
        ] {
            assert_eq!(response.status(), plain.status());
            assert_eq!(response.headers()[RETRY_AFTER], "30");
            assert_eq!(response.headers(), plain.headers());
            assert_eq!(text(response), text(plain));
        }
    }

    /// `Problem<E>` is `E` as problem+json: the same text, the same source,
    /// and the response `render_problem` gives.
    #[test]
    fn a_problem_is_its_error_answered_as_problem_json() {
        #[derive(Debug)]
        struct Cause;
        impl fmt::Display for Cause {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("cause")
            }
        }
        impl std::error::Error for Cause {}
        #[derive(Debug)]
        struct Wrapped(Cause);
        impl fmt::Display for Wrapped {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("wrapped")
            }
        }
        impl std::error::Error for Wrapped {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let problem = Problem(Wrapped(Cause));
        assert_eq!(problem.to_string(), "wrapped");
        let source = std::error::Error::source(&problem).expect("the inner error's source");
        assert_eq!(source.to_string(), "cause");
        let response = Problem(Busy).into_response();
        let direct = render_problem(&Busy);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers(), direct.headers());
        assert_eq!(text(response), text(direct));
    }

    /// Without a `headers` of its own, an error adds none: no `Retry-After`.
    #[test]
    fn an_error_without_headers_of_its_own_adds_none() {
        let case = Case {
            status: 503,
            code: "x",
            message: "m",
        };
        assert!(render(&case).headers().get(RETRY_AFTER).is_none());
    }
}
