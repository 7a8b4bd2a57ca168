//! One estate: Rust services and services built on the Python SDK in one
//! session chain (the `tappass::propagate` docs, and `docs/protocol.md` on
//! interoperating with services built on the Python SDK); sessions that
//! learn their agent, pipeline and audit URL from the server's first answer;
//! the wire as the Python SDK speaks it, and tool governance as its
//! `govern`; propagation from one Rust service to the next.
//!
//! Service B of `chain.rs` stands for a FastAPI service behind tappass 0.12's
//! `TapPassMiddleware`: it joins a caller's session only when all four of
//! `X-TapPass-Session`, `X-TapPass-Agent-UUID`, `X-TapPass-Pipeline-UUID`
//! and `X-TapPass-Audit-URL` are present and non-empty, and reads nothing
//! else.
//!
//! Which server each test meets: the dev server, behind services of these
//! tests' own (they answer the session they saw); the scripted stand-in for
//! the wire shapes the dev server never sends (`python_wire.rs`: timestamps
//! without an offset, hostile values in a decision) and to record the exact
//! bodies sent.

#[path = "../support/mod.rs"]
mod support;

mod chain;
mod govern;
mod propagation;
mod python_sdk;
mod python_wire;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use serde_json::{json, Value};
use tappass::{Agent, Session, TapPassLayer};
use tappass_dev::DevServer;

use support::bounded;

/// The pipeline the dev server names in every answer.
const DEV_PIPELINE: &str = "00000000-0000-4000-8000-00000000d0e5";

/// A hang guard for the tests of 1,000 calls on a shared, loaded machine.
async fn bounded_long<F: std::future::Future>(test: F) -> F::Output {
    support::within(Duration::from_secs(180), test).await
}

/// What a service saw of a session: its four correlation values, or `null`.
fn seen(session: Option<&Session>) -> Value {
    match session {
        Some(s) => json!({
            "session_id": s.id(),
            "agent_uuid": s.agent_uuid(),
            "pipeline_uuid": s.pipeline_uuid(),
            "audit_url": s.audit_url(),
        }),
        None => Value::Null,
    }
}

/// Serves `app` on `127.0.0.1:0` for the rest of the test; its address.
async fn serve(app: Router) -> SocketAddr {
    support::services::serve(app).await.detach()
}

fn agent(dev: &DevServer) -> Agent {
    Agent::builder(dev.url())
        .api_key("tp_interop_tests")
        .max_retries(0)
        .build()
        .unwrap()
}

fn layer(agent: Agent, auto_open_session: bool) -> TapPassLayer {
    TapPassLayer::builder()
        .agent(agent)
        .auto_open_session(auto_open_session)
        .build()
        .unwrap()
}
