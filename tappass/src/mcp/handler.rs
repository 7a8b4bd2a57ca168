//! [`Governed`]: an rmcp server whose `tools/call` is governed and whose
//! `tools/list` is filtered; every other request goes to the server as it
//! came.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

// Logging (`SetLevelRequestParams`) is deprecated in rmcp; it is forwarded all the same.
#[allow(deprecated)]
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams,
    CancelledNotificationParam, CompleteRequestParams, CompleteResult, ContentBlock,
    CustomNotification, CustomRequest, CustomResult, DiscoverResult, GetPromptRequestParams,
    GetPromptResponse, GetSkillRequestParams, GetSkillResult, GetTaskParams, GetTaskResult,
    InitializeRequestParams, InitializeResult, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, ListSkillsResult, ListToolsResult, MetaObject, PaginatedRequestParams,
    ProgressNotificationParam, ProtocolVersion, ReadResourceDirectoryRequestParams,
    ReadResourceDirectoryResult, ReadResourceRequestParams, ReadResourceResponse, ServerConfig,
    SetLevelRequestParams, SubscribeRequestParams, SubscriptionFilter, Tool,
    UnsubscribeRequestParams, UpdateTaskParams,
};
use rmcp::service::{MaybeSendFuture, NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{json, Map, Value};

use super::correlation::{self, FromParams};
use super::grants::{self, Listing};
use super::http::ParamsCorrelation;
use super::rules::{check_tool_name, shown, Decision, Needs, ToolRules};
use super::shared::Shared;
use crate::agent::{Agent, AuditEvent, ToolVerdict};
use crate::decision::GovernanceDecision;
use crate::error::Error;
use crate::response::{Form, GovernanceError};
use crate::session::scope::Scope;
use crate::session::Session;
use crate::timestamp::Timestamp;

/// An rmcp server governed by TapPass: made by
/// [`Governance::wrap`](super::Governance::wrap) (or, per MCP session, by
/// [`Governance::streamable_http_service`](super::Governance::streamable_http_service)).
///
/// Its `tools/call` runs the server's tool only once the call is checked
/// (its correlation, the caller's grant) and decided (TapPass's policy, an
/// approval), in the call's session, and audits it; its `tools/list` shows a
/// caller only the tools it may call. Every other request (`initialize`,
/// prompts, resources, notifications, …) is the server's own. The
/// [module documentation](super) tells the whole path of a call.
pub struct Governed<H> {
    inner: H,
    shared: Arc<Shared>,
    rules: Arc<ToolRules>,
}

impl<H: std::fmt::Debug> std::fmt::Debug for Governed<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Governed")
            .field("inner", &self.inner)
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl<H: Clone> Clone for Governed<H> {
    fn clone(&self) -> Self {
        Governed {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            rules: self.rules.clone(),
        }
    }
}

impl<H> Governed<H> {
    pub(crate) fn new(inner: H, shared: Arc<Shared>, rules: Arc<ToolRules>) -> Governed<H> {
        Governed {
            inner,
            shared,
            rules,
        }
    }

    /// The server it governs.
    pub fn inner(&self) -> &H {
        &self.inner
    }

    /// What each tool needs, as the server declared it.
    pub fn rules(&self) -> &ToolRules {
        &self.rules
    }
}

/// How a call ended, for its audit event.
struct Ended {
    response: Result<CallToolResponse, McpError>,
    /// `allowed`, `audit_only`, or the code of what refused the call.
    decision: Cow<'static, str>,
    /// How long the tool itself ran, when it ran.
    ran: Option<Duration>,
    /// Why the tool ran without TapPass's decision (`cached`,
    /// `ungoverned`): TapPass was unavailable and the agent's resilience
    /// let the call through.
    degraded: Option<&'static str>,
}

impl Ended {
    fn refused<E: GovernanceError + ?Sized>(error: &E, tool: &str) -> Ended {
        Ended {
            decision: Cow::Owned(error.code().to_owned()),
            response: Ok(CallToolResponse::Complete(refusal(error, tool, None))),
            degraded: None,
            ran: None,
        }
    }
}

impl<H: ServerHandler> Governed<H> {
    async fn governed_call(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let started = Instant::now();
        let name = request.name.to_string();
        if let Err(problem) = check_tool_name(&name) {
            return Err(McpError::invalid_params(
                format!("`{}`: {problem}", shown(&name)),
                Some(json!({"error": "invalid_tool_name"})),
            ));
        }
        let needs = match self.rules.get(&name) {
            Some(needs) => needs.clone(),
            None if self.inner.get_tool(&name).is_some() => Needs::policy(),
            None => {
                return Err(McpError::invalid_params(
                    format!("unknown tool `{name}`: call one of the tools `tools/list` names"),
                    Some(json!({"error": "unknown_tool", "tool": name})),
                ))
            }
        };
        let parts = context.extensions.get::<http::request::Parts>();
        let from_params = match parts.and_then(|p| p.extensions.get::<ParamsCorrelation>()) {
            Some(found) => found.of(&serde_json::to_value(&context.id).unwrap_or_default()),
            None => FromParams::Absent,
        };
        let carried = correlation::read(&from_params, &context.meta, parts.map(|p| &p.headers))
            .map_err(correlation::Refused::into_error)?;
        // The grant is read after the call's scope is entered: keep the
        // headers only when the tool needs one.
        let grant_headers = needs
            .capability()
            .and_then(|_| parts.map(|p| p.headers.clone()));

        let agent = &self.shared.agent;
        let (session, opened) = match carried.session {
            Some(joined) => (Some(joined), None),
            None if self.shared.auto_open_session => {
                let opened = Opened::open(agent, &name);
                (Some(opened.session.clone()), Some(opened))
            }
            None => (None, None),
        };
        let resumed = carried.resume_token.is_some();
        let scope = Scope::new(
            session.clone(),
            None,
            Some(self.shared.lent.clone()),
            carried.resume_token,
        );
        let args = request.arguments.clone().unwrap_or_default();
        let ended = scope
            .enter(self.decide_and_run(&name, &needs, request, context, grant_headers, resumed))
            .await;

        let is_error = match &ended.response {
            Ok(CallToolResponse::Complete(result)) => result.is_error.unwrap_or(false),
            Ok(_) => false,
            Err(_) => true,
        };
        let mut details = json!({
            "tool": name,
            "decision": ended.decision,
            "is_error": is_error,
            "resumed": resumed,
            "duration_ms": millis(started.elapsed()),
            "tool_ms": ended.ran.map(millis),
            "source": SOURCE,
        });
        if needs.decision() == Decision::AuditOnly {
            details["mode"] = json!("audit_only");
            details["arguments"] = Value::Object(args);
        }
        agent.report(event("tool_call", session.as_ref(), details));
        if let Some(opened) = opened {
            opened.close(json!({"source": SOURCE, "tool": name, "is_error": is_error}));
        }
        let mut response = ended.response?;
        if let CallToolResponse::Complete(result) = &mut response {
            if let Some(session) = &session {
                result.meta.get_or_insert_with(MetaObject::default).insert(
                    correlation::CORRELATION_KEY.to_owned(),
                    correlation::of_session(session),
                );
            }
            // Never silent: the client learns the call was not governed.
            if let Some(reason) = ended.degraded {
                result
                    .meta
                    .get_or_insert_with(MetaObject::default)
                    .insert(DEGRADED_KEY.to_owned(), Value::from(reason));
            }
        }
        Ok(response)
    }

    /// Inside the call's scope: the grant, the decision, then the tool.
    async fn decide_and_run(
        &self,
        name: &str,
        needs: &Needs,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
        grant_headers: Option<http::HeaderMap>,
        resumed: bool,
    ) -> Ended {
        if let Some(capability) = needs.capability() {
            let args = request.arguments.as_ref().cloned().unwrap_or_default();
            if let Err(refusal) = grants::check_call(
                &self.shared,
                grant_headers.as_ref(),
                name,
                capability,
                &args,
            )
            .await
            {
                return Ended::refused(&refusal, name);
            }
        }
        let mut degraded = None;
        let decision = match needs.decision() {
            Decision::AuditOnly => "audit_only",
            Decision::Policy | Decision::Approval => {
                let args = Value::Object(request.arguments.clone().unwrap_or_default());
                match self.shared.agent.govern_tool(name, args).await {
                    Ok(verdict) => {
                        if needs.decision() == Decision::Approval && !approved(&verdict, resumed) {
                            return Ended::refused(
                                &NotApproved {
                                    tool: name.to_owned(),
                                },
                                name,
                            );
                        }
                        degraded = verdict.degraded().map(|reason| reason.as_str());
                        if degraded.is_some() {
                            "degraded"
                        } else {
                            "allowed"
                        }
                    }
                    Err(Error::Governance(decision)) => {
                        return Ended {
                            decision: Cow::Owned(decision.code().to_owned()),
                            response: Ok(CallToolResponse::Complete(decided(&decision, name))),
                            ran: None,
                            degraded: None,
                        }
                    }
                    Err(failure) => return Ended::refused(&failure, name),
                }
            }
        };
        let started = Instant::now();
        let response = self.inner.call_tool(request, context).await;
        Ended {
            response,
            decision: Cow::Borrowed(decision),
            ran: Some(started.elapsed()),
            degraded,
        }
    }

    async fn filtered_list(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let headers = self
            .rules
            .any_capability()
            .then(|| {
                context
                    .extensions
                    .get::<http::request::Parts>()
                    .map(|p| p.headers.clone())
            })
            .flatten();
        let mut listed = self.inner.list_tools(request, context).await?;
        listed.tools.retain(|tool| match check_tool_name(&tool.name) {
            Ok(()) => true,
            Err(problem) => {
                tracing::warn!(tool = %shown(&tool.name), %problem, "an MCP tool TapPass cannot govern is left out of tools/list");
                false
            }
        });
        if self.rules.any_capability() {
            let listing = Listing::read(&self.shared, headers.as_ref()).await;
            listed.tools.retain(|tool| {
                match self.rules.get(&tool.name).and_then(Needs::capability) {
                    None => true,
                    Some(capability) => listing.shows(&self.shared, &tool.name, capability),
                }
            });
        }
        Ok(listed)
    }
}

/// The `source` of the events this module reports.
const SOURCE: &str = "tappass::mcp";

/// The member of a result's `_meta` that says the call ran while TapPass was
/// unavailable (`cached` or `ungoverned`), as `X-TapPass-Degraded` does
/// for an HTTP response.
pub(crate) const DEGRADED_KEY: &str = "tappass-degraded";

fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// An audit event in `session`, or outside any.
fn event(kind: &str, session: Option<&Session>, details: Value) -> AuditEvent {
    match session {
        Some(session) => AuditEvent::new(kind, session, details),
        None => AuditEvent {
            event_type: kind.to_owned(),
            agent_id: None,
            occurred_at: Timestamp::now(),
            session_id: None,
            task_id: None,
            details,
        },
    }
}

/// A session opened for one call: reported open now, and closed when the
/// call ends (or, if the call is dropped first, as cancelled).
struct Opened {
    agent: Agent,
    session: Session,
    closed: bool,
}

impl Opened {
    fn open(agent: &Agent, tool: &str) -> Opened {
        let session = Session::open();
        agent.report(AuditEvent::new(
            "session_open",
            &session,
            json!({"source": SOURCE, "method": "tools/call", "tool": tool}),
        ));
        Opened {
            agent: agent.clone(),
            session,
            closed: false,
        }
    }

    fn close(mut self, details: Value) {
        self.closed = true;
        self.agent
            .report(AuditEvent::new("session_close", &self.session, details));
    }
}

impl Drop for Opened {
    fn drop(&mut self) {
        if !self.closed {
            self.agent.report(AuditEvent::new(
                "session_close",
                &self.session,
                json!({"source": SOURCE, "cancelled": true}),
            ));
        }
    }
}

/// Whether a human approval stands behind an allowed call: it resumed one
/// with its token, or TapPass's answer names the approval it honoured.
fn approved(verdict: &ToolVerdict, resumed: bool) -> bool {
    if verdict.degraded.is_some() || verdict.audit_only {
        return false;
    }
    resumed
        || verdict
            .raw
            .get("approval")
            .and_then(|a| a.get("request_id"))
            .and_then(Value::as_str)
            .is_some_and(|id| !id.is_empty())
}

/// A tool declared to need an approval that TapPass allowed without one.
#[derive(Debug)]
struct NotApproved {
    tool: String,
}

impl std::fmt::Display for NotApproved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the tool `{}` runs only after a human approval, but TapPass allowed this call without one: its policy needs an approval rule for the tool (`needs_approval` or `escalate`); the call did not run",
            self.tool
        )
    }
}

