//! The layer in a service, end to end: the sample service behind
//! `TapPassLayer`, served over a real socket, calling the dev server through
//! the `Agent`: the caller's session reaches the server and comes back,
//! a streamed body stays in it, and sessions the layer opened report their
//! open and close.

use serde_json::{json, Value};
use tappass_dev::DevServer;

use crate::support::services::{sample_agent as agent, sample_on_dev as setup, serve_sample};

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
async fn streaming_through_the_route_keeps_the_session() {
    let (dev, app) = setup().await;
    let response = app
        .client()
        .post(format!("{}/stream", app.url()))
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
async fn sessions_the_layer_opened_report_open_and_close_events() {
    let dev = DevServer::start().await.unwrap();
    let agent = agent(&dev);
    let app = serve_sample(agent.clone(), true).await;
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
