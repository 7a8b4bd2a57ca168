//! An agent's resilience at run time ([`Resilience`] as configured, with
//! its breaker and caches), and the one place that decides what a call that
//! found TapPass unavailable becomes: [`Agent::degrade`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};

use super::{Agent, AuditEvent, ToolVerdict};
use crate::error::Error;
use crate::resilience::breaker::{Breaker, BreakerState, Outcome};
use crate::resilience::cache::{Cache, Decided, Ticket};
use crate::resilience::{DegradedReason, Mode, Resilience};
use crate::timestamp::Timestamp;

/// What an agent's clones share of its resilience.
pub(crate) struct Resilient {
    pub(crate) config: Resilience,
    pub(crate) breaker: Breaker,
    /// `fail_open_cached`: the last answer of each chat.
    chats: Option<Cache<CachedChat>>,
    /// `fail_open_cached`: the last verdict of each tool call.
    tools: Option<Cache<ToolVerdict>>,
    /// Degraded calls since the control plane last answered.
    degraded_calls: AtomicU64,
    /// Whether calls are being degraded now (logged once when it starts).
    degrading: AtomicBool,
}

impl Resilient {
    pub(crate) fn new(config: Resilience) -> Resilient {
        let cached = config.mode == Mode::FailOpenCached;
        Resilient {
            breaker: Breaker::new(config.failure_threshold, config.open_for),
            chats: cached.then(|| Cache::new(config.cache_ttl, config.cache_entries)),
            tools: cached.then(|| Cache::new(config.cache_ttl, config.cache_entries)),
            degraded_calls: AtomicU64::new(0),
            degrading: AtomicBool::new(false),
            config,
        }
    }

    /// The error of a call the open breaker refused (a fixed message: this is
    /// the hot path of an outage).
    pub(crate) fn refused(&self) -> Error {
        Error::unavailable(
            "the circuit breaker is open: TapPass failed the calls before this one, and no call reaches it until one probes it again",
            None,
        )
    }

    /// A call reached the control plane and got an answer.
    pub(crate) fn answered(&self, probe: bool) {
        self.breaker.record(Outcome::Answered, probe);
        if self.degrading.load(Ordering::Relaxed) && self.degrading.swap(false, Ordering::Relaxed) {
            let calls = self.degraded_calls.swap(0, Ordering::Relaxed);
            tracing::warn!(
                degraded_calls = calls,
                "TapPass answers again: calls are governed again ({calls} call(s) were degraded meanwhile)"
            );
        } else if self.config.max_degraded_calls.is_some() {
            self.degraded_calls.store(0, Ordering::Relaxed);
        }
    }

    /// A call found the control plane unavailable.
    pub(crate) fn unavailable(&self, probe: bool) {
        self.breaker.record(Outcome::Unavailable, probe);
    }
}

/// A chat's answer as the cache keeps it: its bytes (no work on the hot path
/// of a call that reaches TapPass), read once when it is first reused.
#[derive(Clone)]
pub(crate) struct CachedChat {
    bytes: Bytes,
    read: Arc<OnceLock<Option<super::ChatResponse>>>,
}

impl CachedChat {
    /// The answer, read from its bytes the first time.
    pub(crate) fn answer(&self) -> Option<super::ChatResponse> {
        self.read
            .get_or_init(|| {
                let raw = serde_json::from_slice(&self.bytes).ok()?;
                super::ChatResponse::from_json(raw).ok()
            })
            .clone()
    }
}

/// A call's place in the last-known-good cache: its key and ticket.
pub(crate) struct Slot {
    key: Vec<u8>,
    ticket: Ticket,
}

/// Which call is degraded, for its audit event.
pub(crate) enum Call<'a> {
    Chat {
        model: &'a str,
        messages: usize,
    },
    Tool {
        tool: &'a str,
        args: &'a Value,
        server: Option<&'a str>,
    },
}

/// What a degraded call returns.
pub(crate) enum Degraded<T> {
    /// The allow reused from the cache, and its age.
    Cached(T, Duration),
    /// Nothing: the call goes through ungoverned.
    Ungoverned,
}

/// The correlation a key is made of: the session and its agent.
fn scope_key(key: &mut Vec<u8>, agent: Option<&str>) {
    crate::session::with_current(|session| {
        key.extend_from_slice(session.map_or("", |s| s.id()).as_bytes());
        key.push(0);
        let agent = session.and_then(|s| s.agent_uuid()).or(agent).unwrap_or("");
        key.extend_from_slice(agent.as_bytes());
        key.push(0);
    });
}

