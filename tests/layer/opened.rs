//! What a service behind the layer shows of its session when it streams or
//! opens one, against the dev server over real sockets: a streamed
//! response's correlation headers, an opened session's timeline.

use axum::routing::post;
use axum::Router;
use serde_json::Value;
use tappass::{Agent, TapPassLayer};
use tappass_dev::DevServer;

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tappass::governed]
async fn report(agent: Agent) -> Result<impl axum::response::IntoResponse, tappass::Error> {
    Ok(agent.stream("Write a report").await?.into_sse())
}

#[tappass::governed]
async fn chat(agent: Agent) -> Result<String, tappass::Error> {
    Ok(agent.chat("Summarize Q4 revenue").await?.content)
}

/// A streamed (SSE) response of an auto-opened session echoes every
/// correlation header a plain chat's response echoes: the session learns
/// them from the stream's first event before the handler returns.
#[tokio::test]
async fn a_streamed_response_echoes_every_correlation_header() {
    let dev = DevServer::start().await.unwrap();
    let layer = TapPassLayer::builder()
        .tappass_url(dev.url())
        .api_key("tp_newcomer")
        .auto_open_session(true)
        .build()
        .unwrap();
    let url = serve(
        Router::new()
            .route("/report", post(report))
            .route("/chat", post(chat))
            .layer(layer),
    )
    .await;
    let client = reqwest::Client::new();
    let mut seen = Vec::new();
    for path in ["/chat", "/report"] {
        let response = client.post(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        let _body = response.text().await.unwrap();
        let names: Vec<&str> = [
            "x-tappass-session-id",
            "x-tappass-session",
            "x-tappass-agent-uuid",
            "x-tappass-pipeline-uuid",
            "x-tappass-audit-url",
        ]
        .into_iter()
        .filter(|name| headers.contains_key(*name))
        .collect();
        seen.push((path, names));
    }
    assert_eq!(seen[0].1.len(), 5, "a chat echoes all five: {seen:?}");
    assert_eq!(seen[1].1, seen[0].1, "and so does a stream: {seen:?}");
}

/// The timeline of a session the layer opened starts with `session_open`,
/// then the calls made in it, then `session_close`.
#[tokio::test]
async fn an_opened_sessions_timeline_starts_with_its_opening() {
    let dev = DevServer::start().await.unwrap();
    let agent = Agent::new(dev.url(), "tp_newcomer").unwrap();
    let layer = TapPassLayer::builder()
        .agent(agent.clone())
        .auto_open_session(true)
        .build()
        .unwrap();
    let url = serve(Router::new().route("/chat", post(chat)).layer(layer)).await;
    let response = reqwest::Client::new()
        .post(format!("{url}/chat"))
        .send()
        .await
        .unwrap();
    let session = response.headers()["x-tappass-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    response.text().await.unwrap();
    agent.flush_events().await;
    let audit: Value = reqwest::Client::new()
        .get(format!("{}/v1/audit/sessions/{session}", dev.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let types: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"session_open"), "{types:?}");
    assert_eq!(types.last(), Some(&"session_close"), "{types:?}");
    assert!(types.contains(&"chat_call"), "{types:?}");
}
