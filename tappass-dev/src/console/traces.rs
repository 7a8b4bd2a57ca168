//! A session's traces as waterfalls, on the session's page beside its
//! timeline: each span a row, indented under its parent, its bar placed in
//! the trace's time, and the governance decision on the span it was made for
//! (its `gen_ai.guardrail.result` events) as a badge.
//!
//! The bars are SVG rectangles placed by attributes (`x`, `width`), not by
//! inline styles, which the console's Content-Security-Policy forbids. Every
//! name and value comes from whoever exported the span and is escaped.

use std::collections::{HashMap, HashSet};

use maud::{html, Markup};

use super::layout::decision_class;
use crate::stores::traces::{Span, Status, Trace};

/// The event a governance decision is recorded as (GenAI conventions).
const DECISION_EVENT: &str = "gen_ai.guardrail.result";
/// The deepest indentation a row gets; deeper spans line up with it.
const MAX_DEPTH: usize = 8;
/// The width of the bars' coordinate system.
const SCALE: u64 = 1000;

/// The traces section of a session's page.
pub(super) fn section(traces: &[Trace]) -> Markup {
    html! {
        section.traces {
            h2 { "Traces" }
            @if traces.is_empty() {
                p.empty.dim {
                    "No spans name this session. A service built with tappass's "
                    code { "otel" } " feature exports them here: send OTLP/HTTP to "
                    code { "/v1/traces" } "."
                }
            } @else {
                @for trace in traces { (waterfall(trace)) }
            }
        }
    }
}

/// One trace: a header and its rows, parents above their children.
fn waterfall(trace: &Trace) -> Markup {
    let (start, end) = trace.bounds();
    let total = end - start;
    html! {
        div.panel.waterfall data-trace-id=(trace.trace_id) {
            div.trace-head {
                span.mono.dim { "trace " (trace.trace_id) }
                span.dim { (trace.spans.len()) " spans, " (duration(total)) }
            }
            ol {
                @for (depth, span) in ordered(&trace.spans) {
                    (row(span, depth, start, total))
                }
            }
        }
    }
}

/// The spans in tree order with their depth: each root (a span whose parent
/// is not in the trace) then its children, earliest first. `spans` is
/// sorted by start.
fn ordered(spans: &[Span]) -> Vec<(usize, &Span)> {
    let mut children: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, span) in spans.iter().enumerate() {
        if let Some(parent) = &span.parent_span_id {
            children.entry(parent.as_str()).or_default().push(i);
        }
    }
    let known: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut rows = Vec::with_capacity(spans.len());
    let mut placed = vec![false; spans.len()];
    // Depth-first, with an explicit stack: an exporter's parent links may
    // be deep, and are never trusted to form a tree (a cycle is cut).
    let mut stack: Vec<(usize, usize)> = spans
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.parent_span_id
                .as_deref()
                .is_none_or(|p| !known.contains(p))
        })
        .map(|(i, _)| (i, 0))
        .rev()
        .collect();
    let mut next_unplaced = 0;
    loop {
        while let Some((i, depth)) = stack.pop() {
            if placed[i] {
                continue;
            }
            placed[i] = true;
            rows.push((depth, &spans[i]));
            if let Some(kids) = children.get(spans[i].span_id.as_str()) {
                stack.extend(
                    kids.iter()
                        .rev()
                        .filter(|j| !placed[**j])
                        .map(|j| (*j, depth + 1)),
                );
            }
        }
        // Spans only a cycle reaches: shown as roots.
        while next_unplaced < spans.len() && placed[next_unplaced] {
            next_unplaced += 1;
        }
        if next_unplaced == spans.len() {
            break;
        }
        stack.push((next_unplaced, 0));
    }
    rows
}

/// One span's row.
fn row(span: &Span, depth: usize, trace_start: u64, total: u64) -> Markup {
    let offset = span.start_unix_nano.saturating_sub(trace_start);
    let (x, width) = if total == 0 {
        (0, SCALE)
    } else {
        let x = (u128::from(offset) * u128::from(SCALE) / u128::from(total)) as u64;
        let width =
            (u128::from(span.duration_nanos()) * u128::from(SCALE) / u128::from(total)) as u64;
        (x.min(SCALE - 1), width.clamp(1, SCALE - x.min(SCALE - 1)))
    };
    // The decisions, not the pipeline's steps (result events of type `step`).
    let decisions: Vec<&str> = span
        .events
        .iter()
        .filter(|e| e.name == DECISION_EVENT)
        .filter(|e| {
            e.attribute("gen_ai.guardrail.result.type")
                .is_none_or(|t| t == "decision")
        })
        .filter_map(|e| e.attribute("gen_ai.guardrail.result.value"))
        .collect();
    let failed = matches!(span.status, Status::Error(_));
    html! {
        li.span data-span-id=(span.span_id) {
            div class=(format!("name depth-{}", depth.min(MAX_DEPTH))) {
                span.mono { (span.name) }
                @for decision in &decisions {
                    " " span class=(format!("badge decision {}", decision_class(decision))) { (decision) }
                }
                @if let Status::Error(message) = &span.status {
                    " " span.badge.stop.status title=(message) { "error" }
                }
            }
            div.dim.duration { (duration(span.duration_nanos())) }
            div.bar {
                svg viewBox=(format!("0 0 {SCALE} 10")) preserveAspectRatio="none" role="img"
                    aria-label=(format!("{} from +{}", duration(span.duration_nanos()), duration(offset))) {
                    rect class=(if failed { "error" } else { "ok" }) x=(x) y="0" width=(width) height="10" {}
                }
            }
            details {
                summary { "attributes" }
                dl.fields {
                    dt { "kind" } dd { (span.kind.name()) }
                    @if let Some(service) = &span.service { dt { "service" } dd { (service) } }
                    @if let Status::Error(message) = &span.status { dt { "status" } dd { "error: " (message) } }
                    @for (key, value) in &span.attributes { dt { (key) } dd { (value) } }
                    @for event in &span.events {
                        dt { "event" }
                        dd {
                            b { (event.name) }
                            @for (key, value) in &event.attributes { br; span.dim { (key) " = " } (value) }
                        }
                    }
                }
            }
        }
    }
}

