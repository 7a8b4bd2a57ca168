//! `ChatStream::into_sse()`: a stream relayed as Server-Sent Events in one
//! call, in the caller's session, with a mid-stream decision as its last
//! event; through the sample service's `/report`.

use super::*;
use support::services::serve_layered;

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
    let app = serve_layered(&dev.url(), "tp_adoption_key", false).await;
    let response = reqwest::Client::new()
        .post(format!("{}/report", app.url()))
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
        let app = serve_layered(server.url(), "tp_adoption_key", false).await;
        let (status, media, text) = app
            .post_raw(
                "/report",
                "ses_adopt",
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
