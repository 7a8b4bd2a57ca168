//! The W3C trace context beside the session: continued from the caller's
//! `traceparent`, sent to TapPass with the agent's calls, and downstream
//! with `.propagate_session()`.

use axum::routing::get;
use axum::Router;
use opentelemetry::trace::{SpanId, TraceId};
use serde_json::json;
use tappass::propagate::PropagateSession as _;
use tappass::{Agent, TapPassLayer};
use tappass_dev::DevServer;

use crate::capture::*;
use crate::spans::served;
use crate::support::recorders::Relay;
use crate::support::services::serve;
use crate::support::{bounded, KEY};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn traceparent() -> String {
    format!("00-{TRACE}-{PARENT}-01")
}

#[tokio::test]
async fn the_layer_continues_the_callers_trace() {
    bounded(async {
        let spans = capture();
        let dev = DevServer::start().await.unwrap();
        let app = served(crate::spans::agent(&dev)).await;
        let (status, _, _) = app
            .post_with(
                "/chat",
                &json!({"prompt": "hi"}),
                &[("traceparent", &traceparent()), ("tracestate", "vendor=1")],
            )
            .await;
        assert_eq!(status, 200);
        let request = spans.span("POST /chat");
        assert_eq!(
            request.span_context.trace_id(),
            TraceId::from_hex(TRACE).unwrap()
        );
        assert_eq!(request.parent_span_id, SpanId::from_hex(PARENT).unwrap());
        assert!(request.parent_span_is_remote);
        let chat = spans.span("chat gpt-4o-mini");
        assert_eq!(
            chat.span_context.trace_id(),
            TraceId::from_hex(TRACE).unwrap()
        );
    })
    .await
}

#[tokio::test]
async fn a_malformed_traceparent_starts_a_trace_of_its_own() {
    bounded(async {
        let spans = capture();
        let dev = DevServer::start().await.unwrap();
        let app = served(crate::spans::agent(&dev)).await;
        for bad in [
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "",
        ] {
            spans.reset();
            let (status, _, _) = app
                .post_with("/echo", &json!({"prompt": "x"}), &[("traceparent", bad)])
                .await;
            assert_eq!(status, 200, "{bad:?}");
            let request = spans.span("POST /echo");
            assert_ne!(
                request.span_context.trace_id(),
                TraceId::from_hex(TRACE).unwrap()
            );
            assert_eq!(
                request.parent_span_id,
                SpanId::INVALID,
                "{bad:?} starts a root"
            );
        }
    })
    .await
}

#[tokio::test]
async fn the_agent_sends_the_calls_trace_context_to_tappass() {
    bounded(async {
        let spans = capture();
        let dev = DevServer::start().await.unwrap();
        let relay = Relay::start(dev.addr()).await;
        let agent = Agent::builder(relay.url())
            .api_key(KEY)
            .max_retries(0)
            .build()
            .unwrap();
        let app = served(agent).await;
        let (status, _, _) = app
            .post_with(
                "/chat",
                &json!({"prompt": "hi"}),
                &[("traceparent", &traceparent())],
            )
            .await;
        assert_eq!(status, 200);
        let chat = spans.span("chat gpt-4o-mini");
        let sent = relay
            .requests()
            .into_iter()
            .find(|r| r.path == "/v1/chat/completions")
            .expect("the chat went through the relay");
        let header = sent
            .header("traceparent")
            .expect("a traceparent")
            .to_owned();
        assert_eq!(
            header,
            format!("00-{TRACE}-{}-01", chat.span_context.span_id()),
            "the chat span is the parent of TapPass's spans"
        );
    })
    .await
}

#[tokio::test]
async fn propagate_session_sends_the_trace_context_beside_the_session() {
    bounded(async {
        let spans = capture();
        let layer = TapPassLayer::builder()
            .tappass_url(crate::support::sockets::refused_url())
            .api_key(KEY)
            .build()
            .unwrap();
        let app = serve(
            Router::new()
                .route(
                    "/downstream",
                    get(|| async {
                        let request = http::Request::get("http://next.internal/")
                            .body(())
                            .unwrap()
                            .propagate_session();
                        let header = |name: &str| {
                            request
                                .headers()
                                .get(name)
                                .map(|v| v.to_str().unwrap().to_owned())
                        };
                        axum::Json(json!({
                            "traceparent": header("traceparent"),
                            "tracestate": header("tracestate"),
                            "session": header("x-tappass-session-id"),
                        }))
                    }),
                )
                .layer(layer),
        )
        .await;
        let response = app
            .client()
            .get(format!("{}/downstream", app.url()))
            .header("traceparent", traceparent())
            .header("tracestate", "vendor=1")
            .header("X-TapPass-Session-Id", "ses_trace")
            .send()
            .await
            .unwrap();
        let sent: serde_json::Value = response.json().await.unwrap();
        let request = spans.span("GET /downstream");
        assert_eq!(sent["session"], "ses_trace");
        assert_eq!(
            sent["traceparent"],
            format!("00-{TRACE}-{}-01", request.span_context.span_id())
        );
        assert_eq!(sent["tracestate"], "vendor=1");
    })
    .await
}

#[tokio::test]
async fn without_a_trace_nothing_is_added() {
    // No OpenTelemetry layer installed: the toolkit adds no trace context.
    let headers = http::HeaderMap::new().with_trace_context();
    assert!(headers.is_empty());
}