/// A duration in nanoseconds for people: `840 µs`, `12.3 ms`, `2.04 s`.
fn duration(nanos: u64) -> String {
    match nanos {
        0..=999 => format!("{nanos} ns"),
        1_000..=999_999 => format!("{} µs", nanos / 1_000),
        1_000_000..=999_999_999 => format!("{:.1} ms", nanos as f64 / 1e6),
        _ => format!("{:.2} s", nanos as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::traces::{Kind, SpanEvent};

    fn span(id: &str, parent: Option<&str>, start: u64, end: u64) -> Span {
        Span {
            trace_id: "t".into(),
            span_id: id.into(),
            parent_span_id: parent.map(str::to_owned),
            name: format!("<b>{id}</b>"),
            kind: Kind::Client,
            start_unix_nano: start,
            end_unix_nano: end,
            status: Status::Unset,
            service: None,
            attributes: vec![("note".into(), "<script>alert(1)</script>".into())],
            events: Vec::new(),
        }
    }

    #[test]
    fn rows_come_parents_first_with_their_depth_and_a_cycle_does_not_hang() {
        let spans = vec![
            span("root", None, 0, 100),
            span("a", Some("root"), 10, 50),
            span("orphan", Some("gone"), 20, 30),
            span("a1", Some("a"), 20, 40),
            span("b", Some("root"), 60, 90),
            span("x", Some("y"), 70, 80),
            span("y", Some("x"), 75, 80),
        ];
        let order: Vec<(usize, &str)> = ordered(&spans)
            .into_iter()
            .map(|(d, s)| (d, s.span_id.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                (0, "root"),
                (1, "a"),
                (2, "a1"),
                (1, "b"),
                (0, "orphan"),
                (0, "x"),
                (1, "y")
            ]
        );
    }

    #[test]
    fn the_decision_and_the_error_show_on_their_span_and_markup_is_escaped() {
        let mut blocked = span("chat", None, 0, 1_000_000);
        blocked.status = Status::Error("policy_block".into());
        blocked.events.push(SpanEvent {
            name: DECISION_EVENT.into(),
            time_unix_nano: 10,
            attributes: vec![(
                "gen_ai.guardrail.result.value".into(),
                "policy_block".into(),
            )],
        });
        let trace = Trace {
            trace_id: "t".into(),
            spans: vec![blocked],
        };
        let html = section(&[trace]).into_string();
        assert!(
            html.contains(r#"<span class="badge decision stop">policy_block</span>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<rect class="error" x="0" y="0" width="1000" height="10">"#),
            "{html}"
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<b>chat"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn the_pipelines_steps_are_no_decision_badges() {
        let mut chat = span("chat", None, 0, 10);
        for (kind, value) in [("decision", "allow"), ("step", "continue")] {
            chat.events.push(SpanEvent {
                name: DECISION_EVENT.into(),
                time_unix_nano: 1,
                attributes: vec![
                    ("gen_ai.guardrail.result.type".into(), kind.into()),
                    ("gen_ai.guardrail.result.value".into(), value.into()),
                ],
            });
        }
        let html = row(&chat, 0, 0, 10).into_string();
        assert!(
            html.contains(r#"<span class="badge decision ok">allow</span>"#),
            "{html}"
        );
        assert!(!html.contains(r#"decision stop">continue"#), "{html}");
    }

    #[test]
    fn bars_stay_inside_the_trace_whatever_the_times() {
        let spans = vec![
            span("root", None, 1_000, 2_000),
            // Ends before it begins, begins after the trace ends: the
            // exporter's clock is not trusted.
            span("odd", Some("root"), 2_000, 1_500),
            span("late", Some("root"), u64::MAX - 1, u64::MAX),
        ];
        let trace = Trace {
            trace_id: "t".into(),
            spans,
        };
        let (start, end) = trace.bounds();
        for (_, s) in ordered(&trace.spans) {
            let html = row(s, 0, start, end - start).into_string();
            let x: u64 = attr(&html, " x=\"");
            let width: u64 = attr(&html, " width=\"");
            assert!(
                x + width <= SCALE && width >= 1,
                "{}: x {x} width {width}",
                s.span_id
            );
        }
    }

    fn attr(html: &str, prefix: &str) -> u64 {
        let at = html.find(prefix).unwrap() + prefix.len();
        html[at..].split('"').next().unwrap().parse().unwrap()
    }

    #[test]
    fn durations_read_in_their_unit() {
        assert_eq!(duration(840), "840 ns");
        assert_eq!(duration(840_000), "840 µs");
        assert_eq!(duration(12_340_000), "12.3 ms");
        assert_eq!(duration(2_040_000_000), "2.04 s");
    }
}
