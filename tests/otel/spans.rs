//! The spans of a governed request, with their attributes and the decision
//! on them: an allowed chat, a blocked one, an approval, a stream, a tool
//! call allowed and one blocked by a rule, a failure.

use http::HeaderMap;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::SpanData;
use serde_json::{json, Value};
use tappass::{Agent, TapPassLayer};
use tappass_dev::DevServer;

use crate::capture::*;
use crate::support::services::{sample, serve, Served};
use crate::support::{bounded, KEY};

/// The sample service behind a layer that opens a session per request,
/// with `agent`.
pub async fn served(agent: Agent) -> Served {
    let layer = TapPassLayer::builder()
        .agent(agent)
        .auto_open_session(true)
        .build()
        .unwrap();
    serve(sample().layer(layer)).await
}

pub fn agent(dev: &DevServer) -> Agent {
    Agent::builder(dev.url())
        .api_key(KEY)
        .agent_id("orders-agent")
        .max_retries(0)
        .build()
        .unwrap()
}

/// A test's world: its spans captured, a dev server, the sample service on it.
struct Scene {
    spans: Capture,
    dev: DevServer,
    app: Served,
}

impl Scene {
    async fn new() -> Scene {
        let spans = capture();
        let dev = DevServer::start().await.unwrap();
        let app = served(agent(&dev)).await;
        Scene { spans, dev, app }
    }

    /// POSTs `body` to `path` and checks the answer's `status`; its headers.
    async fn post(&self, path: &str, body: Value, status: u16) -> HeaderMap {
        let (got, headers, answer) = self.app.post(path, body, None).await;
        assert_eq!(got, status, "{path}: {answer}");
        headers
    }
}

/// The attributes of the span's one decision.
fn decided(span: &SpanData) -> Vec<opentelemetry::KeyValue> {
    decision(span)
}

/// The decision's attribute `key`.
fn value(decision: &[opentelemetry::KeyValue], key: &str) -> Option<String> {
    attr(decision, key)
}

/// The span's attribute `key`, which it must have.
fn must(span: &SpanData, key: &str) -> String {
    span_attr(span, key).unwrap_or_else(|| panic!("no `{key}` on `{}`", span.name))
}

/// Checks a decision that stopped the call: the span's error status and
/// `error.type` are `code`, and so is its one decision's value.
fn assert_stopped(span: &SpanData, code: &str) -> Vec<opentelemetry::KeyValue> {
    assert_eq!(span.status, Status::error(code.to_owned()));
    assert_eq!(must(span, "error.type"), code);
    let decision = decided(span);
    assert_eq!(
        value(&decision, "gen_ai.guardrail.result.value").as_deref(),
        Some(code)
    );
    decision
}

#[tokio::test]
async fn an_allowed_chat_is_a_client_span_under_the_request_with_the_genai_attributes() {
    bounded(async {
        let scene = Scene::new().await;
        let headers = scene
            .post("/chat", json!({"prompt": "Summarize Q4 revenue"}), 200)
            .await;
        let session = headers["x-tappass-session-id"].to_str().unwrap().to_owned();

        let request = scene.spans.span("POST /chat");
        assert_eq!(
            request.span_kind,
            SpanKind::Server,
            "the outermost span is the server's"
        );
        for (key, expected) in [
            ("http.route", "/chat"),
            ("http.request.method", "POST"),
            ("http.response.status_code", "200"),
            ("gen_ai.conversation.id", session.as_str()),
            ("tappass.session_id", session.as_str()),
            ("tappass.session.opened", "true"),
        ] {
            assert_eq!(must(&request, key), expected, "{key}");
        }
        let pipeline = must(&request, "tappass.pipeline_id");
        must(&request, "gen_ai.agent.id");

        let chat = scene.spans.span("chat gpt-4o-mini");
        assert!(is_child(&chat, &request), "the chat is the request's child");
        assert_eq!(chat.span_kind, SpanKind::Client);
        assert_eq!(chat.status, Status::Unset, "an allowed call sets no status");
        let port = scene.dev.addr().port().to_string();
        for (key, expected) in [
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.provider.name", "tappass"),
            ("gen_ai.request.model", "gpt-4o-mini"),
            ("server.address", "127.0.0.1"),
            ("server.port", port.as_str()),
            ("tappass.stream", "false"),
            ("tappass.outcome", "allow"),
            ("gen_ai.conversation.id", session.as_str()),
            ("tappass.pipeline_id", pipeline.as_str()),
        ] {
            assert_eq!(must(&chat, key), expected, "{key}");
        }
        for key in [
            "gen_ai.agent.id",
            "tappass.task_id",
            "gen_ai.response.model",
        ] {
            must(&chat, key);
        }
        for key in ["gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"] {
            let tokens: u64 = must(&chat, key).parse().unwrap();
            assert!(tokens > 0, "{key}: {tokens}");
        }

        let decision = decided(&chat);
        for (key, expected) in [
            ("gen_ai.guardrail.component.name", "TapPass"),
            ("gen_ai.guardrail.result.value", "allow"),
            ("gen_ai.guardrail.policy.id", pipeline.as_str()),
        ] {
            assert_eq!(value(&decision, key).as_deref(), Some(expected), "{key}");
        }
        // The dev server reports its steps' durations: the decision's time is theirs.
        let took: f64 = value(&decision, "tappass.governance.duration_ms")
            .unwrap()
            .parse()
            .unwrap();
        assert!(took >= 0.0);
        assert!(
            steps(&chat).is_empty(),
            "the steps that only passed the call on are no events: {:?}",
            chat.events
        );
    })
    .await
}

