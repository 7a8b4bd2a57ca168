//! Audit events: a background reporter that delivers `session_open`,
//! `session_close` and other events to `POST /v1/events` off the hot path.
//!
//! Events go into a bounded queue; a background task sends them in batches,
//! each with an `Idempotency-Key` so that a retried batch is recorded once. A
//! full queue never blocks or slows a request: the event is dropped, counted
//! ([`Agent::dropped_events`](crate::Agent::dropped_events)) and logged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use http::Method;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::{Agent, Timestamp};

const BATCH: usize = 100;
const LINGER: Duration = Duration::from_millis(50);

/// One audit event, as `POST /v1/events` takes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    /// `session_open`, `session_close`, `chat_call`, `tool_call`, `decision`, …
    pub event_type: String,
    /// The agent UUID, when known.
    pub agent_id: Option<String>,
    /// When it happened.
    pub occurred_at: Timestamp,
    /// The session it belongs to.
    pub session_id: Option<String>,
    /// The task it belongs to.
    pub task_id: Option<String>,
    /// Free-form details.
    pub details: Value,
}

impl AuditEvent {
    /// An event of `event_type` in `session`, now.
    pub fn new(event_type: impl Into<String>, session: &crate::Session, details: Value) -> Self {
        AuditEvent {
            event_type: event_type.into(),
            agent_id: session.agent_uuid().map(str::to_owned),
            occurred_at: Timestamp::now(),
            session_id: Some(session.id().to_owned()),
            task_id: None,
            details,
        }
    }
}

enum Command {
    Event(AuditEvent),
    Flush(oneshot::Sender<()>),
}

/// The agent's handle on its reporter task, started on first use.
pub(crate) struct Reporter {
    capacity: usize,
    sender: OnceLock<mpsc::Sender<Command>>,
    dropped: Arc<AtomicU64>,
}

impl Reporter {
    pub(crate) fn new(capacity: usize) -> Self {
        Reporter {
            capacity,
            sender: OnceLock::new(),
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn count_drop(&self, why: &str) {
        count_drop(&self.dropped, 1, why);
    }
}

fn count_drop(counter: &AtomicU64, n: u64, why: &str) {
    let before = counter.fetch_add(n, Ordering::Relaxed);
    // Log the first drop and then every thousandth, not every one.
    if before == 0 || (before + n) / 1000 != before / 1000 {
        tracing::warn!(
            dropped_total = before + n,
            why,
            "TapPass audit events dropped"
        );
    }
}

impl Agent {
    /// Queues an audit event for delivery; never blocks.
    pub fn report(&self, event: AuditEvent) {
        let reporter = &self.inner.events;
        let sender = match reporter.sender.get() {
            Some(s) => s,
            None => {
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    reporter.count_drop("no tokio runtime to deliver audit events on");
                    return;
                };
                reporter.sender.get_or_init(|| {
                    let (tx, rx) = mpsc::channel(reporter.capacity);
                    runtime.spawn(run(
                        Arc::downgrade(&self.inner),
                        rx,
                        reporter.dropped.clone(),
                    ));
                    tx
                })
            }
        };
        if let Err(err) = sender.try_send(Command::Event(event)) {
            let why = match err {
                mpsc::error::TrySendError::Full(_) => "the audit queue is full",
                mpsc::error::TrySendError::Closed(_) => "the audit reporter has stopped",
            };
            reporter.count_drop(why);
        }
    }

    /// Delivers queued events now; see [`Agent::flush_events`].
    pub(crate) async fn flush_reporter(&self) {
        let Some(sender) = self.inner.events.sender.get() else {
            return;
        };
        let (tx, rx) = oneshot::channel();
        if sender.send(Command::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// The reporter task: batches events and sends them until every agent handle
/// is gone, then delivers what is left.
async fn run(
    agent: Weak<crate::agent::Inner>,
    mut rx: mpsc::Receiver<Command>,
    dropped: Arc<AtomicU64>,
) {
    let mut batch: Vec<AuditEvent> = Vec::with_capacity(BATCH);
    loop {
        let command = if batch.is_empty() {
            rx.recv().await
        } else {
            match tokio::time::timeout(LINGER, rx.recv()).await {
                Ok(c) => c,
                Err(_) => {
                    deliver(&agent, &mut batch, &dropped).await;
                    continue;
                }
            }
        };
        match command {
            Some(Command::Event(e)) => {
                batch.push(e);
                if batch.len() >= BATCH {
                    deliver(&agent, &mut batch, &dropped).await;
                }
            }
            Some(Command::Flush(done)) => {
                while let Ok(Command::Event(e)) = rx.try_recv() {
                    batch.push(e);
                    if batch.len() >= BATCH {
                        deliver(&agent, &mut batch, &dropped).await;
                    }
                }
                deliver(&agent, &mut batch, &dropped).await;
                let _ = done.send(());
            }
            None => {
                deliver(&agent, &mut batch, &dropped).await;
                return;
            }
        }
    }
}

async fn deliver(
    agent: &Weak<crate::agent::Inner>,
    batch: &mut Vec<AuditEvent>,
    dropped: &AtomicU64,
) {
    if batch.is_empty() {
        return;
    }
    let events = std::mem::take(batch);
    let Some(inner) = agent.upgrade() else {
        count_drop(
            dropped,
            events.len() as u64,
            "the agent was dropped before delivery",
        );
        return;
    };
    let agent = Agent { inner };
    let body = match crate::agent::json_bytes(&events) {
        Ok(bytes) => bytes,
        Err(_) => return,
    };
    let key = idempotency_key();
    // Retries are the transport's; the key makes them safe.
    let result = agent
        .send_with(
            Method::POST,
            "/v1/events",
            Some(body),
            &crate::agent::Opts {
                extra: &[("idempotency-key", &key)],
                ..Default::default()
            },
        )
        .await;
    if let Err(err) = result {
        count_drop(
            dropped,
            events.len() as u64,
            "the server did not take the audit batch",
        );
        tracing::debug!(error = %err, "audit batch not delivered");
    }
}

fn idempotency_key() -> String {
    use rand::RngExt;
    let bytes: [u8; 16] = rand::rng().random();
    let mut key = String::with_capacity(36);
    key.push_str("evt_");
    for b in bytes {
        key.push_str(&format!("{b:02x}"));
    }
    key
}
