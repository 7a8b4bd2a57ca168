//! Talking to the server: retries with backoff, bounded reads, and turning
//! answers into decisions or failures.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, StatusCode};
use rand::RngExt;
use serde_json::Value;

use super::Agent;
use crate::error::Error;
use crate::resilience::breaker::Admit;
use crate::response::GovernanceError as _;
use crate::session;

/// The oldest server protocol this client speaks.
const MIN_VERSION: (u64, u64, u64) = (0, 6, 0);

/// `POST`: governed chat, plain and streamed.
pub(crate) const CHAT_PATH: &str = "/v1/chat/completions";
/// `POST`: tool governance.
pub(crate) const GOVERN_PATH: &str = "/v1/govern";

/// The URLs of the endpoints every governed call uses, parsed once per agent:
/// a call clones one instead of formatting and parsing its URL again.
pub(crate) struct Endpoints {
    chat: reqwest::Url,
    govern: reqwest::Url,
}

impl Endpoints {
    pub(crate) fn new(base_url: &str) -> Result<Endpoints, Error> {
        Ok(Endpoints {
            chat: parse_url(base_url, CHAT_PATH)?,
            govern: parse_url(base_url, GOVERN_PATH)?,
        })
    }
}

/// The URL of `path` on the agent's server.
fn endpoint(inner: &super::Inner, path: &str) -> Result<reqwest::Url, Error> {
    match path {
        CHAT_PATH => Ok(inner.endpoints.chat.clone()),
        GOVERN_PATH => Ok(inner.endpoints.govern.clone()),
        _ => parse_url(&inner.base_url, path),
    }
}

fn parse_url(base_url: &str, path: &str) -> Result<reqwest::Url, Error> {
    reqwest::Url::parse(&format!("{base_url}{path}")).map_err(|e| {
        Error::config(format!(
            "the TapPass URL {base_url} cannot be used ({e}); pass an absolute http(s) URL"
        ))
    })
}

/// What is left as it is in a path segment: RFC 3986's unreserved characters.
/// Everything else, `/`, `%`, `?` and `#` among it, is percent-encoded.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `id` as exactly one URL path segment, percent-encoded, for the paths that
/// embed an id (`/v1/me/approvals/{id}`). Nothing is dropped from it; an
/// empty id, `.` and `..` are refused, since a URL would resolve them to
/// another route. `what` names the id in the error.
pub(crate) fn path_segment(id: &str, what: &str) -> Result<String, Error> {
    if matches!(id, "" | "." | "..") {
        return Err(Error::config(format!(
            "the {what} `{id}` cannot be put in a URL path (it would name another route); pass the id the server gave"
        )));
    }
    Ok(percent_encoding::utf8_percent_encode(id, SEGMENT).to_string())
}

/// A request body as JSON bytes.
pub(crate) fn json_bytes<T: serde::Serialize + ?Sized>(value: &T) -> Result<Bytes, Error> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| Error::Protocol(format!("could not encode the request body: {e}")))
}

/// Options of one call.
#[derive(Debug, Default)]
pub(crate) struct Opts<'a> {
    /// The body is a stream: no total timeout, only between reads.
    pub(crate) streaming: bool,
    /// A total timeout other than the agent's.
    pub(crate) timeout: Option<Duration>,
    /// Extra request headers.
    pub(crate) extra: &'a [(&'a str, &'a str)],
    /// Non-2xx statuses handed back as answers rather than errors.
    pub(crate) pass: &'a [u16],
    /// The `Idempotency-Key` of a `POST` whose key was chosen before (a
    /// spooled record's, a batch that may go to the spool); a fresh one
    /// when `None`.
    pub(crate) idempotency_key: Option<http::HeaderValue>,
}

/// A successful (2xx) answer.
pub(crate) struct Answer {
    pub(crate) response: reqwest::Response,
}

/// An agent's request signer ([`AgentBuilder::signing_key`](super::AgentBuilder::signing_key)).
#[cfg(feature = "signing")]
pub(crate) struct Signer {
    pub(crate) agent_id: String,
    pub(crate) key: crate::signing::SigningKey,
}

#[cfg(feature = "signing")]
impl Signer {
    /// The five signature headers of one request to `url`.
    fn sign(&self, method: &Method, url: &url::Url, body: &[u8]) -> [(&'static str, String); 5] {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        crate::signing::sign_request(
            &self.agent_id,
            &self.key,
            method.as_str(),
            url.path(),
            url.query().unwrap_or(""),
            body,
            now,
            &crate::signing::nonce(),
        )
        .expect("the agent id was checked when the agent was built")
        .headers()
    }
}

