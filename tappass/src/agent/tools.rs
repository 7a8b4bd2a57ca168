//! Tool governance: `POST /v1/govern` and the approval long-poll.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::Method;
use rand::RngExt;
use serde_json::{json, Value};

use super::call::Started;
use super::chat::str_field;
use super::{Agent, AuditEvent, Opts};
use crate::decision::GovernanceDecision;
use crate::decision::{ApprovalRequired, PolicyBlock};
use crate::error::Error;
use crate::resilience::DegradedReason;
use crate::timestamp::Timestamp;

/// The longest single long-poll asked of the server.
const MAX_POLL: Duration = Duration::from_secs(30);
/// How long past its `timeout_seconds` a long-poll may take before it is cut.
const POLL_GRACE: Duration = Duration::from_secs(10);
/// The shortest time between the starts of two polls of an approval.
const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// A tool call to govern, being configured; `.await` it to ask the server.
///
/// ```no_run
/// # async fn run(agent: tappass::Agent) -> Result<(), tappass::Error> {
/// let verdict = agent
///     .govern_tool("send_email", serde_json::json!({"to": "cfo@example.com"}))
///     .await?;
/// println!("allowed: {}", verdict.reason);
/// # Ok(()) }
/// ```
///
/// Like the Python SDK's `govern`, a call can wait for a human
/// ([`wait_for_human`](Self::wait_for_human)) or only be recorded
/// ([`audit_only`](Self::audit_only)):
///
/// ```no_run
/// # async fn run(agent: tappass::Agent) -> Result<(), tappass::Error> {
/// use std::time::Duration;
///
/// // Waits up to five minutes for a human when the policy escalates.
/// let verdict = agent
///     .govern_tool("wire_transfer", serde_json::json!({"amount": 5000}))
///     .wait_for_human(Duration::from_secs(300))
///     .await?;
///
/// // Rolling governance out: recorded as an audit event, never blocked.
/// let seen = agent
///     .govern_tool("search", serde_json::json!({"q": "revenue"}))
///     .audit_only()
///     .await?;
/// assert!(seen.audit_only);
/// # Ok(()) }
/// ```
#[must_use = "a tool call is not governed until it is awaited"]
#[derive(Debug)]
pub struct ToolCallRequest<'a> {
    call: ToolCall<'a>,
    running: Started<'a, Result<ToolVerdict, Error>>,
}

/// What a [`ToolCallRequest`] was configured with.
#[derive(Debug)]
struct ToolCall<'a> {
    agent: &'a Agent,
    tool: String,
    args: Value,
    server: Option<String>,
    org_id: Option<String>,
    wait_for_human: Option<Duration>,
    audit_only: bool,
}

impl ToolCallRequest<'_> {
    /// The MCP (or other) server that hosts the tool.
    pub fn server(mut self, server: impl Into<String>) -> Self {
        self.call.server = Some(server.into());
        self
    }

    /// The organisation the call belongs to.
    pub fn org_id(mut self, org_id: impl Into<String>) -> Self {
        self.call.org_id = Some(org_id.into());
        self
    }

    /// When the server asks a human (`escalate` or `needs_approval`), waits up
    /// to `max_wait` for the answer, long-polling the approval
    /// ([`Agent::wait_for_approval`]), instead of returning the
    /// [`ApprovalRequired`] decision at once.
    ///
    /// Approved, the identical call is submitted again and the server's
    /// answer returned (an `allow` once the approval stands); denied, a
    /// [`PolicyBlock`] decision (`blocked_by: "human_approval"`); nobody
    /// decided in time (or the approval timed out or was cancelled), the
    /// [`ApprovalRequired`] decision, as without waiting. Any other outcome is
    /// returned as it comes.
    pub fn wait_for_human(mut self, max_wait: Duration) -> Self {
        self.call.wait_for_human = Some(max_wait);
        self
    }

    /// Records the tool call as a `tool_call` audit event and lets it through,
    /// without asking the server for a decision: for teams rolling governance
    /// out, who want to see what their agents do before any policy blocks it.
    /// The verdict has [`ToolVerdict::audit_only`] set. The same for every
    /// call of an agent: [`AgentBuilder::audit_only`](super::AgentBuilder::audit_only).
    ///
    /// The event is queued like every audit event (never blocking the call);
    /// [`Agent::flush_events`] delivers it at once.
    pub fn audit_only(mut self) -> Self {
        self.call.audit_only = true;
        self
    }
}

