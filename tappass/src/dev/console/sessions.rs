//! The sessions page (`/`): every session the server has events of, the most
//! recently active first, paged.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use http::{HeaderMap, Method, StatusCode, Uri};
use maud::html;
use serde_json::Value;

use super::layout::{self, Refresh, Section};
use crate::dev::events::EventLog;
use crate::dev::server::{self, Shared};

/// Sessions per page.
const PER_PAGE: usize = 50;

/// One session, as the list shows it.
struct Summary {
    id: String,
    /// The agent of the session's latest event that names one.
    agent: Option<String>,
    events: usize,
    decisions: usize,
    /// The `occurred_at` of the session's latest event.
    last_at: Option<Value>,
    /// The log position of that event: the list's order.
    last_seen: usize,
}

/// The sessions in `log`, the most recently active first.
fn summaries(log: &EventLog) -> Vec<Summary> {
    let mut by_id: HashMap<&str, Summary> = HashMap::new();
    for (i, event) in log.iter().enumerate() {
        let Some(id) = event.get("session_id").and_then(Value::as_str) else {
            continue;
        };
        let s = by_id.entry(id).or_insert_with(|| Summary {
            id: id.to_owned(),
            agent: None,
            events: 0,
            decisions: 0,
            last_at: None,
            last_seen: 0,
        });
        s.events += 1;
        if event.get("event_type").and_then(Value::as_str) == Some("decision") {
            s.decisions += 1;
        }
        if let Some(agent) = event.get("agent_id").and_then(Value::as_str) {
            s.agent = Some(agent.to_owned());
        }
        s.last_at = event.get("occurred_at").cloned();
        s.last_seen = i;
    }
    let mut list: Vec<Summary> = by_id.into_values().collect();
    list.sort_unstable_by(|a, b| b.last_seen.cmp(&a.last_seen));
    list
}

/// The 1-based page number of `?page=N` (1 when absent or not a number).
fn page_number(query: Option<&str>) -> usize {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1)
}

/// `GET /`: the sessions page to a browser; the server's JSON 404 to others.
pub(super) async fn page(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if !super::wants_html(&headers) {
        return server::not_found(method, uri).await;
    }
    let all = summaries(&shared.events());
    let pages = all.len().div_ceil(PER_PAGE).max(1);
    let number = page_number(query.as_deref()).min(pages);
    let shown = all.iter().skip((number - 1) * PER_PAGE).take(PER_PAGE);
    let body = html! {
        h1 { "Sessions" }
        p.lead {
            (all.len()) " session" @if all.len() != 1 { "s" } ", the most recently active first. "
            "A session's page shows its events: chats, tool calls, decisions and approvals."
        }
        div.panel {
            @if all.is_empty() {
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
                        @for s in shown {
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
