//! The process environment without `TAPPASS_URL` and `TAPPASS_API_KEY`:
//! this binary removes both before any of its tests reads them (the
//! extractor's agent from the environment is a process-wide cache, so the
//! environment is one per test binary; the set case is `tests/env_set.rs`).
//! A developer's shell with a key cannot make these tests pass vacuously.
//!
//! Here: what a handler gets when nothing configures an agent; and the
//! examples, driven as written (`examples.rs`), which take their embedded
//! dev server only when `TAPPASS_URL` is not set. Which server each test
//! meets: none, or the dev server the example starts.

mod examples;

use std::sync::Once;

use axum::body::Body;
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tappass::Agent;
use tower::ServiceExt;

/// Removes the two variables once, before any test of this binary reads them.
fn unset_environment() {
    static UNSET: Once = Once::new();
    UNSET.call_once(|| {
        // SAFETY (edition 2024 wording): every test calls this first, and
        // `Once` makes all of them wait until it is done, so no other thread
        // of this process reads the environment while it changes.
        std::env::remove_var("TAPPASS_URL");
        std::env::remove_var("TAPPASS_API_KEY");
    });
    assert!(std::env::var_os("TAPPASS_API_KEY").is_none());
    assert!(std::env::var_os("TAPPASS_URL").is_none());
}

/// Status and body as JSON.
async fn get_json(app: Router) -> (StatusCode, Value) {
    let response = app
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .expect("the router answers");
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        panic!("not JSON: {}", String::from_utf8_lossy(&bytes));
    });
    (status, body)
}

fn assert_misconfigured(status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["error"], "governance_misconfigured", "{body}");
}

/// The plain `Agent` extractor, without the layer: a 500 that names the fix.
#[tokio::test]
async fn agent_extractor_without_the_layer_is_a_clear_500() {
    unset_environment();
    async fn handler(agent: Agent) -> String {
        agent.url().to_owned()
    }
    let (status, body) = get_json(Router::new().route("/", get(handler))).await;
    assert_misconfigured(status, &body);
    let message = body["message"].as_str().expect("a message");
    assert!(message.contains("TapPassLayer"), "{message}");
}

#[tappass::governed]
async fn needs_agent(agent: Agent) -> String {
    agent.url().to_owned()
}

/// `#[governed]` injecting an `Agent`, without the layer or an extension.
#[tokio::test]
async fn without_the_layer_or_an_agent_the_agent_extractor_says_what_is_missing() {
    unset_environment();
    let (status, body) = get_json(Router::new().route("/", get(needs_agent))).await;
    assert_misconfigured(status, &body);
}

#[derive(Clone)]
struct WithoutAgent;

#[tappass::governed]
async fn plain_state(State(_app): State<WithoutAgent>, agent: Agent) -> String {
    agent.url().to_owned()
}

/// A state with no `FromRef` to an agent falls back to the environment,
/// which has none: the same 500.
#[tokio::test]
async fn a_state_without_an_agent_falls_back_and_says_what_is_missing() {
    unset_environment();
    let app = Router::new()
        .route("/", get(plain_state))
        .with_state(WithoutAgent);
    let (status, body) = get_json(app).await;
    assert_misconfigured(status, &body);
}

/// `Agent::from_env` and a layer built from the environment both refuse to
/// start without a key, naming the variable.
#[tokio::test]
async fn from_env_without_a_key_says_to_set_it() {
    unset_environment();
    let err = Agent::from_env().expect_err("no key");
    assert!(err.to_string().contains("TAPPASS_API_KEY"), "{err}");
    let err = tappass::TapPassLayer::builder()
        .build()
        .expect_err("no key for the layer");
    assert!(err.to_string().contains("TAPPASS_API_KEY"), "{err}");
}

/// A mandate verifier with a pinned key and no `TAPPASS_URL` has nowhere to
/// read the revocation list from: it does not build, and the error names the
/// settings that fix it (instead of a `503` on every request).
#[cfg(feature = "mandate")]
#[test]
fn a_pinned_mandate_key_without_a_server_needs_a_revocation_setting() {
    unset_environment();
    const PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAx42wXwsXl/DgW1J8mfhZAXDegFg
9In9p7mGzs9xmAVd5pYEx76q9taQHogq2l1ilaGbP1fcqTuhvk2KjwhQvg==
-----END PUBLIC KEY-----
";
    let builder = || {
        tappass::mandate::MandateVerifier::builder()
            .public_key_pem(PUBLIC_PEM)
            .api_key("tp_downstream")
    };
    let err = builder()
        .build()
        .expect_err("nowhere to read revocations from");
    let message = err.to_string();
    assert!(message.contains(".revocation_url("), "{message}");
    assert!(message.contains(".no_revocation()"), "{message}");
    builder()
        .revocation_url("https://tappass.example.com/v1/mandates/revoked")
        .build()
        .expect("a revocation URL fixes it");
    builder()
        .no_revocation()
        .build()
        .expect("so does no revocation");
}
