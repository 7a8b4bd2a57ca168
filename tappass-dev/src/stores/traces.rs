//! The spans services export to the dev server over OTLP/HTTP, kept by trace,
//! and the sessions each trace belongs to.
//!
//! A span belongs to a session when it carries the session's id as
//! `gen_ai.conversation.id` or `tappass.session_id`; a trace belongs to every
//! session one of its spans belongs to, so that a span exported without the
//! id (a database call, a downstream service's handler) still shows in the
//! session's waterfall. The store is bounded: past [`MAX_SPANS`] the oldest
//! spans go first, and a trace forgets its sessions with its last span.

use std::collections::{BTreeSet, HashMap, VecDeque};

/// How many spans the store keeps, all traces together.
pub(crate) const MAX_SPANS: usize = 20_000;
/// How many traces one session's page shows (the newest).
pub(crate) const MAX_TRACES_SHOWN: usize = 20;

/// The span attributes that name a span's session.
pub(crate) const SESSION_ATTRIBUTES: [&str; 2] = ["gen_ai.conversation.id", "tappass.session_id"];

/// What a span's kind says of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl Kind {
    /// The kind of OTLP's enum value (unknown values are unspecified).
    pub(crate) fn from_otlp(value: i32) -> Kind {
        match value {
            1 => Kind::Internal,
            2 => Kind::Server,
            3 => Kind::Client,
            4 => Kind::Producer,
            5 => Kind::Consumer,
            _ => Kind::Unspecified,
        }
    }

    /// Its name, lower case, as the console shows it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Unspecified => "unspecified",
            Kind::Internal => "internal",
            Kind::Server => "server",
            Kind::Client => "client",
            Kind::Producer => "producer",
            Kind::Consumer => "consumer",
        }
    }
}

/// A span's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    Unset,
    Ok,
    /// An error, with the exporter's description (possibly empty).
    Error(String),
}

/// Something that happened during a span: a governance decision
/// (`gen_ai.guardrail.result`), an exception, a log line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SpanEvent {
    pub(crate) name: String,
    pub(crate) time_unix_nano: u64,
    pub(crate) attributes: Vec<(String, String)>,
}

impl SpanEvent {
    /// The value of attribute `key`, if it has one.
    pub(crate) fn attribute(&self, key: &str) -> Option<&str> {
        find(&self.attributes, key)
    }
}

/// One span, its ids as lower-case hex, its attribute values as text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Span {
    pub(crate) trace_id: String,
    pub(crate) span_id: String,
    pub(crate) parent_span_id: Option<String>,
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) start_unix_nano: u64,
    pub(crate) end_unix_nano: u64,
    pub(crate) status: Status,
    /// The exporting service's `service.name`, from its resource.
    pub(crate) service: Option<String>,
    pub(crate) attributes: Vec<(String, String)>,
    pub(crate) events: Vec<SpanEvent>,
}

impl Span {
    /// The value of attribute `key`, if it has one.
    pub(crate) fn attribute(&self, key: &str) -> Option<&str> {
        find(&self.attributes, key)
    }

    /// The sessions the span names (see [`SESSION_ATTRIBUTES`]).
    pub(crate) fn sessions(&self) -> impl Iterator<Item = &str> {
        SESSION_ATTRIBUTES
            .iter()
            .filter_map(|key| self.attribute(key))
            .filter(|id| !id.is_empty())
    }

    /// How long it took, in nanoseconds (zero when it ended before it began).
    pub(crate) fn duration_nanos(&self) -> u64 {
        self.end_unix_nano.saturating_sub(self.start_unix_nano)
    }
}

fn find<'a>(attributes: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A trace as one session's page shows it: its spans, earliest first.
pub(crate) struct Trace {
    pub(crate) trace_id: String,
    pub(crate) spans: Vec<Span>,
}

fn attributes_json(attributes: &[(String, String)]) -> serde_json::Value {
    serde_json::Value::Object(
        attributes
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
}

impl Span {
    /// The span as JSON (see `DevServer::traces_for_session`).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let (status, message) = match &self.status {
            Status::Unset => ("unset", None),
            Status::Ok => ("ok", None),
            Status::Error(message) => ("error", Some(message.as_str())),
        };
        serde_json::json!({
            "name": self.name,
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "kind": self.kind.name(),
            "service": self.service,
            "start_unix_nano": self.start_unix_nano,
            "end_unix_nano": self.end_unix_nano,
            "status": status,
            "status_message": message,
            "attributes": attributes_json(&self.attributes),
            "events": self.events.iter().map(|e| serde_json::json!({
                "name": e.name,
                "time_unix_nano": e.time_unix_nano,
                "attributes": attributes_json(&e.attributes),
            })).collect::<Vec<_>>(),
        })
    }
}

impl Trace {
    /// The trace as JSON (see `DevServer::traces_for_session`).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "trace_id": self.trace_id,
            "spans": self.spans.iter().map(Span::to_json).collect::<Vec<_>>(),
        })
    }

    /// When its first span began and its last ended (unix nanoseconds).
    pub(crate) fn bounds(&self) -> (u64, u64) {
        let start = self.spans.iter().map(|s| s.start_unix_nano).min();
        let end = self.spans.iter().map(|s| s.end_unix_nano).max();
        let start = start.unwrap_or(0);
        (start, end.unwrap_or(start).max(start))
    }
}

/// What the store knows of one trace.
#[derive(Default)]
struct TraceEntry {
    /// How many of its spans the store holds.
    spans: usize,
    /// The sessions its spans named.
    sessions: BTreeSet<String>,
    /// When the store last took a span of it (the store's own counter).
    last_seen: u64,
}

