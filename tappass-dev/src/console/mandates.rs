//! The mandates page (`/mandates`): the mandates the server issued, newest
//! first, with what they grant, to whom, in which session and until when, and
//! a Revoke button on each one still in force. The button posts to
//! `/mandates/{mandate_id}/revoke`.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use maud::{html, Markup};

use super::form::{Form, FormToken};
use super::layout::{self, Refresh, Section};
use crate::state::Shared;
use crate::stores::mandates::IssuedMandate;
use tappass::Timestamp;

/// How many mandates the page lists (the newest).
const SHOWN: usize = 200;

/// Where a mandate stands, as the page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    InForce,
    Expired,
    Revoked,
}

impl Standing {
    fn of(m: &IssuedMandate, now: Timestamp) -> Standing {
        if m.revoked {
            Standing::Revoked
        } else if m.expires_at <= now {
            Standing::Expired
        } else {
            Standing::InForce
        }
    }

    fn label(self) -> &'static str {
        match self {
            Standing::InForce => "in force",
            Standing::Expired => "expired",
            Standing::Revoked => "revoked",
        }
    }

    fn class(self) -> &'static str {
        match self {
            Standing::InForce => "badge ok",
            Standing::Expired => "badge dim",
            Standing::Revoked => "badge stop",
        }
    }
}

/// `GET /mandates`.
pub(super) async fn page(
    State(shared): State<Arc<Shared>>,
    Extension(token): Extension<FormToken>,
) -> Response {
    let (total, shown, kid) = {
        let mandates = shared.mandates();
        let issued = mandates.issued_rows();
        let shown: Vec<IssuedMandate> = issued.iter().rev().take(SHOWN).cloned().collect();
        (issued.len(), shown, mandates.kid().to_owned())
    };
    let now = Timestamp::now();
    let body = html! {
        h1 { "Mandates" }
        p.lead {
            "Signed grants the server issued with each allowed tool call. A service that receives one checks it before acting; "
            "revoke one and it is refused from the next revocation refresh on. "
            "Signing key " code { (kid) } ", published at " a href="/.well-known/jwks.json" { "/.well-known/jwks.json" } "."
        }
        div.panel {
            @if total == 0 {
                p.empty { "No mandate has been issued yet: they come with every allowed tool call (" code { "POST /v1/govern" } ")." }
            } @else {
                table.mandates {
                    thead { tr {
                        th { "State" } th { "Mandate" } th { "Grants" } th { "Agent and session" }
                        th { "Issued" } th { "Expires" } th {}
                    } }
                    tbody {
                        @for m in &shown { (row(m, Standing::of(m, now), &token)) }
                    }
                }
                @if total > shown.len() {
                    p.dim { "The newest " (shown.len()) " of " (total) " are shown." }
                }
            }
        }
    };
    layout::page(
        &shared,
        StatusCode::OK,
        Some(Section::Mandates),
        "Mandates",
        Refresh::Auto,
        body,
    )
}

/// One mandate's row, with its Revoke button when it is in force.
fn row(m: &IssuedMandate, standing: Standing, token: &FormToken) -> Markup {
    html! {
        tr id=(m.mandate_id) {
            td { span class=(standing.class()) { (standing.label()) } }
            td.mono { (m.mandate_id) br; span.dim { "tool " (m.tool) } }
            td { @for (i, c) in m.capabilities.iter().enumerate() { @if i > 0 { br; } code { (c) } } }
            td.who {
                span.mono { (m.agent_uuid) } br;
                a.mono href=(layout::session_href(&m.session_id)) { (m.session_id) }
            }
            td.when { (layout::timestamp(m.issued_at)) }
            td.when { span title=(m.expires_at.to_string()) { (layout::from_now(m.expires_at)) } }
            td {
                @if standing == Standing::InForce {
                    form method="post" action=(layout::path(&["mandates", &m.mandate_id, "revoke"])) {
                        input type="hidden" name="token" value=(token.as_str());
                        button.deny type="submit" { "Revoke" }
                    }
                }
            }
        }
    }
}

/// `POST /mandates/{mandate_id}/revoke` (a console form): revokes the mandate
/// when the form passes the guard, then sends the browser back (303).
pub(super) async fn revoke(
    State(shared): State<Arc<Shared>>,
    Extension(token): Extension<FormToken>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let form = Form {
        shared: &shared,
        section: Section::Mandates,
        back: ("/mandates", "Back to the mandates"),
    };
    if let Some(refused) = form.refusal(&token, &headers, body) {
        return refused;
    }
    if shared.mandates().revoke(&id) {
        return Redirect::to("/mandates").into_response();
    }
    form.refused(
        StatusCode::NOT_FOUND,
        &format!("this server issued no mandate {id}."),
    )
}
