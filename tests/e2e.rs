//! End to end: a real axum app behind `TapPassLayer`, served over a real
//! socket, calling the development server through the `Agent`; one test per
//! row of the mapping table, plus streaming, tool governance and audit events.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::routing::post;
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tappass::{Agent, Error, TapPassLayer};
use tappass_dev::DevServer;

#[derive(Deserialize)]
struct PromptIn {
    prompt: String,
}

#[derive(Deserialize)]
struct ToolIn {
    tool: String,
    args: Value,
}

async fn chat(agent: Agent, Json(req): Json<PromptIn>) -> Result<Json<Value>, Error> {
    let response = agent.chat(req.prompt).await?;
    Ok(Json(json!({
        "content": response.content,
        "session_id": response.correlation.session_id,
        "audit_url": response.correlation.audit_url,
        "redactions": response.redactions.len(),
    })))
}

async fn tool(agent: Agent, Json(req): Json<ToolIn>) -> Result<Json<Value>, Error> {
    let verdict = agent.govern_tool(req.tool, req.args).await?;
    Ok(Json(json!({"allowed": true, "reason": verdict.reason})))
}

/// Relays the agent's stream as SSE; each line also says which session the
/// body was polled in.
async fn stream(
    agent: Agent,
    Json(req): Json<PromptIn>,
) -> Result<axum::response::Response, Error> {
    let chunks = agent.stream(req.prompt).await?;
    let lines = chunks.map(|chunk| {
        let session = tappass::current_session()
            .map(|s| s.id().to_owned())
            .unwrap_or_default();
        let text = match chunk {
            Ok(c) => c.content,
            Err(e) => format!("<error {}>", tappass::GovernanceError::code(&e)),
        };
        Ok::<_, std::convert::Infallible>(format!("data: {session}|{text}\n\n"))
    });
    Ok(axum::response::Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(lines))
        .unwrap())
}

struct App {
    addr: SocketAddr,
    client: reqwest::Client,
}

impl App {
    async fn start(agent: Agent, auto_open: bool) -> App {
        let layer = TapPassLayer::builder()
            .agent(agent)
            .auto_open_session(auto_open)
            .build()
            .unwrap();
        let app = Router::new()
            .route("/chat", post(chat))
            .route("/tool", post(tool))
            .route("/stream", post(stream))
            .layer(layer);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        App {
            addr,
            client: reqwest::Client::new(),
        }
    }

    async fn post(
        &self,
        path: &str,
        body: Value,
        session: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .client
            .post(format!("http://{}{path}", self.addr))
            .json(&body);
        if let Some(id) = session {
            request = request.header("X-TapPass-Session-Id", id);
        }
        let response = tokio::time::timeout(Duration::from_secs(20), request.send())
            .await
            .expect("no hang")
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, json)
    }

    async fn chat(&self, prompt: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        self.post("/chat", json!({"prompt": prompt}), Some("ses_e2e"))
            .await
    }
}

fn agent(dev: &DevServer) -> Agent {
    Agent::builder(dev.url())
        .api_key("tp_e2e_key")
        .max_retries(0)
        .build()
        .unwrap()
}

async fn setup() -> (DevServer, App) {
    let dev = DevServer::start().await.unwrap();
    let app = App::start(agent(&dev), false).await;
    (dev, app)
}

#[tokio::test]
async fn allowed_prompt_is_200_with_the_echo_and_the_callers_session() {
    let (dev, app) = setup().await;
    let (status, headers, body) = app.chat("Summarize Q4 revenue").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["content"], "Echo: Summarize Q4 revenue");
    assert_eq!(
        body["session_id"], "ses_e2e",
        "the server used the caller's session"
    );
    assert!(body["audit_url"].as_str().unwrap().ends_with("/ses_e2e"));
    assert_eq!(headers["x-tappass-session-id"], "ses_e2e");
    // The audit url shows the session's recorded events.
    let audit: Value = reqwest::get(body["audit_url"].as_str().unwrap())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!audit["events"].as_array().unwrap().is_empty(), "{audit}");
    drop(dev);
}

