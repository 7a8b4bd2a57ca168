//! A session's page: its event timeline, answered at the session's
//! `audit_url` to a browser (the JSON of the events to everyone else).

use maud::{html, Markup};
use serde_json::Value;

use axum::response::Response;
use http::StatusCode;

use super::layout::{self, decision_class, Refresh};
use crate::state::Shared;
use crate::stores::event_log::{in_time_order, EventLog, Stored};
use crate::stores::traces::Trace;

/// Events per page of the timeline.
const PER_PAGE: usize = 500;

/// What the page shows of a session: facts over all its events, and the
/// events of one page, owned, so that the log is free while it renders.
struct Shown {
    total: usize,
    decisions: usize,
    agent: Option<String>,
    first_at: Option<Value>,
    last_at: Option<Value>,
    pages: usize,
    number: usize,
    events: Vec<Value>,
}

/// Reads page `number` (1-based; clamped) of session `session_id` from `log`.
fn read(log: &EventLog, session_id: &str, number: usize) -> Shown {
    let mut all: Vec<&Stored> = log
        .iter()
        .filter(|e| e.meta().session_id.as_deref() == Some(session_id))
        .collect();
    // As the audit route answers: in the order they occurred, so that a
    // `session_open` reported after the session's first calls comes first.
    in_time_order(&mut all);
    let pages = all.len().div_ceil(PER_PAGE).max(1);
    let number = number.clamp(1, pages);
    let at = |e: Option<&&Stored>| {
        e.and_then(|e| e.meta().occurred_at.as_deref())
            .map(|t| Value::String(t.to_owned()))
    };
    Shown {
        total: all.len(),
        decisions: all
            .iter()
            .filter(|e| e.meta().event_type.as_deref() == Some("decision"))
            .count(),
        agent: all
            .iter()
            .rev()
            .find_map(|e| e.meta().agent_id.as_deref())
            .map(str::to_owned),
        first_at: at(all.first()),
        last_at: at(all.last()),
        pages,
        number,
        events: all
            .iter()
            .skip((number - 1) * PER_PAGE)
            .take(PER_PAGE)
            .map(|e| e.value())
            .collect(),
    }
}

/// The page of session `session_id`: its events, oldest first, [`PER_PAGE`]
/// a page (`?page=N`).
pub(crate) fn page(shared: &Shared, session_id: &str, query: Option<&str>) -> Response {
    let shown = read(&shared.events(), session_id, layout::page_number(query));
    let traces = shared.traces().of_session(session_id);
    layout::page(
        shared,
        StatusCode::OK,
        None,
        &format!("Session {session_id}"),
        Refresh::Off,
        timeline(session_id, &shown, &traces),
    )
}

/// The facts of the session and its timeline.
fn timeline(session_id: &str, shown: &Shown, traces: &[Trace]) -> Markup {
    let href = layout::session_href(session_id);
    html! {
        p.dim { a href="/" { "Sessions" } " / session" }
        h1.mono { (session_id) }
        div.facts {
            div { "Agent" b.mono { @match &shown.agent { Some(a) => (a), None => "—" } } }
            div { "Events" b { (shown.total) } }
            div { "Decisions" b { (shown.decisions) } }
            div { "First" b { (layout::when(shown.first_at.as_ref())) } }
            div { "Last" b { (layout::when(shown.last_at.as_ref())) } }
            div { "Traces" b { a href="#traces" { (traces.len()) } } }
        }
        div.panel {
            @if shown.events.is_empty() {
                p.empty { "No events are recorded for this session (yet)." }
            } @else {
                ol.timeline start=((shown.number - 1) * PER_PAGE + 1) {
                    @for event in &shown.events { (item(event)) }
                }
            }
        }
        @if shown.pages > 1 {
            nav.pager {
                @if shown.number > 1 { a rel="prev" href=(format!("{href}?page={}", shown.number - 1)) { "← Earlier" } }
                span.dim { "events " ((shown.number - 1) * PER_PAGE + 1) "–" ((shown.number - 1) * PER_PAGE + shown.events.len()) " of " (shown.total) }
                @if shown.number < shown.pages { a rel="next" href=(format!("{href}?page={}", shown.number + 1)) { "Later →" } }
            }
        }
        (super::traces::section(traces))
    }
}

