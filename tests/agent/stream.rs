//! Streaming: SSE parsing, ends, cuts, stalls and decisions inside a stream.

use super::*;

#[tokio::test]
async fn stream_yields_openai_deltas_in_order_until_done() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(
            CHAT,
            Reply::sse([
                event(json!({"choices": [{"delta": {"content": "Hel"}}],
                             "tappass": {"session_id": "ses_s", "audit_url": "https://dash/ses_s"}})),
                // One event split over two network chunks.
                "data: {\"choices\": [{\"delta\": {\"con".to_owned(),
                "tent\": \"lo\"}}]}\n\n".to_owned(),
                ": a comment line\n\n".to_owned(),
                event(json!({"choices": [{"delta": {}, "finish_reason": "stop"}]})),
                "data: [DONE]\n\n".to_owned(),
            ]),
        );
        let agent = agent(server.url());
        let stream = agent.stream("hi").await.expect("stream");
        let chunks: Vec<ChatChunk> = collect(stream)
            .await
            .into_iter()
            .map(|c| c.expect("chunk"))
            .collect();
        let text: Vec<&str> = chunks.iter().map(|c| c.content.as_str()).collect();
        assert_eq!(text, ["Hel", "lo", ""]);
        assert_eq!(chunks[0].session_id.as_deref(), Some("ses_s"));
        assert_eq!(chunks[0].audit_url.as_deref(), Some("https://dash/ses_s"));
        assert_eq!(chunks[2].finish_reason.as_deref(), Some("stop"));
        let sent = server.requests_to(CHAT)[0].json();
        assert_eq!(sent["stream"], true);
    })
    .await
}

#[tokio::test]
async fn stream_reads_native_delta_and_content_and_ends_on_finished() {
    bounded(async {
        let server = TapPass::start().await;
        // No `[DONE]`: `finished: true` marks the end, then the body ends.
        server.push(
            CHAT,
            Reply::sse([
                event(json!({"delta": "a"})),
                event(json!({"content": "b"})),
                event(json!({"delta": {"content": "c"}})),
                event(json!({"finished": true})),
            ]),
        );
        let stream = agent(server.url()).stream("hi").await.expect("stream");
        let items = collect(stream).await;
        let chunks: Vec<ChatChunk> = items.into_iter().map(|c| c.expect("chunk")).collect();
        let text: String = chunks.iter().map(|c| c.content.as_str()).collect();
        assert_eq!(text, "abc");
        assert_eq!(chunks.len(), 4);
        assert!(chunks[3].finish_reason.is_some());
    })
    .await
}

#[tokio::test]
async fn done_ends_the_stream() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(
            CHAT,
            Reply::sse([
                event(json!({"content": "only"})),
                "data: [DONE]\n\n".to_owned(),
                event(json!({"content": "after the end"})),
            ]),
        );
        let stream = agent(server.url()).stream("hi").await.expect("stream");
        let items = collect(stream).await;
        assert_eq!(items.len(), 1, "{items:?}");
        assert_eq!(items[0].as_ref().unwrap().content, "only");
    })
    .await
}

#[tokio::test]
async fn done_without_a_final_newline_ends_the_stream_cleanly() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(
            CHAT,
            Reply::sse([event(json!({"content": "x"})), "data: [DONE]".to_owned()]),
        );
        let stream = agent(server.url()).stream("hi").await.expect("stream");
        let items = collect(stream).await;
        assert_eq!(items.len(), 1, "{items:?}");
        assert!(items[0].is_ok(), "{items:?}");
    })
    .await
}

#[tokio::test]
async fn a_stream_cut_mid_way_yields_unavailable() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(
            CHAT,
            Reply::sse([
                event(json!({"content": "one"})),
                event(json!({"content": "two"})),
            ])
            .cut(),
        );
        let stream = agent(server.url()).stream("hi").await.expect("stream");
        let items = collect(stream).await;
        assert_eq!(items.len(), 3, "{items:?}");
        assert_eq!(items[0].as_ref().unwrap().content, "one");
        assert_eq!(items[1].as_ref().unwrap().content, "two");
        assert!(
            matches!(items[2], Err(Error::Unavailable { .. })),
            "{items:?}"
        );
    })
    .await
}

