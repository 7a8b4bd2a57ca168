//! The spans of a governed request, with their attributes and the decision
//! on them: an allowed chat, a blocked one, an approval, a stream, a tool
//! call allowed and one blocked by a rule.

use opentelemetry::trace::{SpanKind, Status};
use serde_json::json;
use tappass::{Agent, TapPassLayer};
use tappass_dev::DevServer;

use crate::capture::*;
use crate::support::services::{sample, serve, Served};
use crate::support::{bounded, KEY};

/// The sample service behind a layer that opens a session per request, on
/// `dev`, with `agent`.
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

#[tokio::test]
async fn an_allowed_chat_is_a_client_span_under_the_request_with_the_genai_attributes() {
    bounded(async {
        let spans = capture();
        let dev = DevServer::start().await.unwrap();
        let app = served(agent(&dev)).await;
        let (status, headers, body) = app
            .post("/chat", json!({"prompt": "Summarize Q4 revenue"}), None)
            .await;
        assert_eq!(status, 200, "{body}");
        let session = headers["x-tappass-session-id"].to_str().unwrap().to_owned();

        let request = spans.span("POST /chat");
        assert_eq!(
            request.span_kind,
            SpanKind::Server,
            "the outermost span is the server's"
        );
        assert_eq!(span_attr(&request, "http.route").as_deref(), Some("/chat"));
        assert_eq!(
            span_attr(&request, "http.request.method").as_deref(),
            Some("POST")
        );
        assert_eq!(
            span_attr(&request, "http.response.status_code").as_deref(),
            Some("200")
        );
        assert_eq!(
            span_attr(&request, "gen_ai.conversation.id"),
            Some(session.clone())
        );
        assert_eq!(
            span_attr(&request, "tappass.session_id"),
            Some(session.clone())
        );
        assert_eq!(
            span_attr(&request, "tappass.session.opened").as_deref(),
            Some("true")
        );
        let pipeline =
            span_attr(&request, "tappass.pipeline_id").expect("the pipeline the session learned");
        assert!(span_attr(&request, "gen_ai.agent.id").is_some());

        let chat = spans.span("chat gpt-4o-mini");
        assert!(is_child(&chat, &request), "the chat is the request's child");
        assert_eq!(chat.span_kind, SpanKind::Client);
        assert_eq!(chat.status, Status::Unset, "an allowed call sets no status");
        for (key, value) in [
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.provider.name", "tappass"),
            ("gen_ai.request.model", "gpt-4o-mini"),
            ("server.address", "127.0.0.1"),
            ("tappass.stream", "false"),
            ("tappass.outcome", "allow"),
        ] {
            assert_eq!(span_attr(&chat, key).as_deref(), Some(value), "{key}");
        }
        assert_eq!(
            span_attr(&chat, "server.port"),
            Some(dev.addr().port().to_string())
        );
        assert_eq!(
            span_attr(&chat, "gen_ai.conversation.id"),
            Some(session.clone())
        );
        assert_eq!(
            span_attr(&chat, "tappass.pipeline_id"),
            Some(pipeline.clone())
        );
        assert!(span_attr(&chat, "gen_ai.agent.id").is_some());
        assert!(span_attr(&chat, "tappass.task_id").is_some());
        assert!(span_attr(&chat, "gen_ai.response.model").is_some());
        let input: u64 = span_attr(&chat, "gen_ai.usage.input_tokens")
            .unwrap()
            .parse()
            .unwrap();
        let output: u64 = span_attr(&chat, "gen_ai.usage.output_tokens")
            .unwrap()
            .parse()
            .unwrap();
        assert!(input > 0 && output > 0, "tokens {input} in, {output} out");

        let decided = decision(&chat);
        assert_eq!(
            attr(&decided, "gen_ai.guardrail.component.name").as_deref(),
            Some("TapPass")
        );
        assert_eq!(
            attr(&decided, "gen_ai.guardrail.result.value").as_deref(),
            Some("allow")
        );
        assert_eq!(attr(&decided, "gen_ai.guardrail.policy.id"), Some(pipeline));
        // The dev server reports its steps' durations: the decision's time is theirs.
        let took: f64 = attr(&decided, "tappass.governance.duration_ms")
            .unwrap()
            .parse()
            .unwrap();
        assert!(took >= 0.0);
        let steps = chat
            .events
            .iter()
            .filter(|e| {
                attr(&e.attributes, "gen_ai.guardrail.result.type").as_deref() == Some("step")
            })
            .count();
        assert!(
            steps > 0,
            "each pipeline step is an event: {:?}",
            chat.events
        );
    })
    .await
}

