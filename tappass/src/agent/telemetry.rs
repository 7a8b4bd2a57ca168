//! The spans of the agent's calls, named and attributed after the
//! OpenTelemetry GenAI semantic conventions, and what is recorded on them
//! when a call ends: the governance decision, the session's ids, the token
//! usage, the status.
//!
//! They are `tracing` spans whether or not the `otel` feature is on: a `fmt`
//! subscriber logs them, `tracing-opentelemetry` turns them into
//! OpenTelemetry spans (`otel.name`, `otel.kind` and `otel.status_code` are
//! its fields for the span's name, kind and status). With no subscriber,
//! a span is disabled and recording on it costs a branch.
//!
//! - `chat {model}` (client): [`Agent::chat`](crate::Agent::chat) and
//!   [`Agent::stream`](crate::Agent::stream); a stream's span lasts until the
//!   stream ends or is dropped.
//! - `execute_tool {tool}` (internal): [`Agent::govern_tool`](crate::Agent::govern_tool).
//!
//! The decision is a `gen_ai.guardrail.result` event on the operation's span
//! (the draft GenAI guardrail conventions), with the component `TapPass`,
//! `gen_ai.guardrail.result.type = decision` and the decision's wire name as
//! the value, the pipeline as the policy, the rule that decided as
//! `gen_ai.guardrail.policy.rule.id`, the reason, and the time the control
//! plane took to decide (`tappass.governance.duration_ms`): the durations
//! its steps report, else, for a tool call or a call it stopped, the round
//! trip. A call the decision stopped sets the span's status to error, with
//! the decision's code as `error.type`. Prompts, answers and tool arguments
//! are recorded only when the agent is built with
//! [`capture_content(true)`](crate::agent::AgentBuilder::capture_content).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tracing::field::Empty;

use super::{Agent, ChatRequest, ChatResponse, Correlation, PipelineStep, ToolVerdict};
use crate::error::Error;
use crate::response::GovernanceError as _;

/// `gen_ai.provider.name` of the calls: the control plane the agent talks
/// to (which relays a chat to the model's provider).
pub(crate) const PROVIDER: &str = "tappass";
/// `gen_ai.guardrail.component.name`.
pub(crate) const COMPONENT: &str = "TapPass";

/// Which GenAI operation a span is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Chat,
    ExecuteTool,
}

impl Kind {
    /// `gen_ai.operation.name`, which also begins the span's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Chat => "chat",
            Kind::ExecuteTool => "execute_tool",
        }
    }
}

/// A governed call in flight: its span, and what its end records.
pub(crate) struct Operation {
    pub(crate) span: tracing::Span,
    kind: Kind,
    started: Instant,
    /// The model asked for (a chat), or the tool (a tool call): the metrics'
    /// attribute.
    #[cfg(feature = "otel")]
    subject: String,
    capture: bool,
}

/// What an allowed call's answer says, for the span.
struct Allowed<'a> {
    decision: &'a str,
    correlation: Option<&'a Correlation>,
    pipeline_id: Option<&'a str>,
    rule: Option<&'a str>,
    steps: &'a [PipelineStep],
    /// Why the call was let through ungoverned or with a reused decision
    /// (`cached`, `ungoverned`), when TapPass was unavailable.
    degraded: Option<&'static str>,
}

impl Operation {
    /// The span of a chat call (`streaming`: a stream's).
    pub(crate) fn chat(agent: &Agent, request: &ChatRequest, streaming: bool) -> Operation {
        let model = request.model.as_deref().unwrap_or(agent.model());
        let span = tracing::info_span!(
            target: "tappass",
            "chat",
            otel.name = Empty,
            otel.kind = "client",
            otel.status_code = Empty,
            otel.status_description = Empty,
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = PROVIDER,
            gen_ai.request.model = model,
            gen_ai.response.model = Empty,
            gen_ai.response.id = Empty,
            gen_ai.response.finish_reasons = Empty,
            gen_ai.usage.input_tokens = Empty,
            gen_ai.usage.output_tokens = Empty,
            gen_ai.conversation.id = Empty,
            gen_ai.agent.id = Empty,
            gen_ai.input.messages = Empty,
            gen_ai.output.messages = Empty,
            tappass.session_id = Empty,
            tappass.task_id = Empty,
            tappass.pipeline_id = Empty,
            tappass.stream = streaming,
            tappass.outcome = Empty,
            tappass.degraded = Empty,
            server.address = Empty,
            server.port = Empty,
            error.type = Empty,
        );
        Operation::start(span, agent, Kind::Chat, model, || {
            ("gen_ai.input.messages", input_messages(request))
        })
    }

