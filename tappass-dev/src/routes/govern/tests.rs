use std::time::Duration;

use http::{header, StatusCode};
use serde_json::{json, Value};

use super::*;
use crate::testing::*;
use crate::Policy;
use tappass::agent::ApprovalState;

#[test]
fn behaviours_are_read_leniently_and_refused_clearly() {
    let b = parse_behaviour(&json!({
        "type": "TOOL_CALL", "agent_id": null, "session_id": "ses_1", "org_id": null,
        "payload": {"tool": "send_email", "server": null}
    }))
    .unwrap();
    assert_eq!(b.tool, "send_email");
    assert_eq!(b.args, json!({}));
    assert_eq!(b.behavior_id.len(), 32);
    assert_eq!(b.session_id.as_deref(), Some("ses_1"));
    let err = |v: Value| parse_behaviour(&v).err().unwrap_or_default();
    assert!(err(json!({})).contains("`payload` is missing"));
    assert!(err(json!({"payload": {"tool": ""}})).contains("payload.tool"));
    assert!(err(json!({"payload": {"tool": "x"}, "agent_id": 3})).contains("`agent_id`"));
}

// ---- Over the router ----------------------------------------------------------------

#[tokio::test]
async fn govern_allows_unmatched_tools_and_blocks_delete_database() {
    let h = Harness::new();
    let a = h.govern("search_docs", json!({"q": "revenue"})).await;
    assert_eq!(a.status, StatusCode::OK);
    let v = a.json();
    assert_eq!(v["outcome"], "allow");
    assert_eq!(v["behavior_id"], "0123456789abcdef0123456789abcdef");
    assert!(v["pipeline_id"].is_string());
    assert!(v["decided_at"]
        .as_str()
        .unwrap()
        .parse::<tappass::Timestamp>()
        .is_ok());
    assert!(v["details"]["blocking_step"].is_null());
    assert!(v["approval"].is_null());
    assert_eq!(v["session_id"], "ses_tools");

    let v = h
        .govern("delete_database", json!({"name": "prod"}))
        .await
        .json();
    assert_eq!(v["outcome"], "block");
    assert_eq!(v["details"]["blocking_step"], "destructive_tools");
    assert!(v["reason"].as_str().unwrap().contains("never allowed"));
}

#[tokio::test]
async fn needs_approval_then_approve_then_allow() {
    let h = Harness::new();
    let args = json!({"to": "cfo@example.com", "subject": "Q4"});
    let v = h.govern("send_email", args.clone()).await.json();
    assert_eq!(v["outcome"], "needs_approval");
    assert_eq!(v["details"]["blocking_step"], "send_email_approval");
    let approval = &v["approval"];
    let id = approval["request_id"].as_str().unwrap().to_owned();
    assert_eq!(approval["fingerprint"].as_str().unwrap().len(), 32);
    assert!(approval["expires_at"]
        .as_str()
        .unwrap()
        .parse::<tappass::Timestamp>()
        .is_ok());

    // Pending: the identical behaviour answers the same approval; key order does not matter.
    let again = h
        .govern(
            "send_email",
            json!({"subject": "Q4", "to": "cfo@example.com"}),
        )
        .await
        .json();
    assert_eq!(again["approval"]["request_id"], id.as_str());
    let row = h.get(&format!("/v1/me/approvals/{id}")).await.json();
    assert_eq!(row["state"], "pending");
    assert_eq!(row["tool"], "send_email");
    assert_eq!(row["fingerprint"], approval["fingerprint"]);
    assert!(row["decided_at"].is_null());
    assert_eq!(h.shared.approvals().pending().len(), 1);

    assert!(h.approve(&id));
    assert!(!h.approve(&id), "only a pending approval is decided");
    let v = h.govern("send_email", args.clone()).await.json();
    assert_eq!(v["outcome"], "allow");
    assert_eq!(v["approval"]["state"], "approved");
    let row = h.get(&format!("/v1/me/approvals/{id}")).await.json();
    assert_eq!(row["state"], "approved");
    assert!(row["decided_at"].is_string());

    // Other arguments are another behaviour.
    let v = h
        .govern("send_email", json!({"to": "someone@else.com"}))
        .await
        .json();
    assert_eq!(v["outcome"], "needs_approval");
    assert_ne!(v["approval"]["request_id"], id.as_str());
}

