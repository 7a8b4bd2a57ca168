#![doc = include_str!("../docs/agent.md")]

mod call;
mod chat;
mod config;
mod correlation;
mod events;
#[cfg(feature = "otel")]
mod metrics;
mod resilient;
mod spooler;
mod stream;
mod telemetry;
mod tools;
mod transport;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use crate::key::ApiKey;
pub use chat::{
    ChatCall, ChatRequest, ChatResponse, Message, Pipeline, PipelineStep, ToolCall, Usage,
};
#[cfg(feature = "otel")]
pub(crate) use config::normalize_url;
pub use config::AgentBuilder;
pub use correlation::Correlation;
pub use events::AuditEvent;
pub(crate) use events::Reporter;
pub use stream::{ChatChunk, ChatStream, StreamCall};
pub use tools::{ApprovalState, ApprovalStatus, ToolCallRequest, ToolVerdict};
#[cfg(feature = "otel")]
pub(crate) use transport::read_limited;
pub(crate) use transport::{json_bytes, Opts};

/// A client of the TapPass server: governed chat, streaming and tool calls.
///
/// Cheap to clone and `Send + Sync`; clones share one connection pool, one
/// version check and one audit-event reporter. Its `Debug` output never shows
/// the API key.
#[derive(Clone)]
pub struct Agent {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: String,
    /// The endpoints of the hot paths, parsed once rather than on every call.
    pub(crate) endpoints: transport::Endpoints,
    pub(crate) key: ApiKey,
    /// `Bearer <key>`, marked sensitive so that it is never logged.
    pub(crate) authorization: http::HeaderValue,
    pub(crate) model: String,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Duration,
    pub(crate) max_response_bytes: usize,
    pub(crate) redaction_as_error: bool,
    /// [`AgentBuilder::resilience`]: the mode, the breaker and the caches;
    /// `None`: fail closed, every call tried (no breaker).
    pub(crate) resilience: Option<resilient::Resilient>,
    /// [`AgentBuilder::audit_spool`] and its flush.
    pub(crate) spool: Option<spooler::Spooler>,
    /// The client's own agent id (`AgentBuilder::agent_id`).
    pub(crate) agent_id: Option<String>,
    /// Every tool call only recorded, never governed (`AgentBuilder::audit_only`).
    pub(crate) audit_only: bool,
    pub(crate) version: VersionCheck,
    pub(crate) events: Reporter,
    /// Where the key came from (`TAPPASS_API_KEY`, or code), for messages.
    pub(crate) key_setting: &'static str,
    /// Where the URL came from (`TAPPASS_URL`, code, or the default).
    pub(crate) url_setting: &'static str,
    /// [`AgentBuilder::approval_base_url`], normalised.
    pub(crate) approval_base_url: Option<String>,
    /// [`AgentBuilder::signing_key`] and the agent id it signs as.
    #[cfg(feature = "signing")]
    pub(crate) signer: Option<transport::Signer>,
    /// [`AgentBuilder::capture_content`]: prompts, answers and tool
    /// arguments recorded on the spans.
    pub(crate) capture_content: bool,
    /// The control plane's host and port, for the spans' `server.address`
    /// and `server.port`.
    pub(crate) server: Option<(String, u16)>,
    /// The agent's instruments (feature `otel`).
    #[cfg(feature = "otel")]
    pub(crate) metrics: metrics::Metrics,
}

/// How a failed call to the control plane is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) base_delay: Duration,
    pub(crate) max_delay: Duration,
}

impl Agent {
    /// An agent for the TapPass server at `url`, authenticated with `api_key`.
    ///
    /// Fails with [`Error::Config`](crate::Error::Config) for a URL that is not
    /// an absolute `http(s)` URL, a URL with user info (`user:password@`,
    /// never shown in the error) or an empty key. Use [`Agent::builder`] for
    /// timeouts, retries and the model.
    pub fn new(
        url: impl AsRef<str>,
        api_key: impl Into<String>,
    ) -> Result<Agent, crate::error::Error> {
        Agent::builder(url.as_ref()).api_key(api_key).build()
    }

    /// Starts configuring an agent for the server at `url`.
    pub fn builder(url: impl Into<String>) -> AgentBuilder {
        AgentBuilder::new(Some(url.into()))
    }