#[tokio::test]
async fn a_stream_closed_before_its_end_yields_unavailable() {
    bounded(async {
        let server = TapPass::start().await;
        // A clean close of the body, but no finish_reason and no [DONE].
        server.push(CHAT, Reply::sse([event(json!({"content": "one"}))]));
        let stream = agent(server.url()).stream("hi").await.expect("stream");
        let items = collect(stream).await;
        assert_eq!(items.len(), 2, "{items:?}");
        assert!(
            matches!(items[1], Err(Error::Unavailable { .. })),
            "{items:?}"
        );
    })
    .await
}

#[tokio::test]
async fn a_decision_before_the_stream_is_the_error_of_starting_it() {
    bounded(async {
        let (retries, _guard) = support::recorders::record_retries();
        let dev = DevServer::start().await.expect("dev server");
        let err = agent(&dev.url())
            .stream("My SSN is 123-45-6789")
            .await
            .unwrap_err();
        let Some(GovernanceDecision::PolicyBlock(p)) = err.decision() else {
            panic!("{err:?}")
        };
        assert_eq!(p.blocked_by, "detect_pii");
        assert_eq!(retries.all(), [], "a decision is never retried");
    })
    .await
}

#[tokio::test]
async fn a_json_answer_to_a_stream_request_is_one_chunk() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(CHAT, Reply::ok(chat_answer("whole")));
        let stream = agent(server.url()).stream("hi").await.expect("stream");
        let items = collect(stream).await;
        assert_eq!(items.len(), 1);
        let chunk = items[0].as_ref().unwrap();
        assert_eq!(chunk.content, "whole");
        assert_eq!(chunk.finish_reason.as_deref(), Some("stop"));
    })
    .await
}

#[tokio::test]
async fn a_stalled_stream_yields_unavailable_after_the_timeout() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(CHAT, Reply::sse([event(json!({"content": "one"}))]).stall());
        let agent = Agent::builder(server.url())
            .api_key(KEY)
            .timeout(300 * MS)
            .build()
            .unwrap();
        let started = Instant::now();
        let stream = agent.stream("hi").await.expect("stream");
        let items = collect(stream).await;
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(items[0].as_ref().unwrap().content, "one");
        assert!(
            matches!(items[1], Err(Error::Unavailable { .. })),
            "{items:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    })
    .await
}

#[tokio::test]
async fn a_stream_that_never_starts_times_out() {
    bounded(async {
        let server = TapPass::start().await;
        server.always(CHAT, Reply::hang());
        let agent = Agent::builder(server.url())
            .api_key(KEY)
            .timeout(300 * MS)
            .max_retries(0)
            .build()
            .unwrap();
        let started = Instant::now();
        let err = agent.stream("hi").await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
    })
    .await
}

#[tokio::test]
async fn stream_accepts_crlf_line_endings() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(
            CHAT,
            Reply::sse([
                "data: {\"content\": \"a\"}\r\n\r\n",
                "event: message\r\nid: 2\r\ndata: {\"content\": \"b\"}\r\n\r\n",
                "data: [DONE]\r\n\r\n",
            ]),
        );
        let stream = agent(server.url()).stream("hi").await.expect("stream");
        let text: Vec<String> = collect(stream)
            .await
            .into_iter()
            .map(|c| c.expect("chunk").content)
            .collect();
        assert_eq!(text, ["a", "b"]);
    })
    .await
}

#[tokio::test]
async fn a_decision_inside_a_stream_is_an_error_item() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(
            CHAT,
            Reply::sse([
                event(json!({"content": "fine so far"})),
                event(json!({"decision": "policy_block", "blocked_by": "output_filter"})),
                event(json!({"content": "must not be seen"})),
            ]),
        );
        let stream = agent(server.url()).stream("hi").await.expect("stream");
        let items = collect(stream).await;
        assert_eq!(items.len(), 2, "{items:?}");
        assert!(
            matches!(
                items[1].as_ref().unwrap_err().decision(),
                Some(GovernanceDecision::PolicyBlock(_))
            ),
            "{items:?}"
        );
    })
    .await
}

