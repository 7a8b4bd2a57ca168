//! The crate logs through `tracing`: decisions at `info`, failed calls at
//! `warn`, and the details of every `5xx` a service answers (which never
//! reach its client) at `error`.

use super::*;
use support::recorders::capture_logs;
use support::services::sample;

/// README, From FastAPI to axum: the crate logs through `tracing`, decisions
/// at `info`, failed calls at `warn`, and the details of every `5xx` it
/// answers (which never reach the client) at `error`. A governed service
/// answers a decision (the dev server's), then a dead control plane; the
/// capture (one thread: the service, the agent and the dev server log into
/// it) holds each line at its level, and the 503's body holds no detail.
#[tokio::test(flavor = "current_thread")]
async fn the_crate_logs_decisions_at_info_failures_at_warn_and_5xx_details_at_error() {
    use tower::ServiceExt as _;

    let (logs, _guard) = capture_logs();
    bounded(async {
        let service = |agent: Agent| {
            let layer = tappass::TapPassLayer::builder()
                .agent(agent)
                .build()
                .expect("layer");
            sample().layer(layer)
        };
        let ask = |app: axum::Router, prompt: &'static str| async move {
            let request = http::Request::post("/chat")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(
                    json!({ "prompt": prompt }).to_string(),
                ))
                .unwrap();
            let response = app.oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            (status, String::from_utf8_lossy(&body).into_owned())
        };

        let dev = DevServer::start().await.unwrap();
        let governed = Agent::builder(dev.url())
            .api_key("tp_logs")
            .build()
            .unwrap();
        let (status, body) = ask(service(governed), "My SSN is 123-45-6789").await;
        assert_eq!(status, 403, "{body}");

        let refusing = Refusing::start();
        let down = Agent::builder(refusing.url())
            .api_key("tp_logs")
            .max_retries(0)
            .build()
            .unwrap();
        let (status, body) = ask(service(down), "hello").await;
        assert_eq!(status, 503, "{body}");
        let detail = "could not connect";
        assert!(
            !body.contains(detail),
            "a 5xx detail reached the client: {body}"
        );
    })
    .await;
    let text = logs.text();
    let line = |needle: &str| {
        text.lines()
            .find(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` line in:\n{text}"))
            .to_owned()
    };
    let decision = line("TapPass decision");
    assert!(
        decision.contains(" INFO ") && decision.contains("policy_block"),
        "{decision}"
    );
    let failed = line("TapPass call failed");
    assert!(
        failed.contains(" WARN ") && failed.contains("could not connect"),
        "{failed}"
    );
    let answered = line("governance request failed");
    assert!(
        answered.contains("ERROR") && answered.contains("status=503"),
        "{answered}"
    );
    assert!(answered.contains("could not connect"), "{answered}");
}