#[tokio::test]
async fn policy_block_is_403_for_an_ssn_and_for_a_card_number() {
    let (_dev, app) = setup().await;
    for prompt in ["My SSN is 123-45-6789", "charge 4111 1111 1111 1111 please"] {
        let (status, headers, body) = app.chat(prompt).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"], "policy_block");
        assert_eq!(body["blocked_by"], "detect_pii");
        assert!(!body["reason"].as_str().unwrap().is_empty());
        assert_eq!(body["session_id"], "ses_e2e");
        assert_eq!(headers["x-tappass-session-id"], "ses_e2e");
    }
    // A card-like number that fails the Luhn check is allowed.
    let (status, _, _) = app.chat("order 4111 1111 1111 1112").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn approval_required_is_428_and_passes_once_approved() {
    let (dev, app) = setup().await;
    let (status, _, body) = app.chat("please wire transfer $5000 to ACME").await;
    assert_eq!(status, 428, "{body}");
    assert_eq!(body["error"], "approval_required");
    assert!(body["approval_url"]
        .as_str()
        .unwrap()
        .starts_with(&dev.url()));
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
    let token = body["resume_token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("rt_"), "{body}");
    // The 428 names its approval: the one pending row, and approving exactly
    // that row is what lets the identical request through.
    let url = body["approval_url"].as_str().unwrap();
    let id = url.rsplit('/').next().unwrap();
    let pending: Vec<String> = dev
        .pending_approvals()
        .into_iter()
        .map(|a| a.request_id)
        .collect();
    assert_eq!(pending, [id.to_owned()], "{body}");
    let (status, _, body) = app.chat("please wire transfer $5000 to ACME").await;
    assert_eq!(status, 428, "still pending: {body}");
    assert!(dev.approve(id));
    let (status, _, body) = app.chat("please wire transfer $5000 to ACME").await;
    assert_eq!(status, 200, "approved ({token}): {body}");
}

#[tokio::test]
async fn trust_tier_denied_is_403_with_both_tiers() {
    let (_dev, app) = setup().await;
    let (status, _, body) = app.chat("drop the production database").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "trust_tier_denied");
    assert_eq!(body["required_tier"], "privileged");
    assert_eq!(body["actual_tier"], "standard");
}

#[tokio::test]
async fn break_glass_is_503_with_retry_after_and_is_not_retried() {
    let dev = DevServer::start().await.unwrap();
    let agent = Agent::builder(dev.url())
        .api_key("tp_e2e_key")
        .max_retries(3)
        .retry_base_delay(Duration::from_secs(2))
        .build()
        .unwrap();
    let app = App::start(agent, false).await;
    let started = std::time::Instant::now();
    let (status, headers, body) = app.chat("we are in incident mode").await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a decision must not be retried"
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "break_glass_active");
    assert_eq!(body["level"], "full_bypass");
    let expires: tappass::Timestamp = body["expires_at"].as_str().unwrap().parse().unwrap();
    // The HTTP date of `expires_at`, rounded up to the whole second.
    let retry_after =
        httpdate::parse_http_date(headers["retry-after"].to_str().unwrap()).expect("an HTTP date");
    let late_by = retry_after
        .duration_since(expires.to_system_time())
        .expect("not before expires_at");
    assert!(
        late_by < Duration::from_secs(1),
        "{retry_after:?} for {expires}"
    );
}

#[tokio::test]
async fn tool_integrity_violation_is_422() {
    let (_dev, app) = setup().await;
    let (status, _, body) = app.chat("run the legacy_export tool").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "tool_integrity_violation");
    assert_eq!(body["tool_name"], "legacy_export");
    assert_eq!(body["violation"], "hash_mismatch");

    let (status, _, body) = app
        .post("/tool", json!({"tool": "legacy_export", "args": {}}), None)
        .await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn authorization_required_is_401_with_www_authenticate() {
    let (_dev, app) = setup().await;
    let (status, headers, body) = app.chat("connect my github").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "authorization_required");
    assert_eq!(body["provider"], "github");
    assert!(body["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "repo"));
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("authorize_url="));
}