impl Agent {
    /// Sends a request, retrying what may be retried, and returns the first
    /// 2xx answer with its body unread. Non-2xx answers become errors here.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        streaming: bool,
    ) -> Result<Answer, Error> {
        let opts = Opts {
            streaming,
            ..Opts::default()
        };
        self.send_with(method, path, body, &opts).await
    }

    /// [`send`](Self::send) with options, through the agent's circuit
    /// breaker when it has one: while the breaker is open, the call fails
    /// at once with [`Error::Unavailable`], without a connection attempt.
    pub(crate) async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        opts: &Opts<'_>,
    ) -> Result<Answer, Error> {
        let Some(resilient) = &self.inner.resilience else {
            return self.send_attempts(method, path, body, opts).await;
        };
        let probe = match resilient.breaker.admit() {
            Admit::Refuse => return Err(resilient.refused()),
            Admit::Call => false,
            Admit::Probe => true,
        };
        // A probe dropped before its outcome (its caller gave up) reopens
        // the breaker rather than leaving it half-open for ever.
        let mut guard = ProbeGuard {
            breaker: probe.then_some(&resilient.breaker),
        };
        let result = self.send_attempts(method, path, body, opts).await;
        guard.breaker = None;
        match &result {
            Err(err) if err.is_unavailable() => resilient.unavailable(probe),
            Err(Error::Config(_)) if probe => resilient.breaker.abandon_probe(),
            Err(Error::Config(_)) => {}
            _ => {
                resilient.answered(probe);
                if probe {
                    // TapPass answers again: what was spooled meanwhile goes now.
                    self.wake_flusher();
                }
            }
        }
        result
    }

    /// The attempts of one call: [`send_with`](Self::send_with) without the breaker.
    async fn send_attempts(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        opts: &Opts<'_>,
    ) -> Result<Answer, Error> {
        let inner = &self.inner;
        let url = endpoint(inner, path)?;
        let correlation = session::with_current(|s| s.map(crate::session::Session::headers));
        // The request's resume token goes with its governed calls (chat,
        // streams, tool calls), where the server decides an approval.
        let resume_token = matches!(path, CHAT_PATH | GOVERN_PATH)
            .then(session::scope::resume_token)
            .flatten();
        // One key for the call, the same on each of its retries, so that a
        // server that got an attempt whose answer we lost answers the retry
        // with that answer instead of governing or recording the call twice.
        let idempotency_key = (method == Method::POST)
            .then(|| opts.idempotency_key.clone().unwrap_or_else(idempotency_key));
        // The W3C trace context of the call's span: TapPass's own spans join
        // the caller's trace.
        #[cfg(feature = "otel")]
        let trace_context = crate::trace_context::current_headers();
        // A server that said "slow down" once in this call is alive: whatever
        // the later attempts meet, the call must not fail open.
        let mut rate_limited = false;
        let mut attempt = 0u32;
        loop {
            let mut request = inner
                .http
                .request(method.clone(), url.clone())
                .header(http::header::AUTHORIZATION, inner.authorization.clone());
            if !opts.streaming {
                request = request.timeout(opts.timeout.unwrap_or(inner.timeout));
            }
            if let Some(key) = &idempotency_key {
                request = request.header(IDEMPOTENCY_KEY, key.clone());
            }
            for (name, value) in opts.extra {
                request = request.header(*name, *value);
            }
            if let Some(headers) = &correlation {
                request = request.headers(headers.clone());
            }
            if let Some(token) = &resume_token {
                request = request.header(session::RESUME_TOKEN, token.clone());
            }
            #[cfg(feature = "otel")]
            if !trace_context.is_empty() {
                request = request.headers(trace_context.clone());
            }
            if let Some(body) = &body {
                request = request
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            // Each attempt is signed anew: a retry is another request, with
            // its own nonce and time.
            #[cfg(feature = "signing")]
            if let Some(signer) = &inner.signer {
                for (name, value) in signer.sign(&method, &url, body.as_deref().unwrap_or(&[])) {
                    request = request.header(name, value);
                }
            }
            let outcome = if opts.streaming {
                // A stream has no total timeout, but its answer must start in time.
                match tokio::time::timeout(inner.timeout, request.send()).await {
                    Ok(outcome) => outcome.map_err(|err| transport_error(err, url.as_str())),
                    Err(_) => Err(Error::unavailable(
                        format!(
                            "the call to {}{} timed out: no answer within {:?}",
                            url.origin().ascii_serialization(),
                            url.path(),
                            inner.timeout
                        ),
                        None,
                    )),
                }
            } else {
                request
                    .send()
                    .await
                    .map_err(|err| transport_error(err, url.as_str()))
            };
            let last = attempt >= inner.retry.max_retries;
            let retry_after = match outcome {
                Ok(response)
                    if response.status().is_success()
                        || opts.pass.contains(&response.status().as_u16()) =>
                {
                    return Ok(Answer { response })
                }
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    let read = read_limited(response, inner.max_response_bytes);
                    // A stream request has no total timeout: bound its error body here.
                    let bytes = match tokio::time::timeout(inner.timeout, read).await {
                        Ok(bytes) => bytes,
                        Err(_) => Err(Error::unavailable(
                            format!("{path} answered {status} and then stalled"),
                            None,
                        )),
                    };
                    // A server may echo the key back (`invalid key tp_…`): never
                    // let it into an error, a log line or a response body.
                    let bytes = bytes.map(|b| redact(b, inner.key.expose()));
                    rate_limited |= status == StatusCode::TOO_MANY_REQUESTS;
                    match classify(self, status, &headers, bytes, path)? {
                        Retryable::No(err) => {
                            return Err(slow_down(err, rate_limited, Some(status), None))
                        }
                        Retryable::Yes(err, after) if last => {
                            return Err(slow_down(err, rate_limited, Some(status), after))
                        }
                        Retryable::Yes(_, after) => after,
                    }
                }
                // An untrusted certificate does not heal on a retry, and must
                // never let a fail-open agent through.
                Err(err @ Error::Config(_)) => return Err(err),
                Err(err) if last => return Err(slow_down(err, rate_limited, None, None)),
                Err(_) => None,
            };
            let delay = backoff(&inner.retry, attempt, retry_after);
            tracing::debug!(attempt, ?delay, path, "retrying a TapPass call");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// [`send`](Self::send) then a bounded read of a JSON body.
    pub(crate) async fn send_json(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Value, Error> {
        let answer = self.send(method, path, body, false).await?;
        let bytes = read_limited(answer.response, self.inner.max_response_bytes).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::Protocol(format!(
                "{path} answered 2xx with a body that is not JSON ({e})"
            ))
        })
    }
}