    /// An agent configured from `TAPPASS_URL` (default `http://localhost:9620`)
    /// and `TAPPASS_API_KEY`.
    pub fn from_env() -> Result<Agent, crate::error::Error> {
        AgentBuilder::new(None).build()
    }

    /// The server's base URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.inner.base_url
    }

    /// The public base of approval pages, when one was configured
    /// ([`AgentBuilder::approval_base_url`]).
    pub fn approval_base_url(&self) -> Option<&str> {
        self.inner.approval_base_url.as_deref()
    }

    /// Points an approval decision's `approval_url` at the configured public
    /// base ([`AgentBuilder::approval_base_url`]): `{base}/{request_id}`,
    /// the id as one percent-encoded segment. The one place that decides a
    /// decision's approval link, for chat, streams and tool calls alike.
    pub(crate) fn public_approval(&self, decision: &mut crate::decision::GovernanceDecision) {
        public_approval(self.inner.approval_base_url.as_deref(), decision);
    }

    /// The model asked for when a call names none.
    pub fn model(&self) -> &str {
        &self.inner.model
    }

    /// Whether this agent lets calls through in some form when the control
    /// plane is unreachable: its [`Resilience`](crate::resilience::Resilience)
    /// mode is `fail_open_cached` or `fail_open_logged` (see
    /// [`AgentBuilder::resilience`]).
    pub fn is_fail_open(&self) -> bool {
        self.resilient().is_some_and(|r| r.config.fails_open())
    }

    /// The agent's resilience, when one was configured
    /// ([`AgentBuilder::resilience`], [`AgentBuilder::fail_open`]).
    pub fn resilience(&self) -> Option<&crate::resilience::Resilience> {
        self.resilient().map(|r| &r.config)
    }

    /// Where the agent's circuit breaker stands (shared by its clones);
    /// `None` without [`AgentBuilder::resilience`].
    pub fn breaker_state(&self) -> Option<crate::resilience::BreakerState> {
        self.resilient().map(|r| r.breaker.state())
    }

    /// How many audit events were lost: dropped because the reporter's queue
    /// was full and there is no spool, because the server refused them, or
    /// because a full spool dropped its oldest ([`WhenFull::DropOldest`](crate::resilience::WhenFull::DropOldest)).
    pub fn dropped_events(&self) -> u64 {
        self.inner.events.dropped()
    }

    /// Sends the queued audit events now and waits until they are delivered (or
    /// given up on), then the audit spool's records, in order, until it is
    /// empty or TapPass does not take one. Call it on graceful shutdown.
    pub async fn flush_events(&self) {
        self.flush_reporter().await
    }

    /// Checks once per agent that the server speaks protocol 0.6.0 or later.
    ///
    /// Concurrent first calls share one check and all get its outcome, so
    /// that against a dead or hanging server they fail together within one
    /// call's retry budget instead of queueing behind one another. A failed
    /// check is tried again by the next call that finds it finished.
    pub(crate) async fn ensure_version(&self) -> Result<(), crate::error::Error> {
        if self.inner.spool.is_some() {
            // A restarted process resumes the flush of what it spooled.
            self.start_flusher();
        }
        let check = &self.inner.version;
        if check.version.get().is_some() {
            return Ok(());
        }
        let running = {
            let mut running = check
                .running
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if check.version.get().is_some() {
                return Ok(());
            }
            match running.as_ref() {
                Some(shared) if !matches!(shared.peek(), Some(Err(_))) => shared.clone(),
                _ => {
                    let shared = self.start_version_check()?;
                    *running = Some(shared.clone());
                    shared
                }
            }
        };
        match running.await {
            Ok(version) => {
                // Already set by a concurrent caller of the same check: the same value.
                let _already = check.version.set(version);
                Ok(())
            }
            Err(err) => Err(duplicate(&err)),
        }
    }

    /// Runs the version check as a task of its own: it finishes (within one
    /// call's retry budget) even when every caller waiting on it is dropped,
    /// and it holds no reference from the agent to itself once done.
    fn start_version_check(&self) -> Result<SharedCheck, crate::error::Error> {
        use futures_util::FutureExt as _;
        use tracing::Instrument as _;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            crate::error::Error::config(
                "the TapPass agent was called outside a Tokio runtime; call it from async code running on Tokio",
            )
        })?;
        let agent = self.clone();
        let task = runtime.spawn(
            async move { transport::check_version(&agent).await.map_err(Arc::new) }
                .in_current_span(),
        );
        Ok(task
            .map(|joined| {
                joined.unwrap_or_else(|err| {
                    Err(Arc::new(crate::error::Error::unavailable(
                        format!("the TapPass version check did not finish: {err}"),
                        None,
                    )))
                })
            })
            .boxed()
            .shared())
    }

    /// The server version seen by the version check, once it has run.
    pub fn server_version(&self) -> Option<&str> {
        self.inner.version.version.get().map(String::as_str)
    }
}