impl GovernanceError for NotApproved {
    fn status(&self) -> http::StatusCode {
        http::StatusCode::FORBIDDEN
    }

    fn code(&self) -> &str {
        "approval_not_enforced"
    }

    fn serialize_fields<M: serde::ser::SerializeMap>(&self, _: &mut M) -> Result<(), M::Error> {
        Ok(())
    }
}

/// The result of a call that governance refused: `isError`, the message
/// first, then the JSON body the HTTP mapping would answer (its `error`
/// code, the case's fields, the session's ids), also as structured content.
fn refusal<E: GovernanceError + ?Sized>(
    error: &E,
    tool: &str,
    extra: Option<(String, Map<String, Value>)>,
) -> CallToolResult {
    let session = crate::session::current_session();
    let bytes = crate::response::body_bytes(error, session.as_ref(), Form::Json);
    let mut body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(body)) => body,
        _ => Map::from_iter([("error".to_owned(), json!(error.code()))]),
    };
    body.insert("tool".to_owned(), json!(tool));
    if let Some((message, fields)) = extra {
        body.insert("message".to_owned(), json!(message));
        body.extend(fields);
    }
    let message = body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let body = Value::Object(body);
    let mut result = CallToolResult::error(vec![
        ContentBlock::text(message),
        ContentBlock::text(body.to_string()),
    ]);
    result.structured_content = Some(body);
    result
}

