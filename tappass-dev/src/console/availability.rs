//! The availability page (`/availability`): whether the server's API
//! answers, with buttons that make it unavailable (`503`), hanging or
//! available again, to rehearse an outage by hand. The console itself keeps
//! answering whatever the API does. The buttons post to `/availability`
//! (a form with the console's token, answered only at this machine).

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use maud::html;

use super::form::{Form, FormToken};
use super::layout::{self, Refresh, Section};
use crate::state::{Availability, Shared};

/// The choices, with what each does.
const CHOICES: [(Availability, &str, &str); 3] = [
    (
        Availability::Available,
        "Available",
        "every route answers as usual",
    ),
    (
        Availability::Unavailable,
        "Unavailable (503)",
        "every API route answers 503 without a decision: agents retry, then find TapPass unavailable",
    ),
    (
        Availability::Hanging,
        "Hanging",
        "every API request is accepted and never answered: agents wait for their timeout",
    ),
];

/// `GET /availability`.
pub(super) async fn page(
    State(shared): State<Arc<Shared>>,
    Extension(token): Extension<FormToken>,
) -> Response {
    let now = shared.availability();
    let body = html! {
        h1 { "Availability" }
        p.lead {
            "The API is " strong { (now.as_str()) } ". "
            "Make it unavailable to rehearse an outage: what agents do then is their resilience mode "
            "(fail closed, reuse a cached allow, or go through ungoverned and record a "
            code { "degraded_call" } " event). This console keeps answering."
        }
        div.panel {
            table {
                tbody {
                    @for (choice, label, what) in CHOICES {
                        tr {
                            td {
                                @if choice == now {
                                    span.badge.allow { "now" }
                                } @else {
                                    form method="post" action="/availability" {
                                        input type="hidden" name="token" value=(token.as_str());
                                        input type="hidden" name="state" value=(choice.as_str());
                                        button type="submit" { "Make " (label.to_lowercase()) }
                                    }
                                }
                            }
                            td { strong { (label) } }
                            td.dim { (what) }
                        }
                    }
                }
            }
        }
    };
    layout::page(
        &shared,
        StatusCode::OK,
        Some(Section::Availability),
        "Availability",
        Refresh::Auto,
        body,
    )
}

/// `POST /availability` (a console form, field `state`): sets the API's
/// availability when the form passes the guard, then sends the browser back.
pub(super) async fn set(
    State(shared): State<Arc<Shared>>,
    Extension(token): Extension<FormToken>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let form = Form {
        shared: &shared,
        section: Section::Availability,
        back: ("/availability", "Back to the availability"),
    };
    let fields = body.as_ref().ok().cloned().unwrap_or_default();
    if let Some(refused) = form.refusal(&token, &headers, body) {
        return refused;
    }
    let chosen = url::form_urlencoded::parse(&fields)
        .find(|(key, _)| key == "state")
        .and_then(|(_, value)| Availability::parse(&value));
    match chosen {
        Some(availability) => {
            shared.set_availability(availability);
            Redirect::to("/availability").into_response()
        }
        None => form.refused(
            StatusCode::BAD_REQUEST,
            "the form names no availability: `state` must be available, unavailable or hanging.",
        ),
    }
}
