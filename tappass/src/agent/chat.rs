//! Governed chat: [`ChatCall`], [`ChatRequest`] and [`ChatResponse`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::call::Started;
use super::{Agent, Correlation};
use crate::decision::GovernanceDecision;
use crate::decision::{Redaction, RedactionApplied};
use crate::error::Error;
use crate::resilience::DegradedReason;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl Message {
    /// A message with the given role.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            role: role.into(),
            content: content.into(),
        }
    }

    /// A `user` message.
    pub fn user(content: impl Into<String>) -> Self {
        Message::new("user", content)
    }

    /// A `system` message.
    pub fn system(content: impl Into<String>) -> Self {
        Message::new("system", content)
    }
}

/// What a chat call sends: the messages, and optionally a model and metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// The model; the agent's default when `None`.
    pub model: Option<String>,
    /// Free-form JSON metadata passed to the server.
    pub metadata: Option<Value>,
}

impl ChatRequest {
    /// The request body, OpenAI-shaped.
    pub(crate) fn to_body(&self, agent: &Agent, stream: bool) -> Result<bytes::Bytes, Error> {
        #[derive(Serialize)]
        struct Body<'a> {
            model: &'a str,
            messages: &'a [Message],
            #[serde(skip_serializing_if = "Option::is_none")]
            metadata: Option<&'a Value>,
            stream: bool,
        }
        super::transport::json_bytes(&Body {
            model: self.model.as_deref().unwrap_or(agent.model()),
            messages: &self.messages,
            metadata: self.metadata.as_ref(),
            stream,
        })
    }
}

/// A chat call being configured; `.await` it to send it.
///
/// ```no_run
/// # async fn run(agent: tappass::Agent) -> Result<(), tappass::Error> {
/// let answer = agent
///     .chat("Summarize Q4 revenue")
///     .model("gpt-4o")
///     .metadata(serde_json::json!({"team": "finance"}))
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a chat call does nothing until it is awaited"]
#[derive(Debug)]
pub struct ChatCall<'a> {
    pub(crate) agent: &'a Agent,
    pub(crate) request: ChatRequest,
    running: Started<'a, Result<ChatResponse, Error>>,
}

/// The options of a call that sends a [`ChatRequest`], written once for
/// [`ChatCall`] and [`StreamCall`](super::StreamCall) so that the two cannot
/// drift apart.
macro_rules! request_options {
    ($call:ident) => {
        impl $call<'_> {
            /// Asks for this model instead of the agent's default.
            pub fn model(mut self, model: impl Into<String>) -> Self {
                self.request.model = Some(model.into());
                self
            }

            /// Attaches JSON metadata to the call.
            pub fn metadata(mut self, metadata: serde_json::Value) -> Self {
                self.request.metadata = Some(metadata);
                self
            }

            /// Puts a system message before the conversation.
            pub fn system(mut self, content: impl Into<String>) -> Self {
                self.request
                    .messages
                    .insert(0, $crate::agent::Message::system(content));
                self
            }

            /// Replaces the conversation with these messages.
            pub fn messages(
                mut self,
                messages: impl IntoIterator<Item = $crate::agent::Message>,
            ) -> Self {
                self.request.messages = messages.into_iter().collect();
                self
            }
        }
    };
}
pub(super) use request_options;

request_options!(ChatCall);

impl Future for ChatCall<'_> {
    type Output = Result<ChatResponse, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (agent, request) = (this.agent, &mut this.request);
        this.running.poll(cx, || {
            let request = std::mem::take(request);
            async move { agent.chat_request(&request).await }
        })
    }
}

/// Token counts of a call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: u64,
    /// Tokens in the answer.
    pub completion_tokens: u64,
    /// Both.
    pub total_tokens: u64,
}

/// A tool call the model asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolCall {
    /// The call's id.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, as the JSON text the model produced.
    pub arguments: String,
}

/// The answer to a governed chat call.
///
/// It dereferences to its [`Correlation`]: `response.session_id`,
/// `response.audit_url`, … read the answer's correlation (move one out
/// with `response.correlation.session_id`).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ChatResponse {
    /// The assistant's text (empty when the server sent null).
    pub content: String,
    /// The model that answered.
    pub model: String,
    /// Why the model stopped, e.g. `stop`.
    pub finish_reason: Option<String>,
    /// Token counts.
    pub usage: Usage,
    /// Tool calls the model asked for.
    pub tool_calls: Vec<ToolCall>,
    /// The session, task, agent and pipeline the call was recorded under,
    /// and the session's dashboard link; `response.session_id` reads it
    /// through `Deref`.
    pub correlation: Correlation,
    /// Redactions the server made to the prompt (empty when none).
    pub redactions: Vec<Redaction>,
    /// The prompt after redaction, when the server redacted it.
    pub redacted_content: Option<String>,
    /// Why the call was not governed, when it was not: see [`degraded`](Self::degraded).
    pub(crate) degraded: Option<DegradedReason>,
    /// The whole JSON answer, for fields this type does not name.
    pub raw: Value,
}