/// The span's pipeline step events: each step's name and action.
fn steps(span: &SpanData) -> Vec<(String, String)> {
    span.events
        .iter()
        .filter(|e| attr(&e.attributes, "gen_ai.guardrail.result.type").as_deref() == Some("step"))
        .map(|e| {
            (
                attr(&e.attributes, "gen_ai.guardrail.policy.rule.id").unwrap_or_default(),
                attr(&e.attributes, "gen_ai.guardrail.result.value").unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_redaction_is_the_decision_and_the_step_that_redacted_is_an_event() {
    bounded(async {
        let scene = Scene::new().await;
        scene
            .post(
                "/chat",
                json!({"prompt": "mail jane@example.com the report"}),
                200,
            )
            .await;
        let chat = scene.spans.span("chat gpt-4o-mini");
        assert_eq!(chat.status, Status::Unset, "a redacted call went ahead");
        assert_eq!(
            value(&decided(&chat), "gen_ai.guardrail.result.value").as_deref(),
            Some("redaction_applied")
        );
        assert_eq!(
            steps(&chat),
            [("redact_pii".to_owned(), "redact".to_owned())]
        );
    })
    .await
}

#[tokio::test]
async fn a_blocked_chat_has_an_error_status_with_the_rule_that_blocked_it() {
    bounded(async {
        let scene = Scene::new().await;
        scene
            .post("/chat", json!({"prompt": "my ssn is 123-45-6789"}), 403)
            .await;
        let chat = scene.spans.span("chat gpt-4o-mini");
        let decision = assert_stopped(&chat, "policy_block");
        assert_eq!(
            value(&decision, "gen_ai.guardrail.policy.rule.id").as_deref(),
            Some("detect_pii")
        );
        assert!(value(&decision, "gen_ai.guardrail.result.reason").is_some());
        assert!(value(&decision, "tappass.audit_url")
            .unwrap()
            .contains("/v1/audit/sessions/"));
        let took: f64 = value(&decision, "tappass.governance.duration_ms")
            .unwrap()
            .parse()
            .unwrap();
        assert!(took > 0.0, "the round trip of a call the decision stopped");

        let request = scene.spans.span("POST /chat");
        assert!(is_child(&chat, &request));
        assert_eq!(must(&request, "http.response.status_code"), "403");
        assert_eq!(
            request.status,
            Status::Unset,
            "a 4xx is the client's, not the server's error"
        );
    })
    .await
}

#[tokio::test]
async fn an_approval_is_a_decision_that_stops_the_call_until_it_is_granted() {
    bounded(async {
        let scene = Scene::new().await;
        scene
            .post(
                "/chat",
                json!({"prompt": "please wire transfer $5000"}),
                428,
            )
            .await;
        assert_stopped(&scene.spans.span("chat gpt-4o-mini"), "approval_required");
    })
    .await
}

#[tokio::test]
async fn a_streams_span_lasts_until_the_stream_ends() {
    bounded(async {
        let scene = Scene::new().await;
        scene
            .post(
                "/stream/joined",
                json!({"prompt": "Write a short report"}),
                200,
            )
            .await;
        let stream = scene.spans.span("chat gpt-4o-mini");
        assert_eq!(must(&stream, "tappass.stream"), "true");
        assert_eq!(stream.span_kind, SpanKind::Client);
        assert_eq!(
            value(&decided(&stream), "gen_ai.guardrail.result.value").as_deref(),
            Some("allow")
        );
        let request = scene.spans.span("POST /stream/joined");
        assert!(is_child(&stream, &request));
        // Read to its end inside the handler: the stream's span ends after
        // the last chunk came in, before the request's.
        assert!(stream.end_time <= request.end_time);
        assert!(stream.end_time > stream.start_time);
    })
    .await
}

#[tokio::test]
async fn a_tool_call_is_an_execute_tool_span_with_the_decision_and_the_rule() {
    bounded(async {
        let scene = Scene::new().await;
        scene
            .post(
                "/tool",
                json!({"tool": "lookup_order", "args": {"id": 7}}),
                200,
            )
            .await;
        let tool = scene.spans.span("execute_tool lookup_order");
        assert_eq!(tool.span_kind, SpanKind::Internal);
        assert_eq!(must(&tool, "gen_ai.operation.name"), "execute_tool");
        assert_eq!(must(&tool, "gen_ai.tool.name"), "lookup_order");
        must(&tool, "gen_ai.conversation.id");
        let decision = decided(&tool);
        assert_eq!(
            value(&decision, "gen_ai.guardrail.result.value").as_deref(),
            Some("allow")
        );
        let took: f64 = value(&decision, "tappass.governance.duration_ms")
            .unwrap()
            .parse()
            .unwrap();
        assert!(took > 0.0, "a tool call's governance is its round trip");
        assert!(is_child(&tool, &scene.spans.span("POST /tool")));

        scene.spans.reset();
        scene
            .post("/tool", json!({"tool": "delete_database", "args": {}}), 403)
            .await;
        let tool = scene.spans.span("execute_tool delete_database");
        let decision = assert_stopped(&tool, "policy_block");
        assert_eq!(
            value(&decision, "gen_ai.guardrail.policy.rule.id").as_deref(),
            Some("destructive_tools")
        );
    })
    .await
}

#[tokio::test]
async fn an_unreachable_control_plane_is_an_error_span_without_a_decision() {
    bounded(async {
        let spans = capture();
        let agent = Agent::builder(crate::support::sockets::refused_url())
            .api_key(KEY)
            .max_retries(0)
            .build()
            .unwrap();
        let app = served(agent).await;
        let (status, _, _) = app.post("/chat", json!({"prompt": "hi"}), None).await;
        assert_eq!(status, 503);
        let chat = spans.span("chat gpt-4o-mini");
        assert!(
            matches!(chat.status, Status::Error { .. }),
            "{:?}",
            chat.status
        );
        assert_eq!(must(&chat, "error.type"), "governance_unavailable");
        assert!(decisions(&chat).is_empty(), "no decision was made");
    })
    .await
}

#[tokio::test]
async fn a_degraded_call_is_marked_on_its_span_and_is_no_decision() {
    bounded(async {
        let spans = capture();
        let dev = DevServer::start().await.unwrap();
        let agent = Agent::builder(dev.url())
            .api_key(KEY)
            .max_retries(0)
            .resilience(tappass::resilience::Resilience::fail_open_logged())
            .build()
            .unwrap();
        let app = served(agent).await;
        dev.set_available(false);
        let (status, headers, _) = app.post("/chat", json!({"prompt": "hi"}), None).await;
        assert_eq!(status, 200);
        assert_eq!(headers["x-tappass-degraded"], "ungoverned");
        let chat = spans.span("chat gpt-4o-mini");
        assert_eq!(chat.status, Status::Unset, "the caller got an answer");
        assert_eq!(must(&chat, "tappass.outcome"), "degraded");
        assert_eq!(must(&chat, "tappass.degraded"), "ungoverned");
        assert!(decisions(&chat).is_empty(), "TapPass decided nothing");
        let marked: Vec<_> = chat
            .events
            .iter()
            .filter(|e| {
                attr(&e.attributes, "gen_ai.guardrail.result.type").as_deref() == Some("degraded")
            })
            .collect();
        assert_eq!(marked.len(), 1, "{:?}", chat.events);

        spans.reset();
        let (status, headers, _) = app
            .post("/tool", json!({"tool": "lookup_order", "args": {}}), None)
            .await;
        assert_eq!(status, 200);
        assert_eq!(headers["x-tappass-degraded"], "ungoverned");
        let tool = spans.span("execute_tool lookup_order");
        assert_eq!(must(&tool, "tappass.degraded"), "ungoverned");
        assert_eq!(must(&tool, "tappass.outcome"), "degraded");
    })
    .await
}
