//! A chain of services across languages: a Rust service continues its chain
//! into a Python-style one and a Python-style caller joins a Rust service;
//! a session learns the agent, pipeline and audit URL from the server's
//! first answer (a decision included), once, never overwriting the caller's.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Json;
use futures_util::future::join_all;
use tappass::propagate::PropagateSession;
use tappass::GovernanceDecision;

use super::*;

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

/// A Rust service behind the layer (joining, never opening) whose route
/// chats once and answers the session it then sees.
async fn chatting_service(agent: Agent, path: &str, prompt: &'static str) -> SocketAddr {
    let route = get(move |agent: Agent| async move {
        agent.chat(prompt).await.unwrap();
        Json(seen(tappass::current_session().as_ref()))
    });
    serve(Router::new().route(path, route).layer(layer(agent, false))).await
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