/// Reopens a half-open breaker whose probe was dropped unfinished.
struct ProbeGuard<'a> {
    breaker: Option<&'a crate::resilience::breaker::Breaker>,
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if let Some(breaker) = self.breaker {
            breaker.abandon_probe();
        }
    }
}

/// The last failure of a call, as an [`Error::RateLimited`] when the server
/// answered `429` on any attempt: it is alive, so the call must not fail open.
/// `now` is the status of the last attempt, when it got an answer.
fn slow_down(
    err: Error,
    rate_limited: bool,
    now: Option<StatusCode>,
    retry_after: Option<Duration>,
) -> Error {
    match err {
        Error::Unavailable { message, .. } if rate_limited => Error::RateLimited {
            message: if now == Some(StatusCode::TOO_MANY_REQUESTS) {
                message
            } else {
                format!("{message}, after an earlier attempt was answered 429 Too Many Requests")
            },
            retry_after,
        },
        other => other,
    }
}

enum Retryable {
    Yes(Error, Option<Duration>),
    No(Error),
}

/// Reads a body, refusing to buffer more than `limit` bytes.
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Bytes, Error> {
    if let Some(len) = response.content_length() {
        if len > limit as u64 {
            return Err(too_large(limit));
        }
        // The length is known and allowed: read it in one go, without copying.
        return response.bytes().await.map_err(|err| {
            Error::unavailable(
                format!(
                    "the answer was cut off while reading it: {}",
                    describe(&err)
                ),
                None,
            )
        });
    }
    let mut buf = BytesMut::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len() + chunk.len() > limit {
                    return Err(too_large(limit));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf.freeze()),
            Err(err) => {
                return Err(Error::unavailable(
                    format!(
                        "the answer was cut off while reading it: {}",
                        describe(&err)
                    ),
                    None,
                ))
            }
        }
    }
}

fn too_large(limit: usize) -> Error {
    Error::Protocol(format!(
        "the answer is larger than the {limit}-byte limit; raise it with AgentBuilder::max_response_bytes if this is expected"
    ))
}

/// `body` with every occurrence of `secret` replaced by `<redacted>`.
fn redact(body: Bytes, secret: &str) -> Bytes {
    match std::str::from_utf8(&body) {
        Ok(text) => match redact_text(text, secret) {
            std::borrow::Cow::Owned(text) => Bytes::from(text),
            std::borrow::Cow::Borrowed(_) => body,
        },
        Err(_) => body,
    }
}

