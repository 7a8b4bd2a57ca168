//! Where the verifier's keys come from: a pinned public key, or TapPass's JWK
//! Set fetched once, cached, and re-fetched (once, shared, rate-limited) when
//! a token names a key the cache does not hold.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
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
pub(crate) struct Jwks {
    url: url::Url,
    http: reqwest::Client,
    /// The shortest time between two fetches: a flood of unknown `kid`s
    /// fetches at most once per interval.
    min_refetch: Duration,
    /// How old the cached set may grow before a request that uses it starts
    /// a refresh in the background, so that a key TapPass withdrew stops
    /// being trusted.
    max_age: Duration,
    keys: RwLock<Cached>,
    /// Held while fetching: concurrent requests wait on the one fetch.
    fetch: Arc<tokio::sync::Mutex<FetchState>>,
    /// How many fetches were attempted; a waiter that sees it moved does not
    /// fetch again.
    attempts: AtomicU64,
}

/// The keys of the last successful fetch, and when it was.
#[derive(Default)]
struct Cached {
    keys: Arc<HashMap<String, Arc<DecodingKey>>>,
    fetched: Option<Instant>,
}

#[derive(Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    last_error: Option<String>,
}

impl Jwks {
    pub(crate) fn new(
        url: url::Url,
        http: reqwest::Client,
        min_refetch: Duration,
        max_age: Duration,
    ) -> Jwks {
        Jwks {
            url,
            http,
            min_refetch,
            max_age,
            keys: RwLock::default(),
            fetch: Arc::default(),
            attempts: AtomicU64::new(0),
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

    /// The key named `kid`: from the cache, else after one shared re-fetch.
    pub(crate) async fn key(self: &Arc<Self>, kid: &str) -> Result<Arc<DecodingKey>, KeyError> {
        let seen = self.attempts.load(Ordering::Acquire);
        if let Some(key) = self.cached(kid) {
            self.refresh_if_old();
            return Ok(key);
        }
        let mut state = self.fetch.lock().await;
        // Someone else fetched while this request waited: use their answer.
        if self.attempts.load(Ordering::Acquire) == seen {
            let due = state
                .last_attempt
                .is_none_or(|at| at.elapsed() >= self.min_refetch);
            if due {
                self.refresh(&mut state).await;
            }
        }
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        let have_keys = !self
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys
            .is_empty();
        match &state.last_error {
            // A set is cached and the last fetch worked: the key is not TapPass's.
            None if have_keys => Err(KeyError::Unknown),
            // No key to verify with, or the server could not be asked: fail closed.
            error => Err(KeyError::Unavailable(crate::error::Error::unavailable(
                format!(
                    "no key to verify the mandate with: the JWK Set at {} {}",
                    self.url,
                    match error {
                        Some(e) => format!("could not be fetched ({e})"),
                        None => "holds no ES256 P-256 key".to_owned(),
                    }
                ),
                None,
            ))),
        }
    }

    /// Fetches the set and replaces the cache with it; on failure the cache
    /// is kept (a key server that is down does not stop verification).
    async fn refresh(&self, state: &mut FetchState) {
        self.attempts.fetch_add(1, Ordering::AcqRel);
        state.last_attempt = Some(Instant::now());
        match fetch::json(&self.http, self.url.clone(), None, MAX_JWKS_BYTES).await {
            Ok(body) => {
                let keys = parse_jwks(&body);
                tracing::debug!(url = %self.url, keys = keys.len(), "fetched the mandate JWK Set");
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Cached {
                    keys: Arc::new(keys),
                    fetched: Some(Instant::now()),
                };
                state.last_error = None;
            }
            Err(e) => {
                tracing::warn!(url = %self.url, error = %e, "could not fetch the mandate JWK Set; keeping the cached keys");
                state.last_error = Some(e.to_string());
            }
        }
    }
}

impl Jwks {
    /// Starts a background refresh when the cached set is older than
    /// `max_age` and no fetch is running; the request goes on with the keys
    /// it has.
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
        let Ok(mut state) = self.fetch.clone().try_lock_owned() else {
            return; // a fetch is running already
        };
        if state
            .last_attempt
            .is_some_and(|at| at.elapsed() < self.min_refetch)
        {
            return;
        }
        let jwks = self.clone();
        tokio::spawn(async move { jwks.refresh(&mut state).await });
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