#[tokio::test]
async fn a_denied_behaviour_is_blocked() {
    let h = Harness::new();
    let v = h.govern("send_email", json!({"to": "x"})).await.json();
    let id = v["approval"]["request_id"].as_str().unwrap().to_owned();
    let a = h
        .post(&format!("/v1/me/approvals/{id}/deny"), json!({}))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["state"], "denied");
    let a = h
        .post(&format!("/v1/me/approvals/{id}/approve"), json!({}))
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    let v = h.govern("send_email", json!({"to": "x"})).await.json();
    assert_eq!(v["outcome"], "block");
    assert!(v["reason"].as_str().unwrap().contains("denied"));
}

#[tokio::test]
async fn escalate_and_wait() {
    let h = Harness::new();
    let v = h.govern("wire_funds", json!({"amount": 5000})).await.json();
    assert_eq!(v["outcome"], "escalate");
    let id = v["approval"]["request_id"].as_str().unwrap().to_owned();

    // Still pending: 408 after the (short) timeout.
    let started = std::time::Instant::now();
    let a = h
        .get(&format!("/v1/me/approvals/{id}/wait?timeout_seconds=0.2"))
        .await;
    assert_eq!(a.status, StatusCode::REQUEST_TIMEOUT, "{}", a.text);
    assert_eq!(a.json()["state"], "pending");
    assert!(started.elapsed() >= Duration::from_millis(200));

    // Approved while waiting: 200 with the row, as soon as it is decided.
    let shared = h.shared.clone();
    let approver = {
        let id = id.clone();
        tokio::spawn(async move {
            // Decide once the request below waits, not after a guessed delay.
            while shared.approvals().waiters(&id) == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert!(shared.decide(&id, ApprovalState::Approved));
        })
    };
    let started = std::time::Instant::now();
    let a = h
        .get(&format!("/v1/me/approvals/{id}/wait?timeout_seconds=10"))
        .await;
    approver.await.unwrap();
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json()["state"], "approved");
    assert!(started.elapsed() < Duration::from_secs(5));

    // Decided already: answers at once.
    let a = h.get(&format!("/v1/me/approvals/{id}/wait")).await;
    assert_eq!(a.status, StatusCode::OK);

    let v = h.govern("wire_funds", json!({"amount": 5000})).await.json();
    assert_eq!(v["outcome"], "allow");
}

#[tokio::test]
async fn tool_rules_can_answer_non_2xx_decisions() {
    let h = Harness::new();
    let v = assert_decision(
        &h.govern("legacy_export", json!({})).await,
        422,
        "tool_integrity_violation",
    );
    assert_eq!(v["tool_name"], "legacy_export");
    assert_eq!(v["violation"], "hash_mismatch");
    assert_eq!(v["session_id"], "ses_tools");
    let v = assert_decision(
        &h.govern("read_github_repo", json!({})).await,
        401,
        "authorization_required",
    );
    assert_eq!(v["code"], "authorization_required");
    assert_decision(
        &h.govern("deploy_production", json!({})).await,
        403,
        "trust_tier_denied",
    );

    let policy = Policy::from_toml(
        r#"
        [[rule]]
        name = "freeze"
        match.tool_regex = "^deploy_"
        decision = "break_glass_active"
        level = "relax"
        expires_in_seconds = 60

        [[rule]]
        name = "unapproved"
        match.tool = "shell"
        match.args_regex = "rm -rf"
        decision = "tool_integrity_violation"
        violation = "not_approved"
        "#,
    )
    .unwrap();
    let h = Harness::with(policy);
    let a = h.govern("deploy_staging", json!({})).await;
    assert_eq!(a.headers[header::RETRY_AFTER], "60");
    assert_decision(&a, 503, "break_glass_active");
    let v = assert_decision(
        &h.govern("shell", json!({"cmd": "rm -rf /"})).await,
        422,
        "tool_integrity_violation",
    );
    assert_eq!(v["tool_name"], "shell", "defaults to the called tool");
    assert_eq!(
        h.govern("shell", json!({"cmd": "ls"})).await.json()["outcome"],
        "allow"
    );
}

#[tokio::test]
async fn malformed_behaviours_are_plain_400s() {
    let h = Harness::new();
    let a = h.post("/v1/govern", json!({"payload": {}})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json()["error"], "invalid_request");
}