    /// The span of a tool call's governance.
    pub(crate) fn tool(agent: &Agent, tool: &str, args: &Value) -> Operation {
        let span = tracing::info_span!(
            target: "tappass",
            "execute_tool",
            otel.name = Empty,
            otel.kind = "internal",
            otel.status_code = Empty,
            otel.status_description = Empty,
            gen_ai.operation.name = "execute_tool",
            gen_ai.provider.name = PROVIDER,
            gen_ai.tool.name = tool,
            gen_ai.tool.type = "function",
            gen_ai.tool.call.arguments = Empty,
            gen_ai.conversation.id = Empty,
            gen_ai.agent.id = Empty,
            tappass.session_id = Empty,
            tappass.pipeline_id = Empty,
            tappass.outcome = Empty,
            tappass.degraded = Empty,
            server.address = Empty,
            server.port = Empty,
            error.type = Empty,
        );
        Operation::start(span, agent, Kind::ExecuteTool, tool, || {
            ("gen_ai.tool.call.arguments", args.to_string())
        })
    }

    /// What both kinds record when they start: the span's name
    /// (`{operation} {subject}`), the server, the ids known so far, and,
    /// when the agent captures content, the `content` attribute.
    fn start(
        span: tracing::Span,
        agent: &Agent,
        kind: Kind,
        subject: &str,
        content: impl FnOnce() -> (&'static str, String),
    ) -> Operation {
        let capture = agent.inner.capture_content;
        if !span.is_disabled() {
            span.record("otel.name", format!("{} {subject}", kind.name()));
            record_server(&span, agent);
            record_ids(&span, agent, None);
            if capture {
                let (key, value) = content();
                span.record(key, value.as_str());
            }
        }
        Operation {
            span,
            kind,
            started: Instant::now(),
            #[cfg(feature = "otel")]
            subject: subject.to_owned(),
            capture,
        }
    }

    /// Records a chat call's end.
    pub(crate) fn finish_chat(&self, agent: &Agent, result: &Result<ChatResponse, Error>) {
        let allowed = result.as_ref().ok();
        let span = &self.span;
        if let (Some(response), false) = (allowed, span.is_disabled()) {
            if !response.model.is_empty() {
                span.record("gen_ai.response.model", response.model.as_str());
            }
            if let Some(id) = response.raw.get("id").and_then(Value::as_str) {
                span.record("gen_ai.response.id", id);
            }
            if let Some(reason) = &response.finish_reason {
                span.record("gen_ai.response.finish_reasons", reason.as_str());
            }
            span.record("gen_ai.usage.input_tokens", response.usage.prompt_tokens);
            span.record(
                "gen_ai.usage.output_tokens",
                response.usage.completion_tokens,
            );
            if self.capture {
                span.record("gen_ai.output.messages", output_messages(response).as_str());
            }
        }
        let pipeline = allowed.map(ChatResponse::pipeline);
        let decided = allowed.map(|response| Allowed {
            decision: if response.redactions.is_empty() && response.redacted_content.is_none() {
                "allow"
            } else {
                "redaction_applied"
            },
            correlation: Some(&response.correlation),
            pipeline_id: response.correlation.pipeline_uuid.as_deref(),
            rule: pipeline.as_ref().and_then(|p| p.blocked_by.as_deref()),
            steps: pipeline.as_ref().map_or(&[], |p| p.steps.as_slice()),
            degraded: response.degraded().map(|reason| reason.as_str()),
        });
        self.finish(agent, result.as_ref().map(|_| ()), decided);
        #[cfg(feature = "otel")]
        if let Some(response) = allowed {
            agent.inner.metrics.tokens(&self.subject, &response.usage);
        }
    }

    /// Records the start of a stream: what its first answer said.
    pub(crate) fn finish_stream_start<T>(&self, agent: &Agent, result: &Result<T, Error>) {
        let decided = result.as_ref().ok().map(|_| Allowed {
            decision: "allow",
            correlation: None,
            pipeline_id: None,
            rule: None,
            steps: &[],
            degraded: None,
        });
        self.finish(agent, result.as_ref().map(|_| ()), decided);
    }

    /// Records a tool call's end.
    pub(crate) fn finish_tool(&self, agent: &Agent, result: &Result<ToolVerdict, Error>) {
        let decided = result.as_ref().ok().map(|verdict| Allowed {
            decision: if verdict.audit_only {
                "audit_only"
            } else {
                "allow"
            },
            correlation: None,
            pipeline_id: verdict.pipeline_id.as_deref(),
            rule: None,
            steps: &[],
            degraded: verdict.degraded().map(|reason| reason.as_str()),
        });
        self.finish(agent, result.as_ref().map(|_| ()), decided);
    }

    /// What every call's end records: the ids, the decision (or the
    /// failure), the status, the metrics and the request's time waiting.
    fn finish(&self, agent: &Agent, result: Result<(), &Error>, allowed: Option<Allowed<'_>>) {
        let elapsed = self.started.elapsed();
        crate::session::scope::add_governance_time(elapsed);
        let span = &self.span;
        let degraded = allowed.as_ref().and_then(|a| a.degraded);
        let code = match &result {
            // No decision was made: the call went through while TapPass was
            // unavailable.
            Ok(()) if degraded.is_some() => "degraded",
            Ok(()) => allowed.as_ref().map_or("allow", |a| a.decision),
            Err(err) => err.code(),
        };
        #[cfg(feature = "otel")]
        {
            let error = result.as_ref().err().map(|err| err.code());
            let decision = match &result {
                Err(Error::Governance(_)) | Ok(()) => Some(code),
                Err(_) => None,
            };
            (agent.inner.metrics).operation(self.kind, &self.subject, elapsed, error, decision);
        }
        if span.is_disabled() {
            return;
        }
        span.record("tappass.outcome", code);
        record_ids(span, agent, allowed.as_ref().and_then(|a| a.correlation));
        match result {
            Ok(()) => {
                let Some(allowed) = allowed else { return };
                if let Some(reason) = allowed.degraded {
                    span.record("tappass.degraded", reason);
                    span.in_scope(|| {
                        // Not a decision: what the agent did without one.
                        tracing::info!(
                            target: "tappass",
                            {
                            gen_ai.guardrail.component.name = COMPONENT,
                            gen_ai.guardrail.result.type = "degraded",
                            gen_ai.guardrail.result.value = reason
                            },
                            "gen_ai.guardrail.result"
                        );
                    });
                    return;
                }
                if let Some(pipeline) = allowed.pipeline_id {
                    span.record("tappass.pipeline_id", pipeline);
                }
                let steps: Option<Duration> = allowed
                    .steps
                    .iter()
                    .map(|s| s.duration)
                    .reduce(|a, b| Some(a? + b?))
                    .flatten();
                let decided_in = match self.kind {
                    // A tool call is governance alone: its round trip is the
                    // control plane's time.
                    Kind::ExecuteTool => steps.or(Some(elapsed)),
                    Kind::Chat => steps,
                };
                span.in_scope(|| {
                    decision_event(
                        allowed.decision,
                        allowed.pipeline_id,
                        allowed.rule,
                        None,
                        decided_in,
                        None,
                    );
                    // The steps that did something: what detected, redacted
                    // or stopped. Those that passed the call on (`continue`,
                    // nothing detected) are the pipeline's routine, and an
                    // event each would cost every call.
                    for step in allowed
                        .steps
                        .iter()
                        .filter(|s| s.detected || s.action != "continue")
                    {
                        step_event(step);
                    }
                });
            }
            Err(Error::Governance(decision)) => {
                let code = decision.code();
                span.record("otel.status_code", "error");
                span.record("otel.status_description", code);
                span.record("error.type", code);
                let rule = match &**decision {
                    crate::decision::GovernanceDecision::PolicyBlock(block)
                        if !block.blocked_by.is_empty() =>
                    {
                        Some(block.blocked_by.as_str())
                    }
                    _ => None,
                };
                if let Some(session) = decision.session_id() {
                    record_session(span, session);
                }
                let reason = decision.reason();
                span.in_scope(|| {
                    // A decision that stopped the call came before any model
                    // ran: the round trip is the control plane's time.
                    decision_event(
                        code,
                        None,
                        rule,
                        (!reason.is_empty()).then_some(reason),
                        Some(elapsed),
                        decision.audit_url(),
                    );
                });
            }
            Err(err) => {
                span.record("otel.status_code", "error");
                span.record("otel.status_description", err.code());
                span.record("error.type", err.code());
                span.in_scope(|| tracing::warn!(error = %err, "TapPass call failed"));
            }
        }
    }
}

/// The `gen_ai.guardrail.result` event of a decision, in the current span.
fn decision_event(
    value: &str,
    pipeline_id: Option<&str>,
    rule: Option<&str>,
    reason: Option<&str>,
    decided_in: Option<Duration>,
    audit_url: Option<&str>,
) {
    tracing::info!(
        target: "tappass",
        {
        gen_ai.guardrail.component.name = COMPONENT,
        gen_ai.guardrail.result.type = "decision",
        gen_ai.guardrail.result.value = value,
        gen_ai.guardrail.policy.id = pipeline_id,
        gen_ai.guardrail.policy.rule.id = rule,
        gen_ai.guardrail.result.reason = reason,
        tappass.governance.duration_ms = decided_in.map(|d| d.as_secs_f64() * 1000.0),
        tappass.audit_url = audit_url
        },
        "gen_ai.guardrail.result"
    );
}

/// A pipeline step the control plane reported, as a result event of its own.
fn step_event(step: &PipelineStep) {
    tracing::info!(
        target: "tappass",
        {
        gen_ai.guardrail.component.name = COMPONENT,
        gen_ai.guardrail.result.type = "step",
        gen_ai.guardrail.result.value = step.action.as_str(),
        gen_ai.guardrail.policy.rule.id = step.name.as_str(),
        tappass.step.detected = step.detected,
        tappass.step.duration_ms = step.duration.map(|d| d.as_secs_f64() * 1000.0)
        },
        "gen_ai.guardrail.result"
    );
}

/// `server.address` and `server.port` of the control plane.
fn record_server(span: &tracing::Span, agent: &Agent) {
    if let Some((host, port)) = &agent.inner.server {
        span.record("server.address", host.as_str());
        span.record("server.port", port);
    }
}

/// The session and agent the call belongs to: when it starts, the session
/// in scope and the agent's own id; when it ends, what the answer named
/// (which wins over them).
fn record_ids(span: &tracing::Span, agent: &Agent, answered: Option<&Correlation>) {
    let Some(answered) = answered else {
        crate::session::with_current(|session| {
            if let Some(session) = session {
                record_session(span, session.id());
            }
        });
        if let Some(agent_id) = &agent.inner.agent_id {
            span.record("gen_ai.agent.id", agent_id.as_str());
        }
        return;
    };
    if let Some(session) = &answered.session_id {
        record_session(span, session);
    }
    if let Some(agent_id) = &answered.agent_uuid {
        span.record("gen_ai.agent.id", agent_id.as_str());
    }
    if let Some(task) = &answered.task_id {
        span.record("tappass.task_id", task.as_str());
    }
}

fn record_session(span: &tracing::Span, session: &str) {
    span.record("gen_ai.conversation.id", session);
    span.record("tappass.session_id", session);
}

/// `gen_ai.input.messages`: the request's messages in the conventions' shape.
fn input_messages(request: &ChatRequest) -> String {
    Value::Array(
        request
            .messages
            .iter()
            .map(|m| json!({"role": m.role, "parts": [{"type": "text", "content": m.content}]}))
            .collect(),
    )
    .to_string()
}

/// `gen_ai.output.messages`: the answer in the conventions' shape.
fn output_messages(response: &ChatResponse) -> String {
    json!([{
        "role": "assistant",
        "parts": [{"type": "text", "content": response.content}],
        "finish_reason": response.finish_reason.as_deref().unwrap_or("stop"),
    }])
    .to_string()
}
