//! The [`Agent`]: a client of the TapPass server for governed chat, streaming
//! and tool calls.
//!
//! ```no_run
//! # async fn run() -> Result<(), tappass::Error> {
//! let agent = tappass::Agent::new("https://tappass.example.com", "tp_...")?;
//! let response = agent.chat("Summarize Q4 revenue").await?;
//! println!("{} (audit: {:?})", response.content, response.audit_url);
//! # Ok(()) }
//! ```
//!
//! One `Agent` holds one pooled HTTP client: clone it (a reference count) rather
//! than building a new one per request. Calls made inside a session
//! ([`current_session`](crate::current_session)) carry that session's
//! correlation headers to the server.

mod chat;
mod config;
mod stream;
mod tools;
mod transport;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use chat::{ChatCall, ChatRequest, ChatResponse, Message, ToolCall, Usage};
pub use config::{AgentBuilder, ApiKey};
pub use stream::{ChatChunk, ChatStream, StreamCall};
pub use tools::{Approval, ApprovalState, ToolCallRequest, ToolVerdict};
pub(crate) use transport::{json_bytes, Opts};

use crate::events::Reporter;

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
    pub(crate) fail_open: bool,
    pub(crate) version: tokio::sync::OnceCell<String>,
    pub(crate) events: Reporter,
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
    /// an absolute `http(s)` URL or an empty key. Use [`Agent::builder`] for
    /// timeouts, retries and the model.
    pub fn new(url: impl AsRef<str>, api_key: impl Into<String>) -> Result<Agent, crate::Error> {
        Agent::builder(url.as_ref()).api_key(api_key).build()
    }

    /// Starts configuring an agent for the server at `url`.
    pub fn builder(url: impl Into<String>) -> AgentBuilder {
        AgentBuilder::new(Some(url.into()))
    }

    /// An agent configured from `TAPPASS_URL` (default `http://localhost:9620`)
    /// and `TAPPASS_API_KEY`.
    pub fn from_env() -> Result<Agent, crate::Error> {
        AgentBuilder::new(None).build()
    }

    /// The server's base URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.inner.base_url
    }

    /// The model asked for when a call names none.
    pub fn model(&self) -> &str {
        &self.inner.model
    }

    /// Whether this agent lets calls through when the control plane is
    /// unreachable (see [`AgentBuilder::fail_open`]).
    pub fn is_fail_open(&self) -> bool {
        self.inner.fail_open
    }

    /// How many audit events were dropped because the reporter's queue was full
    /// or the server refused them.
    pub fn dropped_events(&self) -> u64 {
        self.inner.events.dropped()
    }

    /// Sends the queued audit events now and waits until they are delivered (or
    /// given up on). Call it on graceful shutdown.
    pub async fn flush_events(&self) {
        self.flush_reporter().await
    }

    /// Checks once per agent that the server speaks protocol 0.6.0 or later.
    pub(crate) async fn ensure_version(&self) -> Result<(), crate::Error> {
        self.inner
            .version
            .get_or_try_init(|| transport::check_version(self))
            .await
            .map(drop)
    }

    /// The server version seen by the version check, once it has run.
    pub fn server_version(&self) -> Option<&str> {
        self.inner.version.get().map(String::as_str)
    }
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

/// Records a call's outcome on its span: `allowed`, the decision's kind, or
/// the failure; decisions are logged at info, failures at warn.
pub(crate) fn record_outcome<T>(span: &tracing::Span, result: &Result<T, crate::Error>) {
    use crate::GovernanceError as _;
    match result {
        Ok(_) => {
            span.record("outcome", "allowed");
        }
        Err(crate::Error::Governance(decision)) => {
            span.record("outcome", decision.kind());
            span.in_scope(|| {
                tracing::info!(
                    decision = decision.kind(),
                    reason = decision.reason(),
                    "TapPass decision"
                )
            });
        }
        Err(err) => {
            span.record("outcome", err.code());
            span.in_scope(|| tracing::warn!(error = %err, "TapPass call failed"));
        }
    }
    if let Some(session) = crate::current_session() {
        span.record("session_id", session.id());
    }
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agent")
            .field("url", &self.inner.base_url)
            .field("api_key", &self.inner.key)
            .field("model", &self.inner.model)
            .field("fail_open", &self.inner.fail_open)
            .finish_non_exhaustive()
    }
}
