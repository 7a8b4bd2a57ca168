//! What a developer new to the crate meets first: one error shape for bodies
//! that fail to parse (plain and problem+json), `audit_url` in every
//! governance body, a stream turned into SSE in one call (session kept,
//! decision as the last event), `#[error(transparent)]` implying
//! `#[governance(transparent)]`, and messages that name the setting used.

mod support;

use std::net::SocketAddr;

use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{json, Value};
use support::{bounded, event, Reply, TapPass, CHAT};
use tappass::extract::Json;
use tappass::{Agent, Error, GovernanceDecision, TapPassLayer};
use tappass_dev::DevServer;

#[derive(Deserialize)]
struct PromptIn {
    prompt: String,
}

async fn echo(Json(req): Json<PromptIn>) -> String {
    req.prompt
}

async fn report(agent: Agent, Json(req): Json<PromptIn>) -> Result<impl IntoResponse, Error> {
    Ok(agent.stream(req.prompt).await?.into_sse())
}

/// Serves `/echo` and `/report` behind a layer on `url`.
async fn serve(url: &str, problem_json: bool) -> SocketAddr {
    let layer = TapPassLayer::builder()
        .tappass_url(url)
        .api_key("tp_adoption_key")
        .problem_json(problem_json)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/echo", post(echo))
        .route("/report", post(report))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn post_raw(
    addr: SocketAddr,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> (u16, String, String) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .header("X-TapPass-Session-Id", "ses_adopt")
        .body(body.to_owned());
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn bodies_that_fail_to_parse_answer_the_toolkits_shape_in_both_forms() {
    let dev = DevServer::start().await.unwrap();
    let json = Some("application/json");
    let cases = [
        (json, "{not json", 400, "malformed_json"),
        (json, r#"{"text": "no prompt"}"#, 422, "invalid_json_body"),
        (json, r#"{"prompt": 42}"#, 422, "invalid_json_body"),
        (
            Some("text/plain"),
            r#"{"prompt": "hi"}"#,
            415,
            "unsupported_media_type",
        ),
        (None, r#"{"prompt": "hi"}"#, 415, "unsupported_media_type"),
    ];
    for problem_json in [false, true] {
        let addr = serve(&dev.url(), problem_json).await;
        for (content_type, body, status, code) in cases {
            let (got, media, text) = post_raw(addr, "/echo", content_type, body).await;
            assert_eq!(got, status, "{body}: {text}");
            let answer: Value = serde_json::from_str(&text).expect("a JSON body");
            assert_eq!(answer["error"], code, "{answer}");
            assert!(!answer["message"].as_str().unwrap().is_empty(), "{answer}");
            assert_eq!(answer["session_id"], "ses_adopt", "{answer}");
            assert!(answer.get("audit_url").is_some(), "{answer}");
            if problem_json {
                assert_eq!(media, "application/problem+json");
                assert_eq!(answer["status"], status, "{answer}");
                assert_eq!(answer["type"], format!("urn:tappass:error:{code}"));
                assert_eq!(answer["detail"], answer["message"]);
            } else {
                assert_eq!(media, "application/json");
                assert!(answer.get("type").is_none(), "{answer}");
            }
        }
        // A body that parses goes through, and answers as axum's Json would.
        let (status, _, text) = post_raw(addr, "/echo", json, r#"{"prompt": "hi"}"#).await;
        assert_eq!((status, text.as_str()), (200, "hi"));
    }
}

async fn body_of(response: axum::response::Response) -> Value {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
enum ServiceError {
    #[error("quota exceeded")]
    #[governance(status = 429)]
    Quota,

    /// thiserror's `transparent` alone: the inner error's mapping.
    #[error(transparent)]
    TapPass(#[from] tappass::Error),

    /// The explicit form keeps working.
    #[error(transparent)]
    #[governance(transparent)]
    Explicit(Box<tappass::Error>),
}

#[tokio::test]
async fn audit_url_is_in_every_governance_body_null_when_unknown() {
    let block = GovernanceDecision::from_json(&json!({
        "decision": "policy_block", "blocked_by": "detect_pii"
    }))
    .unwrap();
    let approval = GovernanceDecision::from_json(&json!({
        "decision": "approval_required", "resume_token": "rt_1"
    }))
    .unwrap();
    let session = tappass::Session::builder("ses_known")
        .audit_url("https://tappass.example/s/ses_known")
        .build()
        .unwrap();
    let errors = || -> Vec<axum::response::Response> {
        vec![
            Error::from(block.clone()).into_response(),
            Error::from(approval.clone()).into_response(),
            Error::Config("bad".to_owned()).into_response(),
            ServiceError::Quota.into_response(),
            ServiceError::TapPass(Error::from(block.clone())).into_response(),
            tappass::extract::SessionRejection::Missing.into_response(),
        ]
    };
    // Outside any session: present, and null.
    for response in errors() {
        let body = body_of(response).await;
        assert_eq!(body.get("audit_url"), Some(&Value::Null), "{body}");
    }
    // Inside one that knows its audit link: that link. (A decision carries
    // its own, which the agent fills from the session it was taken in.)
    let inside = tappass::session::scope(session, async {
        vec![
            Error::Config("bad".to_owned()).into_response(),
            ServiceError::Quota.into_response(),
            tappass::extract::SessionRejection::Missing.into_response(),
        ]
    })
    .await;
    for response in inside {
        let body = body_of(response).await;
        assert_eq!(
            body["audit_url"], "https://tappass.example/s/ses_known",
            "{body}"
        );
    }
}

#[tokio::test]
async fn error_transparent_implies_the_inner_errors_mapping() {
    let decision = GovernanceDecision::from_json(&json!({
        "decision": "trust_tier_denied", "required_tier": "gold", "actual_tier": "bronze"
    }))
    .unwrap();
    for response in [
        ServiceError::TapPass(Error::from(decision.clone())).into_response(),
        ServiceError::Explicit(Box::new(Error::from(decision.clone()))).into_response(),
    ] {
        assert_eq!(response.status(), 403);
        let body = body_of(response).await;
        assert_eq!(body["error"], "trust_tier_denied", "{body}");
        assert_eq!(body["required_tier"], "gold", "{body}");
    }
    let quota = ServiceError::Quota.into_response();
    assert_eq!(quota.status(), 429);
}

/// The SSE events of a response body: `(event, data)` in order.
fn sse_events(text: &str) -> Vec<(String, String)> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut name = String::new();
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
                }
            }
            (name, data.join("\n"))
        })
        .collect()
}

#[tokio::test]
async fn a_stream_becomes_sse_in_one_call_and_keeps_the_session() {
    let dev = DevServer::start().await.unwrap();
    let addr = serve(&dev.url(), false).await;
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/report"))
        .header("X-TapPass-Session-Id", "ses_sse")
        .json(&json!({"prompt": "one two three four five six seven"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["x-tappass-session-id"], "ses_sse");
    let events = sse_events(&response.text().await.unwrap());
    let (last, chunks) = events.split_last().unwrap();
    assert_eq!(
        last,
        &("done".to_owned(), "[DONE]".to_owned()),
        "{events:?}"
    );
    assert!(chunks.len() >= 2, "{events:?}");
    let mut content = String::new();
    for (name, data) in chunks {
        assert_eq!(name, "chunk", "{events:?}");
        let chunk: Value = serde_json::from_str(data).unwrap();
        content.push_str(chunk["content"].as_str().unwrap());
    }
    assert_eq!(content, "Echo: one two three four five six seven");
    // The server governed every part of it in the caller's session.
    assert!(!dev.events_for_session("ses_sse").is_empty());
}

#[tokio::test]
async fn a_decision_in_the_middle_of_a_stream_is_the_last_event() {
    // The dev server never decides mid-stream: the scripted stand-in does.
    bounded(async {
        let server = TapPass::start().await;
        server.push(
            CHAT,
            Reply::sse([
                event(json!({"content": "fine "})),
                event(json!({"content": "so far"})),
                event(json!({"decision": "policy_block", "blocked_by": "output_filter", "reason": "leak"})),
                event(json!({"content": "must not be seen"})),
            ]),
        );
        let addr = serve(server.url(), false).await;
        let (status, media, text) = post_raw(
            addr,
            "/report",
            Some("application/json"),
            r#"{"prompt": "hi"}"#,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(media, "text/event-stream");
        assert!(!text.contains("must not be seen"), "{text}");
        assert!(!text.contains("tp_adoption_key"), "{text}");
        let events = sse_events(&text);
        assert_eq!(events.len(), 3, "{events:?}");
        assert_eq!(events[0].0, "chunk");
        assert_eq!(events[1].0, "chunk");
        let (name, data) = &events[2];
        assert_eq!(name, "decision", "{events:?}");
        let decision: Value = serde_json::from_str(data).unwrap();
        assert_eq!(decision["error"], "policy_block", "{decision}");
        assert_eq!(decision["blocked_by"], "output_filter", "{decision}");
        // The session of the request, across the chunks to the last event.
        assert_eq!(decision["session_id"], "ses_adopt", "{decision}");
        assert!(decision.get("audit_url").is_some(), "{decision}");
        // Each call to the server carried the session.
        let calls = server.requests_to(CHAT);
        assert_eq!(calls[0].header("x-tappass-session-id"), Some("ses_adopt"));
    })
    .await
}

#[tokio::test]
async fn a_refused_key_names_the_setting_it_came_from() {
    let dev = DevServer::start().await.unwrap();
    let agent = Agent::builder(dev.url())
        .api_key("sk_not_a_tappass_key")
        .max_retries(0)
        .build()
        .unwrap();
    let err = agent.chat("hello").await.expect_err("the key is refused");
    assert!(matches!(err, Error::Authentication { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("`.api_key(..)`"), "{message}");
    assert!(!message.contains("TAPPASS_API_KEY"), "{message}");
    assert!(!message.contains("sk_not_a_tappass_key"), "{message}");
}
