//! Revocation: the list of revoked mandate ids, filled once on the first
//! request that needs it and refreshed in the background from then on, never
//! on the request path. Past `max_revocation_staleness` without a successful
//! refresh, verification fails closed.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock, Weak};
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
/// The verifier calls it once on the first request that needs the list and
/// then in the background at every refresh interval; an error keeps the list
/// it had (until `max_revocation_staleness`, past which it fails closed).
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
pub(crate) struct Revocation {
    state: Arc<State>,
}

struct State {
    source: Box<dyn RevocationSource>,
    refresh: Duration,
    max_staleness: Duration,
    /// The list and when it was fetched; `None` until the first success.
    list: RwLock<Option<(Arc<HashSet<String>>, Instant)>>,
    /// Runs the first fill (and starts the background refresh) exactly once;
    /// concurrent first requests wait on it.
    started: tokio::sync::OnceCell<()>,
}

impl fmt::Debug for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revocation")
            .field("refresh", &self.state.refresh)
            .field("max_staleness", &self.state.max_staleness)
            .finish_non_exhaustive()
    }
}

impl Revocation {
    pub(crate) fn new(
        source: Box<dyn RevocationSource>,
        refresh: Duration,
        max_staleness: Duration,
    ) -> Revocation {
        Revocation {
            state: Arc::new(State {
                source,
                refresh,
                max_staleness,
                list: RwLock::default(),
                started: tokio::sync::OnceCell::new(),
            }),
        }
    }

    /// Refuses a mandate that has no id or whose id is revoked; fails closed
    /// when no list, or only one older than the staleness bound, is at hand.
    pub(crate) async fn check(&self, mandate_id: Option<&str>) -> Result<(), MandateRejection> {
        let Some(id) = mandate_id else {
            return Err(MandateRejection::invalid(
                "it has no `mandate_id`, so its revocation cannot be checked",
            ));
        };
        let state = &self.state;
        state
            .started
            .get_or_init(|| async {
                state.fill().await;
                spawn_refresh(Arc::downgrade(&self.state), state.refresh);
            })
            .await;
        let snapshot = state
            .list
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
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
    /// Fetches the list once; on failure the previous list stays.
    async fn fill(&self) {
        match self.source.revoked().await {
            Ok(ids) => {
                *self.list.write().unwrap_or_else(PoisonError::into_inner) =
                    Some((Arc::new(ids), Instant::now()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not refresh the list of revoked mandates; keeping the previous one");
            }
        }
    }
}

/// Refreshes the list every `every` until the verifier is dropped.
fn spawn_refresh(state: Weak<State>, every: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await; // the first tick is immediate: the list was just filled
        loop {
            ticks.tick().await;
            let Some(state) = state.upgrade() else {
                return;
            };
            state.fill().await;
        }
    });
}
