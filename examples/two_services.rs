//! Propagation downstream: two services behind `TapPassLayer`, one session.
//!
//! ```text
//! cargo run --example two_services
//! ```
//!
//! Service A (`/plan`) opens a session for each request that comes without
//! one (`auto_open_session(true)`) and calls service B with reqwest, adding
//! `.propagate_session()`: the request carries A's `X-TapPass-*` correlation
//! headers. Service B, behind its own layer, joins that session, makes its
//! governed chat call in it, and answers with the session it saw. A returns
//! both, so the output shows one session id across the two services (and a
//! caller's session id and agent uuid when the caller sends them).
//!
//! Unless `TAPPASS_URL` is set, the example starts the local TapPass
//! development server in-process, then runs the two services on
//! `127.0.0.1:0`, calls A twice (without and with a caller's session), prints
//! what came back and the audit events of the session, and exits.

use std::net::SocketAddr;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tappass::propagate::PropagateSession;
use tappass::{Agent, Session, TapPassLayer};
use tappass_dev::DevServer;

/// What a service saw of its session, as JSON.
fn seen(session: &Session) -> Value {
    json!({
        "session_id": session.id(),
        "agent_uuid": session.agent_uuid(),
        "pipeline_uuid": session.pipeline_uuid(),
        "audit_url": session.audit_url(),
    })
}

/// Service B: joins the caller's session, makes a governed call in it, and
/// says which session it saw.
async fn inventory(agent: Agent, session: Session) -> Result<Json<Value>, tappass::Error> {
    let answer = agent.chat("How many units of SKU-42 are in stock?").await?;
    Ok(Json(json!({
        "service": "B",
        "session": seen(&session),
        "answer": answer.content,
    })))
}

/// The downstream service's address and the client that calls it.
#[derive(Clone)]
pub(crate) struct Downstream {
    pub(crate) url: String,
    pub(crate) client: reqwest::Client,
}

/// Service A: calls B inside its own session, which `.propagate_session()`
/// carries along, and returns what both saw.
async fn plan(
    State(b): State<Downstream>,
    session: Session,
) -> Result<Json<Value>, (axum::http::StatusCode, String)> {
    let bad_gateway = |e: reqwest::Error| (axum::http::StatusCode::BAD_GATEWAY, e.to_string());
    let from_b: Value = b
        .client
        .get(format!("{}/inventory", b.url))
        .propagate_session()
        .send()
        .await
        .map_err(bad_gateway)?
        .json()
        .await
        .map_err(bad_gateway)?;
    Ok(Json(json!({
        "service": "A",
        "session": seen(&session),
        "downstream": from_b,
    })))
}

/// Service B's application: it joins the session of whoever calls it.
pub(crate) fn service_b(layer: TapPassLayer) -> Router {
    Router::new()
        .route("/inventory", get(inventory))
        .layer(layer)
}

/// Service A's application: it opens a session for a request without one.
pub(crate) fn service_a(layer: TapPassLayer, b: Downstream) -> Router {
    Router::new()
        .route("/plan", get(plan))
        .with_state(b)
        .layer(layer)
}

pub(crate) async fn serve(app: Router) -> Result<SocketAddr, std::io::Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

#[tokio::main]
pub(crate) async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,tappass=info".into()),
        )
        .init();

    // A hosted TapPass when TAPPASS_URL says so; the embedded dev server otherwise.
    let dev = match std::env::var("TAPPASS_URL") {
        Ok(url) if !url.trim().is_empty() => {
            println!("Using the TapPass server at {url}");
            None
        }
        _ => {
            let dev = DevServer::start().await?;
            println!("Started the TapPass development server at {}", dev.url());
            Some(dev)
        }
    };
    let layer = |auto_open_session: bool| match &dev {
        Some(dev) => TapPassLayer::builder()
            .tappass_url(dev.url())
            .api_key("tp_two_services_dev_key")
            .auto_open_session(auto_open_session)
            .build(),
        None => TapPassLayer::builder()
            .auto_open_session(auto_open_session)
            .build(),
    };

    let layer_b = layer(false)?;
    let b = serve(service_b(layer_b.clone())).await?;
    let client = reqwest::Client::new();
    let downstream = Downstream {
        url: format!("http://{b}"),
        client: client.clone(),
    };
    let layer_a = layer(true)?;
    let a = serve(service_a(layer_a.clone(), downstream)).await?;
    println!("Service A on http://{a}, service B on http://{b}\n");

    // 1. No correlation headers: A opens a session, B joins it.
    let response = client.get(format!("http://{a}/plan")).send().await?;
    let opened = response
        .headers()
        .get("x-tappass-session-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = response.json().await?;
    println!("GET /plan\n{}", serde_json::to_string_pretty(&body)?);
    println!("A's response header X-TapPass-Session-Id: {opened}\n");

    // 2. A caller's session: both services join it, agent uuid included.
    let caller = Session::builder("ses_demo_caller")
        .agent_uuid("agt-demo")
        .build()?;
    let response = client
        .get(format!("http://{a}/plan"))
        .with_session(&caller)
        .send()
        .await?;
    let body: Value = response.json().await?;
    println!(
        "GET /plan with X-TapPass-Session-Id: ses_demo_caller, X-TapPass-Agent-Uuid: agt-demo\n{}",
        serde_json::to_string_pretty(&body)?
    );

    layer_a.flush().await;
    layer_b.flush().await;
    if let Some(dev) = dev {
        // A opened the first session (and reports its open and close); B's
        // chat call landed in it. The caller's session belongs to the caller.
        println!();
        for id in [opened.as_str(), caller.id()] {
            let events = dev.events_for_session(id);
            let kinds: Vec<&str> = events
                .iter()
                .filter_map(|e| e.get("event_type").and_then(Value::as_str))
                .collect();
            println!("Audit events of {id} on the dev server: {kinds:?}");
        }
        dev.shutdown().await;
    }
    Ok(())
}