impl Future for ToolCallRequest<'_> {
    type Output = Result<ToolVerdict, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let call = &mut this.call;
        this.running.poll(cx, || {
            let call = ToolCall {
                agent: call.agent,
                tool: std::mem::take(&mut call.tool),
                args: call.args.take(),
                server: call.server.take(),
                org_id: call.org_id.take(),
                wait_for_human: call.wait_for_human,
                audit_only: call.audit_only,
            };
            call.run()
        })
    }
}

impl ToolCall<'_> {
    async fn run(self) -> Result<ToolVerdict, Error> {
        let operation = super::telemetry::Operation::tool(self.agent, &self.tool, &self.args);
        let agent = self.agent;
        let audit_only = self.audit_only || agent.inner.audit_only;
        let slot = if audit_only {
            None
        } else {
            agent.tool_slot(
                &self.tool,
                &self.args,
                self.server.as_deref(),
                self.org_id.as_deref(),
            )
        };
        let result = super::in_span(&operation.span, agent.govern(&self)).await;
        agent.remember_tool(slot.as_ref(), &result);
        // The span records what the caller gets: a degraded call's verdict,
        // or the error of a call that could not be degraded.
        let result = match result {
            Err(err) if agent.degrades(&err) => {
                let call = super::resilient::Call::Tool {
                    tool: &self.tool,
                    args: &self.args,
                    server: self.server.as_deref(),
                };
                let reused = || agent.cached_tool(slot.as_ref()?);
                match agent.degrade(err, call, reused) {
                    Err(err) => Err(err),
                    Ok(super::resilient::Degraded::Cached(mut verdict, age)) => {
                        verdict.degraded = Some(DegradedReason::Cached { age });
                        Ok(verdict)
                    }
                    Ok(super::resilient::Degraded::Ungoverned) => Ok(ToolVerdict {
                        reason:
                            "not governed: the control plane was unavailable and the agent fails open"
                                .to_owned(),
                        degraded: Some(DegradedReason::Ungoverned),
                        ..ToolVerdict::default()
                    }),
                }
            }
            other => other,
        };
        operation.finish_tool(agent, &result);
        result
    }
}

/// What [`Agent::govern_tool`] returns when the server allows a tool call:
/// the go-ahead to run the tool, with the server's reason and ids.
///
/// It is not a verdict that can say "no": a refusal (`block`) or a pause
/// for a human (`needs_approval`, `escalate`) comes back as the `Err` of the
/// same call, a governance decision ([`PolicyBlock`], [`ApprovalRequired`]),
/// so `?` in a handler answers it with its status. A verdict whose
/// [`degraded()`](Self::degraded) is `Some` is the one exception to "the
/// server allowed it now": the control plane was down and the agent's
/// [resilience](super::AgentBuilder::resilience) reused the last allow of the
/// identical call, or let it through ungoverned.
///
/// Its `Debug` shows `raw` with the mandate replaced by `<redacted>`: the
/// mandate is a bearer credential and must not reach the logs.
#[derive(Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ToolVerdict {
    /// Why it was allowed.
    pub reason: String,
    /// The id of the governed behaviour.
    pub behavior_id: String,
    /// The pipeline that decided.
    pub pipeline_id: Option<String>,
    /// When it was decided.
    pub decided_at: Option<Timestamp>,
    /// The whole decision object.
    pub raw: Value,
    /// Why the call was not governed now, when it was not: see [`degraded`](Self::degraded).
    pub(crate) degraded: Option<DegradedReason>,
    /// True when the call was only recorded as an audit event, in audit-only
    /// mode ([`ToolCallRequest::audit_only`]): it was **not** governed.
    pub audit_only: bool,
}