/// An approval decided in the middle of a stream points at the agent's
/// public approval base, as one that answers a call does, and the session
/// learns the correlation it names, as from any answer.
#[tokio::test]
async fn an_approval_inside_a_stream_points_at_the_public_approval_base() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(
            CHAT,
            Reply::sse([
                event(json!({"content": "fine so far"})),
                event(json!({
                    "decision": "approval_required",
                    "request_id": "apr 7/x",
                    "approval_url": "http://127.0.0.1:1/internal/apr_7",
                    "session_id": "ses_stream",
                    "agent_uuid": "agt-stream",
                    "pipeline_uuid": "pip-stream",
                    "audit_url": "https://tappass.example/sessions/ses_stream",
                })),
            ]),
        );
        let agent = Agent::builder(server.url())
            .api_key(KEY)
            .approval_base_url("https://approvals.example.com/tappass/")
            .build()
            .expect("agent");
        let session = Session::builder("ses_stream").build().expect("a valid id");
        let items = tappass::session::scope(session.clone(), async {
            collect(agent.stream("hi").await.expect("stream")).await
        })
        .await;
        assert_eq!(session.agent_uuid(), Some("agt-stream"));
        assert_eq!(session.pipeline_uuid(), Some("pip-stream"));
        assert_eq!(
            session.audit_url(),
            Some("https://tappass.example/sessions/ses_stream")
        );
        assert_eq!(items.len(), 2, "{items:?}");
        let err = items[1].as_ref().expect_err("the decision");
        let Some(GovernanceDecision::ApprovalRequired(approval)) = err.decision() else {
            panic!("expected an approval, got {err:?}");
        };
        assert_eq!(
            approval.approval_url.as_deref(),
            Some("https://approvals.example.com/tappass/apr%207%2Fx")
        );
    })
    .await
}

/// A server that echoes the key into a decision it sends in the middle of a
/// stream: the decision's reason, its Display and Debug keep the key out, as
/// for a decision that answers the request itself.
#[tokio::test]
async fn a_decision_inside_a_stream_does_not_show_the_key() {
    bounded(async {
        let server = TapPass::start().await;
        let echo = format!("you sent Authorization: Bearer {KEY}");
        server.push(
            CHAT,
            Reply::sse([
                event(json!({"content": "fine so far"})),
                event(
                    json!({"decision": "policy_block", "blocked_by": "output_filter",
                             "reason": echo}),
                ),
            ]),
        );
        let stream = agent(server.url()).stream("hi").await.expect("stream");
        let items = collect(stream).await;
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(items[0].as_ref().expect("a chunk").content, "fine so far");
        let err = items[1].as_ref().expect_err("the decision");
        let Some(GovernanceDecision::PolicyBlock(block)) = err.decision() else {
            panic!("expected a policy block, got {err:?}");
        };
        assert_eq!(block.reason, "you sent Authorization: Bearer <redacted>");
        assert_error_keeps_the_key(err);
    })
    .await
}

#[tokio::test]
async fn an_oversized_stream_event_is_a_protocol_error() {
    bounded(async {
        let server = TapPass::start().await;
        let huge = format!("data: {{\"content\": \"{}", "x".repeat(2 * 1024 * 1024));
        server.push(CHAT, Reply::sse([huge]));
        let stream = agent(server.url()).stream("hi").await.expect("stream");
        let items = collect(stream).await;
        assert_eq!(items.len(), 1, "one error, then the end");
        assert!(matches!(items[0], Err(Error::Protocol(_))), "{items:?}");
    })
    .await
}

/// A stream request answered with plain JSON that then stalls fails within
/// the timeout instead of waiting for ever.
#[tokio::test]
async fn a_json_answer_to_a_stream_that_stalls_times_out() {
    bounded(async {
        let tappass = TapPass::start().await;
        tappass.push(
            CHAT,
            Reply::stalled("application/json", [r#"{"choices": [{"mess"#.to_owned()]),
        );
        let agent = Agent::builder(tappass.url())
            .api_key(KEY)
            .max_retries(0)
            .timeout(300 * MS)
            .build()
            .expect("agent");
        let started = Instant::now();
        let err = agent.stream("hi").await.expect_err("a stalled answer");
        assert!(err.is_unavailable(), "{err:?}");
        assert!(err.to_string().contains("stalled"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    })
    .await
}
