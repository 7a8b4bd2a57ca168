//! `#[tappass::governed]` handlers at run time, in real axum routers driven
//! with `tower::ServiceExt::oneshot`: the route-flag table (the
//! `tappass::governed` docs), injected extractors, correlation on responses
//! (errors and streamed bodies included), and `?`/`return` in the body.
//!
//! Which server each test meets: none. A layer's control plane is a port that
//! refuses connections (`support::sockets::refused_url`): what is tested here
//! is decided before any call to TapPass.

#[path = "../support/mod.rs"]
mod support;

mod bodies;
mod extractors;
mod flags;

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tappass::{current_session, Agent, Session, TapPassLayer};
use tower::ServiceExt;

use support::sockets::refused_url;

const CALLER: &str = "ses_caller";

/// What a handler saw: the `Option<Session>` it was given and the current
/// session of its body.
fn seen(session: Option<Session>) -> Json<Value> {
    Json(json!({
        "extracted": session.map(|s| s.id().to_owned()),
        "current": current_session().map(|s| s.id().to_owned()),
    }))
}

#[tappass::governed]
async fn inherit(session: Option<Session>) -> Json<Value> {
    seen(session)
}

#[derive(Clone, Copy, Debug)]
enum Layer {
    Absent,
    /// The layer with its default, `auto_open_session(false)`.
    Joins,
    /// The layer with `auto_open_session(true)`.
    Opens,
}

fn layer(auto_open_session: bool) -> TapPassLayer {
    TapPassLayer::builder()
        // Nothing listens there: opened sessions report their events off the
        // hot path, and their failure never reaches the response.
        .tappass_url(refused_url())
        .api_key("tp_test")
        .auto_open_session(auto_open_session)
        .build()
        .unwrap()
}

fn with(layer_kind: Layer, router: Router) -> Router {
    match layer_kind {
        Layer::Absent => router,
        Layer::Joins => router.layer(layer(false)),
        Layer::Opens => router.layer(layer(true)),
    }
}

async fn send(app: Router, request: Request<Body>) -> (StatusCode, http::HeaderMap, Value) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, body)
}
