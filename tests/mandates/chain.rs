//! The whole chain: an allowed tool call carries a mandate the next service
//! accepts, as the dev server's policy set its capabilities and lifetime;
//! what the extracted mandate says; the shape of a rejection (correlation,
//! problem+json, its OpenAPI schema); capability matching; the example.

use super::*;

#[tokio::test]
async fn an_allowed_tool_call_carries_a_mandate_that_the_next_service_accepts() {
    bounded(async {
        let server = default_server().await;
        let b = serve(service_b(verifier(&server).build().unwrap())).await;
        let token = mandate_for(&server, "search").await;

        let issued = server.mandates();
        assert_eq!(issued.len(), 1);
        assert_eq!(issued[0].capabilities, ["tool:call:search"]);
        assert_eq!(issued[0].tool, "search");

        let (status, body, _) = call(b.url(), Some(&token)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, Value::String(issued[0].mandate_id.clone()));

        // The extracted mandate says what was signed.
        let mandate = verifier(&server)
            .build()
            .unwrap()
            .verify(&token)
            .await
            .unwrap();
        assert_eq!(mandate.id(), Some(issued[0].mandate_id.as_str()));
        assert!(mandate.grants("tool:call:search"));
        assert_eq!(
            mandate.capabilities(),
            [Capability::new("tool:call:search")]
        );
        assert_eq!(mandate.agent(), Some(issued[0].agent_uuid.as_str()));
        assert_eq!(mandate.session_id(), Some(issued[0].session_id.as_str()));
        let exp = mandate.claims()["exp"].as_u64().unwrap();
        assert_eq!(
            mandate.expires_at().to_system_time(),
            std::time::UNIX_EPOCH + Duration::from_secs(exp)
        );
        assert_eq!(mandate.claims()["iss"], server.url());
        // Debug shows the claims, never the token.
        assert!(!format!("{mandate:?}").contains(&token));
    })
    .await;
}

#[tokio::test]
async fn an_optional_mandate_is_none_only_when_absent() {
    bounded(async {
        let server = default_server().await;
        let b = serve(service_b(verifier(&server).build().unwrap())).await;
        let client = reqwest::Client::new();
        let peek = |token: Option<String>| {
            let mut r = client.get(format!("{}/peek", b.url()));
            if let Some(t) = token {
                r = r.with_mandate(&t);
            }
            async move {
                let response = r.send().await.unwrap();
                (response.status().as_u16(), response.text().await.unwrap())
            }
        };
        assert_eq!(peek(None).await, (200, "none".to_owned()));
        let token = mandate_for(&server, "search").await;
        let id = server.mandates()[0].mandate_id.clone();
        assert_eq!(peek(Some(token)).await, (200, format!("some {id}")));
        // A present but bad mandate is refused, not taken for none.
        let (status, body) = peek(Some("not.a.token".to_owned())).await;
        assert_eq!(status, 403);
        assert!(body.contains("mandate_invalid"), "{body}");
    })
    .await;
}

#[tokio::test]
async fn rejections_carry_the_correlation_of_the_session() {
    bounded(async {
        let server = default_server().await;
        let verifier = verifier(&server).build().unwrap();
        let app = service_b(verifier).layer(
            tappass::TapPassLayer::builder()
                .tappass_url(server.url())
                .api_key("tp_b")
                .build()
                .unwrap(),
        );
        let b = serve(app).await;
        let response = reqwest::Client::new()
            .post(format!("{}/search", b.url()))
            .header("x-tappass-session-id", "ses_chain")
            .header("x-tappass-agent-uuid", "agt-1")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        assert_eq!(response.headers()["x-tappass-session-id"], "ses_chain");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "mandate_missing");
        assert_eq!(body["session_id"], "ses_chain");
    })
    .await;
}

#[tokio::test]
async fn rejections_answer_problem_json_when_the_layer_asks() {
    bounded(async {
        let server = default_server().await;
        let app = service_b(verifier(&server).build().unwrap()).layer(
            tappass::TapPassLayer::builder()
                .tappass_url(server.url())
                .api_key("tp_b")
                .problem_json(true)
                .build()
                .unwrap(),
        );
        let b = serve(app).await;
        let other = mandate_for(&server, "send_email").await;
        let response = reqwest::Client::new()
            .post(format!("{}/search", b.url()))
            .with_mandate(&other)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "mandate_insufficient");
        assert_eq!(body["status"], 403);
        assert_eq!(body["required_capability"], "tool:call:search");
        assert!(!body.to_string().contains(&other));
    })
    .await;
}