impl fmt::Debug for ToolVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = self.raw.clone();
        if let Some(mandate) = raw.get_mut("mandate").filter(|m| !m.is_null()) {
            *mandate = Value::from("<redacted>");
        }
        f.debug_struct("ToolVerdict")
            .field("reason", &self.reason)
            .field("behavior_id", &self.behavior_id)
            .field("pipeline_id", &self.pipeline_id)
            .field("decided_at", &self.decided_at)
            .field("raw", &raw)
            .field("degraded", &self.degraded)
            .field("audit_only", &self.audit_only)
            .finish()
    }
}

impl ToolVerdict {
    /// Why this verdict was not given by the server now, when it was not
    /// (`None` for a governed call): TapPass was unavailable and the agent's
    /// [`Resilience`](crate::resilience::Resilience) reused the last allow
    /// of the identical call ([`DegradedReason::Cached`]; its mandate is not
    /// reused: [`mandate`](Self::mandate) is `None`) or let the call through
    /// ungoverned ([`DegradedReason::Ungoverned`]).
    pub fn degraded(&self) -> Option<DegradedReason> {
        self.degraded
    }

    /// The mandate TapPass issued with this `allow` (the decision's
    /// `mandate`, a compact JWS), to send to the service that performs the
    /// action in `X-TapPass-Mandate`:
    /// [`with_mandate`](crate::propagate::PropagateSession::with_mandate)
    /// does it in one call. `None` when the server issued none (or the call
    /// was not governed). It is a bearer credential: do not log it.
    pub fn mandate(&self) -> Option<&str> {
        self.raw
            .get("mandate")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
    }
}

/// The state of an approval request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApprovalState {
    /// Still waiting for a human.
    Pending,
    /// A human approved: re-submit the identical call.
    Approved,
    /// A human denied it.
    Denied,
    /// Nobody decided in time.
    TimedOut,
    /// The request was withdrawn.
    Cancelled,
    /// A state this client does not know.
    Other(String),
}

impl ApprovalState {
    fn parse(s: &str) -> Self {
        match s {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "denied" | "rejected" => Self::Denied,
            "timed_out" | "expired" => Self::TimedOut,
            "cancelled" | "canceled" => Self::Cancelled,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Whether a human (or the clock) has settled it.
    pub fn is_settled(&self) -> bool {
        !matches!(self, Self::Pending)
    }
}

/// Where an approval request stands, as the server reports it to the agent
/// ([`Agent::approval`], [`Agent::wait_for_approval`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ApprovalStatus {
    /// Its id.
    pub request_id: String,
    /// Where it stands.
    pub state: ApprovalState,
    /// When it was settled, if it was.
    pub decided_at: Option<Timestamp>,
    /// The row as sent.
    pub raw: Value,
}

impl ApprovalStatus {
    fn from_json(raw: Value, request_id: &str) -> ApprovalStatus {
        let state = raw
            .get("state")
            .and_then(Value::as_str)
            .map(ApprovalState::parse)
            .unwrap_or(ApprovalState::Pending);
        ApprovalStatus {
            request_id: str_field(raw.as_object(), "request_id")
                .unwrap_or_else(|| request_id.to_owned()),
            state,
            decided_at: raw
                .get("decided_at")
                .and_then(Value::as_str)
                .and_then(Timestamp::parse_answered),
            raw,
        }
    }
}

impl Agent {
    /// Asks the server whether the agent may call `tool` with `args`.
    ///
    /// `allow` is `Ok` with a [`ToolVerdict`]; `block` is a [`PolicyBlock`]
    /// decision; `needs_approval` and `escalate` are [`ApprovalRequired`]
    /// decisions, like a chat's `428`: its `resume_token` resumes the call
    /// (`X-TapPass-Resume-Token`, sent upstream when the request that makes
    /// the call carries it), and its `request_id` is what
    /// [`Agent::wait_for_approval`] waits on before the identical call is
    /// made again (or let the call wait: [`ToolCallRequest::wait_for_human`]).
    /// A server that names no resume token gets the request id as one.
    ///
    /// The request sends `agent_id` and `session_id` as the Python SDK does,
    /// as strings: the session's agent, else
    /// [`AgentBuilder::agent_id`](super::AgentBuilder::agent_id), else
    /// `"sdk:unknown"`; the session's id, else `""`. The decision teaches the
    /// session in scope its agent, pipeline and audit URL (see
    /// [learning from the server](crate::Session#learning-from-the-server)).
    pub fn govern_tool(&self, tool: impl Into<String>, args: Value) -> ToolCallRequest<'_> {
        ToolCallRequest {
            call: ToolCall {
                agent: self,
                tool: tool.into(),
                args,
                server: None,
                org_id: None,
                wait_for_human: None,
                audit_only: false,
            },
            running: Started::default(),
        }
    }

