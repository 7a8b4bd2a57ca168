//! What the spans never carry unless the agent is asked to record it: the
//! API key (never), the prompt, the answer, a tool's arguments.

use opentelemetry_sdk::trace::SpanData;
use serde_json::json;
use tappass::Agent;
use tappass_dev::DevServer;

use crate::capture::*;
use crate::spans::served;
use crate::support::{bounded, KEY};

const PROMPT: &str = "Summarize the Zanzibar account";
const ARGUMENT: &str = "order-4417-secret-arg";

async fn run(capture_content: bool) -> (Vec<SpanData>, String) {
    let spans = capture();
    let dev = DevServer::start().await.unwrap();
    let agent = Agent::builder(dev.url())
        .api_key(KEY)
        .max_retries(0)
        .capture_content(capture_content)
        .build()
        .unwrap();
    let app = served(agent).await;
    let (status, _, body) = app.post("/chat", json!({"prompt": PROMPT}), None).await;
    assert_eq!(status, 200, "{body}");
    let answer = body["content"].as_str().unwrap().to_owned();
    let (status, _, _) = app
        .post(
            "/tool",
            json!({"tool": "lookup_order", "args": {"id": ARGUMENT}}),
            None,
        )
        .await;
    assert_eq!(status, 200);
    (spans.spans(), answer)
}

#[tokio::test]
async fn by_default_no_span_carries_the_key_the_prompt_the_answer_or_the_arguments() {
    bounded(async {
        let (spans, answer) = run(false).await;
        assert!(spans.len() >= 4, "two requests, a chat, a tool call");
        for span in &spans {
            let text = all_text(span);
            for secret in [KEY, PROMPT, answer.as_str(), ARGUMENT, "Zanzibar"] {
                assert!(
                    !text.contains(secret),
                    "`{}` carries {secret:?}:\n{text}",
                    span.name
                );
            }
            for key in [
                "gen_ai.input.messages",
                "gen_ai.output.messages",
                "gen_ai.tool.call.arguments",
            ] {
                assert_eq!(span_attr(span, key), None, "{key} on {}", span.name);
            }
        }
    })
    .await
}

#[tokio::test]
async fn capture_content_records_the_messages_and_the_arguments_but_never_the_key() {
    bounded(async {
        let (spans, answer) = run(true).await;
        let chat = spans.iter().find(|s| s.name == "chat gpt-4o-mini").unwrap();
        let input: serde_json::Value =
            serde_json::from_str(&span_attr(chat, "gen_ai.input.messages").unwrap()).unwrap();
        assert_eq!(
            input,
            json!([{"role": "user", "parts": [{"type": "text", "content": PROMPT}]}])
        );
        let output: serde_json::Value =
            serde_json::from_str(&span_attr(chat, "gen_ai.output.messages").unwrap()).unwrap();
        assert_eq!(output[0]["role"], "assistant");
        assert_eq!(output[0]["parts"][0]["content"], answer.as_str());
        let tool = spans
            .iter()
            .find(|s| s.name == "execute_tool lookup_order")
            .unwrap();
        let args: serde_json::Value =
            serde_json::from_str(&span_attr(tool, "gen_ai.tool.call.arguments").unwrap()).unwrap();
        assert_eq!(args, json!({"id": ARGUMENT}));
        for span in &spans {
            assert!(
                !all_text(span).contains(KEY),
                "`{}` carries the key",
                span.name
            );
        }
    })
    .await
}
