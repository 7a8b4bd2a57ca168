//! One estate: Rust services and services built on the Python SDK in one
//! session chain (`PROTOCOL.md`, Interoperating with services built on the
//! Python SDK), and sessions that learn their agent, pipeline and audit URL
//! from the server's first answer.
//!
//! Service B here stands for a FastAPI service behind tappass 0.12's
//! `TapPassMiddleware`: it joins a caller's session only when all four of
//! `X-TapPass-Session`, `X-TapPass-Agent-UUID`, `X-TapPass-Pipeline-UUID`
//! and `X-TapPass-Audit-URL` are present and non-empty, and reads nothing else.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::future::join_all;
use serde_json::{json, Value};
use support::{bounded, Reply, TapPass, KEY};
use tappass::agent::AuditEvent;
use tappass::propagate::PropagateSession;
use tappass::{Agent, Error, GovernanceDecision, Session, TapPassLayer, Timestamp};
use tappass_dev::{DevServer, Policy};

/// The pipeline the dev server names in every answer.
const DEV_PIPELINE: &str = "00000000-0000-4000-8000-00000000d0e5";

/// A hang guard for the tests of 1,000 calls on a shared, loaded machine.
async fn bounded_long<F: std::future::Future>(test: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(180), test)
        .await
        .expect("the test did not finish within 180 s")
}

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