#[tokio::test]
async fn redaction_is_answered_unless_the_agent_surfaces_it_as_403() {
    let dev = DevServer::start().await.unwrap();
    let app = App::start(agent(&dev), false).await;
    let (status, _, body) = app.chat("mail jane@example.com the report").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !body["content"]
            .as_str()
            .unwrap()
            .contains("jane@example.com"),
        "{body}"
    );
    assert_eq!(body["redactions"], 1);

    let strict = Agent::builder(dev.url())
        .api_key("tp_e2e_key")
        .redaction_as_error(true)
        .build()
        .unwrap();
    let app = App::start(strict, false).await;
    let (status, _, body) = app.chat("mail jane@example.com the report").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "redaction_applied");
    assert_eq!(body["redactions"][0]["kind"], "email");
    assert!(!body["redacted_content"].as_str().unwrap().contains("jane@"));
}

#[tokio::test]
async fn another_decision_kind_is_403_with_its_name() {
    // The dev server's policy has a fixed set of decisions, so a kind this
    // toolkit does not know comes from the scripted stand-in: the one thing
    // here the dev server never produces.
    let tappass = support::TapPass::start().await;
    tappass.always(
        support::CHAT,
        support::Reply::json(
            403,
            json!({"decision": "quota_exceeded", "reason": "monthly quota used up"}),
        ),
    );
    let agent = Agent::builder(tappass.url())
        .api_key("tp_e2e_key")
        .max_retries(0)
        .build()
        .unwrap();
    let app = App::start(agent, false).await;
    let (status, _, body) = app.chat("something expensive").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "quota_exceeded", "{body}");
    assert_eq!(body["reason"], "monthly quota used up", "{body}");
    assert_eq!(
        tappass.hits(support::CHAT),
        1,
        "a decision is never retried"
    );
}

#[tokio::test]
async fn control_plane_down_is_503_fail_closed() {
    let dev = DevServer::start().await.unwrap();
    let agent = agent(&dev);
    dev.shutdown().await;
    let app = App::start(agent, false).await;
    let (status, _, body) = app.chat("Summarize Q4 revenue").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "governance_unavailable");
}

#[tokio::test]
async fn a_key_the_server_refuses_is_500_misconfigured_without_details() {
    let dev = DevServer::start().await.unwrap();
    let agent = Agent::builder(dev.url())
        .api_key("sk_wrong_kind_of_key")
        .build()
        .unwrap();
    let app = App::start(agent, false).await;
    let (status, _, body) = app.chat("hello").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"], "governance_misconfigured");
    assert!(!body.to_string().contains("sk_wrong_kind_of_key"));
}

