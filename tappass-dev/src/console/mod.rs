//! The dev console: pages for people at the dev server's root.
//!
//! One module per page — [`sessions`] (`/`), [`session`] (a session's
//! `audit_url`, for a browser), [`approvals`] (`/approvals`), [`mandates`]
//! (`/mandates`) and [`policy`] (`/policy`) — rendered with maud (which escapes every value it is given)
//! into the shared [`layout`]. The pages work without JavaScript; a small
//! served script only reloads them while they are open.
//!
//! Reading needs nothing. The state changes, deciding an approval and
//! revoking a mandate, are forms that carry the server's token ([`form`]),
//! so no other web page the developer visits can press the buttons.
//!
//! The console stands beside the routes: it reads the stores and the policy
//! and settles approvals through the shared state, and imports no route.

mod approvals;
mod browser;
mod form;
mod layout;
mod mandates;
mod policy;
mod session;
mod sessions;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::{Extension, Router};

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
        .route("/policy", get(policy::page))
        .route("/console.css", get(layout::stylesheet))
        .route("/console.js", get(layout::script))
        .layer(Extension(FormToken::random()))
}
