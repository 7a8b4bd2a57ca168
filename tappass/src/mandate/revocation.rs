//! Revocation: the list of revoked mandate ids, fetched by the first request
//! that needs it (which waits for it, retrying with backoff, up to the
//! cold-start wait) and refreshed in the background from then on, started
//! by the requests that find it due, never on their path. Past
//! `max_revocation_staleness` without a successful refresh, a request waits
//! for a fresh list as a first one does, and fails closed without it.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{fetch, MandateRejection};
use crate::key::ApiKey;

/// The largest revocation list read: 8 MiB.
const MAX_REVOKED_BYTES: usize = 8 << 20;

/// A boxed, sendable future, as [`RevocationSource::revoked`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a [`MandateVerifier`](super::MandateVerifier) reads the ids of
/// revoked mandates, when not from TapPass's `GET /v1/mandates/revoked`.
///
/// The verifier calls it on the first request that needs the list (retrying
/// with backoff while that request waits, up to the cold-start wait) and
/// then in the background once the list is older than the refresh interval;
/// an error keeps the list it had (until `max_revocation_staleness`, past
/// which it fails closed).
///
/// ```
/// use std::collections::HashSet;
/// use tappass::mandate::{BoxFuture, RevocationSource};
///
/// /// Revocations pushed to this service by some other channel.
/// struct Pushed(std::sync::Arc<std::sync::RwLock<HashSet<String>>>);
///
/// impl RevocationSource for Pushed {
///     fn revoked(&self) -> BoxFuture<'_, Result<HashSet<String>, tappass::Error>> {
///         let ids = self.0.read().unwrap().clone();
///         Box::pin(async move { Ok(ids) })
///     }
/// }
/// ```
pub trait RevocationSource: Send + Sync + 'static {
    /// The ids of every revoked mandate that has not expired yet.
    fn revoked(&self) -> BoxFuture<'_, Result<HashSet<String>, crate::error::Error>>;
}

/// TapPass's `GET /v1/mandates/revoked` (bearer API key).
pub(crate) struct HttpRevocation {
    pub(crate) url: url::Url,
    pub(crate) key: ApiKey,
    pub(crate) http: reqwest::Client,
}

impl RevocationSource for HttpRevocation {
    fn revoked(&self) -> BoxFuture<'_, Result<HashSet<String>, crate::error::Error>> {
        Box::pin(async move {
            let body = fetch::json(
                &self.http,
                self.url.clone(),
                Some(&self.key),
                MAX_REVOKED_BYTES,
            )
            .await?;
            let ids = body
                .get("revoked")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    crate::error::Error::Protocol(format!(
                        "{} answered without a `revoked` list",
                        self.url
                    ))
                })?;
            Ok(ids
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect())
        })
    }
}

/// The revocation check of a verifier.
///
/// Every fetch is started by a request that needs it: none runs on a task
/// of its own between requests, so a verifier shared across runtimes (one
/// built on a setup runtime, used by `#[tokio::test]`s that each end) keeps
/// refreshing. A request that finds the list due for a refresh spawns it on
/// its own runtime, holding the fetch lock; a runtime that ends drops the
/// task and the lock, and the next request starts another.
pub(crate) struct Revocation {
    state: Arc<State>,
}

struct State {
    source: Box<dyn RevocationSource>,
    refresh: Duration,
    max_staleness: Duration,
    /// How long a request waits for a list when none is at hand (or only
    /// one past `max_staleness`), retrying with backoff.
    cold_wait: Duration,
    /// The list and when it was fetched; `None` until the first success.
    list: RwLock<Option<(Arc<HashSet<String>>, Instant)>>,
    /// Held while fetching: concurrent requests wait on the one fetch.
    fetching: Arc<tokio::sync::Mutex<Fetches>>,
}

/// The fetches so far, read and written under the fetch lock.
#[derive(Default)]
struct Fetches {
    last_attempt: Option<Instant>,
    /// When the fetch that gave the list started.
    last_success_started: Option<Instant>,
    /// Failed fetches since the last success.
    failures: u32,
}

impl Fetches {
    /// When the next fetch may start: after a failure, a bounded backoff;
    /// after a success, the refresh interval.
    fn next_allowed(&self, refresh: Duration) -> Option<Instant> {
        let last = self.last_attempt?;
        Some(if self.failures > 0 {
            last + fetch::retry_delay(self.failures).min(refresh)
        } else {
            last + refresh
        })
    }
}

impl fmt::Debug for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revocation")
            .field("refresh", &self.state.refresh)
            .field("max_staleness", &self.state.max_staleness)
            .field("cold_wait", &self.state.cold_wait)
            .finish_non_exhaustive()
    }
}

