//! The approvals page (`/approvals`): what each pending approval asks, who
//! asks and until when, with Approve and Deny buttons; the decided ones below.
//! Each approval also has a page of its own (`/approvals/{request_id}`, the
//! `approval_url` of the dev server's decisions), so that the link a person
//! follows shows the one request it is about. The buttons post to
//! `/approvals/{request_id}/approve|deny`.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use maud::{html, Markup};

use super::browser::wants_html;
use super::form::{Form, FormToken};
use super::layout::{self, decision_class, Refresh, Section};
use crate::reply::json_error;
use crate::state::Shared;
use crate::stores::approvals::{wire_name, Asked, Asking};
use tappass::agent::ApprovalState;

/// How many decided approvals the page lists.
const DECIDED_SHOWN: usize = 100;

/// `GET /approvals`.
pub(super) async fn page(
    State(shared): State<Arc<Shared>>,
    Extension(token): Extension<FormToken>,
) -> Response {
    let rows = shared.approvals().asking();
    let (pending, decided): (Vec<&Asking>, Vec<&Asking>) = rows
        .iter()
        .partition(|a| a.row.state == ApprovalState::Pending);
    let body = html! {
        h1 { "Approvals" }
        p.lead {
            "Requests that a rule sent to a human. Approve one and the identical request goes through; deny it and it is blocked."
        }
        h2 { "Pending (" (pending.len()) ")" }
        div.panel.pending {
            @if pending.is_empty() {
                p.empty { "Nothing is waiting for you." }
            }
            @for a in pending.iter().rev() { (pending_item(a, &token)) }
        }
        h2 { "Decided" }
        div.panel {
            @if decided.is_empty() {
                p.empty { "No approval has been decided yet." }
            } @else {
                table.decided {
                    thead { tr { th { "State" } th { "Asked" } th { "Agent" } th { "Session" } th { "Decided" } } }
                    tbody {
                        @for a in decided.iter().take(DECIDED_SHOWN) {
                            tr id=(a.row.request_id) {
                                td { span class=(format!("badge {}", decision_class(wire_name(&a.row.state)))) { (wire_name(&a.row.state)) } }
                                td { (asked_line(&a.asked)) }
                                td.mono { (a.agent) }
                                td { a.mono href=(layout::session_href(&a.row.session_id)) { (a.row.session_id) } }
                                td { @match a.row.decided_at { Some(t) => (layout::timestamp(t)), None => span.dim { "—" } } }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::page(
        &shared,
        StatusCode::OK,
        Some(Section::Approvals),
        "Approvals",
        Refresh::Auto,
        body,
    )
}

/// A pending approval: what is asked, why, by whom, until when, and the buttons.
fn pending_item(a: &Asking, token: &FormToken) -> Markup {
    let id = &a.row.request_id;
    html! {
        div.approval id=(id) {
            div.what {
                @match &a.asked {
                    Asked::Prompt(_) => { "Chat prompt" }
                    Asked::Tool { name, .. } => { "Tool call " code { (name) } }
                }
                " · " span.dim { (a.row.reason) }
            }
            div.asked {
                @match &a.asked {
                    Asked::Prompt(text) => { (text) }
                    Asked::Tool { args, .. } => { (args) }
                }
            }
            div.meta {
                "agent " code { (a.agent) }
                " · session " a.mono href=(layout::session_href(&a.row.session_id)) { (a.row.session_id) }
                " · asked " (layout::timestamp(a.row.created_at))
                " · expires " span title=(a.row.expires_at.to_string()) { (layout::from_now(a.row.expires_at)) }
                br;
                span.mono { (id) }
            }
            div.actions {
                form method="post" action=(layout::path(&["approvals", id, "approve"])) {
                    input type="hidden" name="token" value=(token.as_str());
                    button.approve type="submit" { "Approve" }
                }
                form method="post" action=(layout::path(&["approvals", id, "deny"])) {
                    input type="hidden" name="token" value=(token.as_str());
                    button.deny type="submit" { "Deny" }
                }
            }
        }
    }
}

/// What an approval asks, on one line.
fn asked_line(asked: &Asked) -> Markup {
    html! {
        @match asked {
            Asked::Prompt(text) => { "prompt " span.mono { (short(text)) } }
            Asked::Tool { name, args } => { code { (name) } " " span.mono { (short(args)) } }
        }
    }
}

/// The first 80 characters of `text`, with `…` when cut.
fn short(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// `GET /approvals/{request_id}`: an approval's own link, the `approval_url`
/// of the dev server's decisions. A browser gets the approval's own page:
/// what it asks, who asks, in which session (linked), until when, where it
/// stands, and, while it is pending, its Approve and Deny buttons; another
/// client gets the approval's row as JSON. Neither needs the API key.
pub(super) async fn one(
    State(shared): State<Arc<Shared>>,
    Extension(token): Extension<FormToken>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let found = shared.approvals().asking_one(&id);
    match found {
        Some(a) if wants_html(&headers) => {
            let title = format!("Approval {}", a.row.request_id);
            let body = one_page(&a, &token);
            layout::page(
                &shared,
                StatusCode::OK,
                Some(Section::Approvals),
                &title,
                Refresh::Auto,
                body,
            )
        }
        Some(a) => axum::Json(a.row).into_response(),
        None => json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no approval `{id}` on this server; approval ids come from approval_required, needs_approval and escalate decisions"),
        ),
    }
}

/// The page of one approval.
fn one_page(a: &Asking, token: &FormToken) -> Markup {
    let id = &a.row.request_id;
    let state = wire_name(&a.row.state);
    html! {
        h1 {
            @match &a.asked {
                Asked::Prompt(_) => { "A chat prompt asks for your approval" }
                Asked::Tool { name, .. } => { "The tool call " code { (name) } " asks for your approval" }
            }
        }
        p.lead { (a.row.reason) }
        div.panel.approval id=(id) {
            div.what {
                span class=(format!("badge {}", decision_class(state))) { (state) }
                @if a.row.used_at.is_some() { " · " span.dim { "used by the request it let through" } }
            }
            div.asked {
                @match &a.asked {
                    Asked::Prompt(text) => { (text) }
                    Asked::Tool { args, .. } => { (args) }
                }
            }
            table.facts {
                tbody {
                    tr { th { "Asked by agent" } td.mono { (a.agent) } }
                    tr { th { "In session" } td { a.mono href=(layout::session_href(&a.row.session_id)) { (a.row.session_id) } } }
                    tr { th { "Asked" } td { (layout::timestamp(a.row.created_at)) } }
                    tr { th { "Expires" } td { span title=(a.row.expires_at.to_string()) { (layout::from_now(a.row.expires_at)) } } }
                    @if let Some(at) = a.row.decided_at { tr { th { "Decided" } td { (layout::timestamp(at)) } } }
                    @if let Some(at) = a.row.used_at { tr { th { "Used" } td { (layout::timestamp(at)) } } }
                    tr { th { "Approval" } td.mono { (id) } }
                }
            }
            @if a.row.state == ApprovalState::Pending {
                p.dim { "Approve it and this one request goes ahead, once, in its session; deny it and it is blocked." }
                div.actions {
                    form method="post" action=(one_action(id, "approve")) {
                        input type="hidden" name="token" value=(token.as_str());
                        button.approve type="submit" { "Approve" }
                    }
                    form method="post" action=(one_action(id, "deny")) {
                        input type="hidden" name="token" value=(token.as_str());
                        button.deny type="submit" { "Deny" }
                    }
                }
            }
        }
        p { a href="/approvals" { "All approvals" } }
    }
}

/// Where a button of an approval's own page posts: back to that page after.
fn one_action(id: &str, verdict: &str) -> String {
    format!("{}?back=one", layout::path(&["approvals", id, verdict]))
}

/// `POST /approvals/{request_id}/approve` (a console form).
pub(super) async fn approve(
    State(shared): State<Arc<Shared>>,
    Extension(token): Extension<FormToken>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let back = Back::of(query.as_deref(), &id);
    decide(
        &shared,
        &token,
        &id,
        &headers,
        body,
        ApprovalState::Approved,
        &back,
    )
}

/// `POST /approvals/{request_id}/deny` (a console form).
pub(super) async fn deny(
    State(shared): State<Arc<Shared>>,
    Extension(token): Extension<FormToken>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let back = Back::of(query.as_deref(), &id);
    decide(
        &shared,
        &token,
        &id,
        &headers,
        body,
        ApprovalState::Denied,
        &back,
    )
}

/// Where the browser goes back to after a decision: the approval's own page
/// when its button was pressed there (`?back=one`), else the approvals page.
struct Back(String);

impl Back {
    fn of(query: Option<&str>, id: &str) -> Back {
        let one = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .any(|(k, v)| k == "back" && v == "one");
        Back(if one {
            layout::path(&["approvals", id])
        } else {
            "/approvals".to_owned()
        })
    }
}

/// Decides approval `id` when the form passes the guard ([`Form::refusal`]),
/// then sends the browser back to the approvals page (303).
fn decide(
    shared: &Shared,
    token: &FormToken,
    id: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    verdict: ApprovalState,
    back: &Back,
) -> Response {
    let form = Form {
        shared,
        section: Section::Approvals,
        back: ("/approvals", "Back to the approvals"),
    };
    if let Some(refused) = form.refusal(token, headers, body) {
        return refused;
    }
    if shared.decide(id, verdict) {
        return Redirect::to(&back.0).into_response();
    }
    let row = shared.approvals().get(id);
    match row {
        None => form.refused(
            StatusCode::NOT_FOUND,
            &format!("there is no approval {id} on this server."),
        ),
        Some(row) => form.refused(
            StatusCode::CONFLICT,
            &format!(
                "approval {id} is already {}; only a pending approval can be decided.",
                wire_name(&row.state)
            ),
        ),
    }
}