#[cfg(feature = "utoipa")]
#[cfg(feature = "utoipa")]
#[test]
fn rejections_have_an_openapi_schema() {
    use utoipa::PartialSchema;
    let schema = serde_json::to_value(tappass::mandate::MandateRejection::schema()).unwrap();
    let text = schema.to_string();
    for code in [
        "mandate_missing",
        "mandate_invalid",
        "mandate_expired",
        "mandate_insufficient",
        "mandate_revoked",
    ] {
        assert!(text.contains(code), "{code} missing from {text}");
    }
    assert!(text.contains("required_capability") && text.contains("mandate_id"));
    // The reason for logs is not part of the body.
    assert!(!text.contains("\"reason\":{\"type\""), "{text}");
}

#[test]
fn capability_matching_table() {
    let table = [
        ("tool:call:search", "tool:call:search", true),
        ("tool:call:*", "tool:call:search", true),
        ("tool:*:search", "tool:call:search", true),
        ("*:*:*", "tool:call:search", true),
        ("tool:call:search", "tool:call:admin", false),
        ("tool:call:*", "tool:call:search:deep", false),
        ("tool:call:*", "tool:call", false),
        ("tool:*", "tool:call:search", false),
        ("*", "tool:call:search", false),
        ("tool:call:search:*", "tool:call:search", false),
        ("tool:call:sea*", "tool:call:search", false),
        ("TOOL:call:search", "tool:call:search", false),
        ("tool:call:", "tool:call:search", false),
        ("*", "*", true),
        // Empty segments never match, granted or required.
        ("tool:call:*", "tool:call:", false),
        ("tool:call:", "tool:call:", false),
        ("*:*:*", "::", false),
        ("", "", false),
        ("tool::search", "tool::search", false),
    ];
    for (granted, required, expected) in table {
        assert_eq!(
            Capability::new(granted).grants(required),
            expected,
            "{granted} grants {required}"
        );
    }
}

#[tokio::test]
async fn a_policy_rule_sets_the_capabilities_and_lifetime_of_its_mandates() {
    bounded(async {
        let policy = Policy::from_toml(
            r#"
            [[rule]]
            name = "any_tool"
            match.tool_regex = "^search"
            decision = "allow"
            capabilities = ["tool:call:*", "data:read:public"]
            mandate_ttl_seconds = 60
            "#,
        )
        .unwrap();
        let server = dev_server(policy).await;
        let token = mandate_for(&server, "search_web").await;
        let v = verifier(&server).build().unwrap();
        let mandate = v.verify(&token).await.unwrap();
        assert!(mandate.grants("tool:call:search"));
        assert!(mandate.grants("data:read:public"));
        assert!(!mandate.grants("data:write:public"));
        let exp = mandate.claims()["exp"].as_u64().unwrap();
        let iat = mandate.claims()["iat"].as_u64().unwrap();
        assert_eq!(exp - iat, 60);
        let b = serve(service_b(v)).await;
        assert_eq!(call(b.url(), Some(&token)).await.0, 200);

        let err = Policy::from_toml(
            r#"
            [[rule]]
            name = "bad"
            match.prompt_contains = "x"
            decision = "allow"
            capabilities = ["tool::x"]
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("applies to tool calls"), "{err}");
        assert!(err.contains("`tool::x`"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn a_verdicts_debug_never_shows_its_mandate() {
    let server = default_server().await;
    let verdict = agent(&server)
        .govern_tool("search", json!({"q": "rust"}))
        .await
        .expect("the dev server allows it");
    let token = verdict.mandate().expect("an allow carries a mandate");
    assert!(token.len() > 100, "{token}");
    let debug = format!("{verdict:?}");
    assert!(!debug.contains(token), "{debug}");
    // Nor any of its three parts (header, claims, signature).
    for part in token.split('.') {
        assert!(!debug.contains(part), "{debug}");
    }
    assert!(
        debug.contains("\"mandate\": String(\"<redacted>\")"),
        "{debug}"
    );
    assert!(
        debug.contains(&verdict.behavior_id),
        "the rest is shown: {debug}"
    );
}

#[path = "../../examples/mandates.rs"]
#[allow(dead_code)] // its `main` is for `cargo run`
mod example;

#[tokio::test]
async fn the_example_refuses_a_missing_a_forged_and_a_revoked_mandate() {
    bounded(async {
        // The embedded dev server whatever the shell's TAPPASS_URL says.
        let demo = example::start_with(false).await.unwrap();
        let (through_a, cases) = demo.run().await.unwrap();
        assert_eq!(through_a["b_status"], 200, "{through_a}");
        assert_eq!(through_a["b_answered"]["service"], "B");
        let got: Vec<(&str, u16, Option<&str>)> = cases
            .iter()
            .map(|c| (c.name, c.status, c.error.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("missing", 403, Some("mandate_missing")),
                ("forged", 403, Some("mandate_invalid")),
                ("revoked", 403, Some("mandate_revoked")),
            ]
        );
    })
    .await;
}
