//! The capability tokens page (`/capabilities`): the tokens the server
//! minted in chat answers, newest first, with what each grants (tools and
//! their argument constraints), its clearance and trust score, its holder's
//! key, its agent and session, and until when it is in force. Read only: a
//! capability token is verified offline and cannot be revoked.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use maud::{html, Markup};

use super::layout::{self, Refresh, Section};
use crate::state::Shared;
use crate::stores::capability_tokens::IssuedCapabilityToken;
use tappass::Timestamp;

/// How many tokens the page lists (the newest).
const SHOWN: usize = 200;

/// `GET /capabilities`.
pub(super) async fn page(State(shared): State<Arc<Shared>>) -> Response {
    let (shown, total, key) = {
        let tokens = shared.capability_tokens();
        let (shown, total) = tokens.newest(SHOWN);
        (shown, total, tokens.public_key().to_hex())
    };
    let now = Timestamp::now();
    let body = html! {
        h1 { "Capability tokens" }
        p.lead {
            "Ed25519 grants of tools, with constraints on their arguments, that the server minted in chat answers "
            "(a prompt rule's " code { "capability_token" } "). The agent presents one, with a proof of possession, "
            "to a tool service, which verifies it offline against the server's public key "
            code.key { (key) } ", published at "
            a href="/v1/capability/public-key" { "/v1/capability/public-key" } "."
        }
        div.panel {
            @if total == 0 {
                p.empty {
                    "No capability token has been minted yet: a chat whose prompt a rule with "
                    code { "capability_token" } " allows gets one, bound to the agent's key "
                    "(a signed request, or " code { "X-TapPass-Holder-Key" } ")."
                }
            } @else {
                table.capabilities {
                    thead { tr {
                        th { "State" } th { "Token" } th { "Grants" } th { "Clearance" }
                        th { "Holder" } th { "Agent and session" } th { "Issued" } th { "Expires" }
                    } }
                    tbody {
                        @for t in &shown { (row(t, now)) }
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
        Some(Section::Capabilities),
        "Capability tokens",
        Refresh::Auto,
        body,
    )
}

/// One token's row.
fn row(t: &IssuedCapabilityToken, now: Timestamp) -> Markup {
    let in_force = t.expires_at > now;
    html! {
        tr id=(t.token_id) {
            td {
                @if in_force { span.badge.ok { "in force" } } @else { span.badge.dim { "expired" } }
            }
            td.mono { (t.token_id) br; span.dim { "rule " (t.rule) } }
            td {
                ul.grants {
                    @if let Some(tools) = t.tools.as_object() {
                        @for (tool, constraints) in tools {
                            li {
                                code.tool { (tool) }
                                @if constraints.as_object().is_some_and(|c| !c.is_empty()) {
                                    " " code.constraints { (constraints.to_string()) }
                                }
                            }
                        }
                    }
                }
            }
            td { span.clearance { (t.clearance) } br; span.dim { "trust " (t.trust_score) } }
            td.holder { span.mono { (t.holder) } br; span.dim { "from " (t.holder_from) } }
            td.who {
                span.mono { (t.agent_uuid) } br;
                a.mono href=(layout::session_href(&t.session_id)) { (t.session_id) }
            }
            td.when { (layout::timestamp(t.issued_at)) }
            td.when { span title=(t.expires_at.to_string()) { (layout::from_now(t.expires_at)) } }
        }
    }
}
