//! An outage on purpose: the middleware every API route runs behind, which
//! answers `503` or never answers while the server is made unavailable
//! ([`DevServer::set_availability`](crate::DevServer::set_availability), the
//! console's Availability page). The console's pages are not behind it, so
//! that a person can make the server available again.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::StatusCode;

use crate::reply::json_error;
use crate::state::{Availability, Shared};

/// What an API request meets while the server is unavailable on purpose.
const MESSAGE: &str = "the TapPass dev server is unavailable on purpose (DevServer::set_availability, or the Availability page of its console); make it available again to get answers";

/// Middleware of the API routes; see the module's documentation.
pub(crate) async fn gate(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    match shared.availability() {
        Availability::Available => next.run(request).await,
        Availability::Unavailable => unavailable(),
        Availability::Hanging => {
            shared.hang().await;
            unavailable()
        }
    }
}

fn unavailable() -> Response {
    json_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", MESSAGE)
}