/// The result of a call TapPass decided against: the decision's
/// [`refusal`]; an approval also says how to resume, in MCP's terms.
fn decided(decision: &GovernanceDecision, tool: &str) -> CallToolResult {
    let GovernanceDecision::ApprovalRequired(approval) = decision else {
        return refusal(decision, tool, None);
    };
    let mut resume = Map::new();
    if let Some(token) = &approval.resume_token {
        resume.insert(correlation::RESUME_TOKEN_KEY.to_owned(), json!(token));
    }
    if let Some(session) = &approval.session_id {
        resume.insert(
            correlation::CORRELATION_KEY.to_owned(),
            json!({"session_id": session}),
        );
    }
    let mut message = String::from("a human approval is required");
    if let Some(url) = &approval.approval_url {
        message.push_str(" at ");
        message.push_str(url);
    }
    if !approval.reason.is_empty() {
        message.push_str(": ");
        message.push_str(&approval.reason);
    }
    if approval.resume_token.is_some() {
        message.push_str(&format!(
            "; once it is approved, call `{tool}` again with the same arguments and `_meta` {}, once: the token is used up by the call it lets through",
            Value::Object(resume.clone())
        ));
    }
    let fields = Map::from_iter([("resume_meta".to_owned(), Value::Object(resume))]);
    refusal(decision, tool, Some((message, fields)))
}

