//! The sessions page (`/`): every session the server has events of, the most
//! recently active first, paged.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use http::{HeaderMap, Method, StatusCode, Uri};
use maud::html;
use serde_json::Value;

use super::browser::wants_html;
use super::layout::{self, Refresh, Section};
use crate::reply::not_found;
use crate::state::Shared;
use crate::stores::event_log::EventLog;

/// Sessions per page.
const PER_PAGE: usize = 50;

/// One session, as the list shows it, borrowed from the event log.
struct Summary<'a> {
    id: &'a str,
    /// The agent of the session's latest event that names one.
    agent: Option<&'a str>,
    events: usize,
    decisions: usize,
    /// The `occurred_at` of the session's latest event.
    last_at: Option<&'a str>,
    /// The log position of that event: the list's order.
    last_seen: usize,
}

/// A [`Summary`] of the page shown, owned, so that the log is free while it renders.
struct Row {
    id: String,
    agent: Option<String>,
    events: usize,
    decisions: usize,
    last_at: Option<Value>,
}

/// The sessions in `log`, the most recently active first.
fn summaries(log: &EventLog) -> Vec<Summary<'_>> {
    let mut by_id: HashMap<&str, Summary<'_>> = HashMap::new();
    for (i, event) in log.iter().enumerate() {
        let meta = event.meta();
        let Some(id) = meta.session_id.as_deref() else {
            continue;
        };
        let s = by_id.entry(id).or_insert(Summary {
            id,
            agent: None,
            events: 0,
            decisions: 0,
            last_at: None,
            last_seen: 0,
        });
        s.events += 1;
        if meta.event_type.as_deref() == Some("decision") {
            s.decisions += 1;
        }
        if let Some(agent) = meta.agent_id.as_deref() {
            s.agent = Some(agent);
        }
        s.last_at = meta.occurred_at.as_deref();
        s.last_seen = i;
    }
    let mut list: Vec<Summary<'_>> = by_id.into_values().collect();
    list.sort_unstable_by_key(|s| std::cmp::Reverse(s.last_seen));
    list
}

/// `GET /`: the sessions page to a browser; the server's JSON 404 to others.
pub(super) async fn page(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if !wants_html(&headers) {
        return not_found(method, uri).await;
    }
    let (total, pages, number, shown) = {
        let log = shared.events();
        let all = summaries(&log);
        let pages = all.len().div_ceil(PER_PAGE).max(1);
        let number = layout::page_number(query.as_deref()).min(pages);
        let shown: Vec<Row> = all
            .iter()
            .skip((number - 1) * PER_PAGE)
            .take(PER_PAGE)
            .map(|s| Row {
                id: s.id.to_owned(),
                agent: s.agent.map(str::to_owned),
                events: s.events,
                decisions: s.decisions,
                last_at: s.last_at.map(|t| Value::String(t.to_owned())),
            })
            .collect();
        (all.len(), pages, number, shown)
    };
    let body = html! {
        h1 { "Sessions" }
        p.lead {
            (total) " session" @if total != 1 { "s" } ", the most recently active first. "
            "A session's page shows its events: chats, tool calls, decisions and approvals."
        }
        div.panel {
            @if total == 0 {
                p.empty {
                    "No sessions yet. Point an agent or a governed service at "
                    code { (shared.base_url) } " with any " code { "tp_" } " API key."
                }
            } @else {
                table.sessions {
                    thead { tr {
                        th { "Session" } th { "Agent" } th.num { "Events" } th.num { "Decisions" } th { "Last activity" }
                    } }
                    tbody {
                        @for s in &shown {
                            tr {
                                td { a.mono href=(layout::session_href(&s.id)) { (s.id) } }
                                td.mono { @match &s.agent { Some(a) => (a), None => span.dim { "—" } } }
                                td.num { (s.events) }
                                td.num { (s.decisions) }
                                td { (layout::when(s.last_at.as_ref())) }
                            }
                        }
                    }
                }
            }
        }
        @if pages > 1 {
            nav.pager {
                @if number > 1 { a rel="prev" href=(format!("/?page={}", number - 1)) { "← Newer" } }
                span.dim { "page " (number) " of " (pages) }
                @if number < pages { a rel="next" href=(format!("/?page={}", number + 1)) { "Older →" } }
            }
        }
    };
    layout::page(
        &shared,
        StatusCode::OK,
        Some(Section::Sessions),
        "Sessions",
        Refresh::Auto,
        body,
    )
}
