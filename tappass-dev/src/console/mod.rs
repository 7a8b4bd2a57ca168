//! The dev console: pages for people at the dev server's root.
//!
//! One module per page — [`sessions`] (`/`), [`session`] (a session's
//! `audit_url`, for a browser), [`approvals`] (`/approvals`), [`mandates`]
//! (`/mandates`), [`capabilities`] (`/capabilities`), [`policy`] (`/policy`)
//! and [`availability`] (`/availability`, an outage on purpose) — rendered
//! with maud (which escapes every value it is given)
//! into the shared [`layout`]. The pages work without JavaScript; a small
//! served script only reloads them while they are open.
//!
//! Reading needs no key, but every page answers only when it is addressed to
//! `localhost` or an IP address ([`origin`](crate::origin)): a page of
//! another site whose name was rebound to 127.0.0.1 reads nothing. The state
//! changes, deciding an approval, revoking a mandate and making the API
//! unavailable, are forms that also
//! carry the server's token ([`form`]) and come from the console's own
//! origin, so no other web page the developer visits can press the buttons.
//!
//! The console stands beside the routes: it reads the stores and the policy
//! and settles approvals through the shared state, and imports no route.

mod approvals;
mod availability;
mod browser;
mod capabilities;
mod form;
mod layout;
mod mandates;
mod policy;
mod session;
mod sessions;
mod traces;

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use http::StatusCode;

use crate::origin;
use crate::state::Shared;
use form::FormToken;

pub(crate) use browser::wants_html;
pub(crate) use session::page as session_page;

/// The console's routes, to merge into the dev server's router.
///
/// `GET /` answers the sessions page only to a browser (`Accept: text/html`);
/// other clients get the server's JSON 404 there, as before the console.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(sessions::page))
        .route("/approvals", get(approvals::page))
        .route("/approvals/{request_id}", get(approvals::one))
        .route("/approvals/{request_id}/approve", post(approvals::approve))
        .route("/approvals/{request_id}/deny", post(approvals::deny))
        .route("/mandates", get(mandates::page))
        .route("/mandates/{mandate_id}/revoke", post(mandates::revoke))
        .route("/capabilities", get(capabilities::page))
        .route("/policy", get(policy::page))
        .route(
            "/availability",
            get(availability::page).post(availability::set),
        )
        .route("/console.css", get(layout::stylesheet))
        .route("/console.js", get(layout::script))
        .route_layer(middleware::from_fn(local_only))
        .layer(Extension(FormToken::random()))
}

/// Answers a console request only when it is addressed to this machine by
/// address (see [`origin`](crate::origin)); else a `403` page that says where
/// to open the console.
async fn local_only(request: Request, next: Next) -> Response {
    match origin::local_host(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            let page = maud::html! {
                (maud::DOCTYPE)
                html lang="en" {
                    head { meta charset="utf-8"; title { "Not here" } }
                    body { h1 { "Not here" } p { (refusal.message()) } }
                }
            };
            (
                StatusCode::FORBIDDEN,
                axum::response::Html(page.into_string()),
            )
                .into_response()
        }
    }
}