    async fn govern(&self, call: &ToolCall<'_>) -> Result<ToolVerdict, Error> {
        if call.audit_only || self.inner.audit_only {
            return Ok(self.audit_tool_call(call));
        }
        self.ensure_version().await?;
        let first = self.govern_once(call).await;
        let (Some(max_wait), Err(Error::Governance(decision))) = (call.wait_for_human, &first)
        else {
            return first;
        };
        let GovernanceDecision::ApprovalRequired(asked) = &**decision else {
            return first;
        };
        let Some(request_id) = asked.request_id.clone() else {
            return first;
        };
        let approval = self.wait_for_approval(&request_id, max_wait).await?;
        match approval.state {
            ApprovalState::Approved => self.govern_once(call).await,
            ApprovalState::Denied => Err(GovernanceDecision::PolicyBlock(PolicyBlock {
                blocked_by: "human_approval".to_owned(),
                reason: format!("a human denied the tool call `{}`", call.tool),
                session_id: asked.session_id.clone(),
                audit_url: asked.audit_url.clone(),
                classification: None,
                details: json!({ "request_id": request_id }),
            })
            .into()),
            _ => first,
        }
    }

    /// Audit-only mode: the call as a `tool_call` event, and a verdict that
    /// lets it through.
    fn audit_tool_call(&self, call: &ToolCall<'_>) -> ToolVerdict {
        let session = crate::session::current_session();
        let behavior_id = behavior_id();
        let details = json!({
            "tool": call.tool,
            "arguments": call.args,
            "server": call.server,
            "behavior_id": behavior_id,
            "mode": "audit_only",
        });
        let event = match &session {
            Some(session) => AuditEvent::new("tool_call", session, details),
            None => AuditEvent {
                event_type: "tool_call".to_owned(),
                agent_id: None,
                occurred_at: Timestamp::now(),
                session_id: None,
                task_id: None,
                details,
            },
        };
        self.report(event);
        ToolVerdict {
            reason: "audit only: recorded, not governed".to_owned(),
            behavior_id,
            audit_only: true,
            ..ToolVerdict::default()
        }
    }