impl Revocation {
    pub(crate) fn new(
        source: Box<dyn RevocationSource>,
        refresh: Duration,
        max_staleness: Duration,
        cold_wait: Duration,
    ) -> Revocation {
        Revocation {
            state: Arc::new(State {
                source,
                refresh,
                max_staleness,
                cold_wait,
                list: RwLock::default(),
                fetching: Arc::default(),
            }),
        }
    }

    /// Refuses a mandate that has no id or whose id is revoked; fails closed
    /// when no list, or only one older than the staleness bound, can be had
    /// within the cold-start wait.
    pub(crate) async fn check(&self, mandate_id: Option<&str>) -> Result<(), MandateRejection> {
        let Some(id) = mandate_id else {
            return Err(MandateRejection::invalid(
                "it has no `mandate_id`, so its revocation cannot be checked",
            ));
        };
        let state = &self.state;
        let usable = |list: &Option<(Arc<HashSet<String>>, Instant)>| {
            list.as_ref()
                .is_some_and(|(_, fetched)| fetched.elapsed() <= state.max_staleness)
        };
        let mut snapshot = state.snapshot();
        if usable(&snapshot) {
            State::refresh_if_due(&self.state);
        } else {
            state.wait_for_list().await;
            snapshot = state.snapshot();
        }
        let Some((revoked, fetched)) = snapshot else {
            return Err(crate::error::Error::unavailable(
                "the list of revoked mandates could not be fetched yet, so no mandate is accepted (fail closed)",
                None,
            )
            .into());
        };
        if fetched.elapsed() > state.max_staleness {
            return Err(crate::error::Error::unavailable(
                format!(
                    "the list of revoked mandates was last fetched {} s ago, past max_revocation_staleness ({} s), so no mandate is accepted (fail closed)",
                    fetched.elapsed().as_secs(),
                    state.max_staleness.as_secs()
                ),
                None,
            )
            .into());
        }
        if revoked.contains(id) {
            return Err(MandateRejection::Revoked {
                mandate_id: id.to_owned(),
            });
        }
        Ok(())
    }
}

impl State {
    fn snapshot(&self) -> Option<(Arc<HashSet<String>>, Instant)> {
        self.list
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Fetches the list once; on failure the previous list stays.
    async fn fill(&self, fetches: &mut Fetches) -> bool {
        let started = Instant::now();
        fetches.last_attempt = Some(started);
        match self.source.revoked().await {
            Ok(ids) => {
                *self.list.write().unwrap_or_else(PoisonError::into_inner) =
                    Some((Arc::new(ids), Instant::now()));
                fetches.last_success_started = Some(started);
                fetches.failures = 0;
                true
            }
            Err(e) => {
                fetches.failures = fetches.failures.saturating_add(1);
                tracing::warn!(error = %e, failures = fetches.failures, "could not refresh the list of revoked mandates; keeping the previous one");
                false
            }
        }
    }

    /// No usable list: waits for a fetch that started after this request
    /// came, retrying with backoff, up to the cold-start wait. Requests that
    /// arrive meanwhile share the fetches of the one that holds the lock.
    async fn wait_for_list(&self) {
        let entered = Instant::now();
        let deadline = entered + self.cold_wait;
        let mut fetches = self.fetching.lock().await;
        loop {
            let answered = fetches
                .last_success_started
                .is_some_and(|started| started >= entered);
            if answered {
                return;
            }
            // The first fetch at once; after a failure, the backoff.
            let next = match fetches.last_attempt {
                Some(last) if fetches.failures > 0 => last + fetch::retry_delay(fetches.failures),
                _ => entered,
            };
            if next > deadline && next > entered {
                return;
            }
            tokio::time::sleep_until(next.into()).await;
            self.fill(&mut fetches).await;
        }
    }

    /// Starts a refresh in the background when the list is older than the
    /// refresh interval (or a failed refresh's backoff is over) and no fetch
    /// is running; the request goes on with the list it has.
    fn refresh_if_due(this: &Arc<State>) {
        let Some((_, fetched)) = this.snapshot() else {
            return;
        };
        if fetched.elapsed() < this.refresh {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok(mut fetches) = this.fetching.clone().try_lock_owned() else {
            return; // a fetch is running already
        };
        if fetches
            .next_allowed(this.refresh)
            .is_some_and(|at| Instant::now() < at)
        {
            return;
        }
        let state = Arc::downgrade(this);
        runtime.spawn(async move {
            if let Some(state) = state.upgrade() {
                state.fill(&mut fetches).await;
            }
        });
    }
}
