//! The HTTP mapping (the `tappass::response` docs), one test per row: a real
//! axum router whose handler returns `Result<_, tappass::Error>`.

use axum::{routing::get, Router};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tappass::{Error, GovernanceDecision, GovernanceError as _};
use tower::ServiceExt;

use crate::support::sockets::refused_url;

/// Serves `make()`'s error from a route behind the layer and returns what the client sees.
async fn respond(make: fn() -> Error) -> (StatusCode, HeaderMap, Value) {
    respond_in(&[], make).await
}

/// The same, for a request carrying `headers` (the caller's session).
async fn respond_in(
    headers: &[(&str, &str)],
    make: fn() -> Error,
) -> (StatusCode, HeaderMap, Value) {
    let layer = tappass::TapPassLayer::builder()
        .tappass_url(refused_url())
        .api_key("tp_unused")
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/",
            get(move || async move { Err::<String, Error>(make()) }),
        )
        .layer(layer);
    let mut request = Request::get("/");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .oneshot(request.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/json");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, serde_json::from_slice(&bytes).unwrap())
}

fn decision(body: Value) -> Error {
    GovernanceDecision::from_json(&body)
        .expect("a decision body")
        .into()
}

#[tokio::test]
async fn policy_block_is_403_with_blocked_by_reason_and_audit_url() {
    let (status, _, body) = respond(|| {
        decision(
            json!({"decision": "policy_block", "blocked_by": "detect_pii",
            "reason": "SSN in prompt", "audit_url": "https://tp/s/ses_1", "session_id": "ses_1"}),
        )
    })
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "policy_block");
    assert_eq!(body["blocked_by"], "detect_pii");
    assert_eq!(body["reason"], "SSN in prompt");
    assert_eq!(body["audit_url"], "https://tp/s/ses_1");
    assert_eq!(body["session_id"], "ses_1");
    assert!(body["message"].as_str().unwrap().contains("detect_pii"));
}

#[tokio::test]
async fn approval_required_is_428_with_url_token_and_rfc3339_expiry() {
    let (status, _, body) = respond(|| {
        decision(json!({"decision": "approval_required", "approval_url": "https://tp/a/1",
            "resume_token": "rt_1", "expires_at": "2030-01-02T03:04:05Z", "reason": "large transfer"}))
    })
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_REQUIRED);
    assert_eq!(body["error"], "approval_required");
    assert_eq!(body["approval_url"], "https://tp/a/1");
    assert_eq!(body["resume_token"], "rt_1");
    assert_eq!(body["expires_at"], "2030-01-02T03:04:05Z");
    assert_eq!(body["reason"], "large transfer");
}

#[tokio::test]
async fn trust_tier_denied_is_403_with_both_tiers() {
    let (status, _, body) = respond(|| {
        decision(json!({"decision": "trust_tier_denied", "required_tier": "T3", "actual_tier": 1}))
    })
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "trust_tier_denied");
    assert_eq!(body["required_tier"], "T3");
    assert_eq!(body["actual_tier"], "1");
}

#[tokio::test]
async fn break_glass_is_503_with_level_expiry_and_retry_after_http_date() {
    let (status, headers, body) = respond(|| {
        decision(
            json!({"decision": "break_glass_active", "level": "full_bypass",
            "expires_at": "2030-01-02T03:04:05+00:00"}),
        )
    })
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "break_glass_active");
    assert_eq!(body["level"], "full_bypass");
    assert_eq!(body["expires_at"], "2030-01-02T03:04:05Z");
    assert_eq!(headers["retry-after"], "Wed, 02 Jan 2030 03:04:05 GMT");
}

#[tokio::test]
async fn tool_integrity_violation_is_422_with_tool_and_violation() {
    let (status, _, body) = respond(|| {
        decision(
            json!({"decision": "tool_integrity_violation", "tool_name": "legacy_export",
            "violation": "hash_mismatch"}),
        )
    })
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"], "tool_integrity_violation");
    assert_eq!(body["tool_name"], "legacy_export");
    assert_eq!(body["violation"], "hash_mismatch");
}

#[tokio::test]
async fn redaction_applied_is_403_with_redactions_and_content() {
    let (status, _, body) = respond(|| {
        decision(
            json!({"decision": "redaction_applied", "redacted_content": "mail [EMAIL]",
            "redactions": [{"kind": "email", "start": 5, "end": 21, "replacement": "[EMAIL]"}]}),
        )
    })
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "redaction_applied");
    assert_eq!(body["redacted_content"], "mail [EMAIL]");
    assert_eq!(body["redactions"][0]["kind"], "email");
    assert_eq!(body["redactions"][0]["end"], 21);
}