#[tokio::test]
async fn a_blocked_chat_has_an_error_status_with_the_rule_that_blocked_it() {
    bounded(async {
        let spans = capture();
        let dev = DevServer::start().await.unwrap();
        let app = served(agent(&dev)).await;
        let (status, _, body) = app
            .post("/chat", json!({"prompt": "my ssn is 123-45-6789"}), None)
            .await;
        assert_eq!(status, 403, "{body}");

        let chat = spans.span("chat gpt-4o-mini");
        assert_eq!(chat.status, Status::error("policy_block"));
        assert_eq!(
            span_attr(&chat, "error.type").as_deref(),
            Some("policy_block")
        );
        let decided = decision(&chat);
        assert_eq!(
            attr(&decided, "gen_ai.guardrail.result.value").as_deref(),
            Some("policy_block")
        );
        assert_eq!(
            attr(&decided, "gen_ai.guardrail.policy.rule.id").as_deref(),
            Some("detect_pii")
        );
        assert!(attr(&decided, "gen_ai.guardrail.result.reason").is_some());
        assert!(attr(&decided, "tappass.audit_url")
            .unwrap()
            .contains("/v1/audit/sessions/"));
        let took: f64 = attr(&decided, "tappass.governance.duration_ms")
            .unwrap()
            .parse()
            .unwrap();
        assert!(took > 0.0, "the round trip of a call the decision stopped");

        let request = spans.span("POST /chat");
        assert!(is_child(&chat, &request));
        assert_eq!(
            span_attr(&request, "http.response.status_code").as_deref(),
            Some("403")
        );
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
        let spans = capture();
        let dev = DevServer::start().await.unwrap();
        let app = served(agent(&dev)).await;
        let (status, _, body) = app
            .post(
                "/chat",
                json!({"prompt": "please wire transfer $5000"}),
                None,
            )
            .await;
        assert_eq!(status, 428, "{body}");
        let chat = spans.span("chat gpt-4o-mini");
        assert_eq!(chat.status, Status::error("approval_required"));
        let decided = decision(&chat);
        assert_eq!(
            attr(&decided, "gen_ai.guardrail.result.value").as_deref(),
            Some("approval_required")
        );
    })
    .await
}

#[tokio::test]
async fn a_streams_span_lasts_until_the_stream_ends() {
    bounded(async {
        let spans = capture();
        let dev = DevServer::start().await.unwrap();
        let app = served(agent(&dev)).await;
        let (status, _, body) = app
            .post(
                "/stream/joined",
                json!({"prompt": "Write a short report"}),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let stream = spans.span("chat gpt-4o-mini");
        assert_eq!(
            span_attr(&stream, "tappass.stream").as_deref(),
            Some("true")
        );
        assert_eq!(stream.span_kind, SpanKind::Client);
        let decided = decision(&stream);
        assert_eq!(
            attr(&decided, "gen_ai.guardrail.result.value").as_deref(),
            Some("allow")
        );
        let request = spans.span("POST /stream/joined");
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
        let spans = capture();
        let dev = DevServer::start().await.unwrap();
        let app = served(agent(&dev)).await;
        let (status, _, body) = app
            .post(
                "/tool",
                json!({"tool": "lookup_order", "args": {"id": 7}}),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let tool = spans.span("execute_tool lookup_order");
        assert_eq!(tool.span_kind, SpanKind::Internal);
        assert_eq!(
            span_attr(&tool, "gen_ai.operation.name").as_deref(),
            Some("execute_tool")
        );
        assert_eq!(
            span_attr(&tool, "gen_ai.tool.name").as_deref(),
            Some("lookup_order")
        );
        assert!(span_attr(&tool, "gen_ai.conversation.id").is_some());
        let decided = decision(&tool);
        assert_eq!(
            attr(&decided, "gen_ai.guardrail.result.value").as_deref(),
            Some("allow")
        );
        let took: f64 = attr(&decided, "tappass.governance.duration_ms")
            .unwrap()
            .parse()
            .unwrap();
        assert!(took > 0.0, "a tool call's governance is its round trip");
        assert!(is_child(&tool, &spans.span("POST /tool")));

        spans.reset();
        let (status, _, body) = app
            .post(
                "/tool",
                json!({"tool": "delete_database", "args": {}}),
                None,
            )
            .await;
        assert_eq!(status, 403, "{body}");
        let tool = spans.span("execute_tool delete_database");
        assert_eq!(tool.status, Status::error("policy_block"));
        let decided = decision(&tool);
        assert_eq!(
            attr(&decided, "gen_ai.guardrail.result.value").as_deref(),
            Some("policy_block")
        );
        assert_eq!(
            attr(&decided, "gen_ai.guardrail.policy.rule.id").as_deref(),
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
        assert_eq!(
            span_attr(&chat, "error.type").as_deref(),
            Some("governance_unavailable")
        );
        assert!(decisions(&chat).is_empty(), "no decision was made");
    })
    .await
}
