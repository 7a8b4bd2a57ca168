//! The layer's span of each request, after the OpenTelemetry HTTP and GenAI
//! conventions: the session, agent and pipeline ids on it, and (feature
//! `otel`) the caller's W3C trace continued.

use tracing::field::Empty;

/// The layer's span of a request: `tappass.request`, carrying the session,
/// agent and pipeline ids. It is a server span (named `{method} {route}`)
/// when no span encloses it, the request's own otherwise. With the `otel`
/// feature it continues the caller's W3C trace (`traceparent`).
pub(crate) fn request_span<B>(
    request: &http::Request<B>,
    scope: &crate::session::scope::Scope,
) -> tracing::Span {
    let outermost = tracing::Span::current().is_none();
    let span = tracing::info_span!(
        target: "tappass",
        "tappass.request",
        otel.name = Empty,
        otel.kind = if outermost { "server" } else { "internal" },
        http.request.method = request.method().as_str(),
        http.route = Empty,
        url.path = request.uri().path(),
        http.response.status_code = Empty,
        gen_ai.conversation.id = Empty,
        gen_ai.agent.id = Empty,
        tappass.session_id = Empty,
        tappass.session.opened = Empty,
        tappass.pipeline_id = Empty,
        otel.status_code = Empty,
    );
    if span.is_disabled() {
        return span;
    }
    // The route the router matched (axum's `matched-path`, which the `otel`
    // feature turns on); the path without it.
    #[cfg(feature = "otel")]
    let target = match request.extensions().get::<axum::extract::MatchedPath>() {
        Some(route) => {
            span.record("http.route", route.as_str());
            route.as_str()
        }
        None => request.uri().path(),
    };
    #[cfg(not(feature = "otel"))]
    let target = request.uri().path();
    span.record(
        "otel.name",
        format!("{} {target}", request.method().as_str()).as_str(),
    );
    scope.with_session(|session| {
        if let Some(session) = session {
            span.record("gen_ai.conversation.id", session.id());
            span.record("tappass.session_id", session.id());
            span.record("tappass.session.opened", session.is_opened_here());
        }
    });
    #[cfg(feature = "otel")]
    crate::trace_context::continue_trace(&span, request.headers());
    span
}

/// Records a request's end on its span: the status, and the ids the session
/// learned from the control plane's answers while the request ran (a
/// `#[governed]` route may also have opened or dropped the session).
pub(crate) fn end_request(
    span: &tracing::Span,
    status: http::StatusCode,
    scope: &crate::session::scope::Scope,
) {
    if span.is_disabled() {
        return;
    }
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
    scope.with_session(|session| {
        if let Some(session) = session {
            span.record("gen_ai.conversation.id", session.id());
            span.record("tappass.session_id", session.id());
            span.record("tappass.session.opened", session.is_opened_here());
            if let Some(agent) = session.agent_uuid() {
                span.record("gen_ai.agent.id", agent);
            }
            if let Some(pipeline) = session.pipeline_uuid() {
                span.record("tappass.pipeline_id", pipeline);
            }
        }
    });
}