#[tokio::test]
async fn authorization_required_is_401_with_provider_url_scopes_and_www_authenticate() {
    let (status, headers, body) = respond(|| {
        decision(
            json!({"code": "authorization_required", "details": {"provider": "github",
            "authorize_url": "https://tp/connect/github", "scopes": ["repo", "read:user"]}}),
        )
    })
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "authorization_required");
    assert_eq!(body["provider"], "github");
    assert_eq!(body["authorize_url"], "https://tp/connect/github");
    assert_eq!(body["scopes"], json!(["repo", "read:user"]));
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"authorize_url="https://tp/connect/github""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(r#"scope="repo read:user""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn other_decision_is_403_with_its_own_code_and_reason() {
    let (status, _, body) =
        respond(|| decision(json!({"decision": "quota_exceeded", "reason": "monthly budget"})))
            .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "quota_exceeded");
    assert_eq!(body["reason"], "monthly budget");
}

#[tokio::test]
async fn control_plane_unavailable_is_503_and_fails_closed_without_details() {
    let (status, _, body) = respond(|| Error::Unavailable {
        message: "connect to 10.0.0.7:9620 refused".into(),
        source: None,
    })
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "governance_unavailable");
    assert!(!body.to_string().contains("10.0.0.7"), "{body}");
}

#[tokio::test]
async fn misconfiguration_is_500_without_details() {
    let (status, _, body) =
        respond(|| Error::Config("TAPPASS_URL `ftp://secret-host` is bad".into())).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"], "governance_misconfigured");
    assert!(!body.to_string().contains("secret-host"), "{body}");

    let (status, _, body) = respond(|| Error::Authentication {
        status: 401,
        key_setting: "TAPPASS_API_KEY",
    })
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"], "governance_misconfigured");
}

#[tokio::test]
async fn protocol_violation_is_502_without_details() {
    let (status, _, body) =
        respond(|| Error::Protocol("body was <html>internal-trace</html>".into())).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body["error"], "governance_protocol_error");
    assert!(!body.to_string().contains("internal-trace"), "{body}");
}

#[tokio::test]
async fn decision_bodies_carry_the_sessions_correlation() {
    let caller = [
        ("x-tappass-session-id", "ses_corr"),
        ("x-tappass-agent-uuid", "agt-7"),
    ];
    // The decision itself knows no session: the response still carries the caller's.
    let (status, headers, body) = respond_in(&caller, || {
        decision(
            json!({"decision": "trust_tier_denied", "required_tier": "T2", "actual_tier": "T1"}),
        )
    })
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["session_id"],
        Value::Null,
        "the decision's own (absent) id is reported as such"
    );
    assert_eq!(headers["x-tappass-session-id"], "ses_corr");
    assert_eq!(headers["x-tappass-agent-uuid"], "agt-7");

    let caller = [
        ("x-tappass-session-id", "ses_corr2"),
        ("x-tappass-audit-url", "https://tp/s/2"),
    ];
    let (_, headers, body) = respond_in(&caller, || Error::Config("x".into())).await;
    assert_eq!(body["session_id"], "ses_corr2");
    assert_eq!(body["audit_url"], "https://tp/s/2");
    assert_eq!(headers["x-tappass-audit-url"], "https://tp/s/2");
}

#[test]
fn lenient_parsing_keeps_the_kind_when_fields_are_missing() {
    for (body, kind) in [
        (
            json!({"decision": "approval_required"}),
            "approval_required",
        ),
        (
            json!({"decision": "break_glass_active", "expires_at": "not a date"}),
            "break_glass_active",
        ),
        (json!({"blocked_by": "detect_pii"}), "policy_block"),
        (
            json!({"decision": "tool_integrity_violation"}),
            "tool_integrity_violation",
        ),
        (json!({"decision": "Weird Kind!"}), "governance_decision"),
    ] {
        let d = GovernanceDecision::from_json(&body).unwrap();
        assert_eq!(d.code(), kind, "{body}");
    }
    assert!(GovernanceDecision::from_json(&json!({"error": "nope"})).is_none());
    assert!(GovernanceDecision::from_json(&json!([1, 2])).is_none());
}