#[tokio::test]
async fn streaming_through_the_route_keeps_the_session() {
    let (dev, app) = setup().await;
    let response = app
        .client
        .post(format!("http://{}/stream", app.addr))
        .header("X-TapPass-Session-Id", "ses_stream_e2e")
        .json(&json!({"prompt": "one two three four five six"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-tappass-session-id"], "ses_stream_e2e");
    let text = response.text().await.unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("data: ")).collect();
    assert!(lines.len() >= 2, "{text}");
    let mut content = String::new();
    for line in &lines {
        let (session, piece) = line["data: ".len()..].split_once('|').unwrap();
        assert_eq!(
            session, "ses_stream_e2e",
            "body polled outside the session: {text}"
        );
        content.push_str(piece);
    }
    assert_eq!(content, "Echo: one two three four five six");
    assert!(!dev.events_for_session("ses_stream_e2e").is_empty());

    // A decision before the stream starts is the route's typed error.
    let (status, _, body) = app
        .post("/stream", json!({"prompt": "My SSN is 123-45-6789"}), None)
        .await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn tool_calls_are_allowed_blocked_or_paused_for_approval() {
    let (dev, app) = setup().await;
    let (status, _, body) = app
        .post(
            "/tool",
            json!({"tool": "search_docs", "args": {"q": "x"}}),
            None,
        )
        .await;
    assert_eq!((status, &body["allowed"]), (200, &json!(true)), "{body}");

    let (status, _, body) = app
        .post(
            "/tool",
            json!({"tool": "delete_database", "args": {}}),
            None,
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "policy_block");

    // Approve: the identical call then passes.
    let send = json!({"tool": "send_email", "args": {"to": "cfo@example.com"}});
    let (status, _, body) = app.post("/tool", send.clone(), None).await;
    assert_eq!(status, 428, "{body}");
    let id = body["request_id"].as_str().unwrap().to_owned();
    let agent = agent(&dev);
    let waiting = {
        let agent = agent.clone();
        let id = id.clone();
        tokio::spawn(async move { agent.wait_for_approval(&id, Duration::from_secs(10)).await })
    };
    // Approve once the agent's long-poll is waiting, so the test shows an
    // approval decided while the waiter waits (not before it asked).
    tokio::time::timeout(Duration::from_secs(10), async {
        while dev.waiters(&id) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the agent's wait reached the server");
    assert!(dev.approve(&id));
    let settled = waiting.await.unwrap().unwrap();
    assert_eq!(settled.state, tappass::agent::ApprovalState::Approved);
    let (status, _, body) = app.post("/tool", send, None).await;
    assert_eq!(status, 200, "{body}");

    // Deny: the identical call is then blocked.
    let wire = json!({"tool": "wire_funds", "args": {"amount": 5000}});
    let (status, _, body) = app.post("/tool", wire.clone(), None).await;
    assert_eq!(status, 428, "{body}");
    let id = body["request_id"].as_str().unwrap().to_owned();
    let pending = agent
        .wait_for_approval(&id, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(pending.state, tappass::agent::ApprovalState::Pending);
    assert!(dev.deny(&id));
    let denied = agent
        .wait_for_approval(&id, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(denied.state, tappass::agent::ApprovalState::Denied);
    let (status, _, body) = app.post("/tool", wire, None).await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn sessions_the_layer_opened_report_open_and_close_events() {
    let dev = DevServer::start().await.unwrap();
    let agent = agent(&dev);
    let app = App::start(agent.clone(), true).await;
    let (status, headers, _) = app.post("/chat", json!({"prompt": "hello"}), None).await;
    assert_eq!(status, 200);
    let opened = headers["x-tappass-session-id"].to_str().unwrap().to_owned();
    // A joined session reports nothing of its own.
    let (status, _, _) = app
        .post("/chat", json!({"prompt": "hello"}), Some("ses_joined_e2e"))
        .await;
    assert_eq!(status, 200);
    agent.flush_events().await;

    let types = |id: &str| -> Vec<String> {
        dev.events_for_session(id)
            .iter()
            .filter_map(|e| e["event_type"].as_str().map(str::to_owned))
            .collect()
    };
    let opened_types = types(&opened);
    assert!(
        opened_types.contains(&"session_open".to_owned()),
        "{opened_types:?}"
    );
    assert!(
        opened_types.contains(&"session_close".to_owned()),
        "{opened_types:?}"
    );
    let close = dev
        .events_for_session(&opened)
        .into_iter()
        .find(|e| e["event_type"] == "session_close")
        .unwrap();
    assert_eq!(close["details"]["status"], 200);
    let joined_types = types("ses_joined_e2e");
    assert!(
        !joined_types.iter().any(|t| t.starts_with("session_")),
        "{joined_types:?}"
    );
    assert_eq!(agent.dropped_events(), 0);
}

#[tokio::test]
async fn fail_open_is_explicit_marks_degraded_calls_and_never_bypasses_a_decision() {
    let dev = DevServer::start().await.unwrap();
    let open = Agent::builder(dev.url())
        .api_key("tp_e2e_key")
        .max_retries(0)
        .fail_open(true)
        .build()
        .unwrap();
    assert!(open.is_fail_open());
    assert!(!agent(&dev).is_fail_open(), "fail-open is off by default");

    // A decision is still a decision.
    let err = open.chat("My SSN is 123-45-6789").await.unwrap_err();
    assert!(err.is_decision(), "{err}");
    let ok = open.chat("hello").await.unwrap();
    assert!(!ok.degraded);

    // With the control plane gone, calls pass, marked as ungoverned.
    dev.shutdown().await;
    let degraded = open.chat("hello").await.unwrap();
    assert!(degraded.degraded);
    assert!(degraded.content.is_empty());
    let verdict = open.govern_tool("send_email", json!({})).await.unwrap();
    assert!(verdict.degraded);

    // Through the layer, the same agent answers 200 instead of 503.
    let app = App::start(open, false).await;
    let (status, _, _) = app.chat("hello").await;
    assert_eq!(status, 200);
}
