//! Where the verifier's keys come from: a pinned public key, or TapPass's JWK
//! Set fetched once, cached, and re-fetched (once, shared, rate-limited) when
//! a token names a key the cache does not hold or the set grows old.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use serde_json::Value;

use super::fetch;

/// The largest JWK Set read: 256 KiB.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// The verifier's keys.
pub(crate) enum Keys {
    /// One key, configured; no network.
    Pinned(Arc<DecodingKey>),
    /// TapPass's JWK Set.
    Jwks(Arc<Jwks>),
}

/// Why no key could be found for a token.
#[derive(Debug)]
pub(crate) enum KeyError {
    /// The set was fetched and does not hold this `kid`.
    Unknown,
    /// No set could be fetched (fail closed: `503 governance_unavailable`).
    Unavailable(crate::error::Error),
}

/// A JWK Set, fetched lazily and cached.
///
/// Every fetch is started by a request that needs it (none runs on a task
/// of its own between requests), so the set keeps working for a verifier
/// shared across runtimes: a refresh spawned in the background holds the
/// fetch lock in its task, and a runtime that ends drops the task and the
/// lock with it.
pub(crate) struct Jwks {
    url: url::Url,
    http: reqwest::Client,
    /// The shortest time between two successful fetches: a flood of unknown
    /// `kid`s fetches at most once per interval.
    min_refetch: Duration,
    /// How old the cached set may grow before a request that uses it starts
    /// a refresh in the background, so that a key TapPass withdrew stops
    /// being trusted.
    max_age: Duration,
    /// How long a request waits for a first set while none could be
    /// fetched yet, retrying with backoff.
    cold_wait: Duration,
    keys: RwLock<Cached>,
    /// Held while fetching: concurrent requests wait on the one fetch.
    fetch: Arc<tokio::sync::Mutex<FetchState>>,
}

/// The keys of the last successful fetch, and when it was.
#[derive(Default)]
struct Cached {
    keys: Arc<HashMap<String, Arc<DecodingKey>>>,
    fetched: Option<Instant>,
}

/// The fetches so far, read and written under the fetch lock.
#[derive(Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    /// When the fetch that gave the cached set started: a request that
    /// arrived before it is answered by it.
    last_success_started: Option<Instant>,
    /// Failed fetches since the last success: the next one waits
    /// [`fetch::retry_delay`] of them.
    failures: u32,
    last_error: Option<String>,
    /// `kid`s that the cached set, fetched after they were first asked
    /// for, does not hold: refused at once until the set changes. Bounded.
    absent: HashSet<String>,
}

/// The most `kid`s remembered as absent from the cached set.
const MAX_ABSENT: usize = 1024;

impl FetchState {
    /// When the next fetch may start: after a failure, a bounded backoff;
    /// after a success, `min_refetch` (the flood guard).
    fn next_allowed(&self, min_refetch: Duration) -> Option<Instant> {
        let last = self.last_attempt?;
        Some(if self.failures > 0 {
            last + fetch::retry_delay(self.failures).min(min_refetch.max(fetch::retry_delay(1)))
        } else {
            last + min_refetch
        })
    }

    fn may_fetch(&self, min_refetch: Duration) -> bool {
        self.next_allowed(min_refetch)
            .is_none_or(|at| Instant::now() >= at)
    }
}

impl Jwks {
    pub(crate) fn new(
        url: url::Url,
        http: reqwest::Client,
        min_refetch: Duration,
        max_age: Duration,
        cold_wait: Duration,
    ) -> Jwks {
        Jwks {
            url,
            http,
            min_refetch,
            max_age,
            cold_wait,
            keys: RwLock::default(),
            fetch: Arc::default(),
        }
    }

    pub(crate) fn url(&self) -> &url::Url {
        &self.url
    }

    fn cached(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys
            .get(kid)
            .cloned()
    }

    fn have_keys(&self) -> bool {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .fetched
            .is_some()
    }