/// `text` with every occurrence of `secret` replaced by `<redacted>`: the one
/// scrubbing of what the server sends, for error bodies and for decisions
/// that arrive inside a stream.
pub(crate) fn redact_text<'a>(text: &'a str, secret: &str) -> std::borrow::Cow<'a, str> {
    if !secret.is_empty() && text.contains(secret) {
        std::borrow::Cow::Owned(text.replace(secret, "<redacted>"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Sorts a non-2xx answer into a decision, a failure to retry, or a final failure.
fn classify(
    agent: &Agent,
    status: StatusCode,
    headers: &HeaderMap,
    body: Result<Bytes, Error>,
    path: &str,
) -> Result<Retryable, Error> {
    let (key_setting, url_setting) = (agent.inner.key_setting, agent.inner.url_setting);
    let body = match body {
        Ok(b) => b,
        // A body we could not read on a retryable status is still retryable.
        Err(err) if is_retryable_status(status) => return Ok(Retryable::Yes(err, None)),
        Err(err) => return Err(err),
    };
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    let approval_base = agent.inner.approval_base_url.as_deref();
    if let Some(decision) = json
        .as_ref()
        .and_then(|answer| super::received_decision(answer, approval_base))
    {
        tracing::info!(
            decision = decision.code(),
            status = status.as_u16(),
            path,
            "TapPass decision"
        );
        return Ok(Retryable::No(decision.into()));
    }
    let server_message = json
        .as_ref()
        .and_then(|v| v.get("message").or_else(|| v.get("error")))
        .and_then(Value::as_str)
        .map(|m| format!(": {}", m.chars().take(200).collect::<String>()))
        .unwrap_or_default();
    if is_retryable_status(status) {
        let after = retry_after(headers);
        return Ok(Retryable::Yes(
            Error::unavailable(format!("{path} answered {status}{server_message}"), None),
            after,
        ));
    }
    Ok(Retryable::No(match status.as_u16() {
        401 | 403 => Error::Authentication {
            status: status.as_u16(),
            key_setting,
        },
        500..=599 => Error::unavailable(format!("{path} answered {status}{server_message}"), None),
        _ => Error::Protocol(format!(
            "{path} answered {status}{server_message}; check that {url_setting} is the base URL of a TapPass server (0.6.0 or later)"
        )),
    }))
}

/// The header that makes a `POST` safe to retry (`docs/protocol.md`, Idempotency).
const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// A fresh idempotency key: 128 random bits as 32 lowercase hex digits.
pub(crate) fn idempotency_key() -> http::HeaderValue {
    let bits: u128 = rand::rng().random();
    http::HeaderValue::try_from(format!("{bits:032x}"))
        .expect("hex digits are a valid header value")
}

fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

/// `Retry-After` in either form: delta-seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// Exponential backoff with full jitter, or the server's `Retry-After`,
/// capped at the policy's longest delay.
fn backoff(policy: &super::RetryPolicy, attempt: u32, server: Option<Duration>) -> Duration {
    let delay = match server {
        Some(d) => d,
        None => {
            let ceiling = policy
                .base_delay
                .saturating_mul(2u32.saturating_pow(attempt.min(16)));
            let ceiling = ceiling.min(policy.max_delay);
            let nanos = ceiling.as_nanos().min(u64::MAX as u128) as u64;
            // Full jitter, but never less than half the ceiling so that
            // retries do not collapse onto each other.
            Duration::from_nanos(nanos / 2 + rand::rng().random_range(0..=nanos / 2))
        }
    };
    delay.min(policy.max_delay)
}

fn transport_error(err: reqwest::Error, url: &str) -> Error {
    let url = url.split('?').next().unwrap_or(url);
    let detail = describe(&err);
    // rustls names every verification failure of the server's certificate
    // "invalid peer certificate" (an unknown issuer, a wrong name, expiry).
    if err.is_connect() && detail.contains("invalid peer certificate") {
        return Error::config(format!(
            "the TLS connection to {url} was refused: the server's certificate is not trusted ({detail}); install the CA that signed it in this machine's certificate store, or pass it with AgentBuilder::add_root_certificate"
        ));
    }
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    Error::unavailable(
        format!("the call to {url} {what}: {detail}"),
        Some(Box::new(err.without_url()) as crate::error::BoxError),
    )
}

/// A reqwest error's message chain without its URL.
fn describe(err: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = String::new();
    let mut source = err.source();
    while let Some(s) = source {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&s.to_string());
        source = s.source();
    }
    if text.is_empty() {
        text = if err.is_timeout() {
            "timeout".to_owned()
        } else {
            "connection error".to_owned()
        };
    }
    text
}

/// `GET /health`: refuses a server that reports no version or one below 0.6.0.
pub(crate) async fn check_version(agent: &Agent) -> Result<String, Error> {
    let health = agent.send_json(Method::GET, "/health", None).await?;
    let version = health
        .get("version")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::config(format!(
                "the TapPass server at {} reports no version; this client needs 0.6.0 or later",
                agent.url()
            ))
        })?;
    match parse_version(version) {
        Some(v) if v >= MIN_VERSION => Ok(version.to_owned()),
        _ => Err(Error::config(format!(
            "the TapPass server at {} reports version `{}`; this client needs 0.6.0 or later: upgrade the server or point {} at a newer one",
            agent.url(),
            version.chars().take(40).collect::<String>(),
            agent.inner.url_setting
        ))),
    }
}

