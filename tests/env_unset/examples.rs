//! The examples, driven as written: their files are compiled into this test
//! as modules (`#[path]`), so the test exercises the example's own `app()`,
//! services and `main`, not a copy. (`CARGO_BIN_EXE_*` does not exist for
//! examples, and `cargo run --example` from a test would rebuild and take
//! minutes.) They run in this binary because `TAPPASS_URL` and
//! `TAPPASS_API_KEY` are removed before any of its tests runs
//! (`super::unset_environment`), so both examples take their embedded
//! dev-server path whatever the developer's shell holds.

#[allow(dead_code)]
#[path = "../../examples/quickstart.rs"]
mod quickstart;

#[allow(dead_code)]
#[path = "../../examples/two_services.rs"]
mod two_services;

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tappass::{Session, TapPassLayer};
use tappass_dev::DevServer;
use tower::ServiceExt;

use super::unset_environment;

async fn post_chat(app: axum::Router, prompt: &str) -> (StatusCode, http::HeaderMap, Value) {
    let response = app
        .oneshot(
            Request::post("/chat")
                .header("content-type", "application/json")
                .body(Body::from(json!({"prompt": prompt}).to_string()))
                .unwrap(),
        )
        .await
        .expect("the app answers");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).expect("JSON"),
    )
}

/// The quick start's `app()`, behind the layer its `main` builds, against the
/// dev server: an allowed prompt in an opened session, and decisions as
/// their HTTP errors.
#[tokio::test]
async fn the_quickstart_app_answers_chats_and_decisions() {
    unset_environment();
    let dev = DevServer::start().await.expect("dev server");
    let layer = TapPassLayer::builder()
        .tappass_url(dev.url())
        .api_key("tp_quickstart_dev_key")
        .auto_open_session(true)
        .build()
        .expect("layer");
    let app = quickstart::app(layer);

    let (status, headers, body) = post_chat(app.clone(), "hello").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["content"], "Echo: hello");
    let session = headers["x-tappass-session-id"].to_str().unwrap();
    assert_eq!(
        body["session_id"], session,
        "the chat ran in the opened session"
    );

    let (status, _, body) = post_chat(app.clone(), "my ssn is 123-45-6789").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "policy_block");
    assert_eq!(body["blocked_by"], "detect_pii");

    let (status, _, body) = post_chat(app, "please wire transfer $5000").await;
    assert_eq!(status, StatusCode::PRECONDITION_REQUIRED, "{body}");
    assert_eq!(body["error"], "approval_required");
}

/// two_services's own services, as its `main` wires them: A opens a
/// session, B joins it through `.propagate_session()`, and a caller's session
/// (with its agent uuid) reaches B unchanged.
#[tokio::test]
async fn the_two_services_share_the_session_as_the_readme_says() {
    unset_environment();
    let dev = DevServer::start().await.expect("dev server");
    let layer = |auto_open_session: bool| {
        TapPassLayer::builder()
            .tappass_url(dev.url())
            .api_key("tp_two_services_dev_key")
            .auto_open_session(auto_open_session)
            .build()
            .expect("layer")
    };
    let b = two_services::serve(two_services::service_b(layer(false)))
        .await
        .expect("B serves");
    let client = reqwest::Client::new();
    let downstream = two_services::Downstream {
        url: format!("http://{b}"),
        client: client.clone(),
    };
    let a = two_services::serve(two_services::service_a(layer(true), downstream))
        .await
        .expect("A serves");

    let response = client
        .get(format!("http://{a}/plan"))
        .send()
        .await
        .expect("A answers");
    assert_eq!(response.status(), 200);
    let opened = response.headers()["x-tappass-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["session"]["session_id"], opened.as_str());
    assert_eq!(body["downstream"]["service"], "B");
    assert_eq!(body["downstream"]["session"]["session_id"], opened.as_str());
    assert_eq!(
        body["downstream"]["answer"],
        "Echo: How many units of SKU-42 are in stock?"
    );

    let caller = Session::builder("ses_demo_caller")
        .agent_uuid("agt-demo")
        .build()
        .expect("session");
    use tappass::propagate::PropagateSession;
    let body: Value = client
        .get(format!("http://{a}/plan"))
        .with_session(&caller)
        .send()
        .await
        .expect("A answers")
        .json()
        .await
        .expect("JSON");
    for seen in [&body["session"], &body["downstream"]["session"]] {
        assert_eq!(seen["session_id"], "ses_demo_caller", "{body}");
        assert_eq!(seen["agent_uuid"], "agt-demo", "{body}");
    }
}

/// two_services's `main` runs to its end without an error, on the embedded
/// dev server (it starts its own runtime, as `cargo run` would).
#[test]
fn the_two_services_main_runs_as_written() {
    unset_environment();
    two_services::main().expect("the example runs");
}