    /// One `POST /v1/govern` of the call, and its outcome.
    async fn govern_once(&self, call: &ToolCall<'_>) -> Result<ToolVerdict, Error> {
        let session = crate::session::current_session();
        let behavior_id = behavior_id();
        // The strings the Python SDK sends, never null (docs/protocol.md).
        let agent_id = session
            .as_ref()
            .and_then(|s| s.agent_uuid())
            .or(self.inner.agent_id.as_deref())
            .unwrap_or(UNKNOWN_AGENT);
        let body = json!({
            "type": "TOOL_CALL",
            "agent_id": agent_id,
            "session_id": session.as_ref().map_or("", |s| s.id()),
            "org_id": call.org_id,
            "behavior_id": behavior_id,
            "payload": {"tool": call.tool, "args": call.args, "server": call.server},
        });
        let raw = self
            .send_json(
                Method::POST,
                super::transport::GOVERN_PATH,
                Some(super::transport::json_bytes(&body)?),
            )
            .await?;
        let text = |key: &str| str_field(raw.as_object(), key);
        let pipeline = text("pipeline_uuid").or_else(|| text("pipeline_id"));
        if let Some(session) = &session {
            session.learn(crate::session::Answered {
                session_id: text("session_id").as_deref(),
                agent_uuid: text("agent_uuid").as_deref(),
                pipeline_uuid: pipeline.as_deref(),
                audit_url: text("audit_url").as_deref(),
            });
        }
        let outcome = text("outcome").unwrap_or_default();
        let reason = text("reason").unwrap_or_default();
        let session_id = session.as_ref().map(|s| s.id().to_owned());
        let audit_url = session
            .as_ref()
            .and_then(|s| s.audit_url())
            .map(str::to_owned);
        match outcome.as_str() {
            "allow" | "allowed" => Ok(ToolVerdict {
                reason,
                behavior_id: text("behavior_id").unwrap_or(behavior_id),
                pipeline_id: text("pipeline_id"),
                decided_at: text("decided_at").and_then(|s| Timestamp::parse_answered(&s)),
                raw,
                degraded: None,
                audit_only: false,
            }),
            "block" | "blocked" | "deny" => Err(GovernanceDecision::PolicyBlock(PolicyBlock {
                blocked_by: raw
                    .get("details")
                    .and_then(|d| str_field(d.as_object(), "blocking_step"))
                    .unwrap_or_else(|| "tool_policy".to_owned()),
                reason,
                session_id,
                audit_url,
                classification: None,
                details: raw.get("details").cloned().unwrap_or(Value::Null),
            })
            .into()),
            "needs_approval" | "escalate" => {
                let approval = raw.get("approval").and_then(Value::as_object);
                let request_id = str_field(approval, "request_id");
                let approval_url = match str_field(approval, "approval_url") {
                    Some(url) => Some(url),
                    None => match &request_id {
                        Some(id) => {
                            let path = approval_path(id, "").map_err(|_| {
                                Error::Protocol(format!(
                                    "/v1/govern answered an approval request id `{id}` that cannot name a URL path segment"
                                ))
                            })?;
                            Some(format!("{}{path}", self.url()))
                        }
                        None => None,
                    },
                };
                let mut decision = GovernanceDecision::ApprovalRequired(ApprovalRequired {
                    approval_url,
                    expires_at: str_field(approval, "expires_at")
                        .and_then(|s| Timestamp::parse_answered(&s)),
                    resume_token: str_field(approval, "resume_token")
                        .or_else(|| request_id.clone()),
                    request_id,
                    reason,
                    session_id,
                    audit_url,
                });
                self.public_approval(&mut decision);
                Err(decision.into())
            }
            other => Err(Error::Protocol(format!(
                "/v1/govern answered an unknown outcome `{}`",
                other.chars().take(40).collect::<String>()
            ))),
        }
    }

    /// Runs `call` as the resumption of `approval`, once a person approved
    /// it: the governed calls made in `call` carry its `resume_token`
    /// (`X-TapPass-Resume-Token`) and run in the session the approval was
    /// asked in, so that the approval and the action are audited in one
    /// session. The session is the current one when the approval belongs to
    /// it (or names none), else one joined from the approval's `session_id`
    /// and `audit_url`.
    ///
    /// The server honours the token once, for the request it was asked for:
    /// approved, the call goes ahead; still pending, the same `428`; denied,
    /// a [`PolicyBlock`]; expired or already used, a fresh approval. An
    /// approval without a usable token (none, or not a valid id) resumes
    /// nothing: the call then asks again.
    ///
    /// ```no_run
    /// # async fn demo(agent: tappass::Agent) -> Result<(), tappass::Error> {
    /// use std::time::Duration;
    /// use tappass::GovernanceDecision;
    ///
    /// let args = serde_json::json!({"amount": 5000, "to": "ACME"});
    /// let Err(err) = agent.govern_tool("wire_transfer", args.clone()).await else {
    ///     return Ok(());
    /// };
    /// let Some(GovernanceDecision::ApprovalRequired(approval)) = err.decision() else {
    ///     return Err(err);
    /// };
    /// let id = approval.request_id.clone().unwrap_or_default();
    /// agent.wait_for_approval(&id, Duration::from_secs(300)).await?;
    /// let verdict = agent
    ///     .resume(approval, agent.govern_tool("wire_transfer", args))
    ///     .await?;
    /// # let _ = verdict; Ok(()) }
    /// ```
    pub fn resume<F: IntoFuture>(
        &self,
        approval: &ApprovalRequired,
        call: F,
    ) -> impl Future<Output = F::Output> {
        let token = approval
            .resume_token
            .as_deref()
            .filter(|token| crate::session::is_id(token.as_bytes()))
            .and_then(|token| http::HeaderValue::from_str(token).ok());
        let current = crate::session::current_session();
        let session = match (&approval.session_id, current) {
            (Some(id), Some(current)) if current.id() == id => Some(current),
            (Some(id), _) => {
                let mut builder = crate::session::Session::builder(id.clone());
                if let Some(audit) = &approval.audit_url {
                    builder = builder.audit_url(audit.clone());
                }
                builder.build().ok()
            }
            (None, current) => current,
        };
        let call = call.into_future();
        async move {
            match token {
                Some(token) => crate::session::scope::resuming(session, token, call).await,
                None => {
                    tracing::warn!(
                        "the approval carries no usable resume token; the call asks again"
                    );
                    call.await
                }
            }
        }
    }

