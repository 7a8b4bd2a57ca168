//! The W3C trace context (`traceparent`, `tracestate`) beside the session:
//! continued from a request by the layer, sent with the agent's calls to
//! TapPass and with [`propagate_session`](crate::propagate::PropagateSession::propagate_session).
//!
//! It is always W3C Trace Context, whatever global propagator the
//! application installed (the default global one propagates nothing): the
//! session headers travel between services the toolkit governs, and so must
//! the trace, for one trace to span them.

use http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Makes `span` a child of the trace the request's `traceparent` names,
/// unless it already belongs to that trace (an enclosing layer continued
/// it) or the header is absent or invalid (the span then stays where it is).
pub(crate) fn continue_trace(span: &tracing::Span, headers: &HeaderMap) {
    if !headers.contains_key("traceparent") {
        return;
    }
    let remote = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let remote_span = remote.span();
    let remote_context = remote_span.span_context();
    if !remote_context.is_valid() {
        return;
    }
    // The enclosing span's, not `span`'s: asking a span for its context
    // starts it, after which its parent cannot change.
    let enclosing = tracing::Span::current().context();
    if enclosing.span().span_context().trace_id() == remote_context.trace_id() {
        return;
    }
    // An error means the span is already started (entered) or not an
    // OpenTelemetry span: it keeps its parent.
    let _ = span.set_parent(remote.clone());
}

/// Writes the trace context of the current span into `headers`; nothing
/// when there is none (no OpenTelemetry layer, or an invalid context).
pub(crate) fn inject_current(headers: &mut HeaderMap) {
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return;
    }
    TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
}

/// The trace context of the current span as headers (empty when none).
pub(crate) fn current_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    inject_current(&mut headers);
    headers
}
