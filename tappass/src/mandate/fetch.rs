//! The verifier's HTTP: one bounded JSON `GET`.

use std::time::Duration;

use serde_json::Value;

use crate::key::ApiKey;

/// The longest a key or revocation fetch may take.
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The first wait before fetching again after a failed fetch; it doubles
/// with each further failure, up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
/// The longest wait between two fetches after failures.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);
/// How many redirects a fetch follows (each to the same origin).
const MAX_REDIRECTS: usize = 5;

/// How long to wait before fetching again after `failures` failed fetches
/// in a row (at least one): 100 ms, doubling, at most 2 s.
pub(crate) fn retry_delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_RETRY_DELAY
        .saturating_mul(1 << doublings)
        .min(MAX_RETRY_DELAY)
}

/// The HTTP client the verifier fetches with. It follows a redirect only to
/// the same origin (scheme, host and port): a key or revocation server
/// cannot send the verifier to another host, nor from `https` to `http`.
pub(crate) fn client() -> Result<reqwest::Client, crate::error::Error> {
    let same_origin = reqwest::redirect::Policy::custom(|attempt| {
        let from = attempt.previous().last().map(url::Url::origin);
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if from.as_ref() == Some(&attempt.url().origin()) {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(FETCH_TIMEOUT)
        .redirect(same_origin)
        .build()
        .map_err(|e| {
            crate::error::Error::config(format!(
                "cannot build the mandate verifier's HTTP client: {e}"
            ))
        })
}

/// `GET url` (with the bearer key when given) and parses a JSON body of at
/// most `limit` bytes. Every failure is `Error::Unavailable`.
pub(crate) async fn json(
    http: &reqwest::Client,
    url: url::Url,
    key: Option<&ApiKey>,
    limit: usize,
) -> Result<Value, crate::error::Error> {
    let mut request = http.get(url);
    if let Some(key) = key {
        request = request.bearer_auth(key.expose());
    }
    let fail = |what: String| crate::error::Error::unavailable(what, None);
    let mut response = request
        .send()
        .await
        .map_err(|e| fail(format!("the request failed: {}", without_url(e))))?;
    let status = response.status();
    if !status.is_success() {
        return Err(fail(format!("it answered HTTP {}", status.as_u16())));
    }
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(fail(format!("its answer is over {limit} bytes")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| fail(format!("the answer was cut off: {}", without_url(e))))?
    {
        if body.len() + chunk.len() > limit {
            return Err(fail(format!("its answer is over {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| fail(format!("its answer is not JSON ({e})")))
}

/// A reqwest error's text without its URL (the caller names the URL once).
fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
