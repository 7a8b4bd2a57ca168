//! One error shape: bodies that fail to parse answer the toolkit's shape
//! (plain and problem+json), `audit_url` is in every governance body, and
//! `#[error(transparent)]` implies `#[governance(transparent)]`.

use axum::response::IntoResponse;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tappass::{Error, GovernanceDecision};
use tappass_dev::DevServer;

use crate::support::services::serve_layered;

#[tokio::test]
async fn bodies_that_fail_to_parse_answer_the_toolkits_shape_in_both_forms() {
    let dev = DevServer::start().await.unwrap();
    let json = Some("application/json");
    let cases = [
        (json, "{not json", 400, "malformed_json"),
        (json, r#"{"text": "no prompt"}"#, 422, "invalid_json_body"),
        (json, r#"{"prompt": 42}"#, 422, "invalid_json_body"),
        (
            Some("text/plain"),
            r#"{"prompt": "hi"}"#,
            415,
            "unsupported_media_type",
        ),
        (None, r#"{"prompt": "hi"}"#, 415, "unsupported_media_type"),
    ];
    for problem_json in [false, true] {
        let app = serve_layered(&dev.url(), "tp_adoption_key", problem_json).await;
        for (content_type, body, status, code) in cases {
            let (got, media, text) = app.post_raw("/echo", "ses_adopt", content_type, body).await;
            assert_eq!(got, status, "{body}: {text}");
            let answer: Value = serde_json::from_str(&text).expect("a JSON body");
            assert_eq!(answer["error"], code, "{answer}");
            assert!(!answer["message"].as_str().unwrap().is_empty(), "{answer}");
            assert_eq!(answer["session_id"], "ses_adopt", "{answer}");
            assert!(answer.get("audit_url").is_some(), "{answer}");
            if problem_json {
                assert_eq!(media, "application/problem+json");
                assert_eq!(answer["status"], status, "{answer}");
                assert_eq!(answer["type"], format!("urn:tappass:error:{code}"));
                assert_eq!(answer["detail"], answer["message"]);
            } else {
                assert_eq!(media, "application/json");
                assert!(answer.get("type").is_none(), "{answer}");
            }
        }
        // A body that parses goes through, and answers as axum's Json would.
        let (status, _, text) = app
            .post_raw("/echo", "ses_adopt", json, r#"{"prompt": "hi"}"#)
            .await;
        assert_eq!((status, text.as_str()), (200, "hi"));
    }
}

async fn body_of(response: axum::response::Response) -> Value {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
enum ServiceError {
    #[error("quota exceeded")]
    #[governance(status = 429)]
    Quota,

    /// thiserror's `transparent` alone: the inner error's mapping.
    #[error(transparent)]
    TapPass(#[from] tappass::Error),

    /// The explicit form keeps working.
    #[error(transparent)]
    #[governance(transparent)]
    Explicit(Box<tappass::Error>),
}

#[tokio::test]
async fn audit_url_is_in_every_governance_body_null_when_unknown() {
    let block = GovernanceDecision::from_json(&json!({
        "decision": "policy_block", "blocked_by": "detect_pii"
    }))
    .unwrap();
    let approval = GovernanceDecision::from_json(&json!({
        "decision": "approval_required", "resume_token": "rt_1"
    }))
    .unwrap();
    let session = tappass::Session::builder("ses_known")
        .audit_url("https://tappass.example/s/ses_known")
        .build()
        .unwrap();
    let errors = || -> Vec<axum::response::Response> {
        vec![
            Error::from(block.clone()).into_response(),
            Error::from(approval.clone()).into_response(),
            Error::Config("bad".to_owned()).into_response(),
            ServiceError::Quota.into_response(),
            ServiceError::TapPass(Error::from(block.clone())).into_response(),
            tappass::extract::SessionRejection::Missing.into_response(),
        ]
    };
    // Outside any session: present, and null.
    for response in errors() {
        let body = body_of(response).await;
        assert_eq!(body.get("audit_url"), Some(&Value::Null), "{body}");
    }
    // Inside one that knows its audit link: that link. (A decision carries
    // its own, which the agent fills from the session it was taken in.)
    let inside = tappass::session::scope(session, async {
        vec![
            Error::Config("bad".to_owned()).into_response(),
            ServiceError::Quota.into_response(),
            tappass::extract::SessionRejection::Missing.into_response(),
        ]
    })
    .await;
    for response in inside {
        let body = body_of(response).await;
        assert_eq!(
            body["audit_url"], "https://tappass.example/s/ses_known",
            "{body}"
        );
    }
}

#[tokio::test]
async fn error_transparent_implies_the_inner_errors_mapping() {
    let decision = GovernanceDecision::from_json(&json!({
        "decision": "trust_tier_denied", "required_tier": "gold", "actual_tier": "bronze"
    }))
    .unwrap();
    for response in [
        ServiceError::TapPass(Error::from(decision.clone())).into_response(),
        ServiceError::Explicit(Box::new(Error::from(decision.clone()))).into_response(),
    ] {
        assert_eq!(response.status(), 403);
        let body = body_of(response).await;
        assert_eq!(body["error"], "trust_tier_denied", "{body}");
        assert_eq!(body["required_tier"], "gold", "{body}");
    }
    let quota = ServiceError::Quota.into_response();
    assert_eq!(quota.status(), 429);
}