/// `MAJOR.MINOR.PATCH`, ignoring a `-pre` or `+build` tail and a leading `v`.
pub(crate) fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let text = text.trim().trim_start_matches('v');
    let head = text.split(['-', '+']).next()?;
    let mut parts = head.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().unwrap_or("0").parse().ok()?;
    let patch = parts.next().unwrap_or("0").parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor, patch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("0.6.3"), Some((0, 6, 3)));
        assert_eq!(parse_version("0.6.0-rc.1+abc"), Some((0, 6, 0)));
        assert_eq!(parse_version("1.2"), Some((1, 2, 0)));
        assert_eq!(parse_version("banana"), None);
        assert!(parse_version("0.5.9").unwrap() < MIN_VERSION);
    }

    /// The README's "exponential backoff with jitter": each attempt's delay
    /// lies in [ceiling/2, ceiling] with ceiling = base * 2^attempt capped at
    /// the longest delay; the delays vary (jitter); a server's `Retry-After`
    /// replaces the computed delay and is capped too. Read from `backoff`
    /// itself, not from the time a retry took.
    #[test]
    fn backoff_is_exponential_with_jitter_and_capped() {
        let policy = super::super::RetryPolicy {
            max_retries: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        };
        for attempt in 0..40u32 {
            let ceiling = Duration::from_millis(100)
                .saturating_mul(2u32.saturating_pow(attempt.min(16)))
                .min(policy.max_delay);
            let delays: Vec<Duration> = (0..200).map(|_| backoff(&policy, attempt, None)).collect();
            for delay in &delays {
                assert!(
                    *delay >= ceiling / 2 && *delay <= ceiling,
                    "attempt {attempt}: {delay:?} outside [{:?}, {ceiling:?}]",
                    ceiling / 2
                );
            }
            let distinct: std::collections::HashSet<_> = delays.iter().collect();
            assert!(
                distinct.len() > 100,
                "attempt {attempt}: no jitter, {} distinct delays of 200",
                distinct.len()
            );
        }
        // Exponential: the ceilings of attempts 0, 1, 2, 3 are 100, 200, 400, 800 ms.
        let most = |attempt| {
            (0..200)
                .map(|_| backoff(&policy, attempt, None))
                .max()
                .unwrap()
        };
        assert!(most(0) <= Duration::from_millis(100));
        assert!(most(1) > Duration::from_millis(100) && most(1) <= Duration::from_millis(200));
        assert!(most(2) > Duration::from_millis(200) && most(2) <= Duration::from_millis(400));
        assert!(most(3) > Duration::from_millis(400) && most(3) <= Duration::from_millis(800));
        // The server's Retry-After wins, within the cap.
        let server = Some(Duration::from_secs(2));
        assert_eq!(backoff(&policy, 0, server), Duration::from_secs(2));
        assert_eq!(
            backoff(&policy, 0, Some(Duration::from_secs(600))),
            policy.max_delay
        );
        // Extremes neither panic nor exceed the cap.
        let huge = super::super::RetryPolicy {
            max_retries: u32::MAX,
            base_delay: Duration::MAX,
            max_delay: Duration::MAX,
        };
        assert!(backoff(&huge, u32::MAX, None) >= Duration::from_nanos(u64::MAX / 2));
        let zero = super::super::RetryPolicy {
            max_retries: 1,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        };
        assert_eq!(backoff(&zero, 3, None), Duration::ZERO);
    }

    #[test]
    fn retry_after_both_forms() {
        let mut h = HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        let later = std::time::SystemTime::now() + Duration::from_secs(120);
        h.insert(
            http::header::RETRY_AFTER,
            httpdate::fmt_http_date(later).parse().unwrap(),
        );
        let d = retry_after(&h).unwrap();
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120));
    }
}