/// Service B, as the Python SDK's middleware reads a caller: all four
/// headers, in its spelling, present and non-empty, or no session at all.
async fn python_b(headers: HeaderMap) -> Result<Json<Value>, (StatusCode, &'static str)> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
    };
    match (
        header("X-TapPass-Session"),
        header("X-TapPass-Agent-UUID"),
        header("X-TapPass-Pipeline-UUID"),
        header("X-TapPass-Audit-URL"),
    ) {
        (Some(session), Some(agent), Some(pipeline), Some(audit_url)) => Ok(Json(json!({
            "session_id": session,
            "agent_uuid": agent,
            "pipeline_uuid": pipeline,
            "audit_url": audit_url,
        }))),
        _ => Err((
            StatusCode::PRECONDITION_FAILED,
            "the four Python-style correlation headers are not all present",
        )),
    }
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A Rust service behind the layer (joining, never opening) whose route
/// chats once and answers the session it then sees.
async fn chatting_service(agent: Agent, path: &str, prompt: &'static str) -> SocketAddr {
    let route = get(move |agent: Agent| async move {
        agent.chat(prompt).await.unwrap();
        Json(seen(tappass::current_session().as_ref()))
    });
    serve(Router::new().route(path, route).layer(layer(agent, false))).await
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

#[derive(Clone)]
struct ServiceA {
    agent: Agent,
    b: String,
    client: reqwest::Client,
    chat_first: bool,
}

/// Service A: one governed chat (or none), then a call to B with the
/// session propagated. Answers what A's session is and what B saw.
async fn a_plan(State(a): State<ServiceA>) -> Json<Value> {
    if a.chat_first {
        a.agent
            .chat("plan the quarter")
            .await
            .expect("the chat call");
    }
    let answer = a
        .client
        .get(format!("{}/python", a.b))
        .propagate_session()
        .send()
        .await
        .expect("B answers");
    let status = answer.status().as_u16();
    let b: Value = if status == 200 {
        answer.json().await.unwrap()
    } else {
        Value::Null
    };
    Json(json!({
        "a": seen(tappass::current_session().as_ref()),
        "b": b,
        "b_status": status,
    }))
}

async fn chain(dev: &DevServer, chat_first: bool) -> (HeaderMap, Value) {
    let b = serve(Router::new().route("/python", get(python_b))).await;
    let agent = agent(dev);
    let a = serve(
        Router::new()
            .route("/plan", get(a_plan))
            .with_state(ServiceA {
                agent: agent.clone(),
                b: format!("http://{b}"),
                client: reqwest::Client::new(),
                chat_first,
            })
            .layer(layer(agent, true)),
    )
    .await;
    let response = reqwest::get(format!("http://{a}/plan")).await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    (headers, response.json().await.unwrap())
}

#[tokio::test]
async fn a_rust_service_continues_its_chain_into_a_python_service() {
    bounded(async {
        let dev = DevServer::start().await.unwrap();
        let (echo, body) = chain(&dev, true).await;
        let a = &body["a"];
        assert_eq!(body["b_status"], 200, "{body}");
        // A opened the session; the chat taught it the rest.
        let session_id = a["session_id"].as_str().unwrap();
        assert!(session_id.starts_with("ses_"), "{a}");
        assert!(a["agent_uuid"].is_string(), "{a}");
        assert_eq!(a["pipeline_uuid"], DEV_PIPELINE);
        let audit_url = a["audit_url"].as_str().unwrap();
        assert_eq!(
            audit_url,
            format!("{}/v1/audit/sessions/{session_id}", dev.url())
        );
        // B, reading only the Python SDK's four headers, joined the same.
        assert_eq!(&body["b"], a, "B saw another session than A's");
        // A's response echo carries what the session learned, under both
        // spellings of the session header.
        let header = |name: &str| echo[name].to_str().unwrap().to_owned();
        assert_eq!(header("x-tappass-session-id"), session_id);
        assert_eq!(header("x-tappass-session"), session_id);
        assert_eq!(header("x-tappass-agent-uuid"), a["agent_uuid"]);
        assert_eq!(header("x-tappass-pipeline-uuid"), DEV_PIPELINE);
        assert_eq!(header("x-tappass-audit-url"), audit_url);
        // The dev server recorded the chat in that session.
        let events = dev.events_for_session(session_id);
        assert!(
            events.iter().any(|e| e["event_type"] == "chat_call"),
            "{events:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn before_any_answer_a_python_service_does_not_join() {
    bounded(async {
        let dev = DevServer::start().await.unwrap();
        // No chat: a locally opened session knows only its id, so the
        // Python middleware (all four or nothing) does not join it.
        let (echo, body) = chain(&dev, false).await;
        assert_eq!(body["b_status"], 412, "{body}");
        assert!(body["a"]["agent_uuid"].is_null(), "{body}");
        assert!(echo.get("x-tappass-audit-url").is_none());
        assert_eq!(
            echo["x-tappass-session"],
            body["a"]["session_id"].as_str().unwrap()
        );
    })
    .await;
}

#[tokio::test]
async fn a_python_style_caller_joins_a_rust_service() {
    bounded(async {
        let dev = DevServer::start().await.unwrap();
        let agent = agent(&dev);
        let rust = chatting_service(agent, "/whoami", "in the caller's session").await;
        // Exactly what tappass 0.12's FastAPI side sends on.
        let response = reqwest::Client::new()
            .get(format!("http://{rust}/whoami"))
            .header("X-TapPass-Session", "ses_from_python")
            .header("X-TapPass-Agent-UUID", "agt-python")
            .header("X-TapPass-Pipeline-UUID", "pip-python")
            .header(
                "X-TapPass-Audit-URL",
                "https://tappass.example/sessions/ses_from_python",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let echo = response.headers().clone();
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({
                "session_id": "ses_from_python",
                "agent_uuid": "agt-python",
                "pipeline_uuid": "pip-python",
                // The dev server answered its own audit URL: the caller's stays.
                "audit_url": "https://tappass.example/sessions/ses_from_python",
            })
        );
        assert_eq!(echo["x-tappass-session"], "ses_from_python");
        assert_eq!(echo["x-tappass-session-id"], "ses_from_python");
        assert_eq!(echo["x-tappass-pipeline-uuid"], "pip-python");
        assert_eq!(
            echo["x-tappass-audit-url"],
            "https://tappass.example/sessions/ses_from_python"
        );
    })
    .await;
}

/// 1,000 concurrent chat calls in one shared session: the session learns
/// the agent and pipeline once, every call sees the same values, and the
/// audit URL the caller supplied is never replaced by the server's.
/// A decision is an answer too: a session opened for a request whose only
/// chat is blocked learns the agent, pipeline and audit URL the `403` names,
/// and the response echoes them, as after an allowed chat.
#[tokio::test]
async fn a_blocked_chat_teaches_the_session_and_the_response_echoes_it() {
    bounded(async {
        let dev = DevServer::start().await.unwrap();
        let route = get(|agent: Agent| async move {
            let blocked = agent
                .chat("my ssn is 123-45-6789")
                .await
                .expect_err("the default policy blocks it");
            assert!(
                matches!(blocked.decision(), Some(GovernanceDecision::PolicyBlock(_))),
                "{blocked:?}"
            );
            Json(seen(tappass::current_session().as_ref()))
        });
        let addr = serve(
            Router::new()
                .route("/", route)
                .layer(layer(agent(&dev), true)),
        )
        .await;
        let answer = reqwest::get(format!("http://{addr}/")).await.unwrap();
        let headers = answer.headers().clone();
        let seen: Value = answer.json().await.unwrap();
        let id = seen["session_id"].as_str().expect("a session opened");
        assert_eq!(seen["pipeline_uuid"], DEV_PIPELINE, "{seen}");
        let agent_uuid = seen["agent_uuid"].as_str().expect("the agent learned");
        let audit_url = seen["audit_url"].as_str().expect("the audit URL learned");
        assert!(audit_url.contains(id), "{audit_url}");
        assert_eq!(headers["x-tappass-agent-uuid"], agent_uuid);
        assert_eq!(headers["x-tappass-pipeline-uuid"], DEV_PIPELINE);
        assert_eq!(headers["x-tappass-audit-url"], audit_url);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_session_learns_once_under_1000_concurrent_calls() {
    bounded_long(async {
        let dev = DevServer::start().await.unwrap();
        let agent = agent(&dev);
        let callers_audit = "https://dash.caller.example/sessions/ses_shared";
        let session = Session::builder("ses_shared")
            .audit_url(callers_audit)
            .build()
            .unwrap();
        let calls = (0..1000).map(|i| {
            let agent = agent.clone();
            let session = session.clone();
            tokio::spawn(tappass::session::scope(session, async move {
                let answer = agent.chat(format!("call {i}")).await.unwrap();
                let now = tappass::current_session().unwrap();
                (
                    answer.correlation.audit_url,
                    now.agent_uuid().map(str::to_owned),
                    now.pipeline_uuid().map(str::to_owned),
                    now.audit_url().map(str::to_owned),
                )
            }))
        });
        let results: Vec<_> = join_all(calls)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let agent_uuid = session.agent_uuid().expect("learned").to_owned();
        assert_eq!(session.pipeline_uuid(), Some(DEV_PIPELINE));
        assert_eq!(session.audit_url(), Some(callers_audit));
        for (server_audit, agent_seen, pipeline_seen, audit_seen) in results {
            // The server did name another audit URL: it could have overwritten.
            assert_ne!(server_audit.as_deref(), Some(callers_audit));
            assert!(server_audit.is_some());
            assert_eq!(agent_seen.as_deref(), Some(agent_uuid.as_str()));
            assert_eq!(pipeline_seen.as_deref(), Some(DEV_PIPELINE));
            assert_eq!(audit_seen.as_deref(), Some(callers_audit));
        }
    })
    .await;
}

/// 1,000 concurrent requests into a Rust service, each with the caller's
/// agent and pipeline: each request's session learns only the audit URL,
/// and its echo carries the caller's values, never the server's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_never_overwrite_the_callers_values() {
    bounded_long(async {
        let dev = DevServer::start().await.unwrap();
        let agent = agent(&dev);
        let rust = chatting_service(agent, "/work", "work").await;
        let client = reqwest::Client::new();
        let requests = (0..1000).map(|i| {
            let client = client.clone();
            async move {
                let response = client
                    .get(format!("http://{rust}/work"))
                    .header("X-TapPass-Session-Id", format!("ses_req_{i}"))
                    .header("X-TapPass-Agent-Uuid", format!("agt-caller-{i}"))
                    .header("X-TapPass-Pipeline-Uuid", format!("pip-caller-{i}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                let echo = response.headers().clone();
                let body: Value = response.json().await.unwrap();
                (i, echo, body)
            }
        });
        for (i, echo, body) in join_all(requests).await {
            let audit = format!("{}/v1/audit/sessions/ses_req_{i}", dev.url());
            assert_eq!(
                body,
                json!({
                    "session_id": format!("ses_req_{i}"),
                    "agent_uuid": format!("agt-caller-{i}"),
                    "pipeline_uuid": format!("pip-caller-{i}"),
                    "audit_url": audit,
                })
            );
            assert_eq!(
                echo["x-tappass-agent-uuid"],
                format!("agt-caller-{i}").as_str()
            );
            assert_eq!(
                echo["x-tappass-pipeline-uuid"],
                format!("pip-caller-{i}").as_str()
            );
            assert_eq!(echo["x-tappass-audit-url"], audit.as_str());
        }
    })
    .await;
}

// ---- the wire as the Python SDK speaks it ------------------------------------

fn stand_in_agent(server: &TapPass) -> tappass::agent::AgentBuilder {
    Agent::builder(server.url()).api_key(KEY).max_retries(0)
}

fn allow() -> Reply {
    Reply::ok(json!({
        "outcome": "allow", "reason": "fine", "behavior_id": "b",
        "pipeline_id": "pip-srv", "decided_at": "2026-11-23T10:00:00Z",
    }))
}

/// The body sent to `/v1/govern`, with its random `behavior_id` checked and
/// set aside.
fn govern_body(server: &TapPass) -> Value {
    let sent = server.requests_to("/v1/govern");
    let mut body = sent.last().expect("a /v1/govern call").json();
    let id = body["behavior_id"]
        .as_str()
        .expect("a behavior_id")
        .to_owned();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    body["behavior_id"] = json!("<32 hex>");
    body
}

#[tokio::test]
async fn govern_sends_strings_never_null_outside_a_session() {
    bounded(async {
        let server = TapPass::start().await;
        server.always("/v1/govern", allow());
        let agent = stand_in_agent(&server).build().unwrap();
        agent
            .govern_tool("search", json!({"q": "revenue"}))
            .await
            .unwrap();
        assert_eq!(
            govern_body(&server),
            json!({
                "type": "TOOL_CALL", "agent_id": "sdk:unknown", "session_id": "",
                "org_id": null, "behavior_id": "<32 hex>",
                "payload": {"tool": "search", "args": {"q": "revenue"}, "server": null},
            })
        );

        // The client's own agent id, when it has one.
        let named = stand_in_agent(&server)
            .agent_id("finance-bot")
            .build()
            .unwrap();
        named
            .govern_tool("search", json!({}))
            .server("mcp-search")
            .await
            .unwrap();
        assert_eq!(
            govern_body(&server),
            json!({
                "type": "TOOL_CALL", "agent_id": "finance-bot", "session_id": "",
                "org_id": null, "behavior_id": "<32 hex>",
                "payload": {"tool": "search", "args": {}, "server": "mcp-search"},
            })
        );
    })
    .await;
}

#[tokio::test]
async fn govern_sends_the_sessions_ids_inside_a_session() {
    bounded(async {
        let server = TapPass::start().await;
        server.always("/v1/govern", allow());
        let agent = stand_in_agent(&server)
            .agent_id("finance-bot")
            .build()
            .unwrap();
        let with_agent = Session::builder("ses_wire")
            .agent_uuid("agt-1")
            .build()
            .unwrap();
        tappass::session::scope(with_agent, agent.govern_tool("search", json!({"q": 1})))
            .await
            .unwrap();
        assert_eq!(
            govern_body(&server),
            json!({
                "type": "TOOL_CALL", "agent_id": "agt-1", "session_id": "ses_wire",
                "org_id": null, "behavior_id": "<32 hex>",
                "payload": {"tool": "search", "args": {"q": 1}, "server": null},
            })
        );
        // A session without an agent: the client's own id.
        let bare = Session::builder("ses_bare").build().unwrap();
        tappass::session::scope(bare, agent.govern_tool("search", json!({})).org_id("org-7"))
            .await
            .unwrap();
        assert_eq!(
            govern_body(&server),
            json!({
                "type": "TOOL_CALL", "agent_id": "finance-bot", "session_id": "ses_bare",
                "org_id": "org-7", "behavior_id": "<32 hex>",
                "payload": {"tool": "search", "args": {}, "server": null},
            })
        );
    })
    .await;
}

#[tokio::test]
async fn events_send_strings_never_null_inside_and_outside_a_session() {
    bounded(async {
        let server = TapPass::start().await;
        server.always("/v1/events", Reply::json(202, json!({"accepted": 2})));
        let agent = stand_in_agent(&server).build().unwrap();
        let at: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        let session = Session::builder("ses_ev")
            .agent_uuid("agt-ev")
            .build()
            .unwrap();
        let mut inside = AuditEvent::new("tool_call", &session, json!({"tool": "x"}));
        inside.occurred_at = at;
        let outside = AuditEvent {
            occurred_at: at,
            ..AuditEvent::new("decision", &session, json!({}))
        };
        let outside = AuditEvent {
            agent_id: None,
            session_id: None,
            ..outside
        };
        agent.report(inside);
        agent.report(outside);
        agent.flush_events().await;
        let sent: Vec<Value> = server
            .requests_to("/v1/events")
            .iter()
            .flat_map(|r| r.json().as_array().cloned().unwrap_or_default())
            .collect();
        assert_eq!(
            sent,
            vec![
                json!({"event_type": "tool_call", "agent_id": "agt-ev",
                       "occurred_at": "2026-11-23T10:00:00Z", "session_id": "ses_ev",
                       "task_id": null, "details": {"tool": "x"}}),
                json!({"event_type": "decision", "agent_id": "",
                       "occurred_at": "2026-11-23T10:00:00Z", "session_id": "",
                       "task_id": null, "details": {}}),
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn decision_timestamps_without_an_offset_are_read_as_utc() {
    bounded(async {
        let server = TapPass::start().await;
        let agent = stand_in_agent(&server).build().unwrap();
        for (sent, meant) in [
            ("2026-11-23T10:00:00", "2026-11-23T10:00:00Z"),
            ("2026-11-23T10:00:00.250", "2026-11-23T10:00:00.25Z"),
            ("2026-11-23T10:00:00+02:00", "2026-11-23T08:00:00Z"),
        ] {
            server.push(
                "/v1/govern",
                Reply::ok(json!({"outcome": "allow", "reason": "ok", "decided_at": sent})),
            );
            let verdict = agent.govern_tool("t", json!({})).await.unwrap();
            assert_eq!(verdict.decided_at, Some(meant.parse().unwrap()), "{sent}");
        }
        // Not a timestamp at all: no timestamp, still an allow.
        server.push(
            "/v1/govern",
            Reply::ok(json!({"outcome": "allow", "reason": "ok", "decided_at": "yesterday"})),
        );
        assert_eq!(agent.govern_tool("t", json!({})).await.unwrap().decided_at, None);
        // An approval's expiry too.
        server.push(
            "/v1/govern",
            Reply::ok(json!({"outcome": "needs_approval", "reason": "ask",
                             "approval": {"request_id": "apr_1", "expires_at": "2026-11-23T11:30:00"}})),
        );
        match agent.govern_tool("t", json!({})).await {
            Err(Error::Governance(decision)) => match *decision {
                GovernanceDecision::ApprovalRequired(asked) => assert_eq!(
                    asked.expires_at,
                    Some("2026-11-23T11:30:00Z".parse().unwrap())
                ),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
        // Timestamp's own FromStr stays strict RFC 3339.
        assert!("2026-11-23T10:00:00".parse::<Timestamp>().is_err());
    })
    .await;
}

#[tokio::test]
async fn a_govern_decision_teaches_the_session_and_a_hostile_value_is_ignored() {
    bounded(async {
        let server = TapPass::start().await;
        let agent = stand_in_agent(&server).build().unwrap();
        server.push(
            "/v1/govern",
            Reply::ok(json!({"outcome": "allow", "reason": "ok",
                             "agent_uuid": "agt-srv", "pipeline_id": "pip-srv",
                             "audit_url": "javascript:alert(1)"})),
        );
        server.push(
            "/v1/govern",
            Reply::ok(json!({"outcome": "allow", "reason": "ok",
                             "agent_uuid": "agt-other", "pipeline_uuid": "pip-other",
                             "audit_url": "https://Dash.example:443/s/ses_learn"})),
        );
        let session = Session::open();
        tappass::session::scope(session.clone(), async {
            agent.govern_tool("t", json!({})).await.unwrap();
            // The hostile audit URL was not kept; the rest was.
            let now = tappass::current_session().unwrap();
            assert_eq!(now.agent_uuid(), Some("agt-srv"));
            assert_eq!(now.pipeline_uuid(), Some("pip-srv"));
            assert_eq!(now.audit_url(), None);
            agent.govern_tool("t", json!({})).await.unwrap();
        })
        .await;
        // Learned once: the second answer changed nothing but the missing URL.
        assert_eq!(session.agent_uuid(), Some("agt-srv"));
        assert_eq!(session.pipeline_uuid(), Some("pip-srv"));
        assert_eq!(
            session.audit_url(),
            Some("https://dash.example/s/ses_learn")
        );
        // And the second call already carried what the first taught.
        let second = &server.requests_to("/v1/govern")[1];
        assert_eq!(second.header("x-tappass-agent-uuid"), Some("agt-srv"));
        assert_eq!(govern_body(&server)["agent_id"], "agt-srv");
    })
    .await;
}

// ---- tool governance as the Python SDK's `govern` -----------------------------

const HUMAN_POLICY: &str = r#"
[[rule]]
name = "wires_need_a_human"
match.tool = "wire_transfer"
decision = "escalate"
reason = "a human approves wires"

[[rule]]
name = "no_drops"
match.tool = "drop_table"
decision = "block"
blocked_by = "db_guard"
reason = "never drop tables"
"#;

async fn human_dev() -> DevServer {
    DevServer::builder()
        .policy(Policy::from_toml(HUMAN_POLICY).unwrap())
        .start()
        .await
        .unwrap()
}

/// Waits until the dev server holds a pending approval, and returns its id.
async fn pending_approval(dev: &DevServer) -> String {
    loop {
        if let Some(approval) = dev.pending_approvals().first() {
            return approval.request_id.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn wait_for_human_returns_allow_once_approved() {
    bounded(async {
        let dev = human_dev().await;
        let agent = agent(&dev);
        let waiter = tokio::spawn({
            let agent = agent.clone();
            async move {
                agent
                    .govern_tool("wire_transfer", json!({"amount": 5000}))
                    .wait_for_human(Duration::from_secs(60))
                    .await
            }
        });
        let id = pending_approval(&dev).await;
        assert!(dev.approve(&id));
        let verdict = waiter.await.unwrap().expect("allowed once approved");
        assert!(
            verdict.reason.contains("approved by a human"),
            "{verdict:?}"
        );
        assert!(!verdict.audit_only && !verdict.degraded);
    })
    .await;
}

#[tokio::test]
async fn wait_for_human_returns_a_block_when_denied() {
    bounded(async {
        let dev = human_dev().await;
        let agent = agent(&dev);
        let waiter = tokio::spawn({
            let agent = agent.clone();
            async move {
                agent
                    .govern_tool("wire_transfer", json!({"amount": 9000}))
                    .wait_for_human(Duration::from_secs(60))
                    .await
            }
        });
        let id = pending_approval(&dev).await;
        assert!(dev.deny(&id));
        match waiter.await.unwrap() {
            Err(Error::Governance(decision)) => match *decision {
                GovernanceDecision::PolicyBlock(block) => {
                    assert_eq!(block.blocked_by, "human_approval");
                    assert_eq!(block.details["request_id"], id.as_str());
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn wait_for_human_returns_the_approval_decision_when_nobody_decides() {
    bounded(async {
        let dev = human_dev().await;
        let agent = agent(&dev);
        let answer = agent
            .govern_tool("wire_transfer", json!({"amount": 1}))
            .wait_for_human(Duration::from_secs(1))
            .await;
        let id = match answer {
            Err(Error::Governance(decision)) => match *decision {
                GovernanceDecision::ApprovalRequired(asked) => asked.request_id.unwrap(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        // Still pending on the server: nobody decided.
        assert_eq!(dev.pending_approvals()[0].request_id, id);
    })
    .await;
}

#[tokio::test]
async fn audit_only_never_blocks_and_the_dev_server_records_the_call() {
    bounded(async {
        let dev = human_dev().await;
        let agent = agent(&dev);
        // Governed, the call is blocked ...
        assert!(matches!(
            agent
                .govern_tool("drop_table", json!({"table": "users"}))
                .await,
            Err(Error::Governance(_))
        ));
        // ... in audit-only mode it goes through and is recorded.
        let session = Session::builder("ses_audit_only").build().unwrap();
        let verdict = tappass::session::scope(
            session,
            agent
                .govern_tool("drop_table", json!({"table": "users"}))
                .audit_only(),
        )
        .await
        .unwrap();
        assert!(verdict.audit_only);
        // An agent in audit-only mode, for every call, even one that escalates.
        let rollout = Agent::builder(dev.url())
            .api_key("tp_interop_tests")
            .audit_only(true)
            .build()
            .unwrap();
        let verdict = rollout
            .govern_tool("wire_transfer", json!({"amount": 1}))
            .await
            .unwrap();
        assert!(verdict.audit_only);
        assert!(dev.pending_approvals().is_empty());
        agent.flush_events().await;
        rollout.flush_events().await;
        let recorded = dev.events_for_session("ses_audit_only");
        let event = recorded
            .iter()
            .find(|e| e["event_type"] == "tool_call")
            .expect("the audit-only call is recorded");
        assert_eq!(event["details"]["tool"], "drop_table");
        assert_eq!(event["details"]["mode"], "audit_only");
        assert!(dev.events().iter().any(|e| e["event_type"] == "tool_call"
            && e["details"]["tool"] == "wire_transfer"
            && e["details"]["mode"] == "audit_only"
            && e["session_id"] == ""));
    })
    .await;
}

#[tokio::test]
async fn pipeline_is_typed_from_the_dev_servers_envelope() {
    bounded(async {
        let policy = Policy::from_toml(
            r#"
[[rule]]
name = "no_secrets"
match.prompt_contains = "password"
decision = "policy_block"
blocked_by = "secret_guard"
reason = "no secrets"

[[rule]]
name = "mask_emails"
match.detector = "email"
decision = "redaction_applied"
reason = "emails are masked"
"#,
        )
        .unwrap();
        let dev = DevServer::builder().policy(policy).start().await.unwrap();
        let agent = agent(&dev);
        let answer = agent.chat("mail jane@example.com the plan").await.unwrap();
        let pipeline = answer.pipeline();
        assert!(!pipeline.blocked);
        assert_eq!(pipeline.blocked_by, None);
        assert_eq!(pipeline.classification.as_deref(), Some("CONFIDENTIAL"));
        assert_eq!(pipeline.capability_token, None);
        let steps: Vec<_> = pipeline
            .steps
            .iter()
            .map(|s| (s.name.as_str(), s.action.as_str(), s.detected))
            .collect();
        assert_eq!(
            steps,
            [
                ("no_secrets", "continue", false),
                ("mask_emails", "redact", true)
            ]
        );
        assert!(pipeline.steps.iter().all(|s| s.duration.is_some()));
        // A clean prompt: public, nothing detected.
        let clean = agent.chat("plan the quarter").await.unwrap().pipeline();
        assert_eq!(clean.classification.as_deref(), Some("PUBLIC"));
        assert!(clean.steps.iter().all(|s| !s.detected));
    })
    .await;
}