/// An event's `event_type` (empty when it has none).
fn kind(event: &Value) -> &str {
    event
        .get("event_type")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// One event: when, what, a one-line summary and its details.
fn item(event: &Value) -> Markup {
    let details = event.get("details").unwrap_or(&Value::Null);
    let field = |key: &str| details.get(key).filter(|v| !v.is_null());
    let text = |key: &str| field(key).map(value_text);
    html! {
        li class=(format!("event {}", kind(event))) {
            div { (layout::when(event.get("occurred_at"))) }
            div.kind { @match kind(event) { "" => span.dim { "(no type)" }, k => (k) } }
            div.summary {
                @match kind(event) {
                    "decision" => {
                        @let decision = text("decision").unwrap_or_default();
                        span class=(format!("badge {}", decision_class(&decision))) { (decision) }
                        @if let Some(rule) = text("rule") { " by rule " code { (rule) } }
                        @if let Some(tool) = text("tool") { " on tool " code { (tool) } }
                        @if let Some(reason) = text("reason") { " — " span.reason { (reason) } }
                    }
                    "tool_call" => {
                        "tool " code { (text("tool").unwrap_or_default()) }
                        @if let Some(outcome) = text("outcome") {
                            " → " span class=(format!("badge {}", decision_class(&outcome))) { (outcome) }
                        }
                        @if let Some(rule) = text("rule") { " by rule " code { (rule) } }
                    }
                    "chat_call" => {
                        "chat"
                        @if let Some(model) = text("model") { " with " code { (model) } }
                        @if let Some(tokens) = text("total_tokens") { ", " (tokens) " tokens" }
                        @if let Some(class) = text("classification") { ", " (class) }
                    }
                    "approval" => {
                        @let state = text("state").unwrap_or_default();
                        "approval " span class=(format!("badge {}", decision_class(&state))) { (state) }
                        @if let Some(tool) = text("tool") { " for tool " code { (tool) } }
                        @if let Some(id) = text("request_id") { " " span.dim.mono { (id) } }
                    }
                    "degraded_call" => {
                        // Recorded by an agent while TapPass was unavailable, sent once it answered.
                        span.badge.note title="TapPass was unavailable: the agent reused a cached allow or let the call through ungoverned" {
                            "degraded: " (text("reason").unwrap_or_default())
                        }
                        @if let Some(tool) = text("tool") { " tool " code { (tool) } }
                        @if let Some(model) = text("model") { " chat with " code { (model) } }
                        @if let Some(mode) = text("fail_mode") { " (" (mode) ")" }
                    }
                    "session_open" => { "session opened" }
                    "session_close" => { "session closed" }
                    _ => {}
                }
                @if let Some(agent) = text("signed_by") {
                    " " span.badge.signed title=(format!("signed by agent {agent}, with its registered key")) { "signed" }
                }
                details {
                    summary { "details" }
                    dl.fields {
                        @for key in ["agent_id", "task_id"] {
                            @if let Some(v) = event.get(key).filter(|v| !v.is_null()) {
                                dt { (key) } dd { (layout::value(v)) }
                            }
                        }
                        @match details {
                            Value::Object(map) => {
                                @for (key, v) in map { dt { (key) } dd { (layout::value(v)) } }
                            }
                            Value::Null => {}
                            other => { dt { "details" } dd { (layout::value(other)) } }
                        }
                        @if let Value::Object(map) = event {
                            @for (key, v) in map.iter().filter(|(k, _)| !is_known(k)) {
                                dt { (key) } dd { (layout::value(v)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The envelope fields the timeline shows in their own place.
fn is_known(key: &str) -> bool {
    matches!(
        key,
        "event_type" | "occurred_at" | "session_id" | "agent_id" | "task_id" | "details"
    )
}

/// A value as one line of text: strings as they are, others as JSON.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
