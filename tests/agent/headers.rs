//! Headers on every request: the session correlation and the bearer key.

use super::*;

#[tokio::test]
async fn session_correlation_headers_go_upstream_on_chat_and_stream() {
    bounded(async {
        let server = TapPass::start().await;
        server
            .push(CHAT, Reply::ok(chat_answer("ok")))
            .push(
                CHAT,
                Reply::sse([
                    event(json!({"content": "s"})),
                    "data: [DONE]\n\n".to_owned(),
                ]),
            )
            .push(CHAT, Reply::ok(chat_answer("outside")));
        let agent = agent(server.url());
        let session = Session::builder("ses_x")
            .agent_uuid("agt")
            .pipeline_uuid("pip")
            .audit_url("https://dash/sessions/ses_x")
            .build()
            .unwrap();
        tappass::session::scope(session, async {
            agent.chat("hi").await.unwrap();
            let stream = agent.stream("hi").await.unwrap();
            let contents: Vec<String> = collect(stream)
                .await
                .into_iter()
                .map(|item| item.expect("a chunk").content)
                .collect();
            assert_eq!(contents, ["s"]);
        })
        .await;
        agent.chat("no session").await.unwrap();

        let sent = server.requests_to(CHAT);
        assert_eq!(sent.len(), 3);
        for inside in &sent[..2] {
            assert_eq!(inside.header("x-tappass-session-id"), Some("ses_x"));
            assert_eq!(inside.header("x-tappass-agent-uuid"), Some("agt"));
            assert_eq!(inside.header("x-tappass-pipeline-uuid"), Some("pip"));
            assert_eq!(
                inside.header("x-tappass-audit-url"),
                Some("https://dash/sessions/ses_x")
            );
        }
        assert_eq!(sent[2].header("x-tappass-session-id"), None);
    })
    .await
}

#[tokio::test]
async fn every_request_carries_the_bearer_key() {
    bounded(async {
        let server = TapPass::start().await;
        server.always(CHAT, Reply::ok(chat_answer("ok")));
        // Surrounding whitespace of a pasted key is not sent.
        let agent = Agent::builder(format!("{}/", server.url()))
            .api_key(format!("  {KEY}\n"))
            .build()
            .unwrap();
        agent.chat("hi").await.unwrap();
        let requests = server.requests();
        assert_eq!(requests.len(), 2, "{requests:?}");
        for request in &requests {
            let expected = format!("Bearer {KEY}");
            assert_eq!(
                request.header("authorization"),
                Some(expected.as_str()),
                "{}",
                request.path
            );
        }
        assert_eq!(requests[0].path, "/health", "trailing slash dropped");
    })
    .await
}