    /// The key named `kid`: from the cache, else after a fetch that started
    /// after this request came. A `kid` is [`KeyError::Unknown`] (a `403`)
    /// only when such a fetch succeeded without it; when none could be made
    /// (the key server is down, or the flood guard holds the next fetch
    /// back) the answer is [`KeyError::Unavailable`] (a `503`): a rotation
    /// is never refused as a forgery.
    pub(crate) async fn key(self: &Arc<Self>, kid: &str) -> Result<Arc<DecodingKey>, KeyError> {
        if let Some(key) = self.cached(kid) {
            self.refresh_if_old();
            return Ok(key);
        }
        let entered = Instant::now();
        let mut state = self.fetch.lock().await;
        if let Some(key) = self.cached(kid) {
            return Ok(key); // fetched while this request waited
        }
        if state.absent.contains(kid) {
            return Err(KeyError::Unknown);
        }
        let answered = |state: &FetchState| {
            state
                .last_success_started
                .is_some_and(|started| started >= entered)
        };
        if self.have_keys() {
            // Warm: at most one fetch for this request.
            if !answered(&state) && state.may_fetch(self.min_refetch) {
                self.refresh(&mut state).await;
            }
        } else {
            // Cold: wait for a first set, retrying with backoff, up to a bound.
            let deadline = entered + self.cold_wait;
            while !answered(&state) {
                if state.may_fetch(self.min_refetch) {
                    self.refresh(&mut state).await;
                    continue;
                }
                match state.next_allowed(self.min_refetch) {
                    Some(at) if at <= deadline => tokio::time::sleep_until(at.into()).await,
                    _ => break,
                }
            }
        }
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        if answered(&state) {
            if state.absent.len() < MAX_ABSENT {
                state.absent.insert(kid.to_owned());
            }
            return Err(KeyError::Unknown);
        }
        Err(KeyError::Unavailable(crate::error::Error::unavailable(
            match (&state.last_error, state.next_allowed(self.min_refetch)) {
                (Some(e), _) => format!(
                    "no key to verify the mandate with: the JWK Set at {} could not be fetched ({e})",
                    self.url
                ),
                (None, at) => format!(
                    "the mandate names a key that the JWK Set at {} did not hold when it was last fetched; it is fetched again in at most {} ms",
                    self.url,
                    at.map_or(0, |at| at.saturating_duration_since(Instant::now()).as_millis())
                ),
            },
            None,
        )))
    }

    /// Fetches the set and replaces the cache with it; on failure the cache
    /// is kept (a key server that is down does not stop verification).
    /// Returns whether it succeeded.
    async fn refresh(&self, state: &mut FetchState) -> bool {
        let started = Instant::now();
        state.last_attempt = Some(started);
        match fetch::json(&self.http, self.url.clone(), None, MAX_JWKS_BYTES).await {
            Ok(body) => {
                let keys = parse_jwks(&body);
                tracing::debug!(url = %self.url, keys = keys.len(), "fetched the mandate JWK Set");
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Cached {
                    keys: Arc::new(keys),
                    fetched: Some(Instant::now()),
                };
                state.last_success_started = Some(started);
                state.failures = 0;
                state.last_error = None;
                state.absent.clear();
                true
            }
            Err(e) => {
                tracing::warn!(url = %self.url, error = %e, "could not fetch the mandate JWK Set; keeping the cached keys");
                state.failures = state.failures.saturating_add(1);
                state.last_error = Some(e.to_string());
                false
            }
        }
    }

    /// Starts a background refresh when the cached set is older than
    /// `max_age` and no fetch is running; the request goes on with the keys
    /// it has. The task runs on the caller's runtime and holds the fetch
    /// lock: a runtime that ends drops both, and the next request starts
    /// another.
    fn refresh_if_old(self: &Arc<Self>) {
        let old = self
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .fetched
            .is_some_and(|at| at.elapsed() >= self.max_age);
        if !old {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok(mut state) = self.fetch.clone().try_lock_owned() else {
            return; // a fetch is running already
        };
        if !state.may_fetch(self.min_refetch) {
            return;
        }
        let jwks = self.clone();
        runtime.spawn(async move { jwks.refresh(&mut state).await });
    }
}

/// The ES256 keys of a JWK Set, by `kid`. Keys of other types, curves or
/// uses, keys without a `kid` and malformed keys are left out, so one odd
/// key does not cost the others.
pub(crate) fn parse_jwks(body: &Value) -> HashMap<String, Arc<DecodingKey>> {
    let Some(keys) = body.get("keys").and_then(Value::as_array) else {
        return HashMap::new();
    };
    keys.iter()
        .filter_map(|jwk| {
            let text = |k: &str| jwk.get(k).and_then(Value::as_str);
            let fits = text("kty") == Some("EC")
                && text("crv") == Some("P-256")
                && jwk.get("alg").is_none_or(|a| a == "ES256")
                && jwk.get("use").is_none_or(|u| u == "sig");
            let kid = text("kid").filter(|k| !k.is_empty())?;
            if !fits {
                return None;
            }
            let key = DecodingKey::from_ec_components(text("x")?, text("y")?).ok()?;
            // 0x04 || x || y: both coordinates of a P-256 point are 32 bytes.
            (key.try_get_as_bytes().ok()?.len() == 65).then(|| (kid.to_owned(), Arc::new(key)))
        })
        .collect()
}

/// A pinned public key from its PEM text (SPKI `PUBLIC KEY`, P-256).
pub(crate) fn pinned(pem: &str) -> Result<Keys, crate::error::Error> {
    let key = DecodingKey::from_ec_pem(pem.as_bytes())
        .ok()
        .filter(|k| k.try_get_as_bytes().is_ok_and(|b| b.len() == 65))
        .ok_or_else(|| {
            crate::error::Error::config(
                "the mandate public key is not a P-256 public key in PEM (`-----BEGIN PUBLIC KEY-----`); pass the ES256 key TapPass signs mandates with",
            )
        })?;
    Ok(Keys::Pinned(Arc::new(key)))
}
