//! Audit events: a background reporter that delivers `session_open`,
//! `session_close` and other events to `POST /v1/events` off the hot path.
//!
//! Events go into a bounded queue; a background task sends them in batches,
//! each with an `Idempotency-Key` so that a retried batch is recorded once. A
//! full queue never blocks or slows a request: the event goes to the audit
//! spool when the agent has one, else it is dropped, counted
//! ([`Agent::dropped_events`](crate::Agent::dropped_events)) and logged. A
//! batch the server did not take goes to the spool too, with the key it was
//! sent with, so that it is recorded once however often it is sent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use http::Method;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::agent::Agent;
use crate::timestamp::Timestamp;

const BATCH: usize = 100;
const LINGER: Duration = Duration::from_millis(50);

/// One audit event, as `POST /v1/events` takes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    /// `session_open`, `session_close`, `chat_call`, `tool_call`, `decision`, …
    pub event_type: String,
    /// The agent UUID, when known; sent as `""` when not (as the Python SDK
    /// sends it: the server attributes the event to the key's agent).
    #[serde(serialize_with = "empty_if_none")]
    pub agent_id: Option<String>,
    /// When it happened.
    pub occurred_at: Timestamp,
    /// The session it belongs to; sent as `""` when none.
    #[serde(serialize_with = "empty_if_none")]
    pub session_id: Option<String>,
    /// The task it belongs to.
    pub task_id: Option<String>,
    /// Free-form details.
    pub details: Value,
}

