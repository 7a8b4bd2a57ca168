//! Chat: the request body and the parsed answer, redactions.

use super::*;

#[tokio::test]
async fn chat_parses_content_usage_tool_calls_and_envelope() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(
            CHAT,
            Reply::ok(json!({
                "id": "chatcmpl-9", "model": "gpt-4o",
                "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                    "role": "assistant", "content": "calling a tool",
                    "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "send_email", "arguments": "{\"to\":\"a@b.c\"}"}}]
                }}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42},
                "tappass": {"session_id": "ses_9", "task_id": "tsk_9", "agent_uuid": "agt_9",
                            "pipeline_uuid": "pip_9", "audit_url": "https://dash/sessions/ses_9",
                            "blocked": false, "blocked_by": "", "classification": "PUBLIC",
                            "steps": [], "capability_token": null}
            })),
        );
        let answer = agent(server.url()).chat("hi").await.expect("chat");
        assert_eq!(answer.content, "calling a tool");
        assert_eq!(answer.model, "gpt-4o");
        assert_eq!(answer.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(
            (
                answer.usage.prompt_tokens,
                answer.usage.completion_tokens,
                answer.usage.total_tokens
            ),
            (12, 30, 42)
        );
        assert_eq!(answer.tool_calls.len(), 1);
        let call = &answer.tool_calls[0];
        assert_eq!(
            (
                call.id.as_str(),
                call.name.as_str(),
                call.arguments.as_str()
            ),
            ("call_1", "send_email", "{\"to\":\"a@b.c\"}")
        );
        assert_eq!(answer.session_id.as_deref(), Some("ses_9"));
        assert_eq!(answer.task_id.as_deref(), Some("tsk_9"));
        assert_eq!(answer.agent_uuid.as_deref(), Some("agt_9"));
        assert_eq!(answer.pipeline_uuid.as_deref(), Some("pip_9"));
        assert_eq!(
            answer.audit_url.as_deref(),
            Some("https://dash/sessions/ses_9")
        );
        assert_eq!(answer.degraded(), None);
        assert_eq!(answer.raw["tappass"]["classification"], "PUBLIC");
    })
    .await
}

#[tokio::test]
async fn null_content_and_missing_fields_take_defaults() {
    bounded(async {
        let server = TapPass::start().await;
        server.push(
            CHAT,
            Reply::ok(json!({"choices": [{"message": {"role": "assistant", "content": null}}]})),
        );
        let answer = agent(server.url()).chat("hi").await.expect("chat");
        assert_eq!(answer.content, "");
        assert_eq!(answer.usage.total_tokens, 0);
        assert!(answer.tool_calls.is_empty());
        assert_eq!(answer.session_id, None);
        assert_eq!(answer.finish_reason, None);
    })
    .await
}

#[tokio::test]
async fn request_body_carries_model_messages_and_metadata() {
    bounded(async {
        let server = TapPass::start().await;
        server.always(CHAT, Reply::ok(chat_answer("ok")));
        let agent = agent(server.url());
        agent.chat("plain").await.unwrap();
        agent
            .chat("tuned")
            .model("gpt-4o")
            .metadata(json!({"team": "finance", "n": 1}))
            .await
            .unwrap();
        let sent = server.requests_to(CHAT);
        let plain = sent[0].json();
        assert_eq!(plain["model"], "gpt-4o-mini");
        assert_eq!(
            plain["messages"],
            json!([{"role": "user", "content": "plain"}])
        );
        assert_eq!(plain["stream"], false);
        assert!(plain.get("metadata").is_none_or(Value::is_null));
        let tuned = sent[1].json();
        assert_eq!(tuned["model"], "gpt-4o");
        assert_eq!(tuned["metadata"], json!({"team": "finance", "n": 1}));
        assert_eq!(
            tuned["messages"],
            json!([{"role": "user", "content": "tuned"}])
        );
        assert_eq!(sent[1].header("content-type"), Some("application/json"));
    })
    .await
}

#[tokio::test]
async fn redactions_are_an_error_only_when_asked() {
    bounded(async {
        // The dev server's default policy redacts e-mail addresses and
        // answers the chat.
        let dev = DevServer::start().await.expect("dev server");
        let lenient = agent(&dev.url())
            .chat("jane@example.com hi")
            .await
            .expect("chat");
        let [redaction] = lenient.redactions.as_slice() else {
            panic!("{:?}", lenient.redactions)
        };
        assert_eq!(
            (redaction.kind.as_str(), redaction.start, redaction.end),
            ("email", 0, 16)
        );
        let redacted = lenient.redacted_content.expect("the redacted prompt");
        assert!(
            redacted.ends_with(" hi") && !redacted.contains("jane@example.com"),
            "{redacted}"
        );
        let strict = Agent::builder(dev.url())
            .api_key(KEY)
            .redaction_as_error(true)
            .build()
            .unwrap();
        let err = strict.chat("jane@example.com hi").await.unwrap_err();
        let Some(GovernanceDecision::RedactionApplied(r)) = err.decision() else {
            panic!("{err:?}")
        };
        assert_eq!(r.redactions, lenient.redactions);
        assert_eq!(r.redacted_content.as_deref(), Some(redacted.as_str()));
    })
    .await
}
