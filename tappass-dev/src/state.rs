//! What every route and page shares: the policy, the server's own address
//! and the stores, each behind its own lock.
//!
//! This is the floor the routes and the console stand on: it knows the
//! stores and the policy, and nothing of HTTP. Settling an approval lives here
//! (not in a route) because both the API route and the console's button do it,
//! and both must record it the same way.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::watch;

use crate::error::Error;
use crate::ids;
use crate::policy::Policy;
use crate::stores::agents::Agents;
use crate::stores::answers::Answers;
use crate::stores::approvals::{wire_name, Approvals};
use crate::stores::capability_tokens::CapabilityTokens;
use crate::stores::db::Db;
use crate::stores::event_log::EventLog;
use crate::stores::mandates::{Mandates, Signer};
use crate::stores::signing_keys::SigningKeys;
use crate::stores::traces::Traces;
use tappass::agent::ApprovalState;
use tappass::Timestamp;

/// The TapPass version the dev server reports on `/health` and in the console.
pub(crate) const SERVER_VERSION: &str = "0.6.3";
/// The longest short string field the server keeps, in bytes: a chat's
/// `model`, a behaviour's `payload.tool` and `behavior_id`, an audit event's
/// `event_type`, `agent_id`, `session_id`, `task_id` and `occurred_at`, and
/// an agent id it counts. A longer one is refused with `400`, never truncated.
pub(crate) const MAX_FIELD_BYTES: usize = 256;

/// What every handler shares: the policy and the in-memory stores.
pub(crate) struct Shared {
    pub(crate) policy: Policy,
    pub(crate) base_url: String,
    started: Instant,
    approvals: Mutex<Approvals>,
    events: Mutex<EventLog>,
    answers: Mutex<Answers>,
    agents: Mutex<Agents>,
    mandates: Mutex<Mandates>,
    signing_keys: Mutex<SigningKeys>,
    traces: Mutex<Traces>,
    capability_tokens: Mutex<CapabilityTokens>,
    /// The database the stores write through to (`--db`), if any.
    db: Option<Arc<Db>>,
    /// Whether the API answers, and whether the server is stopping (which
    /// ends a [`Availability::Hanging`] request's wait).
    availability: watch::Sender<(Availability, bool)>,
}

/// Whether the dev server's API answers: set on purpose to rehearse an
/// outage ([`DevServer::set_availability`](crate::DevServer::set_availability),
/// or the console's Availability page). The console itself always answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Availability {
    /// Every route answers as usual.
    #[default]
    Available,
    /// Every API route answers `503` with a JSON body that holds no decision
    /// (the agent retries it, then finds TapPass unavailable).
    Unavailable,
    /// Every API route accepts the request and never answers it (until the
    /// server is available again or stops, when it answers `503`): the
    /// agent's timeout is what ends the call.
    Hanging,
}

impl Availability {
    /// `available`, `unavailable` or `hanging`.
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Available => "available",
            Availability::Unavailable => "unavailable",
            Availability::Hanging => "hanging",
        }
    }

    /// The availability named by [`as_str`](Self::as_str).
    pub(crate) fn parse(name: &str) -> Option<Availability> {
        match name {
            "available" => Some(Availability::Available),
            "unavailable" => Some(Availability::Unavailable),
            "hanging" => Some(Availability::Hanging),
            _ => None,
        }
    }
}