impl AuditEvent {
    /// An event of `event_type` in `session`, now.
    pub fn new(
        event_type: impl Into<String>,
        session: &crate::session::Session,
        details: Value,
    ) -> Self {
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

/// A string field the Python SDK always sends as a string, never `null`.
fn empty_if_none<S: serde::Serializer>(value: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(value.as_deref().unwrap_or_default())
}

enum Command {
    Event(AuditEvent),
    Flush(oneshot::Sender<()>),
}

/// The agent's handle on its reporter task, started on first use.
///
/// The task runs on the runtime of the call that started it. When that
/// runtime shuts down, the task dies with it (what it still held is counted as
/// dropped) and the next report starts a new one on its own runtime.
pub(crate) struct Reporter {
    capacity: usize,
    sender: Mutex<Option<mpsc::Sender<Command>>>,
    dropped: Arc<AtomicU64>,
}

impl Reporter {
    pub(crate) fn new(capacity: usize) -> Self {
        Reporter {
            capacity,
            sender: Mutex::new(None),
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The counter of lost events, shared with the spool.
    pub(crate) fn dropped_counter(&self) -> Arc<AtomicU64> {
        self.dropped.clone()
    }

    fn count_drop(&self, why: &str) {
        count_drop(&self.dropped, 1, why);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<mpsc::Sender<Command>>> {
        self.sender
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
        let mut sender = reporter.lock();
        // No task yet, or it died with the runtime it ran on: start one here.
        if sender.as_ref().is_none_or(mpsc::Sender::is_closed) {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                reporter.count_drop("no tokio runtime to deliver audit events on");
                return;
            };
            let (tx, rx) = mpsc::channel(reporter.capacity);
            runtime.spawn(run(
                Arc::downgrade(&self.inner),
                Queue {
                    rx,
                    batch: Vec::with_capacity(BATCH),
                    dropped: reporter.dropped.clone(),
                    spool: self.inner.spool.as_ref().map(|s| s.spool.clone()),
                },
            ));
            *sender = Some(tx);
        }
        let Some(sender) = sender.as_ref() else {
            return;
        };
        if let Err(err) = sender.try_send(Command::Event(event)) {
            let (event, why) = match err {
                mpsc::error::TrySendError::Full(Command::Event(e)) => {
                    (e, "the audit queue is full")
                }
                mpsc::error::TrySendError::Closed(Command::Event(e)) => {
                    (e, "the audit reporter has stopped")
                }
                _ => unreachable!("an event was sent"),
            };
            // TapPass is slow or away: the spool keeps what memory cannot.
            let spooled = self.inner.spool.is_some()
                && crate::agent::json_bytes(&[&event]).is_ok_and(|body| {
                    let key = crate::agent::transport::idempotency_key();
                    self.spool_batch(key.to_str().expect("hex digits"), &body)
                });
            if !spooled {
                reporter.count_drop(why);
            }
        }
    }

    /// Delivers queued events now, then the spool's; see [`Agent::flush_events`].
    pub(crate) async fn flush_reporter(&self) {
        let sender = self.inner.events.lock().clone();
        if let Some(sender) = sender {
            let (tx, rx) = oneshot::channel();
            if sender.send(Command::Flush(tx)).await.is_ok() {
                // An error here means the task died first; it counted what it held.
                let _delivered_or_dead = rx.await;
            }
        }
        self.flush_spool().await;
    }
}

/// What the reporter task holds. Dropped with the task, it counts the events
/// it could not deliver: a runtime that shuts down drops its tasks mid-way.
struct Queue {
    rx: mpsc::Receiver<Command>,
    /// The events of the next batch, kept here until the server took them.
    batch: Vec<AuditEvent>,
    dropped: Arc<AtomicU64>,
    /// The agent's spool: what the queue still holds when it is dropped goes there.
    spool: Option<Arc<crate::resilience::spool::Spool>>,
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.rx.close();
        let mut left = std::mem::take(&mut self.batch);
        while let Ok(command) = self.rx.try_recv() {
            if let Command::Event(e) = command {
                left.push(e);
            }
        }
        if left.is_empty() {
            return;
        }
        let mut lost = left.len() as u64;
        if let Some(spool) = &self.spool {
            for chunk in left.chunks(BATCH) {
                let key = crate::agent::transport::idempotency_key();
                let kept = crate::agent::json_bytes(chunk).is_ok_and(|body| {
                    spool
                        .append(key.to_str().expect("hex digits"), &body)
                        .is_ok()
                });
                if kept {
                    lost -= chunk.len() as u64;
                }
            }
        }
        if lost > 0 {
            count_drop(
                &self.dropped,
                lost,
                "the runtime running the audit reporter shut down before delivery",
            );
        }
    }
}

/// The reporter task: batches events and sends them until every agent handle
/// is gone, then delivers what is left.
async fn run(agent: Weak<crate::agent::Inner>, mut queue: Queue) {
    loop {
        let command = if queue.batch.is_empty() {
            queue.rx.recv().await
        } else {
            match tokio::time::timeout(LINGER, queue.rx.recv()).await {
                Ok(c) => c,
                Err(_) => {
                    deliver(&agent, &mut queue).await;
                    continue;
                }
            }
        };
        match command {
            Some(Command::Event(e)) => {
                queue.batch.push(e);
                if queue.batch.len() >= BATCH {
                    deliver(&agent, &mut queue).await;
                }
            }
            Some(Command::Flush(done)) => {
                while let Ok(Command::Event(e)) = queue.rx.try_recv() {
                    queue.batch.push(e);
                    if queue.batch.len() >= BATCH {
                        deliver(&agent, &mut queue).await;
                    }
                }
                deliver(&agent, &mut queue).await;
                // The flusher may have stopped waiting; nothing to tell then.
                let _flusher_gone = done.send(());
            }
            None => {
                deliver(&agent, &mut queue).await;
                return;
            }
        }
    }
}

/// Sends the batch; it stays in the queue until the server answered, so a
/// task dropped mid-way counts it as dropped.
async fn deliver(agent: &Weak<crate::agent::Inner>, queue: &mut Queue) {
    if queue.batch.is_empty() {
        return;
    }
    let n = queue.batch.len() as u64;
    let Some(inner) = agent.upgrade() else {
        queue.batch.clear();
        count_drop(&queue.dropped, n, "the agent was dropped before delivery");
        return;
    };
    let agent = Agent { inner };
    let body = match crate::agent::json_bytes(&queue.batch) {
        Ok(body) => body,
        Err(err) => {
            queue.batch.clear();
            count_drop(&queue.dropped, n, "the audit batch could not be encoded");
            tracing::debug!(error = %err, "audit batch not delivered");
            return;
        }
    };
    // Retries are the transport's; its `Idempotency-Key` makes them safe,
    // and the spool keeps the same key for a batch it takes over.
    let key = crate::agent::transport::idempotency_key();
    let opts = crate::agent::Opts {
        idempotency_key: Some(key.clone()),
        ..crate::agent::Opts::default()
    };
    let result = agent
        .send_with(Method::POST, "/v1/events", Some(body.clone()), &opts)
        .await;
    queue.batch.clear();
    if let Err(err) = result {
        let kept = !matches!(err, crate::Error::Protocol(_))
            && agent.spool_batch(key.to_str().expect("hex digits"), &body);
        if !kept {
            count_drop(&queue.dropped, n, "the server did not take the audit batch");
        }
        tracing::debug!(error = %err, spooled = kept, "audit batch not delivered");
    }
}