/// The spans received, oldest first, and what is known of each trace.
#[derive(Default)]
pub(crate) struct Traces {
    spans: VecDeque<Span>,
    traces: HashMap<String, TraceEntry>,
    received: u64,
}

impl Traces {
    /// Keeps `span`, forgetting the oldest span when the store is full.
    pub(crate) fn add(&mut self, span: Span) {
        if self.spans.len() >= MAX_SPANS {
            self.forget_oldest();
        }
        self.received += 1;
        let entry = self.traces.entry(span.trace_id.clone()).or_default();
        entry.spans += 1;
        entry.last_seen = self.received;
        entry.sessions.extend(span.sessions().map(str::to_owned));
        self.spans.push_back(span);
    }

    fn forget_oldest(&mut self) {
        let Some(old) = self.spans.pop_front() else {
            return;
        };
        if let Some(entry) = self.traces.get_mut(&old.trace_id) {
            entry.spans -= 1;
            if entry.spans == 0 {
                self.traces.remove(&old.trace_id);
            }
        }
    }

    /// How many spans the store holds.
    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    /// The traces of session `session_id`, the most recently exported first,
    /// at most [`MAX_TRACES_SHOWN`]; each with its spans, earliest first.
    pub(crate) fn of_session(&self, session_id: &str) -> Vec<Trace> {
        let mut ids: Vec<(&String, u64)> = self
            .traces
            .iter()
            .filter(|(_, entry)| entry.sessions.contains(session_id))
            .map(|(id, entry)| (id, entry.last_seen))
            .collect();
        ids.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        ids.truncate(MAX_TRACES_SHOWN);
        ids.into_iter()
            .map(|(trace_id, _)| {
                let mut spans: Vec<Span> = self
                    .spans
                    .iter()
                    .filter(|s| &s.trace_id == trace_id)
                    .cloned()
                    .collect();
                spans.sort_by(|a, b| {
                    a.start_unix_nano
                        .cmp(&b.start_unix_nano)
                        .then_with(|| a.span_id.cmp(&b.span_id))
                });
                Trace {
                    trace_id: trace_id.clone(),
                    spans,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(trace: &str, id: &str, session: Option<&str>, start: u64) -> Span {
        Span {
            trace_id: trace.to_owned(),
            span_id: id.to_owned(),
            parent_span_id: None,
            name: format!("span {id}"),
            kind: Kind::Internal,
            start_unix_nano: start,
            end_unix_nano: start + 10,
            status: Status::Unset,
            service: None,
            attributes: session
                .map(|s| vec![("gen_ai.conversation.id".to_owned(), s.to_owned())])
                .unwrap_or_default(),
            events: Vec::new(),
        }
    }

    #[test]
    fn a_trace_belongs_to_the_sessions_its_spans_name_with_all_its_spans() {
        let mut traces = Traces::default();
        traces.add(span("t1", "b", None, 20));
        traces.add(span("t1", "a", Some("ses_1"), 10));
        traces.add(span("t2", "c", Some("ses_2"), 5));
        let shown = traces.of_session("ses_1");
        assert_eq!(shown.len(), 1);
        assert_eq!(shown[0].trace_id, "t1");
        let ids: Vec<&str> = shown[0].spans.iter().map(|s| s.span_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"], "all the trace's spans, earliest first");
        assert_eq!(shown[0].bounds(), (10, 30));
        assert!(traces.of_session("ses_3").is_empty());
        assert!(
            traces.of_session("").is_empty(),
            "an empty id names no session"
        );
    }

    #[test]
    fn tappass_session_id_names_a_session_too_and_an_empty_one_does_not() {
        let mut traces = Traces::default();
        let mut named = span("t1", "a", None, 1);
        named
            .attributes
            .push(("tappass.session_id".to_owned(), "ses_9".to_owned()));
        traces.add(named);
        let mut empty = span("t2", "b", None, 1);
        empty
            .attributes
            .push(("tappass.session_id".to_owned(), String::new()));
        traces.add(empty);
        assert_eq!(traces.of_session("ses_9").len(), 1);
        assert!(traces.of_session("").is_empty());
    }

    #[test]
    fn the_store_is_bounded_and_a_trace_forgets_its_sessions_with_its_last_span() {
        let mut traces = Traces::default();
        traces.add(span("old", "0", Some("ses_old"), 0));
        for i in 0..MAX_SPANS {
            traces.add(span("new", &format!("{i}"), Some("ses_new"), i as u64));
        }
        assert_eq!(traces.len(), MAX_SPANS);
        assert!(traces.of_session("ses_old").is_empty());
        assert!(!traces.traces.contains_key("old"));
        assert_eq!(traces.of_session("ses_new")[0].spans.len(), MAX_SPANS);
    }

    #[test]
    fn a_session_shows_its_newest_traces_first_and_no_more_than_the_bound() {
        let mut traces = Traces::default();
        for i in 0..MAX_TRACES_SHOWN + 5 {
            traces.add(span(&format!("t{i:02}"), "a", Some("ses"), 0));
        }
        let shown = traces.of_session("ses");
        assert_eq!(shown.len(), MAX_TRACES_SHOWN);
        assert_eq!(shown[0].trace_id, format!("t{:02}", MAX_TRACES_SHOWN + 4));
    }

    #[test]
    fn a_span_that_ends_before_it_begins_lasts_nothing() {
        let mut s = span("t", "a", None, 100);
        s.end_unix_nano = 50;
        assert_eq!(s.duration_nanos(), 0);
        let trace = Trace {
            trace_id: "t".into(),
            spans: vec![s],
        };
        assert_eq!(trace.bounds(), (100, 100));
    }
}
