//! The API key never shows: in `Debug`, in errors, in any source.

use super::*;

#[tokio::test]
async fn debug_output_never_shows_the_key() {
    bounded(async {
        let builder = Agent::builder(support::sockets::refused_url()).api_key(KEY);
        assert_no_key("AgentBuilder Debug", &format!("{builder:?}"));
        let agent = builder.build().unwrap();
        assert_no_key("Agent Debug", &format!("{agent:?}"));
        assert_no_key("Agent Debug (pretty)", &format!("{agent:#?}"));
        assert_no_key("ChatCall Debug", &format!("{:?}", agent.chat("x")));
        assert_no_key("StreamCall Debug", &format!("{:?}", agent.stream("x")));
        let key = tappass::agent::ApiKey::new(KEY);
        assert_no_key("ApiKey", &format!("{key} {key:?}"));
        assert_eq!(key.expose(), KEY);
        let layer = tappass::TapPassLayer::builder()
            .tappass_url(support::sockets::refused_url())
            .api_key(KEY);
        assert_no_key("TapPassLayerBuilder Debug", &format!("{layer:?}"));
        assert_no_key(
            "TapPassLayer Debug",
            &format!("{:?}", layer.build().unwrap()),
        );
    })
    .await
}

#[tokio::test]
async fn no_error_shows_the_key() {
    bounded(async {
        let mut errors = Vec::new();
        let quick = |url: &str| {
            Agent::builder(url)
                .api_key(KEY)
                .max_retries(0)
                .timeout(200 * MS)
                .build()
                .unwrap()
        };
        // Nothing listening.
        let refusing = Refusing::start();
        errors.push(quick(refusing.url()).chat("hi").await.unwrap_err());

        let server = TapPass::start().await;
        let echo = format!("you sent Authorization: Bearer {KEY}");
        server
            .push(CHAT, Reply::hang())
            .push(CHAT, Reply::json(401, json!({"message": echo})))
            .push(CHAT, Reply::json(403, json!({"message": echo})))
            // Servers echoing the key in an error message must not leak it.
            .push(CHAT, Reply::json(400, json!({"message": echo})))
            .push(CHAT, Reply::json(500, json!({"error": echo})))
            .push(CHAT, Reply::json(503, json!({"message": echo})))
            .push(CHAT, Reply::raw(200, "not json"))
            .push(
                CHAT,
                Reply::json(
                    403,
                    json!({"decision": "policy_block", "blocked_by": "x", "reason": echo}),
                ),
            )
            .push(CHAT, Reply::sse([event(json!({"content": "x"}))]).cut());
        let agent = quick(server.url());
        for _ in 0..8 {
            errors.push(agent.chat("hi").await.unwrap_err());
        }
        let stream = agent.stream("hi").await.unwrap();
        errors.extend(collect(stream).await.into_iter().filter_map(Result::err));

        let old = TapPass::with_version(Some("0.1.0")).await;
        errors.push(quick(old.url()).chat("hi").await.unwrap_err());

        assert_eq!(errors.len(), 11, "{errors:?}");
        for err in &errors {
            assert_error_keeps_the_key(err);
        }
    })
    .await
}