impl ChatResponse {
    /// Reads an answer leniently: missing optional fields take defaults.
    pub fn from_json(raw: Value) -> Result<ChatResponse, Error> {
        let (obj, choice) = answer_parts(&raw, "the chat answer")?;
        let message = choice.and_then(|c| c.get("message"));
        let content = message
            .and_then(|m| m.get("content"))
            .or_else(|| obj.get("content"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let tool_calls = message
            .and_then(|m| m.get("tool_calls"))
            .and_then(Value::as_array)
            .map(|calls| calls.iter().map(tool_call).collect())
            .unwrap_or_default();
        let envelope = obj.get("tappass").and_then(Value::as_object);
        let env_str = |key: &str| str_field(envelope, key).or_else(|| str_field(Some(obj), key));
        Ok(ChatResponse {
            content,
            model: str_field(Some(obj), "model").unwrap_or_default(),
            finish_reason: choice
                .and_then(|c| c.get("finish_reason"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            usage: obj
                .get("usage")
                .and_then(|u| Usage::deserialize(u).ok())
                .unwrap_or_default(),
            tool_calls,
            correlation: Correlation::read(obj),
            redactions: envelope
                .and_then(|e| e.get("redactions"))
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|r| Redaction::deserialize(r).ok())
                        .collect()
                })
                .unwrap_or_default(),
            redacted_content: env_str("redacted_content"),
            degraded: None,
            raw,
        })
    }

    /// Why this answer was not governed by the server, when it was not
    /// (`None` for a governed answer): TapPass was unavailable and the
    /// agent's [`Resilience`](crate::resilience::Resilience) let the call
    /// through, either with the last allow of the identical call
    /// ([`DegradedReason::Cached`]: `content` is that call's answer) or
    /// ungoverned ([`DegradedReason::Ungoverned`]: `content` is empty).
    /// Behind [`TapPassLayer`](crate::TapPassLayer), the response of the
    /// request that made the call carries `X-TapPass-Degraded` too.
    pub fn degraded(&self) -> Option<DegradedReason> {
        self.degraded
    }

    /// What the governance pipeline did with this call, read from the answer's
    /// `tappass` envelope: whether it blocked, which step, the data
    /// classification, each step with its action and duration, and the
    /// capability token. Missing fields take defaults (an answer without an
    /// envelope gives an empty pipeline).
    ///
    /// ```
    /// let answer = tappass::agent::ChatResponse::from_json(serde_json::json!({
    ///     "choices": [{"message": {"content": "hi"}}],
    ///     "tappass": {"blocked": false, "classification": "PUBLIC", "steps": [
    ///         {"step": "detect_pii", "action": "continue", "detected": false, "duration_ms": 0.4}
    ///     ]}
    /// }))?;
    /// let pipeline = answer.pipeline();
    /// assert_eq!(pipeline.classification.as_deref(), Some("PUBLIC"));
    /// assert_eq!(pipeline.steps[0].name, "detect_pii");
    /// assert_eq!(pipeline.steps[0].duration, Some(std::time::Duration::from_micros(400)));
    /// # Ok::<(), tappass::Error>(())
    /// ```
    pub fn pipeline(&self) -> Pipeline {
        Pipeline::from_envelope(self.raw.get("tappass").and_then(Value::as_object))
    }

    /// The capability token the control plane issued with this answer
    /// (`tappass.capability_token`), decoded: what the agent presents, with
    /// a proof of possession, to the tool services it calls
    /// ([`PresentCapability::with_capability`](crate::propagate::PresentCapability::with_capability)).
    /// `Ok(None)` when the answer carries none; decoded anew at each call
    /// (keep the token rather than asking again).
    ///
    /// The token is bound to the agent's key (its holder): the dev server
    /// mints one for a request signed with the agent's registered key, or
    /// one that names its public key in `X-TapPass-Holder-Key`
    /// (`tappass-dev/README.md`, "Capability tokens").
    ///
    /// ```
    /// use tappass::capability::{CapabilityToken, SigningKey};
    ///
    /// let control_plane = SigningKey::from_bytes(&[1; 32]);
    /// let agent = SigningKey::from_bytes(&[2; 32]);
    /// let token = CapabilityToken::builder()
    ///     .holder(agent.public_key())
    ///     .tool("search", Default::default())
    ///     .sign(&control_plane)?;
    /// let answer = tappass::agent::ChatResponse::from_json(serde_json::json!({
    ///     "choices": [{"message": {"content": "hi"}}],
    ///     "tappass": {"capability_token": {"token": token.encode(), "tools": ["search"]}}
    /// }))?;
    /// assert_eq!(answer.capability_token()?, Some(token));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "capability")]
    #[cfg_attr(docsrs, doc(cfg(feature = "capability")))]
    pub fn capability_token(
        &self,
    ) -> Result<Option<crate::capability::CapabilityToken>, crate::capability::DecodeError> {
        let envelope = self.raw.get("tappass").and_then(Value::as_object);
        envelope
            .and_then(issued_token)
            .map(|header| crate::capability::CapabilityToken::decode(&header))
            .transpose()
    }

    /// The redaction as a decision, when the server redacted the prompt.
    pub fn redaction_decision(&self) -> Option<GovernanceDecision> {
        if self.redactions.is_empty() && self.redacted_content.is_none() {
            return None;
        }
        Some(GovernanceDecision::RedactionApplied(RedactionApplied {
            redactions: self.redactions.clone(),
            redacted_content: self.redacted_content.clone(),
            reason: "content was redacted by policy".to_owned(),
            session_id: self.session_id.clone(),
            audit_url: self.audit_url.clone(),
        }))
    }
}

/// What the governance pipeline did with a chat call; see
/// [`ChatResponse::pipeline`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Pipeline {
    /// Whether the pipeline blocked the call.
    pub blocked: bool,
    /// The step that blocked it, when one did.
    pub blocked_by: Option<String>,
    /// The data classification, e.g. `PUBLIC` or `CONFIDENTIAL`.
    pub classification: Option<String>,
    /// The steps that ran, in order.
    pub steps: Vec<PipelineStep>,
    /// The capability token the server issued for the call, when it did:
    /// the `X-TapPass-Token` header value (the envelope's
    /// `capability_token.token`, as the Python SDK reads it, or a bare
    /// string). [`ChatResponse::capability_token`] decodes it (feature
    /// `capability`).
    pub capability_token: Option<String>,
}

