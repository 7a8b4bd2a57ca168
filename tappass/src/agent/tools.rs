//! Tool governance: `POST /v1/govern` and the approval long-poll.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::{Duration, Instant};

use http::Method;
use rand::RngExt;
use serde_json::{json, Value};

use super::chat::str_field;
use super::{Agent, Opts};
use crate::decision::{ApprovalRequired, PolicyBlock};
use crate::{Error, GovernanceDecision, Timestamp};

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
#[must_use = "a tool call is not governed until it is awaited"]
#[derive(Debug)]
pub struct ToolCallRequest<'a> {
    agent: &'a Agent,
    tool: String,
    args: Value,
    server: Option<String>,
    org_id: Option<String>,
}

impl ToolCallRequest<'_> {
    /// The MCP (or other) server that hosts the tool.
    pub fn server(mut self, server: impl Into<String>) -> Self {
        self.server = Some(server.into());
        self
    }

    /// The organisation the call belongs to.
    pub fn org_id(mut self, org_id: impl Into<String>) -> Self {
        self.org_id = Some(org_id.into());
        self
    }
}

impl<'a> IntoFuture for ToolCallRequest<'a> {
    type Output = Result<ToolVerdict, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let span = tracing::info_span!(
                "tappass.govern_tool",
                tool = %self.tool,
                session_id = tracing::field::Empty,
                outcome = tracing::field::Empty,
            );
            let result = super::in_span(&span, self.agent.govern(&self)).await;
            super::record_outcome(&span, &result);
            match result {
                Err(err) if self.agent.fails_open(&err) => {
                    tracing::warn!(tool = %self.tool, error = %err, "TapPass is unavailable; failing OPEN: this tool call was not governed");
                    Ok(ToolVerdict {
                        reason: "not governed: the control plane was unavailable and the agent fails open".to_owned(),
                        degraded: true,
                        ..ToolVerdict::default()
                    })
                }
                other => other,
            }
        })
    }
}

/// What [`Agent::govern_tool`] returns when the server allows a tool call:
/// the go-ahead to run the tool, with the server's reason and ids.
///
/// It is not a verdict that can say "no": a refusal (`block`) or a pause
/// for a human (`needs_approval`, `escalate`) comes back as the `Err` of the
/// same call, a governance decision ([`PolicyBlock`], [`ApprovalRequired`]),
/// so `?` in a handler answers it with its status. A verdict with
/// `degraded: true` is the one exception to "the server allowed it": the
/// control plane was down and the agent is configured to
/// [fail open](super::AgentBuilder::fail_open), so the call was not governed.
#[derive(Debug, Clone, Default, PartialEq)]
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
    /// True when the control plane was unavailable and the agent is configured
    /// to fail open: the call was **not** governed.
    pub degraded: bool,
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

/// An approval request as the server reports it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Approval {
    /// Its id.
    pub request_id: String,
    /// Where it stands.
    pub state: ApprovalState,
    /// When it was settled, if it was.
    pub decided_at: Option<Timestamp>,
    /// The row as sent.
    pub raw: Value,
}

impl Approval {
    fn from_json(raw: Value, request_id: &str) -> Approval {
        let state = raw
            .get("state")
            .and_then(Value::as_str)
            .map(ApprovalState::parse)
            .unwrap_or(ApprovalState::Pending);
        Approval {
            request_id: str_field(raw.as_object(), "request_id")
                .unwrap_or_else(|| request_id.to_owned()),
            state,
            decided_at: raw
                .get("decided_at")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok()),
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
    /// made again. A server that names no resume token gets the request id
    /// as one.
    pub fn govern_tool(&self, tool: impl Into<String>, args: Value) -> ToolCallRequest<'_> {
        ToolCallRequest {
            agent: self,
            tool: tool.into(),
            args,
            server: None,
            org_id: None,
        }
    }

    async fn govern(&self, call: &ToolCallRequest<'_>) -> Result<ToolVerdict, Error> {
        self.ensure_version().await?;
        let session = crate::current_session();
        let behavior_id = {
            let bytes: [u8; 16] = rand::rng().random();
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        let body = json!({
            "type": "TOOL_CALL",
            "agent_id": session.as_ref().and_then(|s| s.agent_uuid()),
            "session_id": session.as_ref().map(|s| s.id()),
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
                decided_at: text("decided_at").and_then(|s| s.parse().ok()),
                raw,
                degraded: false,
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
                    expires_at: str_field(approval, "expires_at").and_then(|s| s.parse().ok()),
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

    /// Reads an approval request once (`GET /v1/me/approvals/{id}`).
    ///
    /// The id travels percent-encoded as one path segment; an empty id, `.`
    /// and `..` are refused with [`Error::Config`].
    pub async fn approval(&self, request_id: &str) -> Result<Approval, Error> {
        let path = approval_path(request_id, "")?;
        let raw = self.send_json(Method::GET, &path, None).await?;
        Ok(Approval::from_json(raw, request_id))
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
    ) -> Result<Approval, Error> {
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
            let mut approval = Approval::from_json(raw, request_id);
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

/// `/v1/me/approvals/{id}{tail}`, the id as one percent-encoded segment.
fn approval_path(request_id: &str, tail: &str) -> Result<String, Error> {
    let id = super::transport::path_segment(request_id, "approval request id")?;
    Ok(format!("/v1/me/approvals/{id}{tail}"))
}
