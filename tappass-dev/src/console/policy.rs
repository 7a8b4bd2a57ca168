//! The policy page (`/policy`): the rules in force, in the order they apply,
//! with what they match and what they decide.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use maud::html;

use super::layout::{self, decision_class, Refresh, Section};
use crate::state::Shared;

/// `GET /policy`.
pub(super) async fn page(State(shared): State<Arc<Shared>>) -> Response {
    let rules = shared.policy.rules();
    let body = html! {
        h1 { "Policy" }
        p.lead {
            (rules.len()) " rule" @if rules.len() != 1 { "s" } " in force. "
            "Prompts and tool calls are checked against the rules of their kind in this order; the first rule that matches decides, "
            "except " code { "redaction_applied" } ", which rewrites the prompt and lets the next rules look at the redacted text. "
            "What no rule decides is allowed."
        }
        div.panel {
            @if rules.is_empty() {
                p.empty { "This policy has no rules: everything is allowed." }
            } @else {
                table.policy {
                    thead { tr { th.num { "#" } th { "Rule" } th { "On" } th { "Matches" } th { "Decision" } th { "Reason" } } }
                    tbody {
                        @for (i, rule) in rules.iter().enumerate() {
                            @let (on, conditions) = rule.matcher.conditions();
                            @let (decision, settings) = rule.action.decision();
                            tr {
                                td.num { (i + 1) }
                                td.rule { (rule.name) }
                                td { (on) }
                                td { ul.conds { @for (k, v) in &conditions { li { (k) " = " (format!("{v:?}")) } } } }
                                td {
                                    span class=(format!("badge {}", decision_class(decision))) { (decision) }
                                    ul.conds {
                                        @for (k, v) in &settings { li.dim { (k) " = " (v) } }
                                        @if let Some(token) = &rule.token {
                                            @for (k, v) in token.settings() { li.dim { (k) " = " (v) } }
                                        }
                                    }
                                }
                                td { (rule.reason) }
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
        Some(Section::Policy),
        "Policy",
        Refresh::Off,
        body,
    )
}
