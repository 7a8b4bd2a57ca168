//! The agent's side of the audit spool: what goes into it (a degraded call's
//! event, an event the in-memory queue cannot hold, a batch the server did
//! not take) and the flush that sends it back out, in order, each record
//! with its own `Idempotency-Key`, once TapPass answers.
//!
//! The flush runs in a task of its own, started on the runtime of the first
//! call or report that needs it (and again if that runtime ends), woken by
//! each record appended and every [`FLUSH_TICK`] otherwise. It makes no
//! call while the breaker is open (the transport refuses it at once), and
//! stops at the first record the server does not take, to try it again.
//! [`Agent::flush_events`] runs the same flush and waits for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use http::Method;
use tokio::sync::Notify;

use super::{Agent, AuditEvent, Inner, Opts};
use crate::error::Error;
use crate::resilience::spool::{Refused, Spool};
use crate::session::scope::Scope;

/// How often the flush looks at the spool when nothing woke it.
const FLUSH_TICK: Duration = Duration::from_millis(500);
/// How many records the flush reads at a time.
const PEEK: usize = 64;

/// The spool of an agent and its flush.
pub(crate) struct Spooler {
    pub(crate) spool: Arc<Spool>,
    wake: Arc<Notify>,
    /// Whether a flush task runs (it clears this when it ends, also when
    /// its runtime drops it).
    running: Arc<AtomicBool>,
    /// One flush at a time, so that records go in order.
    flushing: tokio::sync::Mutex<()>,
}

impl Spooler {
    pub(crate) fn new(spool: Spool) -> Spooler {
        Spooler {
            spool: Arc::new(spool),
            wake: Arc::new(Notify::new()),
            running: Arc::new(AtomicBool::new(false)),
            flushing: tokio::sync::Mutex::new(()),
        }
    }
}

/// Clears the running flag when the flush task ends or is dropped.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// How a flush ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flushed {
    /// Every record was delivered.
    All,
    /// The server did not take a record (or the breaker is open): the rest waits.
    Stopped,
}

impl Agent {
    /// Appends `event` to the spool, or queues it in memory when the agent
    /// has no spool. A spool that refuses it (full and failing closed, or
    /// not writable) is an error: the call it belongs to fails closed.
    pub(crate) fn spool_or_report(&self, event: AuditEvent) -> Result<(), Error> {
        let Some(spooler) = &self.inner.spool else {
            self.report(event);
            return Ok(());
        };
        let body = super::json_bytes(&[&event])?;
        let key = super::transport::idempotency_key();
        let key = key.to_str().expect("hex digits");
        match spooler.spool.append(key, &body) {
            Ok(()) => {
                self.start_flusher();
                self.wake_flusher();
                Ok(())
            }
            Err(refused) => {
                tracing::error!(error = %refused, "a degraded call's audit event could not be spooled: the call fails closed");
                Err(Error::unavailable(
                    format!("TapPass is unavailable and {refused}, so the call fails closed"),
                    None,
                ))
            }
        }
    }

    /// Appends a batch of events (the exact body and key of a `POST
    /// /v1/events` that may have been sent already) to the spool; `false`
    /// when there is no spool or it refused them.
    pub(crate) fn spool_batch(&self, key: &str, body: &[u8]) -> bool {
        let Some(spooler) = &self.inner.spool else {
            return false;
        };
        match spooler.spool.append(key, body) {
            Ok(()) => {
                self.start_flusher();
                self.wake_flusher();
                true
            }
            Err(Refused::Full) => false,
            Err(err) => {
                tracing::warn!(error = %err, "audit events could not be spooled");
                false
            }
        }
    }

    /// Wakes the flush task, unless the breaker is open (or probing): then
    /// nothing would be sent, and the task looks again at its next tick, or
    /// when a probe finds TapPass answering again.
    pub(crate) fn wake_flusher(&self) {
        let Some(spooler) = &self.inner.spool else {
            return;
        };
        let closed = self.resilient().is_none_or(|r| r.breaker.state_is_closed());
        if closed {
            spooler.wake.notify_one();
        }
    }

    /// Starts the flush task when the agent has a spool and none runs (on
    /// the current runtime; outside one, nothing is started).
    pub(crate) fn start_flusher(&self) {
        let Some(spooler) = &self.inner.spool else {
            return;
        };
        if spooler.running.load(Ordering::Acquire) || spooler.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            spooler.running.store(false, Ordering::Release);
            return;
        };
        let running = Running(spooler.running.clone());
        runtime.spawn(flush_task(
            Arc::downgrade(&self.inner),
            spooler.wake.clone(),
            running,
        ));
    }

    /// Sends the spooled records in order until the spool is empty or one is
    /// not taken.
    pub(crate) async fn flush_spool(&self) -> Flushed {
        let Some(spooler) = &self.inner.spool else {
            return Flushed::All;
        };
        // Outside any session: a record is sent exactly as it was written.
        Scope::bare(None).enter(self.flush_records(spooler)).await
    }

    async fn flush_records(&self, spooler: &Spooler) -> Flushed {
        let _one = spooler.flushing.lock().await;
        loop {
            let records = match spooler.spool.peek(PEEK) {
                Ok(records) => records,
                Err(err) => {
                    tracing::warn!(error = %err, dir = %spooler.spool.dir().display(), "the TapPass audit spool could not be read");
                    return Flushed::Stopped;
                }
            };
            if records.is_empty() {
                return Flushed::All;
            }
            for record in records {
                let Ok(key) = http::HeaderValue::from_str(&record.key) else {
                    continue;
                };
                let opts = Opts {
                    idempotency_key: Some(key),
                    ..Opts::default()
                };
                let sent = self
                    .send_with(Method::POST, "/v1/events", Some(record.body.clone()), &opts)
                    .await;
                match sent {
                    Ok(_) => {
                        if let Err(err) = spooler.spool.ack(&record) {
                            tracing::warn!(error = %err, "the TapPass audit spool's cursor could not be written");
                            return Flushed::Stopped;
                        }
                    }
                    Err(err) => {
                        tracing::debug!(error = %err, "spooled audit events not delivered yet");
                        return Flushed::Stopped;
                    }
                }
            }
        }
    }

    /// How many records wait in the audit spool (a record is one event,
    /// or a batch the server did not take).
    pub fn spooled_events(&self) -> u64 {
        self.inner.spool.as_ref().map_or(0, |s| s.spool.pending())
    }

    /// The bytes of the audit spool's files now: never more than its
    /// [`max_bytes`](crate::resilience::AuditSpool::max_bytes).
    pub fn spool_bytes(&self) -> u64 {
        self.inner.spool.as_ref().map_or(0, |s| s.spool.bytes())
    }
}

/// The flush task: flushes, then waits to be woken or for the tick, until
/// every handle of the agent is gone.
async fn flush_task(agent: Weak<Inner>, wake: Arc<Notify>, _running: Running) {
    loop {
        // Registered before the flush, so that a record appended during it
        // wakes the next one.
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let Some(inner) = agent.upgrade() else {
                return;
            };
            Agent { inner }.flush_spool().await;
        }
        tokio::select! {
            () = notified => {}
            () = tokio::time::sleep(FLUSH_TICK) => {}
        }
    }
}