/// A lock whose holder panicked still guards consistent data: every store
/// updates itself in one step.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// The state of a server with `policy` at `base_url`, keeping at most
    /// `max_event_log_bytes` of audit events, signing mandates with `signer`
    /// (a generated key when `None`, or with a database, the key it signed
    /// with before), minting capability tokens with `capability_key`, its
    /// stores kept in `db` when there is one.
    pub(crate) fn new(
        policy: Policy,
        base_url: String,
        max_event_log_bytes: usize,
        signer: Option<Signer>,
        capability_key: tappass::capability::SigningKey,
        db: Option<Arc<Db>>,
    ) -> Result<Shared, Error> {
        let (events, approvals, answers, mandates) = match &db {
            None => (
                EventLog::new(max_event_log_bytes),
                Approvals::default(),
                Answers::default(),
                Mandates::new(signer.unwrap_or_else(Signer::generate)),
            ),
            Some(db) => (
                EventLog::with_db(max_event_log_bytes, db.clone())?,
                Approvals::with_db(db.clone())?,
                Answers::with_db(db.clone())?,
                Mandates::with_db(signer, db.clone())?,
            ),
        };
        Ok(Shared {
            policy,
            base_url,
            started: Instant::now(),
            approvals: Mutex::new(approvals),
            events: Mutex::new(events),
            answers: Mutex::new(answers),
            agents: Mutex::default(),
            mandates: Mutex::new(mandates),
            signing_keys: Mutex::default(),
            traces: Mutex::default(),
            capability_tokens: Mutex::new(CapabilityTokens::new(capability_key)),
            db,
            availability: watch::Sender::new((Availability::Available, false)),
        })
    }

    /// The capability token key and the tokens minted. Never held across an `.await`.
    pub(crate) fn capability_tokens(&self) -> MutexGuard<'_, CapabilityTokens> {
        lock(&self.capability_tokens)
    }

    /// The database file, when the server keeps its state in one.
    pub(crate) fn db_path(&self) -> Option<&std::path::Path> {
        self.db.as_deref().map(Db::path)
    }

    /// Whether the API answers now.
    pub(crate) fn availability(&self) -> Availability {
        self.availability.borrow().0
    }

    /// Makes the API available, unavailable or hanging.
    pub(crate) fn set_availability(&self, availability: Availability) {
        // Read first: a borrow held while sending would deadlock the channel.
        let stopping = self.availability.borrow().1;
        let before = self.availability.send_replace((availability, stopping));
        if before.0 != availability {
            tracing::warn!(
                from = before.0.as_str(),
                to = availability.as_str(),
                "the TapPass dev server's API is now {} (on purpose)",
                availability.as_str()
            );
        }
    }

    /// Ends the waits of hanging requests: the server is stopping.
    pub(crate) fn stopping(&self) {
        self.availability.send_modify(|state| state.1 = true);
    }

    /// Waits until the API is no longer hanging, or the server stops.
    pub(crate) async fn hang(&self) {
        let mut changes = self.availability.subscribe();
        let _ = changes
            .wait_for(|(availability, stopping)| {
                *stopping || *availability != Availability::Hanging
            })
            .await;
    }

    /// The agents' signing keys and the nonces seen. Never held across an `.await`.
    pub(crate) fn signing_keys(&self) -> MutexGuard<'_, SigningKeys> {
        lock(&self.signing_keys)
    }

    /// The spans exported to the server. Never held across an `.await`.
    pub(crate) fn traces(&self) -> MutexGuard<'_, Traces> {
        lock(&self.traces)
    }

    /// The mandate keys and the mandates issued. Never held across an `.await`.
    pub(crate) fn mandates(&self) -> MutexGuard<'_, Mandates> {
        lock(&self.mandates)
    }

    /// The approval store. Never held across an `.await`.
    pub(crate) fn approvals(&self) -> MutexGuard<'_, Approvals> {
        lock(&self.approvals)
    }

    /// The audit event log. Never held across an `.await`.
    pub(crate) fn events(&self) -> MutexGuard<'_, EventLog> {
        lock(&self.events)
    }

    /// The answers remembered per `Idempotency-Key`. Never held across an `.await`.
    pub(crate) fn answers(&self) -> MutexGuard<'_, Answers> {
        lock(&self.answers)
    }

    /// Counts an agent for `/health`.
    pub(crate) fn saw_agent(&self, agent: &str) {
        lock(&self.agents).saw(agent, MAX_FIELD_BYTES);
    }

    /// How many distinct agents the server has seen.
    pub(crate) fn agent_count(&self) -> usize {
        lock(&self.agents).len()
    }

    /// How long the server has been up.
    pub(crate) fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Settles a pending approval and records it as an `approval` event.
    pub(crate) fn decide(&self, request_id: &str, state: ApprovalState) -> bool {
        let decided = self.approvals().decide(request_id, state);
        if decided {
            if let Some(row) = self.approvals().get(request_id) {
                self.events().push(json!({
                    "event_type": "approval",
                    "agent_id": null,
                    "occurred_at": Timestamp::now(),
                    "session_id": row.session_id,
                    "task_id": null,
                    "details": {
                        "request_id": row.request_id,
                        "state": wire_name(&row.state),
                        "tool": row.tool,
                        "recorded_by": "tappass-dev",
                    },
                }));
            }
        }
        decided
    }

    /// The dashboard link of a session: the dev server's audit route, the
    /// id percent-encoded as one path segment.
    pub(crate) fn audit_url(&self, session_id: &str) -> String {
        let path = ids::url_path(&["v1", "audit", "sessions", session_id]);
        format!("{}{path}", self.base_url)
    }

    /// Where a person decides an approval: the console's page of that one
    /// approval. It needs no API key.
    pub(crate) fn approval_url(&self, request_id: &str) -> String {
        let path = ids::url_path(&["approvals", request_id]);
        format!("{}{path}", self.base_url)
    }
}