// `subscribe` and `unsubscribe` are deprecated in rmcp; they are forwarded all the same.
#[allow(deprecated)]
impl<H: ServerHandler> ServerHandler for Governed<H> {
    fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CallToolResponse, McpError>> + MaybeSendFuture + '_ {
        self.governed_call(request, context)
    }

    fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListToolsResult, McpError>> + MaybeSendFuture + '_ {
        self.filtered_list(request, context)
    }

    // Everything else is the server's own.

    fn ping(
        &self,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.ping(context)
    }

    fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<InitializeResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.initialize(request, context)
    }

    fn negotiate_initialize(
        &self,
        request: &InitializeRequestParams,
    ) -> Result<InitializeResult, McpError> {
        self.inner.negotiate_initialize(request)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        self.inner.supported_protocol_versions()
    }

    fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<DiscoverResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.discover(context)
    }

    fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CompleteResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.complete(request, context)
    }

    fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.set_level(request, context)
    }

    fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetPromptResponse, McpError>> + MaybeSendFuture + '_ {
        self.inner.get_prompt(request, context)
    }

    fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListPromptsResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.list_prompts(request, context)
    }

    fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListResourcesResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.list_resources(request, context)
    }

    fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListResourceTemplatesResult, McpError>> + MaybeSendFuture + '_
    {
        self.inner.list_resource_templates(request, context)
    }

    fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ReadResourceResponse, McpError>> + MaybeSendFuture + '_ {
        self.inner.read_resource(request, context)
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        self.inner.accepted_subscription_filter(requested)
    }

    fn listen(
        &self,
        context: SubscriptionContext,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.listen(context)
    }

    fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.subscribe(request, context)
    }

    fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.unsubscribe(request, context)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner.get_tool(name)
    }

    fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CustomResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.on_custom_request(request, context)
    }

    fn on_cancelled(
        &self,
        notification: CancelledNotificationParam,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_cancelled(notification, context)
    }

    fn on_progress(
        &self,
        notification: ProgressNotificationParam,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_progress(notification, context)
    }

    fn on_initialized(
        &self,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_initialized(context)
    }

    fn on_roots_list_changed(
        &self,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_roots_list_changed(context)
    }

    fn on_custom_notification(
        &self,
        notification: CustomNotification,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_custom_notification(notification, context)
    }

    fn get_info(&self) -> ServerConfig {
        self.inner.get_info()
    }

    fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetTaskResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.get_task(request, context)
    }

    fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.update_task(request, context)
    }

    fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.cancel_task(request, context)
    }

    fn list_skills(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListSkillsResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.list_skills(request, context)
    }

    fn get_skill(
        &self,
        request: GetSkillRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetSkillResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.get_skill(request, context)
    }

    fn read_resource_directory(
        &self,
        request: ReadResourceDirectoryRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ReadResourceDirectoryResult, McpError>> + MaybeSendFuture + '_
    {
        self.inner.read_resource_directory(request, context)
    }
}