/// The once-per-agent version check: its result once it succeeded, and the
/// check in flight that concurrent first calls share.
#[derive(Default)]
pub(crate) struct VersionCheck {
    version: std::sync::OnceLock<String>,
    running: std::sync::Mutex<Option<SharedCheck>>,
}

type SharedCheck = futures_util::future::Shared<
    futures_util::future::BoxFuture<'static, Result<String, Arc<crate::error::Error>>>,
>;

/// A copy of a shared check's failure for each caller that waited on it: the
/// same variant and message (the underlying source stays with the first).
fn duplicate(err: &crate::error::Error) -> crate::error::Error {
    use crate::error::Error;
    match err {
        Error::Governance(decision) => Error::Governance(decision.clone()),
        Error::Config(message) => Error::Config(message.clone()),
        Error::Unavailable { message, .. } => Error::unavailable(message.clone(), None),
        Error::RateLimited {
            message,
            retry_after,
        } => Error::RateLimited {
            message: message.clone(),
            retry_after: *retry_after,
        },
        Error::Authentication {
            status,
            key_setting,
        } => Error::Authentication {
            status: *status,
            key_setting,
        },
        Error::Protocol(message) => Error::Protocol(message.clone()),
        // No version check is refused by a capability token; kept whole in
        // its message, should one ever be.
        #[cfg(feature = "capability")]
        Error::Capability(rejection) => Error::Protocol(rejection.to_string()),
    }
}

/// Records, on the session in scope, what a server's answer names about it
/// (see [learning from the server](crate::Session#learning-from-the-server)).
pub(crate) fn learn(answer: crate::session::Answered<'_>) {
    crate::session::with_current(|session| {
        if let Some(session) = session {
            session.learn(answer);
        }
    });
}

/// Runs `future` inside `span`, without the cost of instrumenting it when no
/// subscriber listens.
pub(crate) async fn in_span<F: std::future::Future>(span: &tracing::Span, future: F) -> F::Output {
    use tracing::Instrument as _;
    if span.is_disabled() {
        future.await
    } else {
        future.instrument(span.clone()).await
    }
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agent")
            .field("url", &self.inner.base_url)
            .field("api_key", &self.inner.key)
            .field("model", &self.inner.model)
            .field("resilience", &self.resilience())
            .field(
                "audit_spool",
                &self.inner.spool.as_ref().map(|s| s.spool.dir()),
            )
            .finish_non_exhaustive()
    }
}

/// A decision the server answered (the body of a non-2xx answer, or an event
/// in the middle of a stream), made ready for the caller: the session in
/// scope learns the correlation it names and fills in what it left out, and
/// an approval points at the public approval base. `None` when `answer` is
/// not a decision.
pub(crate) fn received_decision(
    answer: &serde_json::Value,
    approval_base: Option<&str>,
) -> Option<crate::decision::GovernanceDecision> {
    let mut decision = crate::decision::GovernanceDecision::from_json(answer)?;
    // A decision is an answer too: the session learns what it names.
    if let Some(fields) = answer.as_object() {
        Correlation::read(fields).teach_session();
    }
    crate::session::with_current(|session| {
        if let Some(session) = session {
            decision.fill_correlation(session);
        }
    });
    public_approval(approval_base, &mut decision);
    Some(decision)
}

/// [`Agent::public_approval`] for a configured base (or none).
fn public_approval(base: Option<&str>, decision: &mut crate::decision::GovernanceDecision) {
    let crate::decision::GovernanceDecision::ApprovalRequired(approval) = decision else {
        return;
    };
    let (Some(base), Some(id)) = (base, &approval.request_id) else {
        return;
    };
    if let Ok(segment) = transport::path_segment(id, "approval request id") {
        approval.approval_url = Some(format!("{base}/{segment}"));
    }
}