/// One step of the governance pipeline.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct PipelineStep {
    /// The step's name, e.g. `detect_pii`.
    pub name: String,
    /// What it did, e.g. `continue`, `redact`, `block`.
    pub action: String,
    /// Whether it detected what it looks for.
    pub detected: bool,
    /// Its message (empty when none).
    pub message: String,
    /// How long it took, when the server said (from `duration_ms`).
    pub duration: Option<std::time::Duration>,
}

impl Pipeline {
    fn from_envelope(envelope: Option<&Map<String, Value>>) -> Pipeline {
        let Some(envelope) = envelope else {
            return Pipeline::default();
        };
        Pipeline {
            blocked: envelope.get("blocked").and_then(Value::as_bool) == Some(true),
            blocked_by: str_field(Some(envelope), "blocked_by"),
            classification: str_field(Some(envelope), "classification"),
            steps: envelope
                .get("steps")
                .and_then(Value::as_array)
                .map(|steps| steps.iter().filter_map(PipelineStep::from_json).collect())
                .unwrap_or_default(),
            capability_token: issued_token(envelope),
        }
    }
}

/// The envelope's `capability_token`: an object with its header value under
/// `token` (what the Python SDK's `CapabilityToken.from_dict` reads), or the
/// header value itself.
fn issued_token(envelope: &Map<String, Value>) -> Option<String> {
    match envelope.get("capability_token")? {
        Value::Object(issued) => str_field(Some(issued), "token"),
        _ => str_field(Some(envelope), "capability_token"),
    }
}

impl PipelineStep {
    /// A step (`step` or `name`, `action`, `detected`, `message`,
    /// `duration_ms`); `None` for a value that is not an object.
    fn from_json(step: &Value) -> Option<PipelineStep> {
        let obj = step.as_object()?;
        Some(PipelineStep {
            name: str_field(Some(obj), "step")
                .or_else(|| str_field(Some(obj), "name"))
                .unwrap_or_default(),
            action: str_field(Some(obj), "action").unwrap_or_default(),
            detected: obj.get("detected").and_then(Value::as_bool) == Some(true),
            message: str_field(Some(obj), "message").unwrap_or_default(),
            // Negative, non-finite or absurd durations are not a duration.
            duration: obj
                .get("duration_ms")
                .and_then(Value::as_f64)
                .filter(|ms| ms.is_finite() && (0.0..1e12).contains(ms))
                .map(|ms| std::time::Duration::from_nanos((ms * 1e6).round() as u64)),
        })
    }
}

