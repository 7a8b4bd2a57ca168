//! The mapping end to end, one test per row: the sample service behind
//! `TapPassLayer`, served over a real socket, calling the dev server through
//! the `Agent`; each decision of the dev server's default policy reaches the
//! service's client as its status, fields and headers, and failures fail
//! closed.

use std::time::Duration;

use serde_json::json;
use tappass::Agent;
use tappass_dev::DevServer;

use crate::support::services::{sample_agent as agent, sample_on_dev as setup, serve_sample};
use crate::support::stand_in::{Reply, TapPass};
use crate::support::CHAT;

#[tokio::test]
async fn policy_block_is_403_for_an_ssn_and_for_a_card_number() {
    let (_dev, app) = setup().await;
    for prompt in ["My SSN is 123-45-6789", "charge 4111 1111 1111 1111 please"] {
        let (status, headers, body) = app.chat(prompt).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"], "policy_block");
        assert_eq!(body["blocked_by"], "detect_pii");
        assert!(!body["reason"].as_str().unwrap().is_empty());
        assert_eq!(body["session_id"], "ses_e2e");
        assert_eq!(headers["x-tappass-session-id"], "ses_e2e");
    }
    // A card-like number that fails the Luhn check is allowed.
    let (status, _, _) = app.chat("order 4111 1111 1111 1112").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn trust_tier_denied_is_403_with_both_tiers() {
    let (_dev, app) = setup().await;
    let (status, _, body) = app.chat("drop the production database").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "trust_tier_denied");
    assert_eq!(body["required_tier"], "privileged");
    assert_eq!(body["actual_tier"], "standard");
}

#[tokio::test]
async fn break_glass_is_503_with_retry_after_and_is_not_retried() {
    let dev = DevServer::start().await.unwrap();
    let agent = Agent::builder(dev.url())
        .api_key("tp_e2e_key")
        .max_retries(3)
        .retry_base_delay(Duration::from_secs(2))
        .build()
        .unwrap();
    let app = serve_sample(agent, false).await;
    let started = std::time::Instant::now();
    let (status, headers, body) = app.chat("we are in incident mode").await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a decision must not be retried"
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "break_glass_active");
    assert_eq!(body["level"], "full_bypass");
    let expires: tappass::Timestamp = body["expires_at"].as_str().unwrap().parse().unwrap();
    // The HTTP date of `expires_at`, rounded up to the whole second.
    let retry_after =
        httpdate::parse_http_date(headers["retry-after"].to_str().unwrap()).expect("an HTTP date");
    let late_by = retry_after
        .duration_since(expires.to_system_time())
        .expect("not before expires_at");
    assert!(
        late_by < Duration::from_secs(1),
        "{retry_after:?} for {expires}"
    );
}

#[tokio::test]
async fn tool_integrity_violation_is_422() {
    let (_dev, app) = setup().await;
    let (status, _, body) = app.chat("run the legacy_export tool").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "tool_integrity_violation");
    assert_eq!(body["tool_name"], "legacy_export");
    assert_eq!(body["violation"], "hash_mismatch");

    let (status, _, body) = app
        .post("/tool", json!({"tool": "legacy_export", "args": {}}), None)
        .await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn authorization_required_is_401_with_www_authenticate() {
    let (_dev, app) = setup().await;
    let (status, headers, body) = app.chat("connect my github").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "authorization_required");
    assert_eq!(body["provider"], "github");
    assert!(body["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "repo"));
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("authorize_url="));
}

#[tokio::test]
async fn redaction_is_answered_unless_the_agent_surfaces_it_as_403() {
    let dev = DevServer::start().await.unwrap();
    let app = serve_sample(agent(&dev), false).await;
    let (status, _, body) = app.chat("mail jane@example.com the report").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !body["content"]
            .as_str()
            .unwrap()
            .contains("jane@example.com"),
        "{body}"
    );
    assert_eq!(body["redactions"], 1);

    let strict = Agent::builder(dev.url())
        .api_key("tp_e2e_key")
        .redaction_as_error(true)
        .build()
        .unwrap();
    let app = serve_sample(strict, false).await;
    let (status, _, body) = app.chat("mail jane@example.com the report").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "redaction_applied");
    assert_eq!(body["redactions"][0]["kind"], "email");
    assert!(!body["redacted_content"].as_str().unwrap().contains("jane@"));
}

#[tokio::test]
async fn another_decision_kind_is_403_with_its_name() {
    // The dev server's policy has a fixed set of decisions, so a kind this
    // toolkit does not know comes from the scripted stand-in: the one thing
    // here the dev server never produces.
    let tappass = TapPass::start().await;
    tappass.always(
        CHAT,
        Reply::json(
            403,
            json!({"decision": "quota_exceeded", "reason": "monthly quota used up"}),
        ),
    );
    let agent = Agent::builder(tappass.url())
        .api_key("tp_e2e_key")
        .max_retries(0)
        .build()
        .unwrap();
    let app = serve_sample(agent, false).await;
    let (status, _, body) = app.chat("something expensive").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "quota_exceeded", "{body}");
    assert_eq!(body["reason"], "monthly quota used up", "{body}");
    assert_eq!(tappass.hits(CHAT), 1, "a decision is never retried");
}

#[tokio::test]
async fn control_plane_down_is_503_fail_closed() {
    let dev = DevServer::start().await.unwrap();
    let agent = agent(&dev);
    dev.shutdown().await;
    let app = serve_sample(agent, false).await;
    let (status, _, body) = app.chat("Summarize Q4 revenue").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "governance_unavailable");
}

#[tokio::test]
async fn a_key_the_server_refuses_is_500_misconfigured_without_details() {
    let dev = DevServer::start().await.unwrap();
    let agent = Agent::builder(dev.url())
        .api_key("sk_wrong_kind_of_key")
        .build()
        .unwrap();
    let app = serve_sample(agent, false).await;
    let (status, _, body) = app.chat("hello").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"], "governance_misconfigured");
    assert!(!body.to_string().contains("sk_wrong_kind_of_key"));
}
