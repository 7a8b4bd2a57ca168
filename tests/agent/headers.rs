//! Headers on every request: the session correlation, the bearer key, and
//! one `Idempotency-Key` per call on every `POST`.

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

fn keys(tappass: &TapPass, path: &str) -> Vec<String> {
    tappass
        .requests_to(path)
        .iter()
        .map(|r| {
            r.header("idempotency-key")
                .expect("an Idempotency-Key")
                .to_owned()
        })
        .collect()
}

fn assert_key_format(key: &str) {
    assert_eq!(key.len(), 32, "{key}");
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
}

/// Every POST carries an `Idempotency-Key`; a retry carries the same one, a
/// new call a new one: chat, govern and audit batches.
#[tokio::test]
async fn every_post_carries_one_idempotency_key_per_call_kept_across_retries() {
    bounded(async {
        let tappass = TapPass::start().await;
        let agent = agent(tappass.url());
        tappass
            .push(CHAT, Reply::status(503))
            .push(CHAT, Reply::ok(chat_answer("first")))
            .push(CHAT, Reply::ok(chat_answer("second")));
        tappass.push("/v1/govern", Reply::status(503)).always(
            "/v1/govern",
            Reply::ok(json!({"outcome": "allow", "reason": "ok"})),
        );
        tappass
            .push("/v1/events", Reply::status(503))
            .always("/v1/events", Reply::ok(json!({"accepted": 1})));

        assert_eq!(agent.chat("one").await.expect("chat").content, "first");
        assert_eq!(agent.chat("two").await.expect("chat").content, "second");
        agent.govern_tool("t", json!({})).await.expect("allowed");
        agent.govern_tool("t", json!({})).await.expect("allowed");
        let session = tappass::Session::open();
        agent.report(tappass::agent::AuditEvent::new("one", &session, json!({})));
        agent.flush_events().await;
        agent.report(tappass::agent::AuditEvent::new("two", &session, json!({})));
        agent.flush_events().await;
        assert_eq!(agent.dropped_events(), 0);

        for path in [CHAT, "/v1/govern", "/v1/events"] {
            let keys = keys(&tappass, path);
            assert_eq!(
                keys.len(),
                3,
                "{path}: a failed attempt, its retry, another call"
            );
            keys.iter().for_each(|k| assert_key_format(k));
            assert_eq!(keys[0], keys[1], "{path}: a retry keeps its key");
            assert_ne!(keys[1], keys[2], "{path}: a new call gets a new key");
        }
        let health = tappass.requests_to("/health");
        assert!(!health.is_empty(), "the version was checked");
        assert!(health.iter().all(|r| r.header("idempotency-key").is_none()));
    })
    .await
}