/// An answer (or a streamed chunk) as a JSON object, with its first
/// `choices` entry when it has one; `what` names it in the protocol error.
pub(crate) fn answer_parts<'a>(
    raw: &'a Value,
    what: &str,
) -> Result<(&'a Map<String, Value>, Option<&'a Value>), Error> {
    let obj = raw
        .as_object()
        .ok_or_else(|| Error::Protocol(format!("{what} is not a JSON object")))?;
    let choice = obj
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first());
    Ok((obj, choice))
}

pub(crate) fn str_field(obj: Option<&Map<String, Value>>, key: &str) -> Option<String> {
    match obj?.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn tool_call(v: &Value) -> ToolCall {
    let function = v.get("function");
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    ToolCall {
        id: text(v.get("id")),
        name: text(function.and_then(|f| f.get("name"))),
        arguments: text(function.and_then(|f| f.get("arguments"))),
    }
}

impl Agent {
    /// A governed chat call with one user message; `.await` it, or configure
    /// it first ([`ChatCall::model`], [`ChatCall::metadata`], …).
    pub fn chat(&self, prompt: impl Into<String>) -> ChatCall<'_> {
        ChatCall {
            agent: self,
            request: ChatRequest {
                messages: vec![Message::user(prompt)],
                ..ChatRequest::default()
            },
            running: Started::default(),
        }
    }

    /// Sends a prepared [`ChatRequest`].
    pub async fn chat_request(&self, request: &ChatRequest) -> Result<ChatResponse, Error> {
        let body = request.to_body(self, false)?;
        let operation = super::telemetry::Operation::chat(self, request, false);
        let slot = self.chat_slot(&body);
        let mut answer = None;
        let result =
            crate::agent::in_span(&operation.span, self.chat_inner(body, &mut answer)).await;
        self.remember_chat(slot.as_ref(), &result, answer);
        // The span records what the caller gets: a degraded call's answer,
        // or the error of a call that could not be degraded.
        let result = match result {
            Err(err) if self.degrades(&err) => {
                let reused = || {
                    let (cached, age) = self.cached_chat(slot.as_ref()?)?;
                    Some((cached.answer()?, age))
                };
                let call = super::resilient::Call::Chat {
                    model: request.model.as_deref().unwrap_or(self.model()),
                    messages: request.messages.len(),
                };
                match self.degrade(err, call, reused) {
                    Err(err) => Err(err),
                    Ok(super::resilient::Degraded::Cached(mut response, age)) => {
                        response.degraded = Some(DegradedReason::Cached { age });
                        Ok(response)
                    }
                    Ok(super::resilient::Degraded::Ungoverned) => Ok(ChatResponse {
                        degraded: Some(DegradedReason::Ungoverned),
                        correlation: Correlation {
                            session_id: crate::session::with_current(|s| {
                                s.map(|s| s.id().to_owned())
                            }),
                            ..Correlation::default()
                        },
                        ..ChatResponse::default()
                    }),
                }
            }
            other => other,
        };
        operation.finish_chat(self, &result);
        result
    }

    /// The call itself; `answer` keeps the answer's bytes for the
    /// last-known-good cache.
    async fn chat_inner(
        &self,
        body: bytes::Bytes,
        answer: &mut Option<bytes::Bytes>,
    ) -> Result<ChatResponse, Error> {
        self.ensure_version().await?;
        let path = super::transport::CHAT_PATH;
        let sent = self.send(Method::POST, path, Some(body), false).await?;
        let bytes =
            super::transport::read_limited(sent.response, self.inner.max_response_bytes).await?;
        let raw = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Protocol(format!(
                "{path} answered 2xx with a body that is not JSON ({e})"
            ))
        })?;
        if self.resilient().is_some() {
            *answer = Some(bytes);
        }
        let response = ChatResponse::from_json(raw)?;
        response.correlation.teach_session();
        if self.inner.redaction_as_error {
            if let Some(decision) = response.redaction_decision() {
                return Err(decision.into());
            }
        }
        Ok(response)
    }
}