/// Whether the call runs with a resume token: an allow it gets is an
/// approval's one pass.
fn resuming() -> bool {
    crate::session::scope::resume_token().is_some()
}

impl Agent {
    pub(crate) fn resilient(&self) -> Option<&Resilient> {
        self.inner.resilience.as_ref()
    }

    /// The cache slot of a chat sending `body` (`fail_open_cached` only):
    /// the session, its agent and the exact request body (model, messages,
    /// metadata).
    pub(crate) fn chat_slot(&self, body: &[u8]) -> Option<Slot> {
        let cache = self.resilient()?.chats.as_ref()?;
        let mut key = Vec::with_capacity(body.len() + 64);
        scope_key(&mut key, self.inner.agent_id.as_deref());
        key.extend_from_slice(body);
        Some(Slot {
            key,
            ticket: cache.ticket(),
        })
    }

    /// The cache slot of a tool call (`fail_open_cached` only): the session,
    /// its agent, the tool, its server and organisation, and the arguments
    /// as compact JSON with sorted keys.
    pub(crate) fn tool_slot(
        &self,
        tool: &str,
        args: &Value,
        server: Option<&str>,
        org: Option<&str>,
    ) -> Option<Slot> {
        let cache = self.resilient()?.tools.as_ref()?;
        let mut key = Vec::with_capacity(128);
        scope_key(&mut key, self.inner.agent_id.as_deref());
        for part in [tool, server.unwrap_or("\u{1}"), org.unwrap_or("\u{1}")] {
            key.extend_from_slice(part.as_bytes());
            key.push(0);
        }
        key.extend_from_slice(canonical(args).as_bytes());
        Some(Slot {
            key,
            ticket: cache.ticket(),
        })
    }

    /// Records a chat's outcome in the cache.
    pub(crate) fn remember_chat(
        &self,
        slot: Option<&Slot>,
        outcome: &Result<super::ChatResponse, Error>,
        answer: Option<Bytes>,
    ) {
        let (Some(slot), Some(cache)) = (slot, self.resilient().and_then(|r| r.chats.as_ref()))
        else {
            return;
        };
        let decided = match (outcome, answer) {
            (Ok(response), _) if resuming() || approved(&response.raw) => Decided::AllowOnce,
            (Ok(_), Some(bytes)) => Decided::Allow(CachedChat {
                bytes,
                read: Arc::default(),
            }),
            (Ok(_), None) => Decided::AllowOnce,
            (Err(Error::Governance(_)), _) => Decided::Other,
            // Not a decision: nothing learned of the call.
            (Err(_), _) => return,
        };
        cache.record(&slot.key, slot.ticket, decided);
    }

    /// Records a tool call's outcome in the cache.
    pub(crate) fn remember_tool(&self, slot: Option<&Slot>, outcome: &Result<ToolVerdict, Error>) {
        let (Some(slot), Some(cache)) = (slot, self.resilient().and_then(|r| r.tools.as_ref()))
        else {
            return;
        };
        let decided = match outcome {
            Ok(verdict)
                if resuming() || verdict.raw.get("approval").is_some_and(|a| !a.is_null()) =>
            {
                Decided::AllowOnce
            }
            Ok(verdict) => {
                let mut kept = verdict.clone();
                // A mandate is a bearer credential issued for one call.
                if let Some(raw) = kept.raw.as_object_mut() {
                    raw.remove("mandate");
                }
                Decided::Allow(kept)
            }
            Err(Error::Governance(_)) => Decided::Other,
            Err(_) => return,
        };
        cache.record(&slot.key, slot.ticket, decided);
    }

    /// The last allow of a chat, and its age, when it may be reused.
    pub(crate) fn cached_chat(&self, slot: &Slot) -> Option<(CachedChat, Duration)> {
        self.resilient()?.chats.as_ref()?.reuse(&slot.key)
    }

    /// The last allow of a tool call, and its age, when it may be reused.
    pub(crate) fn cached_tool(&self, slot: &Slot) -> Option<(ToolVerdict, Duration)> {
        self.resilient()?.tools.as_ref()?.reuse(&slot.key)
    }

    /// Whether `err` degrades the call rather than failing it: only an
    /// unavailable control plane, in a mode that fails open.
    pub(crate) fn degrades(&self, err: &Error) -> bool {
        err.is_unavailable() && self.resilient().is_some_and(|r| r.config.fails_open())
    }

