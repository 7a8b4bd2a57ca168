//! Propagation downstream over real sockets: service A (behind the layer)
//! calls service B (behind its own layer) with reqwest and
//! `.propagate_session()`; B sees A's session, makes its governed call in it,
//! and every response carries the session's correlation headers.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tappass::propagate::PropagateSession;
use tappass::{Agent, Session, TapPassLayer};
use tappass_dev::DevServer;

use super::{seen, serve};

/// B: the session it joined, and a governed call made in it.
async fn b_whoami(agent: Agent, session: Option<Session>) -> Result<Json<Value>, tappass::Error> {
    if session.is_some() {
        agent.chat("B's own governed call").await?;
    }
    Ok(Json(json!({ "session": seen(session.as_ref()) })))
}

#[derive(Clone)]
struct ToB {
    url: String,
    client: reqwest::Client,
    propagate: bool,
}

/// A: calls B (propagating its session, or not), returns both views and the
/// correlation headers B answered with.
async fn a_plan(State(b): State<ToB>) -> Json<Value> {
    let mut request = b.client.get(format!("{}/whoami", b.url));
    if b.propagate {
        request = request.propagate_session();
    }
    let response = request.send().await.expect("B answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let b_headers = json!({
        "session_id": header("x-tappass-session-id"),
        "agent_uuid": header("x-tappass-agent-uuid"),
    });
    let from_b: Value = response.json().await.unwrap();
    Json(json!({
        "a": seen(tappass::current_session().as_ref()),
        "b": from_b["session"],
        "b_headers": b_headers,
    }))
}

fn layer(dev: &DevServer, auto_open_session: bool) -> TapPassLayer {
    let agent = Agent::builder(dev.url())
        .api_key("tp_propagation_tests")
        .max_retries(0)
        .build()
        .unwrap();
    TapPassLayer::builder()
        .agent(agent)
        .auto_open_session(auto_open_session)
        .build()
        .unwrap()
}

struct Setup {
    dev: DevServer,
    a: SocketAddr,
    client: reqwest::Client,
    layer_a: TapPassLayer,
}

async fn setup(propagate: bool) -> Setup {
    let dev = DevServer::start().await.unwrap();
    let b = serve(
        Router::new()
            .route("/whoami", get(b_whoami))
            .layer(layer(&dev, false)),
    )
    .await;
    let client = reqwest::Client::new();
    let layer_a = layer(&dev, true);
    let a = serve(
        Router::new()
            .route("/plan", get(a_plan))
            .with_state(ToB {
                url: format!("http://{b}"),
                client: client.clone(),
                propagate,
            })
            .layer(layer_a.clone()),
    )
    .await;
    Setup {
        dev,
        a,
        client,
        layer_a,
    }
}

impl Setup {
    async fn plan(&self, headers: &[(&str, &str)]) -> (reqwest::header::HeaderMap, Value) {
        let mut request = self.client.get(format!("http://{}/plan", self.a));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = tokio::time::timeout(Duration::from_secs(20), request.send())
            .await
            .expect("no hang")
            .unwrap();
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        (headers, response.json().await.unwrap())
    }
}

#[tokio::test]
async fn b_joins_the_callers_session_and_agent_through_a() {
    let setup = setup(true).await;
    let (headers, body) = setup
        .plan(&[
            ("X-TapPass-Session-Id", "ses_chain"),
            ("X-TapPass-Agent-Uuid", "agt-chain"),
            ("X-TapPass-Pipeline-Uuid", "pip-chain"),
            (
                "X-TapPass-Audit-Url",
                "https://tappass.example.com/sessions/ses_chain",
            ),
        ])
        .await;
    let expected = json!({
        "session_id": "ses_chain",
        "agent_uuid": "agt-chain",
        "pipeline_uuid": "pip-chain",
        "audit_url": "https://tappass.example.com/sessions/ses_chain",
    });
    assert_eq!(body["a"], expected);
    assert_eq!(body["b"], expected, "B saw another session: {body}");
    // B's response and A's response carry the chain's correlation headers.
    assert_eq!(body["b_headers"]["session_id"], "ses_chain");
    assert_eq!(body["b_headers"]["agent_uuid"], "agt-chain");
    assert_eq!(headers["x-tappass-session-id"], "ses_chain");
    assert_eq!(headers["x-tappass-agent-uuid"], "agt-chain");
    // B's governed call reached the control plane in the caller's session.
    let events = setup.dev.events_for_session("ses_chain");
    let chat = events
        .iter()
        .find(|e| e["event_type"] == "chat_call")
        .unwrap_or_else(|| panic!("no chat_call in {events:?}"));
    assert_eq!(chat["agent_id"], "agt-chain");
}

#[tokio::test]
async fn b_joins_the_session_that_a_opened() {
    let setup = setup(true).await;
    let (headers, body) = setup.plan(&[]).await;
    let id = body["a"]["session_id"]
        .as_str()
        .expect("A opened a session");
    assert!(id.starts_with("ses_"), "{id}");
    assert_eq!(body["b"]["session_id"], id);
    assert_eq!(body["b_headers"]["session_id"], id);
    assert_eq!(headers["x-tappass-session-id"], id);

    // A reported the session it opened; B's call landed in it, and B (which
    // only joined) reported nothing of its own.
    setup.layer_a.flush().await;
    let kinds: Vec<String> = setup
        .dev
        .events_for_session(id)
        .iter()
        .map(|e| e["event_type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "session_open").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "session_close").count(),
        1,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"chat_call".to_owned()), "{kinds:?}");

    // Each request gets its own session.
    let (_, again) = setup.plan(&[]).await;
    assert_ne!(again["a"]["session_id"], id);
    assert_eq!(again["b"]["session_id"], again["a"]["session_id"]);
}

#[tokio::test]
async fn without_propagation_b_sees_no_session() {
    let setup = setup(false).await;
    let (_, body) = setup
        .plan(&[
            ("X-TapPass-Session-Id", "ses_chain"),
            ("X-TapPass-Agent-Uuid", "agt-chain"),
        ])
        .await;
    assert_eq!(body["a"]["session_id"], "ses_chain");
    assert_eq!(body["b"], Value::Null);
    assert_eq!(body["b_headers"]["session_id"], Value::Null);
}