    /// Reads an approval request once (`GET /v1/me/approvals/{id}`).
    ///
    /// The id travels percent-encoded as one path segment; an empty id, `.`
    /// and `..` are refused with [`Error::Config`].
    pub async fn approval(&self, request_id: &str) -> Result<ApprovalStatus, Error> {
        let path = approval_path(request_id, "")?;
        let raw = self.send_json(Method::GET, &path, None).await?;
        Ok(ApprovalStatus::from_json(raw, request_id))
    }

    /// Waits, at most `max_wait`, for a human to settle an approval request,
    /// long-polling the server (`GET /v1/me/approvals/{id}/wait`). Returns the
    /// request as it stands at the end: still [`ApprovalState::Pending`] when
    /// nobody decided in time.
    ///
    /// Any `max_wait` is accepted, up to [`Duration::MAX`] (wait for ever).
    /// Between two polls it waits for the server's `Retry-After`, and never
    /// less than a second from the start of the previous poll, so a server that
    /// answers at once is not polled in a tight loop. The id is refused as in
    /// [`Agent::approval`].
    pub async fn wait_for_approval(
        &self,
        request_id: &str,
        max_wait: Duration,
    ) -> Result<ApprovalStatus, Error> {
        // `None`: further away than the clock can say, that is, never.
        let deadline = Instant::now().checked_add(max_wait);
        let left =
            |now: Instant| deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(now));
        let wait_path = approval_path(request_id, "/wait")?;
        loop {
            let poll_started = Instant::now();
            let secs = left(poll_started).min(MAX_POLL).as_secs().max(1);
            let path = format!("{wait_path}?timeout_seconds={secs}");
            let opts = Opts {
                timeout: Some(Duration::from_secs(secs) + POLL_GRACE),
                pass: &[408],
                ..Opts::default()
            };
            let answer = self.send_with(Method::GET, &path, None, &opts).await?;
            let pending = answer.response.status() == http::StatusCode::REQUEST_TIMEOUT;
            let retry_after = super::transport::retry_after(answer.response.headers());
            let bytes =
                super::transport::read_limited(answer.response, self.inner.max_response_bytes)
                    .await?;
            let raw: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let mut approval = ApprovalStatus::from_json(raw, request_id);
            if pending {
                approval.state = ApprovalState::Pending;
            }
            if approval.state.is_settled() {
                return Ok(approval);
            }
            // The next poll starts no sooner than the server asked and than
            // the shortest interval after this one started; never past the end.
            let pause = MIN_POLL_INTERVAL
                .saturating_sub(poll_started.elapsed())
                .max(retry_after.unwrap_or_default());
            let left_now = left(Instant::now());
            if pause >= left_now {
                // No time for another poll: sleep out what is left, then answer.
                tokio::time::sleep(left_now).await;
                return Ok(approval);
            }
            tokio::time::sleep(pause).await;
            if left(Instant::now()).is_zero() {
                return Ok(approval);
            }
        }
    }
}

/// The `agent_id` sent to `/v1/govern` when neither the session nor the
/// agent's configuration names one, as the Python SDK sends it.
pub(crate) const UNKNOWN_AGENT: &str = "sdk:unknown";

/// A fresh behaviour id: 128 random bits as 32 lowercase hex digits.
fn behavior_id() -> String {
    let bits: u128 = rand::rng().random();
    format!("{bits:032x}")
}

/// `/v1/me/approvals/{id}{tail}`, the id as one percent-encoded segment.
fn approval_path(request_id: &str, tail: &str) -> Result<String, Error> {
    let id = super::transport::path_segment(request_id, "approval request id")?;
    Ok(format!("/v1/me/approvals/{id}{tail}"))
}
