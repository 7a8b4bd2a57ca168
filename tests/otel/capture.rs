//! The spans a test's code makes, exported in memory.

use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::prelude::*;

/// A tracer provider exporting to memory, installed (through
/// `tracing-opentelemetry`) as this thread's subscriber until dropped.
pub struct Capture {
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
    _guard: tracing::subscriber::DefaultGuard,
}

pub fn capture() -> Capture {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("tests")));
    let guard = tracing::subscriber::set_default(subscriber);
    Capture {
        exporter,
        provider,
        _guard: guard,
    }
}

impl Capture {
    /// The spans ended so far.
    pub fn spans(&self) -> Vec<SpanData> {
        self.provider.force_flush().expect("flush");
        self.exporter.get_finished_spans().expect("spans")
    }

    /// The one ended span called `name`.
    pub fn span(&self, name: &str) -> SpanData {
        let spans = self.spans();
        let mut named = spans.iter().filter(|s| s.name == name);
        let span = named.next().unwrap_or_else(|| {
            let names: Vec<_> = spans.iter().map(|s| s.name.to_string()).collect();
            panic!("no span `{name}` among {names:?}")
        });
        assert!(named.next().is_none(), "more than one span `{name}`");
        span.clone()
    }

    /// Forgets the spans ended so far.
    pub fn reset(&self) {
        self.exporter.reset();
    }
}

/// The value of attribute `key` among `attributes`, as text.
pub fn attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| text(&kv.value))
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.to_string(),
        other => other.to_string(),
    }
}

/// The span's attribute `key`, as text.
pub fn span_attr(span: &SpanData, key: &str) -> Option<String> {
    attr(&span.attributes, key)
}

/// The attributes of the span's `gen_ai.guardrail.result` events of type
/// `decision`.
pub fn decisions(span: &SpanData) -> Vec<Vec<KeyValue>> {
    span.events
        .iter()
        .filter(|e| e.name == "gen_ai.guardrail.result")
        .filter(|e| {
            attr(&e.attributes, "gen_ai.guardrail.result.type").as_deref() == Some("decision")
        })
        .map(|e| e.attributes.clone())
        .collect()
}

/// The span's one decision event.
pub fn decision(span: &SpanData) -> Vec<KeyValue> {
    let mut all = decisions(span);
    assert_eq!(
        all.len(),
        1,
        "one decision on `{}`: {:?}",
        span.name,
        span.events
    );
    all.remove(0)
}

/// Every text a span carries: its name, attribute values, events' names and
/// attribute values, status.
pub fn all_text(span: &SpanData) -> String {
    let mut out = vec![span.name.to_string(), format!("{:?}", span.status)];
    out.extend(span.attributes.iter().map(|kv| text(&kv.value)));
    for event in span.events.iter() {
        out.push(event.name.to_string());
        out.extend(event.attributes.iter().map(|kv| text(&kv.value)));
    }
    out.join("\n")
}

/// Whether `child`'s parent is `parent`, in the same trace.
pub fn is_child(child: &SpanData, parent: &SpanData) -> bool {
    child.parent_span_id == parent.span_context.span_id()
        && child.span_context.trace_id() == parent.span_context.trace_id()
        && parent.span_context.span_id() != SpanId::INVALID
}