    /// What a call that found TapPass unavailable (`err`) becomes, in the
    /// agent's mode: the allow reused from the cache, or nothing (an
    /// ungoverned call), each recorded as a `degraded_call` event (in the
    /// spool before this returns when there is one) and marked on the
    /// request's scope; or `err` itself, failing closed, when the mode, the
    /// cache, the cap of degraded calls or a full spool says so.
    pub(crate) fn degrade<T>(
        &self,
        err: Error,
        call: Call<'_>,
        cached: impl FnOnce() -> Option<(T, Duration)>,
    ) -> Result<Degraded<T>, Error> {
        let Some(resilient) = self.resilient() else {
            return Err(err);
        };
        let degraded = match resilient.config.mode {
            Mode::FailClosed => return Err(err),
            Mode::FailOpenCached => match cached() {
                Some((value, age)) => Degraded::Cached(value, age),
                None => {
                    tracing::debug!(error = %err, "TapPass is unavailable and no allow of this call is cached: failing closed");
                    return Err(err);
                }
            },
            Mode::FailOpenLogged => Degraded::Ungoverned,
        };
        if let Some(cap) = resilient.config.max_degraded_calls {
            if resilient.degraded_calls.fetch_add(1, Ordering::Relaxed) >= cap {
                tracing::debug!(cap, "the cap of degraded calls is reached: failing closed");
                return Err(err);
            }
        } else {
            resilient.degraded_calls.fetch_add(1, Ordering::Relaxed);
        }
        let reason = match &degraded {
            Degraded::Cached(_, age) => DegradedReason::Cached { age: *age },
            Degraded::Ungoverned => DegradedReason::Ungoverned,
        };
        self.record_degraded(&call, reason, &err)?;
        if !resilient.degrading.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                mode = resilient.config.mode.as_str(),
                error = %err,
                "TapPass is unavailable; failing OPEN ({}): calls are degraded until it answers again, each recorded as a degraded_call event",
                resilient.config.mode
            );
        }
        crate::session::scope::mark_degraded(reason.severity());
        Ok(degraded)
    }

    /// The `degraded_call` event of a call, written before the call returns.
    fn record_degraded(
        &self,
        call: &Call<'_>,
        reason: DegradedReason,
        err: &Error,
    ) -> Result<(), Error> {
        let resilient = self.resilient().expect("called for a resilient agent");
        let mut details = match call {
            Call::Chat { model, messages } => json!({
                "call": "chat",
                "model": model,
                "message_count": messages,
            }),
            Call::Tool { tool, args, server } => json!({
                "call": "tool",
                "tool": tool,
                "arguments": args,
                "server": server,
            }),
        };
        let breaker = resilient.breaker.state();
        if let Some(fields) = details.as_object_mut() {
            fields.insert("reason".into(), reason.as_str().into());
            fields.insert("fail_mode".into(), resilient.config.mode.as_str().into());
            fields.insert("breaker".into(), breaker_name(breaker).into());
            fields.insert(
                "consecutive_failures".into(),
                resilient.breaker.failures().into(),
            );
            fields.insert("error".into(), err.to_string().into());
            if let DegradedReason::Cached { age } = reason {
                fields.insert("cache_age_ms".into(), (age.as_millis() as u64).into());
            }
        }
        let event = match crate::session::current_session() {
            Some(session) => AuditEvent::new("degraded_call", &session, details),
            None => AuditEvent {
                event_type: "degraded_call".to_owned(),
                agent_id: None,
                occurred_at: Timestamp::now(),
                session_id: None,
                task_id: None,
                details,
            },
        };
        self.spool_or_report(event)
    }
}

fn breaker_name(state: BreakerState) -> &'static str {
    state.as_str()
}

/// Whether a chat answer names an approval that let it through (a pipeline
/// step whose action is `approved`).
fn approved(raw: &Value) -> bool {
    raw.get("tappass")
        .and_then(|t| t.get("steps"))
        .and_then(Value::as_array)
        .is_some_and(|steps| {
            steps
                .iter()
                .any(|s| s.get("action").and_then(Value::as_str) == Some("approved"))
        })
}

/// `value` as compact JSON with every object's keys sorted, whatever
/// serde_json's features: the same arguments, the same text.
fn canonical(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let mut out = serde_json::Map::new();
                for key in keys {
                    out.insert(key.clone(), sorted(&map[key]));
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}
